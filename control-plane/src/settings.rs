//! Settings, from flags or the environment (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

/// How the service is configured. Every field has a flag and an environment variable.
#[derive(Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "SOURCEGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Owner/admin connection: migrations are applied with it. Unset: embedded PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Connection of the request pool: a `NOINHERIT` login role granted `anon`,
    /// `authenticated`, `service_role` (like Supabase's `authenticator`). Unset: `DATABASE_URL`
    /// is used (still safe, every request does `SET LOCAL ROLE`, but prefer a dedicated role).
    #[arg(long, env = "SOURCEGATE_AUTHENTICATOR_URL", hide_env_values = true)]
    pub authenticator_url: Option<String>,

    /// HS256 secret of the JWTs (Supabase's JWT secret). Unset: with `DATABASE_URL`, HS256 is
    /// off and `jwks_url` is required (replicas must share the verifier); embedded, generated
    /// once and stored in `<data-dir>/jwt-secret`.
    #[arg(long, env = "SOURCEGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Directory for the embedded cluster (`<data-dir>/pg`) and the generated JWT secret.
    #[arg(long, env = "SOURCEGATE_DATA_DIR", default_value = ".sourcegate")]
    pub data_dir: PathBuf,

    /// Let `POST /v1/origins/test` and the health probes reach private, loopback, link-local and
    /// other non-global addresses (this lifts the outbound guard's address check,
    /// `crate::guard`), and let documents name such hosts (the request connections get the GUC
    /// `sourcegate.allow_private_origins = on`, read by `app_private.validate_config`). Tests and
    /// drills only.
    #[arg(long, env = "SOURCEGATE_ALLOW_PRIVATE_ORIGINS")]
    pub allow_private_origins: bool,

    /// Sustained requests per second admitted per client IP; 0 disables rate limiting.
    #[arg(long, env = "SOURCEGATE_RATE_LIMIT_PER_SEC", default_value_t = 50)]
    pub rate_limit_per_sec: u32,

    /// Burst size of the per-client rate limit.
    #[arg(long, env = "SOURCEGATE_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,

    /// Sustained `POST /v1/telemetry` reports per second admitted per client IP (its own
    /// quota, on top of the general limit); 0 disables it.
    #[arg(long, env = "SOURCEGATE_TELEMETRY_RATE_PER_SEC", default_value_t = 5)]
    pub telemetry_rate_per_sec: u32,

    /// Burst size of the telemetry rate limit.
    #[arg(long, env = "SOURCEGATE_TELEMETRY_RATE_BURST", default_value_t = 20)]
    pub telemetry_rate_burst: u32,

    /// Probe the configured origins (`GET /v1/origins/health`); off, the endpoint answers 503.
    #[arg(long, env = "SOURCEGATE_ORIGIN_PROBES", default_value_t = true, action = clap::ArgAction::Set)]
    pub origin_probes: bool,

    /// Maximum connections of the request pool.
    #[arg(long, env = "SOURCEGATE_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Interval between SSE heartbeats (comment lines), seconds.
    #[arg(long, env = "SOURCEGATE_SSE_HEARTBEAT_SECS", default_value_t = 15)]
    pub sse_heartbeat_secs: u64,

    /// Longest time the `LISTEN` session may be down before `/ready` answers 503, seconds: past
    /// it the in-memory snapshots may be stale, so a load balancer should drain the replica.
    #[arg(long, env = "SOURCEGATE_LISTENER_DOWN_MAX_SECS", default_value_t = 10)]
    pub listener_down_max_secs: u64,

    /// Address of the Prometheus `/metrics` listener (its own port, never the API's); unset:
    /// no metrics endpoint.
    #[arg(long, env = "SOURCEGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For` is believed: the
    /// per-IP rate limits then key on the right-most untrusted hop. Default: none.
    #[arg(long, env = "SOURCEGATE_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::observability::parse_trusted)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Run the embedded cluster without fsync (tests and benches only).
    #[arg(long, env = "SOURCEGATE_EMBEDDED_UNSAFE_FAST", hide = true)]
    pub embedded_unsafe_fast: bool,

    /// JSON Web Key Set of the token issuer, for ES256/RS256 tokens (Supabase's asymmetric
    /// signing keys: `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`). Works
    /// alongside the HS256 secret. Unset: asymmetric tokens are refused.
    #[arg(long, env = "SOURCEGATE_JWKS_URL")]
    pub jwks_url: Option<url::Url>,

    /// Tolerated clock skew on the `exp`, `nbf` and `iat` claims, seconds.
    #[arg(long, env = "SOURCEGATE_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Seconds in a telemetry "minute": the bucket size of the persisted fleet telemetry and
    /// the autopilot's unit of time (its rules count whole minutes, `crate::autopilot`). 60;
    /// tests and drills scale minutes down to seconds with it.
    #[arg(
        long = "minute-secs",
        env = "SOURCEGATE_MINUTE_SECS",
        default_value_t = 60
    )]
    pub telemetry_minute_secs: u32,

    /// How often each replica writes its batch of telemetry reports to the database,
    /// milliseconds (one statement per flush, `crate::fleet_store`).
    #[arg(long, env = "SOURCEGATE_TELEMETRY_FLUSH_MS", default_value_t = 2000)]
    pub telemetry_flush_ms: u64,

    /// How long persisted telemetry is kept, in minutes (of `--minute-secs`); default 10,080
    /// (7 days). Older rows are pruned in the background.
    #[arg(
        long,
        env = "SOURCEGATE_TELEMETRY_RETENTION_MINUTES",
        default_value_t = 10_080
    )]
    pub telemetry_retention_minutes: u32,

    /// Run the fleet autopilot's decider on this replica (it acts only while it holds the
    /// leader lock, and only when the `autopilot` document enables it).
    #[arg(long, env = "SOURCEGATE_AUTOPILOT", default_value_t = true, action = clap::ArgAction::Set)]
    pub autopilot: bool,

    /// How often the autopilot's leader evaluates the policy, milliseconds (default 15,000:
    /// four times per minute, so a streak is seen within a quarter of a minute).
    #[arg(
        long,
        env = "SOURCEGATE_AUTOPILOT_INTERVAL_MS",
        default_value_t = 15_000
    )]
    pub autopilot_interval_ms: u64,

    /// Where to POST each autopilot decision (JSON, signed; `crate::notify`), through the
    /// outbound guard. Unset: no webhook.
    #[arg(long, env = "SOURCEGATE_NOTIFY_WEBHOOK")]
    pub notify_webhook: Option<url::Url>,

    /// HMAC-SHA256 key of the webhook's `X-Sourcegate-Signature` header. Unset: unsigned.
    #[arg(long, env = "SOURCEGATE_NOTIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub notify_webhook_secret: Option<String>,

    /// Maximum lifetime (`exp - iat`) of an `authenticated` token, seconds (`anon` and
    /// `service_role` keys are exempt); 0: no maximum.
    #[arg(
        long,
        env = "SOURCEGATE_JWT_MAX_LIFETIME_SECS",
        default_value_t = 86400
    )]
    pub jwt_max_lifetime_secs: u64,
}

