//! Rebuilds when a migration is added (sqlx's `migrate!` embeds `../supabase/migrations`).
fn main() {
    println!("cargo:rerun-if-changed=../supabase/migrations");
}
