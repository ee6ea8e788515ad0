//! A private PostgreSQL cluster run from the system's binaries (the default when no
//! `DATABASE_URL` is given, and the database of the tests).
//!
//! Layout of the cluster root (default `.sourcegate/pg`):
//! - `data/`: `PGDATA`, created by `initdb` once per root and reused afterwards;
//! - `.s.PGSQL.<port>`: the unix socket (only the cluster's owner can reach the root);
//! - `postgres.log`: the server log.
//!
//! The server listens on the unix socket (superuser, `trust`) and on `127.0.0.1:<free port>`
//! (password auth, `scram-sha-256`). When the process runs as root, `initdb` and `postgres` run as
//! an unprivileged OS user (PostgreSQL refuses to run as root): `$SOURCEGATE_PG_USER`, else
//! `postgres`, else `nobody`; the root directory is handed to that user, and ancestors that user
//! cannot search get `o+x` when they belong to us (e.g. a `0700` temporary directory).
//!
//! The server is a child of a small `sh` supervisor reading our stdin pipe: it restarts a
//! postmaster that died (crash, `kill -9`) with backoff, PostgreSQL's crash recovery replaying
//! the WAL; when this value is dropped, or when the process dies without dropping it (a `static`
//! in a test binary), the pipe closes and the supervisor stops PostgreSQL with a fast shutdown
//! (`SIGINT`). A start that finds a previous postmaster alive on the data directory waits for
//! it ([`PREVIOUS_POSTMASTER_WAIT`]) and then fails naming its PID.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Name of the login role the request pool uses (`LOGIN NOINHERIT`, granted `anon`,
/// `authenticated`, `service_role`; never superuser nor table owner, so RLS applies).
pub const AUTHENTICATOR_ROLE: &str = "sourcegate_authenticator";

/// Name of the cluster superuser created by `initdb`.
pub const SUPERUSER: &str = "postgres";

/// Errors starting or preparing the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The PostgreSQL binaries (`initdb`, `postgres`) were not found.
    #[error(
        "PostgreSQL binaries not found (looked in {0}); install postgresql or set SOURCEGATE_PG_BIN"
    )]
    BinariesNotFound(String),
    /// Running as root but no unprivileged OS user (`SOURCEGATE_PG_USER`, `postgres`, `nobody`)
    /// exists to run the server as.
    #[error(
        "running as root and no unprivileged user (SOURCEGATE_PG_USER, postgres, nobody) to run PostgreSQL"
    )]
    NoUnprivilegedUser,
    /// A filesystem operation on the cluster root failed.
    #[error("cluster directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("{program} failed: {output}")]
    Command {
        /// The program name.
        program: String,
        /// Its exit status and stderr (or the server log's tail).
        output: String,
    },
    /// Another postmaster still runs on the data directory.
    #[error(
        "data directory {path} is in use by postgres process {pid} (still running after {secs} s; \
         stop it, or wait for it to finish, then start again)"
    )]
    InUse {
        /// The data directory.
        path: PathBuf,
        /// The PID of the postmaster holding it (from `postmaster.pid`).
        pid: u32,
        /// Seconds waited.
        secs: u64,
    },
    /// The server did not accept connections in time.
    #[error("PostgreSQL did not become ready within {secs} s; log tail:\n{log}")]
    NotReady {
        /// Seconds waited.
        secs: u64,
        /// Last lines of `postgres.log`.
        log: String,
    },
    /// A SQL statement failed while preparing the database.
    #[error("database setup failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Options of [`EmbeddedPostgres::start`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Cluster root directory (created if missing). Default: `.sourcegate/pg` under the cwd.
    pub root: PathBuf,
    /// Directory holding `initdb`/`postgres`. Default: `$SOURCEGATE_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/*/bin`, else `$PATH`.
    pub bin_dir: Option<PathBuf>,
    /// Turn off `fsync`, `synchronous_commit` and `full_page_writes` (tests and benches only:
    /// a crash may corrupt the cluster). Default: `false`.
    pub fast_unsafe: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            root: PathBuf::from(".sourcegate/pg"),
            bin_dir: None,
            fast_unsafe: false,
        }
    }
}

/// A running private PostgreSQL cluster. Dropping it stops the server (fast shutdown).
pub struct EmbeddedPostgres {
    root: PathBuf,
    port: u16,
    authenticator_password: String,
    /// Closing this pipe makes the watchdog stop the server (see the module docs).
    stdin: Option<ChildStdin>,
    watchdog: Option<Child>,
}

fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_owned());
    }
    if let Some(p) = std::env::var_os("SOURCEGATE_PG_BIN") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versions.into_iter().map(|(_, p)| p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .iter()
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .cloned()
        .ok_or_else(|| {
            EmbeddedError::BinariesNotFound(
                candidates
                    .iter()
                    .take(4)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

/// `(uid, gid)` to run PostgreSQL as, when this process is root.
fn unprivileged_user() -> Result<Option<(u32, u32)>, EmbeddedError> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(io_err(Path::new("/proc/self")))?;
    if euid != 0 {
        return Ok(None);
    }
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(io_err(Path::new("/etc/passwd")))?;
    let lookup = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name) && f.len() > 3)
                .then(|| Some((f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?)))
                .flatten()
                .filter(|(uid, _)| *uid != 0)
        })
    };
    // `SOURCEGATE_PG_USER`, else the distribution's `postgres` user, else `nobody`.
    let preferred = std::env::var("SOURCEGATE_PG_USER").ok();
    preferred
        .as_deref()
        .into_iter()
        .chain(["postgres", "nobody"])
        .find_map(lookup)
        .map(Some)
        .ok_or(EmbeddedError::NoUnprivilegedUser)
}

/// Makes every ancestor of `root` searchable by `(uid, gid)`, so PostgreSQL running as that user
/// can reach its directory (e.g. a `0700` temporary directory made by a root process). Only
/// directories owned by this process's user get `o+x` (search, not list); others make it fail.
fn ensure_traversable(root: &Path, uid: u32, gid: u32) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::PermissionsExt as _;
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(io_err(Path::new("/proc/self")))?;
    for dir in root.ancestors().skip(1) {
        let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
        let mode = meta.permissions().mode();
        let searchable = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if searchable {
            continue;
        }
        if meta.uid() != me {
            return Err(EmbeddedError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "not searchable by the PostgreSQL user; choose another data directory",
                ),
            });
        }
        tracing::warn!(dir = %dir.display(), "adding o+x so the PostgreSQL user can reach its data directory");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o001))
            .map_err(io_err(dir))?;
    }
    Ok(())
}

fn command(program: PathBuf, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
    cmd.env("LC_ALL", "C");
    cmd
}

fn free_port() -> Result<u16, EmbeddedError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err(Path::new("127.0.0.1:0")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io_err(Path::new("127.0.0.1:0")))
}

