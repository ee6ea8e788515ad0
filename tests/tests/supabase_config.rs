//! `supabase/config.toml` matches the migrations it serves: `supabase start` / `db reset` need
//! the Supabase CLI and Docker, which the test command does not have, so this checks what the
//! repository decides — the PostgreSQL major the tests run, the exposed schemas, the migration
//! file names the CLI applies in order, and where the seed row comes from.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn config() -> toml::Table {
    let text = std::fs::read_to_string(repo().join("supabase/config.toml")).unwrap();
    text.parse::<toml::Table>().unwrap()
}

fn get<'a>(t: &'a toml::Table, path: &str) -> &'a toml::Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap();
    let mut v = t
        .get(first)
        .unwrap_or_else(|| panic!("config.toml has no `{path}`"));
    for p in parts {
        v = v
            .get(p)
            .unwrap_or_else(|| panic!("config.toml has no `{path}`"));
    }
    v
}

#[test]
fn database_and_api_settings_match_the_migrations() {
    let c = config();
    assert_eq!(get(&c, "db.major_version").as_integer(), Some(15));
    assert_eq!(get(&c, "db.migrations.enabled").as_bool(), Some(true));
    let schemas: Vec<&str> = get(&c, "api.schemas")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(schemas.contains(&"public"), "{schemas:?}");
    assert!(
        !schemas.contains(&"app_private"),
        "app_private must never be exposed: {schemas:?}"
    );
    assert!(
        get(&c, "project_id")
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[test]
fn migrations_are_named_as_the_cli_applies_them() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("supabase/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for n in &names {
        let (stamp, rest) = n.split_once('_').unwrap_or_else(|| panic!("{n}"));
        assert!(
            stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
            "`{n}`: the CLI wants <14-digit timestamp>_<name>.sql"
        );
        assert!(rest.ends_with(".sql"), "{n}");
    }
    // The shim comes first: everything after it may use auth.uid() and the API roles.
    assert!(names[0].ends_with("_supabase_shim.sql"), "{names:?}");
}

#[test]
fn the_seed_row_comes_from_a_migration_when_the_seed_file_is_off() {
    let c = config();
    let seed_on = get(&c, "db.seed.enabled").as_bool().unwrap_or(true);
    let migrations = repo().join("supabase/migrations");
    let seeded = std::fs::read_dir(&migrations).unwrap().any(|e| {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        text.contains("INSERT INTO public.app_config") && text.contains("'marketplace_source'")
    });
    if seed_on {
        let paths = get(&c, "db.seed.sql_paths").as_array().unwrap();
        for p in paths {
            let p = repo().join("supabase").join(p.as_str().unwrap());
            assert!(p.exists(), "seed file {} is missing", p.display());
        }
    } else {
        assert!(
            seeded,
            "seed file off, yet no migration inserts marketplace_source"
        );
    }
}
