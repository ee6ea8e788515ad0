//! See benches/vs_unleash.rs.
