//! A PostgREST-compatible subset under `/rest/v1`, so Supabase clients (the resolver's Supabase
//! provider, the `postgrest` crate, supabase-js) work against this service unchanged.
//!
//! Supported (everything else is a clear 4xx in PostgREST's error shape):
//! - `GET /rest/v1/{app_config|app_config_history}?select=…&col=op.value&order=…&limit=…&offset=…`
//!   with operators `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `is` (null/true/false); a JSON array,
//!   or one object with `Accept: application/vnd.pgrst.object+json` (406 `PGRST116` when the
//!   result has 0 or more than 1 rows);
//! - `POST /rest/v1/rpc/get_marketplace_config` (also `GET`): the raw `jsonb` document;
//! - `POST /rest/v1/rpc/update_app_config` with named arguments `p_key`, `p_value`,
//!   `p_reason`, `p_expected_version` (a JSON integer: `1.0` or `"1"` is 400 `22P02`, nothing
//!   written), `p_force` (boolean, default false): the updated row as an object; an unchanged
//!   document is 409 `PT409` with `details: "no_change"` unless `p_force`.
//!
//! Keys and roles: an `apikey` header (or `?apikey=`) is required, as Supabase's gateway does
//! (401 "No API key found in request"); any non-empty key is accepted, since it grants nothing
//! by itself. The role comes from `Authorization: Bearer <JWT>`; without one, from the `apikey`
//! if it is a JWT (Supabase's legacy anon/service keys); otherwise (`sb_publishable_…`) `anon`.
//! Tokens are verified as in [`crate::auth`]; refusals are 401 `PGRST301`/`PGRST303` with
//! `WWW-Authenticate`.
//!
//! Errors follow PostgREST (`docs/references/errors.rst`): body `{code, message, details, hint}`;
//! SQLSTATE `42501` → 403 with a JWT, 401 without; `P0001` → 400; `PTxyz` → xyz; class `22` →
//! 400; `23505` → 409; unknown table → 404 `PGRST205`; unknown function → 404 `PGRST202`;
//! an RPC body that is not `application/json` → 415 `PGRST107`. `details` and `hint` are
//! always present (`null` when empty). Rejections raised before a handler runs (a path segment
//! that is not UTF-8, a body over [`crate::extract::MAX_CONFIG_BODY_BYTES`]) are rewritten into
//! this shape by [`crate::extract::json_errors`] (400 `PGRST100`, 413 `PGRST102`).

//!
//! # Layout
//! - `error`: `RestError`, PostgREST's error body, the codes of statuses no handler produced;
//! - `query`: the pure parser of `GET /rest/v1/{table}` query strings ([`parse_read_query`]);
//! - `handlers`: the key and JWT check, the table read, the RPCs, the fallbacks.

mod error;
mod handlers;
mod query;
mod write;

pub(crate) use error::error_body;
pub(crate) use handlers::{call_rpc, not_found, read_table, unsupported};
pub use query::parse_read_query;
pub(crate) use write::{delete_table, insert_table, update_table};
