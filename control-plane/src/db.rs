//! Database access: migrations, per-request role transactions, and the queries of the native API.
//!
//! Public read, admin-only writes (`docs/seed.md`, S4) are the database's decision, not this
//! module's: every request runs in one transaction on the authenticator pool that first does
//! `SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`
//! (PostgREST's `SET LOCAL ROLE` + claims GUC, `docs/references/transactions.rst`), so RLS and
//! the SQL functions decide what the caller may do. That sequence is written once:
//! [`begin_as`] begins such a transaction, [`in_role`] runs work in one and commits, and
//! [`fetch_config_fast`] is the same two settings sent in one round trip for the hot read.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::auth::AuthContext;

/// The wire shapes of a configuration version and of an audit-log entry (the contract crate).
pub use sourcegate_contract::{ConfigView, HistoryItem};

/// The migrations of `supabase/migrations`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../supabase/migrations");

/// Begins a transaction running as the request's role with its claims.
///
/// # Errors
/// Any database error (connection, unknown role).
pub async fn begin_as(
    pool: &PgPool,
    auth: &AuthContext,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(SET_ROLE_AND_CLAIMS)
        .bind(auth.role.as_str())
        .bind(&auth.claims_json)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Begins a transaction as the control plane itself: role `service_role` with the claims
/// `{"role":"service_role"}` (the private telemetry and decision tables are granted to it).
///
/// # Errors
/// Any database error.
pub async fn begin_service(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(SET_ROLE_AND_CLAIMS)
        .bind("service_role")
        .bind(r#"{"role":"service_role"}"#)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The statement that makes a transaction the request's: the transaction-local role (`$1`)
/// and `request.jwt.claims` (`$2`, JSON text), as PostgREST sets them.
const SET_ROLE_AND_CLAIMS: &str =
    "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";

/// Runs `work` in one transaction as the request's role with its claims ([`begin_as`]) and
/// commits it; an error from any step (begin, `work`, commit) is returned and the transaction
/// rolled back. `work` gets the transaction and returns a boxed future (move what it needs into
/// it): `db::in_role(&pool, &ctx, |tx| Box::pin(query.fetch_one(&mut **tx)))`.
///
/// # Errors
/// Any database error of the three steps.
pub async fn in_role<T, F>(pool: &PgPool, auth: &AuthContext, work: F) -> Result<T, sqlx::Error>
where
    F: for<'c> FnOnce(
        &'c mut Transaction<'static, Postgres>,
    ) -> BoxFuture<'c, Result<T, sqlx::Error>>,
{
    let mut tx = begin_as(pool, auth).await?;
    let out = work(&mut tx).await?;
    tx.commit().await?;
    Ok(out)
}

/// `(config_key, version, config_value, updated_at, updated_by)`, as selected from
/// `public.app_config`.
pub(crate) type ConfigRow = (String, i64, serde_json::Value, DateTime<Utc>, Option<Uuid>);

/// The view of a row (no `actor`: the server leaves it to clients).
pub(crate) fn view(r: ConfigRow) -> ConfigView {
    ConfigView {
        key: r.0,
        version: r.1,
        value: r.2,
        updated_at: r.3,
        updated_by: r.4,
        actor: None,
    }
}

/// Reads one configuration (RLS: everyone may read).
///
/// # Errors
/// Database errors.
pub async fn fetch_config(
    tx: &mut Transaction<'static, Postgres>,
    key: &str,
) -> Result<Option<ConfigView>, sqlx::Error> {
    let row: Option<ConfigRow> = sqlx::query_as(
        "SELECT config_key, version, config_value, updated_at, updated_by
           FROM public.app_config WHERE config_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(view))
}

/// A dollar-quote tag that occurs in none of `texts` (so they can be inlined verbatim).
fn dollar_tag(texts: &[&str]) -> String {
    use rand::Rng as _;
    loop {
        let tag: String = rand::rng()
            .sample_iter(rand::distr::Alphabetic)
            .take(12)
            .map(char::from)
            .collect();
        let delim = format!("${tag}$");
        if texts.iter().all(|t| !t.contains(&delim)) {
            return delim;
        }
    }
}

/// Reads one configuration as the request's role in **one round trip** (the hot path of
/// `GET /v1/configs/{key}`).
///
/// Sends one simple-protocol message of two statements, which PostgreSQL runs as a single
/// implicit transaction (docs, "Multiple Statements in a Simple Query"): the transaction-local
/// `set_config('role', …)` and claims therefore apply to the `SELECT`, and RLS decides exactly as
/// in [`begin_as`]. Values are inlined with a random dollar-quote tag checked not to occur in
/// them (dollar quoting ignores backslashes and `standard_conforming_strings`); the role is a
/// fixed name from the allow-list.
///
/// # Errors
/// Database errors; `key` or claims containing NUL are refused by the server.
pub async fn fetch_config_fast(
    pool: &PgPool,
    auth: &AuthContext,
    key: &str,
) -> Result<Option<ConfigView>, sqlx::Error> {
    use sqlx::Row as _;
    let q = dollar_tag(&[&auth.claims_json, key]);
    let sql = format!(
        "SELECT set_config('role', '{role}', true) AS r, set_config('request.jwt.claims', {q}{claims}{q}, true) AS c;
         SELECT json_build_object('key', config_key, 'version', version, 'value', config_value,
                                  'updatedAt', updated_at, 'updatedBy', updated_by)::text AS cfg
           FROM public.app_config WHERE config_key = {q}{key}{q}",
        role = auth.role.as_str(),
        claims = auth.claims_json,
    );
    let rows = sqlx::raw_sql(&sql).fetch_all(pool).await?;
    match rows.iter().find(|r| r.len() == 1) {
        Some(row) => {
            let text: String = row.try_get(0)?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
        None => Ok(None),
    }
}

/// Reads one configuration outside any request (the event fan-out), as `anon`.
///
/// # Errors
/// Database errors.
pub async fn fetch_config_public(
    pool: &PgPool,
    key: &str,
) -> Result<Option<ConfigView>, sqlx::Error> {
    let key = key.to_owned();
    in_role(pool, &AuthContext::anon(), move |tx| {
        Box::pin(async move { fetch_config(tx, &key).await })
    })
    .await
}

/// Calls `public.update_app_config` (admin check, version check, validation, no-op refusal,
/// audit: all in SQL). `force` records a document equal to the current one as a new version.
///
/// # Errors
/// SQLSTATE 42501 (not admin), PT409 (stale version: DETAIL `current_version=N`; unchanged
/// document without `force`: DETAIL `no_change`), PT422 (invalid document or reason), others.
pub async fn update_config(
    tx: &mut Transaction<'static, Postgres>,
    key: &str,
    value: &serde_json::Value,
    reason: Option<&str>,
    expected_version: Option<i64>,
    force: bool,
) -> Result<ConfigView, sqlx::Error> {
    let row: ConfigRow = sqlx::query_as(
        "SELECT r.config_key, r.version, r.config_value, r.updated_at, r.updated_by
           FROM public.update_app_config($1, $2, $3, $4, $5) r",
    )
    .bind(key)
    .bind(value)
    .bind(reason)
    .bind(expected_version)
    .bind(force)
    .fetch_one(&mut **tx)
    .await?;
    Ok(view(row))
}

/// Whether the request's identity is an admin (`app_private.is_admin()`); `false` for `anon`.
///
/// # Errors
/// Database errors.
pub async fn is_admin(tx: &mut Transaction<'static, Postgres>) -> Result<bool, sqlx::Error> {
    if sqlx::query_scalar::<_, Option<String>>(
        "SELECT nullif(current_setting('role', true), 'none')",
    )
    .fetch_one(&mut **tx)
    .await?
    .as_deref()
        == Some("anon")
    {
        return Ok(false);
    }
    sqlx::query_scalar("SELECT app_private.is_admin()")
        .fetch_one(&mut **tx)
        .await
}

type HistoryRow = (
    i64,
    String,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    Option<Uuid>,
    Option<String>,
    DateTime<Utc>,
    Option<String>,
);

/// Reads the newest `limit` history entries of `key` (RLS: admins only).
///
/// # Errors
/// Database errors (42501 for non-admins without table privilege).
pub async fn history(
    tx: &mut Transaction<'static, Postgres>,
    key: &str,
    limit: i64,
) -> Result<Vec<HistoryItem>, sqlx::Error> {
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "SELECT version, op, old_value, new_value, changed_by, changed_role, changed_at, reason
           FROM public.app_config_history WHERE config_key = $1
          ORDER BY id DESC LIMIT $2",
    )
    .bind(key)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryItem {
            version: r.0,
            op: r.1,
            old_value: r.2,
            new_value: r.3,
            changed_by: r.4,
            changed_role: r.5,
            changed_at: r.6,
            reason: r.7,
            actor: None,
        })
        .collect())
}

/// The document `key` had at `version` (from history; admins only).
///
/// # Errors
/// Database errors.
pub async fn value_at_version(
    tx: &mut Transaction<'static, Postgres>,
    key: &str,
    version: i64,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT new_value FROM public.app_config_history
          WHERE config_key = $1 AND version = $2 AND new_value IS NOT NULL
          ORDER BY id DESC LIMIT 1",
    )
    .bind(key)
    .bind(version)
    .fetch_optional(&mut **tx)
    .await
    .map(Option::flatten)
}