fn random_password() -> String {
    use rand::Rng as _;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn log_tail(root: &Path) -> String {
    let log = std::fs::read_to_string(root.join("postgres.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The supervisor shell: runs `postgres`, restarts it when it dies (a crash, `kill -9`) with
/// exponential backoff (0.25, 0.5, 1 … 8 s; back to 0.25 s after a minute up: a restart right
/// after a kill often fails while the old backends still hold the shared memory), PostgreSQL's own crash
/// recovery bringing the data back; stops it with a fast shutdown (`SIGINT`) when our stdin
/// closes (this value dropped, or our process gone).
const WATCHDOG: &str = r#"
supervise() {
  delay=1
  trap 'kill -INT $pid 2>/dev/null; wait $pid; exit 0' TERM INT
  while :; do
    started=$(date +%s)
    "$0" "$@" >>"$SG_PG_LOG" 2>&1 &
    pid=$!
    wait $pid
    code=$?
    [ $(( $(date +%s) - started )) -ge 60 ] && delay=1
    echo "sourcegate supervisor: postgres exited ($code); restarting in $(( delay * 250 )) ms" >>"$SG_PG_LOG"
    sleep "$(( delay / 4 )).$(( delay % 4 * 25 ))" &
    wait $!
    delay=$(( delay * 2 )); [ $delay -gt 32 ] && delay=32
  done
}
supervise "$@" &
sup=$!
read _ignored
kill -TERM $sup 2>/dev/null
wait $sup
"#;

/// How long [`EmbeddedPostgres::start`] waits for a previous postmaster still running on the
/// data directory (e.g. finishing a checkpoint after its owner was killed) before failing.
pub const PREVIOUS_POSTMASTER_WAIT: Duration = Duration::from_secs(10);

/// The PID in `data/postmaster.pid` when that process is alive and is a `postgres`.
fn live_postmaster(data: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(pid)
}

impl EmbeddedPostgres {
    /// Initializes (first time only) and starts the cluster, then makes sure the
    /// [`AUTHENTICATOR_ROLE`] exists with a fresh password. Databases are created with
    /// [`EmbeddedPostgres::prepare_database`].
    ///
    /// # Errors
    /// [`EmbeddedError`] when binaries are missing, `initdb` fails, the server does not become
    /// ready within 30 s, or the role setup fails.
    pub async fn start(opts: EmbeddedOptions) -> Result<EmbeddedPostgres, EmbeddedError> {
        let bin = find_bin_dir(opts.bin_dir.as_deref())?;
        let run_as = unprivileged_user()?;
        let root = if opts.root.is_absolute() {
            opts.root.clone()
        } else {
            std::env::current_dir()
                .map_err(io_err(&opts.root))?
                .join(&opts.root)
        };
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(&root))?;
        }
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).map_err(io_err(&root))?;
            ensure_traversable(&root, uid, gid)?;
        }
        let data = root.join("data");
        if !data.join("PG_VERSION").is_file() {
            let _span = tracing::info_span!("initdb", root = %root.display()).entered();
            let out = command(bin.join("initdb"), run_as)
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .stdin(Stdio::null())
                .output()
                .map_err(io_err(&bin))?;
            if !out.status.success() {
                return Err(EmbeddedError::Command {
                    program: "initdb".into(),
                    output: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
                });
            }
        }
        // A postmaster left by a previous owner (killed without stopping it) still holds the
        // data directory: wait for it to finish, or say which process holds it.
        let waited = Instant::now();
        while let Some(pid) = live_postmaster(&data) {
            if waited.elapsed() >= PREVIOUS_POSTMASTER_WAIT {
                return Err(EmbeddedError::InUse {
                    path: data.clone(),
                    pid,
                    secs: PREVIOUS_POSTMASTER_WAIT.as_secs(),
                });
            }
            tracing::info!(pid, "waiting for the previous postmaster to exit");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let port = free_port()?;
        let mut cmd = command(PathBuf::from("/bin/sh"), run_as);
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&root)
            .arg("-p")
            .arg(port.to_string())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=64MB",
            ])
            .env("SG_PG_LOG", root.join("postgres.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if opts.fast_unsafe {
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        let mut child = cmd.spawn().map_err(io_err(&bin))?;
        let stdin = child.stdin.take();
        let mut pg = EmbeddedPostgres {
            root,
            port,
            authenticator_password: random_password(),
            stdin,
            watchdog: Some(child),
        };
        pg.wait_ready(Duration::from_secs(30)).await?;
        pg.setup_authenticator().await?;
        tracing::info!(port, root = %pg.root.display(), "embedded PostgreSQL started");
        Ok(pg)
    }

    async fn wait_ready(&mut self, max: Duration) -> Result<(), EmbeddedError> {
        let start = Instant::now();
        loop {
            match PgConnection::connect_with(&self.superuser_options("postgres")).await {
                Ok(c) => {
                    let _ = c.close().await;
                    return Ok(());
                }
                Err(e) => {
                    let exited = self
                        .watchdog
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten())
                        .is_some();
                    if exited || start.elapsed() > max {
                        tracing::debug!(error = %e, "PostgreSQL not ready");
                        return Err(EmbeddedError::NotReady {
                            secs: max.as_secs(),
                            log: log_tail(&self.root),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn setup_authenticator(&self) -> Result<(), EmbeddedError> {
        let mut c = PgConnection::connect_with(&self.superuser_options("postgres")).await?;
        // The API roles must exist before GRANT; the shim migration creates them the same way.
        let shim = include_str!("../../supabase/migrations/20251031000000_supabase_shim.sql");
        sqlx::raw_sql(shim).execute(&mut c).await?;
        sqlx::raw_sql(&format!(
            "DO $a$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') THEN
                 CREATE ROLE {r} LOGIN NOINHERIT;
               END IF;
             END $a$;
             ALTER ROLE {r} WITH LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
               PASSWORD '{p}';
             GRANT anon, authenticated, service_role TO {r};",
            r = AUTHENTICATOR_ROLE,
            p = self.authenticator_password
        ))
        .execute(&mut c)
        .await?;
        // The shim created `auth` in the `postgres` database only; harmless.
        c.close().await?;
        Ok(())
    }

    /// Creates database `name` if missing (optionally as a copy of `template`) and, without a
    /// template, applies the migrations to it as the superuser.
    ///
    /// # Errors
    /// [`EmbeddedError::Sql`] / [`EmbeddedError::Migrate`].
    pub async fn prepare_database(
        &self,
        name: &str,
        template: Option<&str>,
    ) -> Result<(), EmbeddedError> {
        let mut c = PgConnection::connect_with(&self.superuser_options("postgres")).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut c)
                .await?;
        if !exists {
            let sql = match template {
                Some(t) => format!("CREATE DATABASE \"{}\" TEMPLATE \"{}\"", esc(name), esc(t)),
                None => format!("CREATE DATABASE \"{}\"", esc(name)),
            };
            sqlx::raw_sql(&sql).execute(&mut c).await?;
        }
        c.close().await?;
        if template.is_none() {
            let mut db = PgConnection::connect_with(&self.superuser_options(name)).await?;
            crate::db::MIGRATOR.run(&mut db).await?;
            db.close().await?;
        }
        Ok(())
    }

    /// Connection options for the superuser over the unix socket.
    pub fn superuser_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.root)
            .port(self.port)
            .username(SUPERUSER)
            .database(database)
            .log_statements(tracing::log::LevelFilter::Debug)
    }

    /// Superuser URL over the unix socket (usable as `DATABASE_URL`).
    pub fn superuser_url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost:{}/{database}?host={}",
            self.port,
            self.root.display()
        )
    }

    /// URL of the [`AUTHENTICATOR_ROLE`] over TCP on 127.0.0.1 (usable as
    /// `SOURCEGATE_AUTHENTICATOR_URL`).
    pub fn authenticator_url(&self, database: &str) -> String {
        format!(
            "postgres://{AUTHENTICATOR_ROLE}:{}@127.0.0.1:{}/{database}",
            self.authenticator_password, self.port
        )
    }

    /// Connection options of [`EmbeddedPostgres::authenticator_url`].
    ///
    /// # Errors
    /// Never in practice (the URL is built here).
    pub fn authenticator_options(&self, database: &str) -> Result<PgConnectOptions, sqlx::Error> {
        PgConnectOptions::from_str(&self.authenticator_url(database))
    }

    /// The PID of the running postmaster (from `postmaster.pid`), if it is alive.
    pub fn postmaster_pid(&self) -> Option<u32> {
        live_postmaster(&self.root.join("data"))
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops the server (fast shutdown) and waits for it. Also done on drop.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        if let Some(mut child) = self.watchdog.take() {
            let _ = child.wait();
            tracing::info!(root = %self.root.display(), "embedded PostgreSQL stopped");
        }
    }
}

impl std::fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn esc(ident: &str) -> String {
    ident.replace('"', "\"\"")
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Shared cluster and per-test databases, for this crate's tests, the e2e crate and drills.
///
/// One cluster per process (under the system temp dir, removed by the next run once this
/// process is gone), a migrated template database, and a fresh copy of it per test
/// (`CREATE DATABASE … TEMPLATE`), so tests run in parallel without interfering.
pub mod testing {
    use super::*;

    /// A fresh migrated database on the shared cluster.
    #[derive(Debug, Clone)]
    pub struct TestDatabase {
        /// Database name.
        pub name: String,
        /// Superuser URL (unix socket): use as `DATABASE_URL`.
        pub admin_url: String,
        /// Authenticator URL (TCP): use as `SOURCEGATE_AUTHENTICATOR_URL`.
        pub authenticator_url: String,
    }

    static CLUSTER: tokio::sync::OnceCell<EmbeddedPostgres> = tokio::sync::OnceCell::const_new();
    static CREATE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    const TEMPLATE: &str = "sg_template";
    const PREFIX: &str = "sourcegate-pg-";

    fn remove_stale_roots(tmp: &Path) {
        let Ok(rd) = std::fs::read_dir(tmp) else {
            return;
        };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// The process-wide cluster (started on first use, with a migrated template database).
    ///
    /// # Errors
    /// See [`EmbeddedPostgres::start`].
    pub async fn cluster() -> Result<&'static EmbeddedPostgres, EmbeddedError> {
        CLUSTER
            .get_or_try_init(|| async {
                let tmp = std::env::temp_dir();
                remove_stale_roots(&tmp);
                let pg = EmbeddedPostgres::start(EmbeddedOptions {
                    root: tmp.join(format!("{PREFIX}{}", std::process::id())),
                    bin_dir: None,
                    fast_unsafe: true,
                })
                .await?;
                pg.prepare_database(TEMPLATE, None).await?;
                Ok(pg)
            })
            .await
    }

    /// A new database copied from the migrated template.
    ///
    /// # Errors
    /// See [`EmbeddedPostgres::start`] and [`EmbeddedPostgres::prepare_database`].
    pub async fn fresh_database() -> Result<TestDatabase, EmbeddedError> {
        let pg = cluster().await?;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        {
            let _guard = CREATE_LOCK.lock().await;
            pg.prepare_database(&name, Some(TEMPLATE)).await?;
        }
        Ok(TestDatabase {
            admin_url: pg.superuser_url(&name),
            authenticator_url: pg.authenticator_url(&name),
            name,
        })
    }
}
