//! A PostgREST-compatible subset under `/rest/v1`, so Supabase clients (the resolver's Supabase
//! provider, the `postgrest` crate, supabase-js) work against this service unchanged.
//!
//! Supported (everything else is a clear 4xx in PostgREST's error shape):
//! - `GET` and `HEAD /rest/v1/{app_config|app_config_history}` (PostgREST's "Tables and Views",
//!   <https://docs.postgrest.org/en/v12/references/api/tables_views.html>):
//!   - horizontal filtering `field=[not.]op.value` with `eq neq gt gte lt lte` (the value cast
//!     to the field's type), `like ilike` (`*` or `%` as the wildcard), `match imatch`
//!     (`~`, `~*`), `in.(a,b,"c,d")`, `is.(null|not_null|true|false|unknown)`, `isdistinct`,
//!     `cs cd` (`config_value=cs.{"type":"cdn"}`); `or=(…)`, `and=(…)`, `not.or=(…)`,
//!     `not.and=(…)`, nested (`or=(a.eq.1,and(b.gt.2,c.not.lt.3))`), double-quoted values
//!     inside trees; all pairs ANDed;
//!   - JSON paths in filters, `select` and `order` (`config_value->healthCheck->>intervalSecs`;
//!     a digit key is an array index); in `select` a path is named after its last key, as
//!     PostgREST does;
//!   - vertical filtering `select=alias:field::cast,*` (casts from an allow-list);
//!   - `order=field.asc|desc.nullsfirst|nullslast,…`; `limit`/`offset` and the `Range: a-b`
//!     request header (GET only, `Range-Unit: items`), intersected as PostgREST does
//!     (<https://docs.postgrest.org/en/v12/references/api/pagination_count.html>);
//!   - `Prefer: count=exact|planned|estimated` (planned: the planner's estimate; estimated:
//!     the exact count, which PostgREST gives below `db-max-rows`, a limit this service does
//!     not set), the total in `Content-Range`
//!     (`0-9/42`, `*/0` when empty, `…/*` without a count); 206 when the page is not all of a
//!     known total, 416 `PGRST103` for an offset past it, a negative limit, a `Range` with
//!     last < first or one disjoint from `limit`/`offset`;
//!   - a JSON array, or one object with `Accept: application/vnd.pgrst.object+json` (406
//!     `PGRST116` when the result has 0 or more than 1 rows);
//!   - refused with 400 `PGRST100` naming what is unsupported: full-text search and range
//!     operators (`fts`, `ov`, `sl`, …), `(any)`/`(all)` modifiers, other logic operators,
//!     resource embedding, spreads and aggregates in `select`, casts off the allow-list;
//! - `GET /rest/v1/`: the OpenAPI (Swagger 2.0) description of the tables and functions the
//!   caller's role may use (<https://docs.postgrest.org/en/v12/references/api/openapi.html>);
//! - `POST /rest/v1/rpc/get_marketplace_config` (also `GET`): the raw `jsonb` document;
//! - `POST /rest/v1/rpc/update_app_config` with named arguments `p_key`, `p_value`,
//!   `p_reason`, `p_expected_version` (a JSON integer: `1.0` or `"1"` is 400 `22P02`, nothing
//!   written), `p_force` (boolean, default false): the updated row as an object; an unchanged
//!   document is 409 `PT409` with `details: "no_change"` unless `p_force`;
//! - table writes (`write`), as supabase-js sends them:
//!   `PATCH /rest/v1/{table}?<filters>` with a JSON object of columns to set;
//!   `POST /rest/v1/{table}` with an object or an array of objects (`?columns=`, names
//!   optionally double-quoted; without it every object must have the same keys, else 400
//!   `PGRST102` "All object keys must match"), an upsert with `Prefer:
//!   resolution=merge-duplicates|ignore-duplicates` on `?on_conflict=` (default: the primary
//!   key); `DELETE /rest/v1/{table}?<filters>`.
//!
//! Table writes, in short: each request is one statement in one transaction as the caller's
//! role, so grants and RLS decide and the table's triggers validate (422 `PT422`, nothing
//! written), version, stamp, record the history row and NOTIFY exactly as for the RPC; a write
//! reaches SSE subscribers and the in-memory reads like an RPC write. A body key or
//! `columns=` name that is not a column is 400 `PGRST204` ("Could not find the 'x' column of
//! 't' in the schema cache"); every real column is passed to the database as PostgREST would,
//! where the trigger overwrites `version`, `updated_at` and `updated_by`. No expected-version or
//! no-op check: an identical document is a new version (filter on `version=eq.N` for optimistic
//! concurrency: a stale filter updates 0 rows). An update or delete that RLS hides affects 0
//! rows (204, or `[]` with `return=representation`), as PostgREST; an insert RLS refuses is 403
//! `42501` "new row violates row-level security policy …"; without a JWT, 401 `42501`
//! "permission denied for table …". `app_config_history` has no write grant: 401/403 `42501`
//! (a payload naming its identity `id` is 400 `428C9` first, as PostgreSQL refuses it while
//! rewriting the statement, before any privilege check). A duplicate key is 409 `23505` with
//! `details: null`: PostgreSQL leaves the key out of DETAIL for a caller subject to RLS.
//! `PATCH`/`DELETE` without a filter are 400 `21000` "UPDATE/DELETE requires a WHERE clause", as
//! Supabase's pg-safeupdate answers; `limit`, `offset` and `order` on a write are 400
//! `PGRST100`. `Prefer`: `return=minimal` (default: 201 for `POST`, 204 otherwise, no body),
//! `return=representation` (the rows, `select=` columns; 201 for `POST`, 200 otherwise),
//! `return=headers-only` (`POST`: `Location: /t?id=eq.…` for one row), `count=exact` (the total
//! in `Content-Range`), `handling=strict` (400 `PGRST122` for anything else); applied tokens are
//! echoed in `Preference-Applied`, others ignored. With `Accept:
//! application/vnd.pgrst.object+json`, a write affecting other than one row is 406 `PGRST116`
//! and rolled back.
//!
//! Keys and roles: an `apikey` header (or `?apikey=`) is required, as Supabase's gateway does
//! (401 "No API key found in request"); any non-empty key is accepted, since it grants nothing
//! by itself. The role comes from `Authorization: Bearer <JWT>`; without one, from the `apikey`
//! if it is a JWT (Supabase's legacy anon/service keys); otherwise (`sb_publishable_…`) `anon`.
//! A bearer that is the same non-JWT key as the `apikey` (what supabase-js sends without a
//! session) is that key, so `anon` too, as Supabase's gateway treats it.
//! Tokens are verified as in [`crate::auth`]; refusals are 401 `PGRST301`/`PGRST303` with
//! `WWW-Authenticate`.
//!
//! Errors follow PostgREST (<https://docs.postgrest.org/en/v12/references/errors.html>): body
//! `{code, message, details, hint}`, every key always present (`null` when empty; `code` is
//! `null` only on the gateway's "No API key" answer);
//! SQLSTATE `42501` → 403 with a JWT, 401 without; `P0001` → 400; `PTxyz` → xyz; class `22` →
//! 400; `23505` → 409; unknown table → 404 `PGRST205`; unknown function → 404 `PGRST202`;
//! an RPC body that is not `application/json` → 415 `PGRST107`. `details` and `hint` are
//! always present (`null` when empty). Rejections raised before a handler runs (a path segment
//! that is not UTF-8, a body over [`crate::extract::MAX_CONFIG_BODY_BYTES`]) are rewritten into
//! this shape by [`crate::extract::json_errors`] (400 `PGRST100`, 413 `PGRST102`).

//!
//! # Layout
//! - `error`: `RestError`, PostgREST's error body, the codes of statuses no handler produced;
//! - `query`: the pure parser of `GET /rest/v1/{table}` query strings ([`parse_read_query`]),
//!   with `query::field` (columns, JSON paths, casts) and `query::filter` (the filter grammar,
//!   also used for the `WHERE` of table writes);
//! - `openapi`: the root endpoint's document;
//! - `request`: the checks every request passes first (key, JWT, schema header, JSON body);
//! - `handlers`: the table read, the RPCs, the fallbacks;
//! - `write`: the table writes (`PATCH`, `POST`, `DELETE`), with `write::prefs` (the `Prefer`
//!   header of a write).

mod error;
mod handlers;
mod openapi;
mod query;
mod request;
mod write;

pub(crate) use error::{error_body, rate_limited};
pub(crate) use handlers::{call_rpc, not_found, read_table, unsupported};
pub(crate) use openapi::root as openapi_root;
pub use query::parse_read_query;
pub(crate) use write::{delete_table, insert_table, update_table};
