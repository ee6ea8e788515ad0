//! Shared helpers: a fresh migrated database on the shared embedded cluster and the real
//! service on 127.0.0.1:0 per test.
#![allow(dead_code, unreachable_pub, missing_docs)]

use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_control_plane::embedded::testing::{self, TestDatabase};
use sourcegate_control_plane::settings::Settings;
use sourcegate_control_plane::{Server, spawn};
use uuid::Uuid;

pub const SECRET: &str = "test-secret-with-at-least-32-characters!";

pub struct Ctx {
    pub server: Server,
    pub db: TestDatabase,
    pub http: reqwest::Client,
    pub base: String,
}

pub async fn start() -> Ctx {
    start_with(|_| {}).await
}

pub async fn start_with(f: impl FnOnce(&mut Settings)) -> Ctx {
    let db = testing::fresh_database().await.expect("test database");
    let mut s = settings(&db);
    f(&mut s);
    serve(db, s).await
}

/// The settings of every test service over `db`: its URLs, [`SECRET`], no rate limit (neither
/// the general one nor telemetry's per-IP quota: every simulated install reports from
/// 127.0.0.1, and a quota would admit whichever installs its refill times happen to meet), a
/// small pool, no probes.
pub fn settings(db: &TestDatabase) -> Settings {
    Settings {
        database_url: Some(db.admin_url.clone()),
        authenticator_url: Some(db.authenticator_url.clone()),
        jwt_secret: Some(SECRET.into()),
        rate_limit_per_sec: 0,
        telemetry_rate_per_sec: 0,
        db_pool_size: 4,
        // The seeded document names raw.githubusercontent.com: tests never probe it (the
        // fleet-health tests turn probes on over loopback origins).
        origin_probes: false,
        ..Settings::default()
    }
}

/// Starts the service over `db` with `s`.
pub async fn serve(db: TestDatabase, s: Settings) -> Ctx {
    let server = spawn(s).await.expect("server");
    let base = server.base_url();
    Ctx {
        server,
        db,
        http: reqwest::Client::new(),
        base,
    }
}

/// A document probing `git` (and `cdn`, hybrid CDN→Git, when given) at the shortest interval a
/// document may ask for (5 s), one probe flipping the state.
pub fn probe_doc(git: &str, cdn: Option<&str>) -> serde_json::Value {
    let mut d = serde_json::json!({
        "type": "git",
        "gitUrl": git,
        "healthCheckEnabled": true,
        "fallbackOnError": true,
        "healthCheck": {"intervalSecs": 5, "timeoutMs": 1000, "healthyThreshold": 1, "unhealthyThreshold": 1}
    });
    if let Some(cdn) = cdn {
        d["type"] = serde_json::json!("hybrid");
        d["priority"] = serde_json::json!(["cdn", "git"]);
        d["cdnUrl"] = serde_json::json!(cdn);
    }
    d
}

/// Stores `doc` as the configuration, as a superuser at `admin_url`, the way a server that
/// allowed private origins would have (or a row written before the write-time rule): the
/// write-time validator refuses loopback hosts otherwise, and what is tested is the prober's
/// own guard.
pub async fn store_unvalidated(admin_url: &str, doc: serde_json::Value) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query("SET sourcegate.allow_private_origins = on")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE public.app_config SET config_value = $1 WHERE config_key = 'marketplace_source'",
    )
    .bind(doc)
    .execute(&mut c)
    .await
    .unwrap();
}

/// A probing service whose stored document is `stored` before it starts (so the probes never
/// see the seeded public URL); `allow_private` lets the probes reach loopback origins.
pub async fn start_probing(stored: serde_json::Value, allow_private: bool) -> Ctx {
    let db = testing::fresh_database().await.expect("test database");
    store_unvalidated(&db.admin_url, stored).await;
    let s = Settings {
        origin_probes: true,
        allow_private_origins: allow_private,
        ..settings(&db)
    };
    serve(db, s).await
}

pub fn token(role: Role, sub: Option<Uuid>, admin: bool) -> String {
    mint_token(SECRET.as_bytes(), &Claims::new(role, sub, admin, 3600)).unwrap()
}

/// An admin: `authenticated` with `app_metadata.role = "admin"`.
pub fn admin_token(sub: Uuid) -> String {
    token(Role::Authenticated, Some(sub), true)
}

pub fn user_token(sub: Uuid) -> String {
    token(Role::Authenticated, Some(sub), false)
}

pub fn service_token() -> String {
    token(Role::ServiceRole, None, false)
}

/// Supabase-style anon key (a JWT with role anon).
pub fn anon_key() -> String {
    token(Role::Anon, None, false)
}

pub async fn superuser(ctx: &Ctx) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&ctx.db.admin_url)
        .await
        .unwrap()
}

pub async fn authenticator(ctx: &Ctx) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&ctx.db.authenticator_url)
        .await
        .unwrap()
}

pub fn cdn_doc() -> serde_json::Value {
    serde_json::json!({"type":"cdn","priority":["cdn"],"cdnUrl":"https://cdn.example.com/","healthCheckEnabled":true,"fallbackOnError":true})
}

impl Ctx {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get_config(&self) -> serde_json::Value {
        self.http
            .get(self.url("/v1/configs/marketplace_source"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn put(&self, token: Option<&str>, body: serde_json::Value) -> reqwest::Response {
        let mut r = self
            .http
            .put(self.url("/v1/configs/marketplace_source"))
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    pub async fn history_count(&self) -> i64 {
        let mut c = superuser(self).await;
        sqlx::query_scalar("SELECT count(*) FROM public.app_config_history")
            .fetch_one(&mut c)
            .await
            .unwrap()
    }

    pub async fn rest_rpc(
        &self,
        function: &str,
        bearer: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.url(&format!("/rest/v1/rpc/{function}")))
            .header("apikey", "sb_publishable_test")
            .json(&body);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }
}

/// The next Server-Sent Event of `stream`, within 5 s (panics otherwise: a test's push must
/// arrive well before that).
pub async fn next_event(
    stream: &mut (
             impl futures_util::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Debug>>
             + Unpin
         ),
) -> eventsource_stream::Event {
    use futures_util::StreamExt as _;
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("event within 5 s")
        .expect("stream open")
        .expect("valid event")
}
