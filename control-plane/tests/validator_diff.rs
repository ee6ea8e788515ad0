//! One document validator, two implementations: the Rust write-time check
//! (`sourcegate::config::validate_for_write`, used by the control plane and, minus the
//! private-host rule, by every resolver) and the SQL `app_private.validate_config` (the only
//! check on a Supabase project). Generated documents — valid ones and near-misses with one
//! field mutated — go through both, with private origins allowed and not (the GUC
//! `sourcegate.allow_private_origins`, as the control plane sets it). Both must accept the same
//! documents and, when they refuse, name the same field (SQL: PT422 with `COLUMN` = field).
//!
//! The SQL receives what the control plane sends it: `serde_json`'s serialization of the value.
//!
//! `integrity` entries are generated too: valid ones (random digests, sizes up to the 32 MiB
//! limit) and near-misses with one part wrong (path, `sha256` form, `size`, entry count).
//! The generators are in `validator_diff/generate.rs`; this file runs the comparison.

mod common;

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use sourcegate::config::{WriteRules, document_text_len, validate_for_write};
use sourcegate_control_plane::embedded::testing;
use sqlx::Connection;

#[path = "validator_diff/generate.rs"]
mod generate;
use generate::*;

/// The SQL verdict: `Ok` or the field named by PT422's `COLUMN`.
async fn sql_verdict(
    c: &mut sqlx::PgConnection,
    doc: &Value,
) -> Result<Result<(), String>, String> {
    match sqlx::query("SELECT app_private.validate_config('marketplace_source', $1)")
        .bind(doc)
        .execute(&mut *c)
        .await
    {
        Ok(_) => Ok(Ok(())),
        Err(e) => {
            let Some(db) = e.as_database_error() else {
                return Err(format!("not a database error: {e}"));
            };
            let pg = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .ok_or("not a PostgreSQL error")?;
            if pg.code() != "PT422" {
                return Err(format!("SQLSTATE {} {}", pg.code(), pg.message()));
            }
            Ok(Err(pg.column().unwrap_or("<no column>").to_owned()))
        }
    }
}

/// Generated documents per run (each checked with private origins allowed and not): about 20 s.
const CASES: u32 = 2000;

#[test]
fn rust_and_sql_validators_agree() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_db, strict, lax) = rt.block_on(async {
        let db = testing::fresh_database().await.expect("test database");
        let strict = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
        let mut lax = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
        sqlx::query("SET sourcegate.allow_private_origins = on")
            .execute(&mut lax)
            .await
            .unwrap();
        (db, strict, lax)
    });
    let conns = RefCell::new((strict, lax));
    let counts = RefCell::new([0usize; 3]); // accepted, refused, private-only
    // Refusals by field (private origins allowed), and documents accepted with `integrity`.
    let fields = RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let accepted_with_integrity = RefCell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    runner
        .run(&(valid_doc(), mutation()), |(doc, m)| {
            let doc = apply(doc, &m);
            let mut conns = conns.borrow_mut();
            let (strict, lax) = &mut *conns;
            let mut verdicts = Vec::new();
            for (allow, conn) in [(false, strict), (true, lax)] {
                let rust = validate_for_write(
                    &doc,
                    WriteRules {
                        allow_private_hosts: allow,
                    },
                )
                .map(|_| ())
                .map_err(|e| e.field().unwrap_or("<none>").to_owned());
                let sql = rt
                    .block_on(sql_verdict(conn, &doc))
                    .map_err(TestCaseError::fail)?;
                prop_assert_eq!(
                    &rust,
                    &sql,
                    "allow_private={} mutation={:?} doc={}",
                    allow,
                    m,
                    doc.to_string().chars().take(600).collect::<String>()
                );
                verdicts.push(rust.is_ok());
                if allow {
                    match &rust {
                        Err(f) => *fields.borrow_mut().entry(f.clone()).or_default() += 1,
                        Ok(())
                            if doc
                                .get("integrity")
                                .is_some_and(|i| i.as_object().is_some_and(|o| !o.is_empty())) =>
                        {
                            *accepted_with_integrity.borrow_mut() += 1;
                        }
                        Ok(()) => {}
                    }
                }
            }
            let mut c = counts.borrow_mut();
            match (verdicts[0], verdicts[1]) {
                (true, _) => c[0] += 1,
                (false, true) => c[2] += 1,
                (false, false) => c[1] += 1,
            }
            Ok(())
        })
        .unwrap();
    let c = counts.borrow();
    eprintln!(
        "validator_diff: {CASES} documents × 2 settings in {:.1} s: {} accepted, {} refused, {} refused only for a private host",
        started.elapsed().as_secs_f64(),
        c[0],
        c[1],
        c[2]
    );
    // The generator must exercise all three outcomes, or the agreement proves little.
    assert!(c[0] > 100 && c[1] > 100 && c[2] > 50, "{c:?}");
    let fields = fields.borrow();
    let accepted_with_integrity = *accepted_with_integrity.borrow();
    eprintln!(
        "validator_diff: refusals by field (private origins allowed): {fields:?}; {accepted_with_integrity} accepted with integrity entries"
    );
    // … and the integrity rules: accepted entries and refusals naming each of its fields.
    assert!(accepted_with_integrity > 50, "{accepted_with_integrity}");
    for f in ["integrity", "integrity.sha256", "integrity.size"] {
        assert!(fields.get(f).copied().unwrap_or(0) >= 10, "{f}: {fields:?}");
    }
}

/// The size limit is measured on the text PostgreSQL stores: the Rust count equals
/// `octet_length(v::text)` for documents with escapes, non-ASCII and numbers of every form.
#[test]
fn document_text_len_matches_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = testing::fresh_database().await.expect("test database");
        let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
        let docs = [
            json!({"a": 1, "b": [1, 2.5, -0.0, 1e16, 1.5e-7, 1e300, -12.5], "c": {}, "d": []}),
            json!({"s": "é€😀\"\\\n\r\t\u{1}\u{1f}\u{7f}/", "t": true, "f": false, "n": null}),
            json!([{"x": {"y": [[], {}]}}, 18_446_744_073_709_551_615_u64, i64::MIN]),
            json!({"dup": 1, "k\"ey": "v"}),
        ];
        for d in docs {
            let pg: i32 = sqlx::query_scalar("SELECT octet_length(($1::jsonb)::text)")
                .bind(&d)
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(document_text_len(&d), usize::try_from(pg).unwrap(), "{d}");
        }
    });
}
