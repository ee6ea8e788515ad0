//! [`CliError`]: everything that can go wrong, each with a stable process exit code.
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other error (server error, unknown key or version, unexpected answer) |
//! | 2 | usage error (bad flags or values; printed by clap) |
//! | 3 | the control plane is unreachable (connection refused, DNS, TLS, timeout) |
//! | 4 | unauthorized (401: no or invalid token) or forbidden (403: not an admin) |
//! | 5 | conflict (409): the configuration changed since it was read (`version_conflict`), or the document equals the current one (`no_change`; `--force` sends it anyway) |
//! | 6 | invalid configuration: refused locally before sending, or by the server (422) |
//! | 7 | `test`: the origin did not serve a valid registry |

use std::fmt;

use sourcegate::config::ConfigError;

/// The JSON error body of the control plane, `{"code","message","field"?}` (the wire contract).
pub use sourcegate_contract::ErrorBody;

/// Stable exit codes (see the module docs). Never renumbered.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any error without a more specific code.
    pub const OTHER: u8 = 1;
    /// Bad flags or values (clap uses 2 too).
    pub const USAGE: u8 = 2;
    /// The control plane could not be reached.
    pub const UNREACHABLE: u8 = 3;
    /// 401 or 403.
    pub const UNAUTHORIZED: u8 = 4;
    /// 409 version conflict.
    pub const CONFLICT: u8 = 5;
    /// Invalid configuration document (local validation or 422).
    pub const INVALID_CONFIG: u8 = 6;
    /// `test`: the origin did not serve a valid registry.
    pub const ORIGIN_FAILED: u8 = 7;
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The control plane did not answer (connection refused, DNS, TLS, timeout).
    #[error("cannot reach the control plane at {url}: {reason}")]
    Unreachable {
        /// The URL that was requested.
        url: String,
        /// What failed, with its causes.
        reason: String,
    },
    /// The control plane answered with an error status.
    #[error("{}", describe_api(*.status, .body))]
    Api {
        /// HTTP status.
        status: u16,
        /// The decoded error body (or a synthetic one for non-JSON answers).
        body: ErrorBody,
    },
    /// The document that would be sent does not validate; nothing was sent.
    #[error("invalid configuration, nothing was sent: {0}")]
    InvalidDocument(#[source] ConfigError),
    /// Bad arguments detected after parsing (e.g. an invalid `--url`).
    #[error("{0}")]
    Usage(String),
    /// The answer could not be understood.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL that was requested.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// `test`: the origin did not serve a valid registry (the result was printed).
    #[error("origin test failed for {url}: {reason}")]
    OriginFailed {
        /// The probed URL.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

fn describe_api(status: u16, body: &ErrorBody) -> String {
    let mut s = format!("the control plane answered {status} {}", body.code);
    if !body.message.is_empty() {
        s.push_str(": ");
        s.push_str(&body.message);
    }
    if let Some(f) = &body.field {
        s.push_str(&format!(" (field `{f}`)"));
    }
    s
}

impl CliError {
    /// The process exit code of this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Unreachable { .. } => exit::UNREACHABLE,
            CliError::Api { status, .. } => match status {
                401 | 403 => exit::UNAUTHORIZED,
                409 => exit::CONFLICT,
                422 => exit::INVALID_CONFIG,
                _ => exit::OTHER,
            },
            CliError::InvalidDocument(_) => exit::INVALID_CONFIG,
            CliError::Usage(_) => exit::USAGE,
            CliError::OriginFailed { .. } => exit::ORIGIN_FAILED,
            CliError::Protocol { .. } | CliError::Io(_) => exit::OTHER,
        }
    }

    /// A next step for the user, when there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Unreachable { .. } => {
                Some("check --url / SOURCEGATE_URL and that the control plane is running".into())
            }
            CliError::Api { status: 401, .. } => Some(
                "pass an admin token with --token or SOURCEGATE_TOKEN \
                 (e.g. `sourcegate-control-plane mint-token --role service_role`)"
                    .into(),
            ),
            CliError::Api { status: 403, .. } => {
                Some("the token is valid but its user is not an admin".into())
            }
            CliError::Api { status: 409, body } if body.code == "no_change" => Some(
                "the configuration already is this document, nothing was changed: \
                 pass --force to record it as a new version anyway"
                    .into(),
            ),
            CliError::Api { status: 409, .. } => Some(
                "someone changed the configuration meanwhile: run `sourcegate status` and retry"
                    .into(),
            ),
            CliError::InvalidDocument(e) => match e.field() {
                Some("cdnUrl" | "cloudflareUrl") => Some("pass --cdn-url URL".into()),
                Some("gitUrl") => Some("pass --git-url URL".into()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The error as JSON for `--json` (`{"error":{"exit","status","code","message","field"}}`).
    pub fn to_json(&self) -> serde_json::Value {
        let (status, code, field) = match self {
            CliError::Api { status, body } => {
                (Some(*status), body.code.clone(), body.field.clone())
            }
            CliError::Unreachable { .. } => (None, "unreachable".into(), None),
            CliError::InvalidDocument(e) => {
                (None, "invalid_config".into(), e.field().map(str::to_owned))
            }
            CliError::Usage(_) => (None, "usage".into(), None),
            CliError::Protocol { .. } => (None, "protocol".into(), None),
            CliError::OriginFailed { .. } => (None, "origin_failed".into(), None),
            CliError::Io(_) => (None, "io".into(), None),
        };
        serde_json::json!({"error": {
            "exit": self.exit_code(),
            "status": status,
            "code": code,
            "message": self.to_string(),
            "field": field,
        }})
    }
}

/// The innermost cause of an error (reqwest's outer messages repeat the URL, which the
/// table already shows).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Renders an error chain as `outer: cause: cause` (reqwest hides the interesting part in
/// its sources).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    struct Chain<'a>(&'a dyn std::error::Error);
    impl fmt::Display for Chain<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)?;
            let mut src = self.0.source();
            while let Some(s) = src {
                write!(f, ": {s}")?;
                src = s.source();
            }
            Ok(())
        }
    }
    Chain(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> CliError {
        CliError::Api {
            status,
            body: ErrorBody {
                code: code.into(),
                message: "m".into(),
                field: None,
            },
        }
    }

    #[test]
    fn exit_codes_by_status() {
        assert_eq!(api(401, "unauthorized").exit_code(), 4);
        assert_eq!(api(403, "forbidden").exit_code(), 4);
        assert_eq!(api(409, "version_conflict").exit_code(), 5);
        assert_eq!(api(422, "invalid_config").exit_code(), 6);
        assert_eq!(api(404, "not_found").exit_code(), 1);
        assert_eq!(api(500, "internal").exit_code(), 1);
        let unreachable = CliError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(unreachable.exit_code(), 3);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
    }

    #[test]
    fn api_error_message_names_status_code_and_field() {
        let e = CliError::Api {
            status: 422,
            body: ErrorBody {
                code: "invalid_config".into(),
                message: "cdnUrl is required".into(),
                field: Some("cdnUrl".into()),
            },
        };
        assert_eq!(
            e.to_string(),
            "the control plane answered 422 invalid_config: cdnUrl is required (field `cdnUrl`)"
        );
        let j = e.to_json();
        assert_eq!(j["error"]["exit"], 6);
        assert_eq!(j["error"]["field"], "cdnUrl");
        assert_eq!(j["error"]["status"], 422);
    }

    #[test]
    fn hints() {
        assert!(api(401, "unauthorized").hint().unwrap().contains("--token"));
        assert!(api(409, "no_change").hint().unwrap().contains("--force"));
        assert!(
            api(409, "version_conflict")
                .hint()
                .unwrap()
                .contains("retry")
        );
        assert_eq!(api(409, "no_change").exit_code(), exit::CONFLICT);
        let missing = CliError::InvalidDocument(ConfigError::Missing {
            field: "cdnUrl",
            why: "x",
        });
        assert_eq!(missing.hint().as_deref(), Some("pass --cdn-url URL"));
    }
}