impl Default for Settings {
    /// The defaults of the flags, with `listen = 127.0.0.1:0` and no database URL.
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            authenticator_url: None,
            jwt_secret: None,
            data_dir: PathBuf::from(".sourcegate"),
            allow_private_origins: false,
            rate_limit_per_sec: 50,
            rate_limit_burst: 100,
            telemetry_rate_per_sec: 5,
            telemetry_rate_burst: 20,
            origin_probes: true,
            db_pool_size: 16,
            sse_heartbeat_secs: 15,
            listener_down_max_secs: 10,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            embedded_unsafe_fast: false,
            jwks_url: None,
            jwt_leeway_secs: crate::auth::DEFAULT_LEEWAY_SECS,
            jwt_max_lifetime_secs: crate::auth::DEFAULT_MAX_LIFETIME_SECS,
            telemetry_minute_secs: 60,
            telemetry_flush_ms: 2000,
            telemetry_retention_minutes: 10_080,
            autopilot: true,
            autopilot_interval_ms: 15_000,
            notify_webhook: None,
            notify_webhook_secret: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    /// Redacts the secret and the connection URLs (they may carry passwords).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact(&self.database_url))
            .field("authenticator_url", &redact(&self.authenticator_url))
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("data_dir", &self.data_dir)
            .field("allow_private_origins", &self.allow_private_origins)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("telemetry_rate_per_sec", &self.telemetry_rate_per_sec)
            .field("telemetry_rate_burst", &self.telemetry_rate_burst)
            .field("origin_probes", &self.origin_probes)
            .field("db_pool_size", &self.db_pool_size)
            .field("sse_heartbeat_secs", &self.sse_heartbeat_secs)
            .field("listener_down_max_secs", &self.listener_down_max_secs)
            .field("metrics_listen", &self.metrics_listen)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("embedded_unsafe_fast", &self.embedded_unsafe_fast)
            .field("jwks_url", &self.jwks_url.as_ref().map(url::Url::as_str))
            .field("jwt_leeway_secs", &self.jwt_leeway_secs)
            .field("jwt_max_lifetime_secs", &self.jwt_max_lifetime_secs)
            .field("telemetry_minute_secs", &self.telemetry_minute_secs)
            .field("telemetry_flush_ms", &self.telemetry_flush_ms)
            .field(
                "telemetry_retention_minutes",
                &self.telemetry_retention_minutes,
            )
            .field("autopilot", &self.autopilot)
            .field("autopilot_interval_ms", &self.autopilot_interval_ms)
            .field(
                "notify_webhook",
                &self.notify_webhook.as_ref().map(url::Url::as_str),
            )
            .field(
                "notify_webhook_secret",
                &self.notify_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Settings {
    /// [`Settings::telemetry_minute_secs`] as a signed count, at least 1.
    pub fn minute_secs(&self) -> i64 {
        i64::from(self.telemetry_minute_secs.max(1))
    }
}
