#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! Sourcegate control plane: where admins flip the marketplace source.
//!
//! An axum service over PostgreSQL in which **the database decides who may do what**: each
//! request runs in one transaction as `anon`, `authenticated` or `service_role` (from a verified
//! Supabase-style JWT) with `request.jwt.claims` set, as PostgREST does, and the RLS policies and
//! SQL functions of `supabase/migrations` allow or refuse. Changes are versioned, audited in an
//! append-only history, and pushed to clients over Server-Sent Events via `LISTEN/NOTIFY`.
//!
//! # Layout
//! - [`settings`]: flags and environment variables;
//! - `state`: [`AppState`], the handlers' shared state;
//! - `router`: [`router()`], every route, the middleware stack and CORS;
//! - `server`: [`spawn`], the running [`Server`] and its shutdown, [`StartError`];
//! - `secrets`: the JWT secret from the environment or the data directory
//!   ([`load_or_create_secret`], [`secret_for_cli`]);
//! - `ratelimit`: the per-client-IP limiter and its 429 middleware;
//! - `health`: `GET /live`, `GET /ready` (and `/health`);
//! - [`embedded`]: a private PostgreSQL cluster (default without `DATABASE_URL`; tests);
//! - [`db`]: migrations, the one role-transaction helper ([`db::begin_as`], [`db::in_role`]),
//!   queries;
//! - [`auth`]: claims and roles, JWT verification ([`auth::Verifier`]: HS256 secret, JWKS for
//!   ES256/RS256) and minting ([`auth::mint_token`]);
//! - [`api`]: the native `/v1` API (ETag, SSE, optimistic concurrency, history, rollback);
//! - [`rest`]: the PostgREST-compatible subset under `/rest/v1` (query parser, handlers, errors);
//! - [`admin`]: the admin console at `/admin`, one table of embedded assets;
//! - [`events`]: one `LISTEN` session keeping the snapshots current and fanning changes out;
//! - [`snapshot`]: the in-memory, pre-serialised configs that reads and SSE are served from;
//! - `snapshot_reads`: `GET /v1/configs/{key}` answered before the router;
//! - `stream_path`: SSE streams served at the connection level, without hyper's buffers;
//! - [`autopilot`]: the fleet autopilot's policy document and its pure rules;
//! - [`observability`]: Prometheus metrics and the client address behind trusted proxies;
//! - [`guard`]: the outbound guard (address classification; the guarded clients: no redirects,
//!   no proxies) of every request made on an admin's or a document's behalf;
//! - [`origins`]: `POST /v1/origins/test`, through the guard;
//! - [`fleet`]: `GET /v1/origins/health` (the resolver's probes) and `/v1/telemetry`;
//! - [`telemetry`]: the pure per-minute, per-origin batching of resolver reports;
//! - [`fleet_store`]: the persisted fleet telemetry (flush, prune, the fleet's series);
//! - [`decider`]: the autopilot's leader election and loop (evaluates, acts as `autopilot`);
//! - [`autopilot_api`]: `GET /v1/autopilot`, the policy, this replica's decider, the decisions;
//! - [`notify`]: the signed webhook of autopilot decisions (`--notify-webhook`), through the guard;
//! - [`error`]: [`error::AppError`], the stable error codes of `/v1`;
//! - `db_error`: the one classifier of database errors (SQLSTATE → meaning and status) that
//!   `/v1` ([`error::AppError::from_db`]) and `/rest/v1` both answer from;
//! - [`extract`]: extractors with JSON rejections, the body limit, the JSON error fallback;
//! - [`openapi`](mod@openapi): the OpenAPI document of `/openapi.json` ([`openapi()`]).
//!
//! # Examples
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sourcegate_control_plane::{spawn, settings::Settings};
//! let server = spawn(Settings::default()).await?; // embedded PostgreSQL under .sourcegate/pg
//! println!("listening on http://{}", server.addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod autopilot;
pub mod autopilot_api;
pub mod db;
pub mod decider;
pub mod embedded;
pub mod error;
pub mod events;
pub mod extract;
pub mod fleet;
pub mod fleet_store;
pub mod guard;
pub mod notify;
pub mod observability;
pub mod openapi;
pub mod origins;
pub mod rest;
pub mod settings;
pub mod snapshot;
pub mod telemetry;

mod db_error;
mod health;
mod ratelimit;
mod router;
mod secrets;
mod server;
mod snapshot_reads;
mod state;
mod stream_path;

pub(crate) use ratelimit::{Limiter, keyed_limiter};
pub use router::router;
pub use secrets::{load_or_create_secret, secret_for_cli};
pub use server::{Server, StartError, spawn};
pub use state::AppState;

/// The OpenAPI document served at `/openapi.json` (see the [`openapi`](mod@crate::openapi) module).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::document()
}
