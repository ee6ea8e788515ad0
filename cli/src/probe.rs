//! `status`'s origin probes, run from the admin's machine: one `HEAD` (a `GET` when the origin
//! refuses `HEAD`) per origin, timed to the response headers.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::root_cause;
/// What one origin answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginProbe {
    /// `git` or `cdn`.
    pub origin: String,
    /// The URL probed.
    pub url: String,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Time to the response headers, milliseconds.
    pub latency_ms: Option<f64>,
    /// Why no answer arrived.
    pub error: Option<String>,
}

impl OriginProbe {
    /// Whether the origin answered 2xx or 304.
    pub fn ok(&self) -> bool {
        self.status
            .is_some_and(|s| (200..300).contains(&s) || s == 304)
    }
}

/// Joins `path` to a base URL the way the resolver does (a missing trailing `/` is added to
/// the base first).
pub fn join(base: &str, path: &str) -> String {
    let mut b = base.to_owned();
    if !b.ends_with('/') {
        b.push('/');
    }
    format!("{b}{}", path.trim_start_matches('/'))
}

/// Probes `url`, bounded by `timeout`.
pub async fn probe(
    http: &reqwest::Client,
    origin: &str,
    url: String,
    timeout: Duration,
) -> OriginProbe {
    let start = Instant::now();
    let mut result = http.head(&url).timeout(timeout).send().await;
    if let Ok(r) = &result
        && matches!(r.status().as_u16(), 405 | 501)
    {
        result = http.get(&url).timeout(timeout).send().await;
    }
    let latency = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(r) => OriginProbe {
            origin: origin.to_owned(),
            url,
            status: Some(r.status().as_u16()),
            latency_ms: Some(latency),
            error: None,
        },
        Err(e) => OriginProbe {
            origin: origin.to_owned(),
            url,
            status: None,
            latency_ms: None,
            error: Some(if e.is_timeout() {
                format!("timed out after {timeout:?}")
            } else {
                root_cause(&e)
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cause_is_the_innermost_error() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(Wrapped(inner));
        assert_eq!(root_cause(&outer), "refused");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn join_like_the_resolver() {
        assert_eq!(
            join("https://h/o/r/HEAD", "community-plugins.json"),
            "https://h/o/r/HEAD/community-plugins.json"
        );
        assert_eq!(join("https://h/", "/x.json"), "https://h/x.json");
        assert_eq!(join("https://h/", ""), "https://h/");
    }
}
