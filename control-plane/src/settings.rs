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

    /// HS256 secret of the JWTs (Supabase's JWT secret). Unset: generated once and stored in
    /// `<data-dir>/jwt-secret`.
    #[arg(long, env = "SOURCEGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Directory for the embedded cluster (`<data-dir>/pg`) and the generated JWT secret.
    #[arg(long, env = "SOURCEGATE_DATA_DIR", default_value = ".sourcegate")]
    pub data_dir: PathBuf,

    /// Let `POST /v1/origins/test` probe private, loopback and link-local addresses, and let
    /// documents name such hosts (the request connections get the GUC
    /// `sourcegate.allow_private_origins = on`, read by `app_private.validate_config`)
    /// (tests and drills only: this re-opens the SSRF hole the check closes).
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

    /// Run the embedded cluster without fsync (tests and benches only).
    #[arg(long, env = "SOURCEGATE_EMBEDDED_UNSAFE_FAST", hide = true)]
    pub embedded_unsafe_fast: bool,
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
            embedded_unsafe_fast: false,
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
            .field("embedded_unsafe_fast", &self.embedded_unsafe_fast)
            .finish()
    }
}
