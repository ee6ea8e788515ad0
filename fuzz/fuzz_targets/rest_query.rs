//! The `/rest/v1` query-string parser of the control plane (`rest::parse_read_query`: the
//! `select=` with aliases, casts and JSON paths, filters with `not.`, `or`/`and` trees,
//! `order=`, `limit=`, `offset=` subset of PostgREST).
//!
//! Input: the first byte picks the table, the rest is the raw (percent-encoded) query string.
//! Properties: no panic; an accepted query gives SQL whose only identifiers are quoted
//! lower-case names, with no `;`, and placeholders `$1..=$n` matching the `n` parameters (so
//! no filter value, alias or JSON key ever reaches the SQL text); a refusal is a 400, 404 or 416
//! (negative limit) with a known code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sourcegate_control_plane::rest::parse_read_query;

const TABLES: [&str; 3] = ["app_config", "app_config_history", "auth.users"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let table = TABLES[usize::from(pick) % TABLES.len()];
    match parse_read_query(table, Some(raw)) {
        Ok((sql, params)) => check_sql(&sql, params.len()),
        Err((status, code)) => {
            assert!(
                status == 400 || status == 404 || status == 416,
                "{status} for {raw:?}"
            );
            assert!(
                ["PGRST100", "PGRST103", "PGRST205", "42703"].contains(&code.as_str()),
                "{code} for {raw:?}"
            );
        }
    }
});

/// Identifiers are `"[a-z_]+"`, no statement separator, and `$k` runs over `1..=n` in order.
fn check_sql(sql: &str, n: usize) {
    assert!(!sql.contains(';'), "{sql}");
    let mut quoted = sql.split('"');
    quoted.next();
    for (i, part) in quoted.enumerate() {
        if i % 2 == 0 {
            assert!(
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "identifier {part:?} in {sql}"
            );
        }
    }
    assert_eq!(sql.matches('"').count() % 2, 0, "{sql}");
    let mut next = 1;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert_eq!(digits, next.to_string(), "placeholder order in {sql}");
        next += 1;
        rest = &rest[at + 1 + digits.len()..];
    }
    assert_eq!(next - 1, n, "placeholders vs parameters in {sql}");
}
