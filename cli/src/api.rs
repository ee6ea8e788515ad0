//! The control plane's native `/v1` API: answer types and a small [`Client`].

use std::time::Duration;

use futures_util::{Stream, StreamExt as _};

use crate::error::{CliError, ErrorBody, chain, root_cause};

/// The answer types of the `/v1` API and the configuration key: the wire contract, shared
/// with the control plane that serialises them.
pub use sourcegate_contract::{
    CONFIG_KEY, ConfigView, HistoryItem, HistoryPage, OriginTestResult, PutConfig, Rollback,
    WriteTerms,
};

/// The body of a request that has none (`call`'s `body`).
const NO_BODY: Option<&()> = None;

/// A thin client of the `/v1` API.
///
/// Every call but [`Client::events`] is bounded by the timeout; the event stream only bounds
/// the connection, since it is meant to stay open.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client of the control plane at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// [`CliError::Usage`] when `base` is not an `http(s)` URL.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), sourcegate_cli::CliError> {
    /// use std::time::Duration;
    /// use sourcegate_cli::api::{Client, CONFIG_KEY};
    /// let c = Client::new("http://127.0.0.1:8080", None, Duration::from_secs(10))?;
    /// let current = c.get_config(CONFIG_KEY).await?;
    /// println!("version {}", current.version);
    /// # Ok(()) }
    /// ```
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Client, CliError> {
        let parsed = url::Url::parse(base)
            .map_err(|e| CliError::Usage(format!("invalid --url `{base}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(CliError::Usage(format!(
                "invalid --url `{base}`: expected http(s)://host[:port]"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("sourcegate-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(format!("HTTP client: {}", chain(&e))))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            timeout,
        })
    }

    /// Whether a bearer token is set (admin-only calls such as the history need one).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The underlying HTTP client (also used to probe origins).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `<base><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, CliError> {
        let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Err(CliError::Api {
            status,
            body: parse_error_body(status, &text),
        })
    }

    async fn call<T: serde::de::DeserializeOwned, B: serde::Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let url = self.url(path);
        let mut req = self.request(method, path).timeout(self.timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(req, &url).await?;
        let bytes = resp.bytes().await.map_err(|e| unreachable(&url, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::Protocol {
            url,
            reason: format!("not the expected JSON: {e}"),
        })
    }

    /// `GET path` as JSON (e.g. `/v1/autopilot`).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Api`], [`CliError::Protocol`].
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, CliError> {
        self.call(reqwest::Method::GET, path, NO_BODY).await
    }

    /// `GET /v1/configs/{key}`.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Api`], [`CliError::Protocol`].
    pub async fn get_config(&self, key: &str) -> Result<ConfigView, CliError> {
        self.call(reqwest::Method::GET, &format!("/v1/configs/{key}"), NO_BODY)
            .await
    }

    /// `PUT /v1/configs/{key}` with `body` (its `expectedVersion`, and `force` to record a
    /// document equal to the current one; otherwise the server answers 409 `no_change`).
    ///
    /// # Errors
    /// As [`Client::get_config`]; 401/403/409/422 come back as [`CliError::Api`].
    pub async fn put_config(&self, key: &str, body: &PutConfig) -> Result<ConfigView, CliError> {
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/configs/{key}"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/configs/{key}/history?limit=N`.
    ///
    /// # Errors
    /// As [`Client::get_config`].
    pub async fn history(&self, key: &str, limit: u32) -> Result<HistoryPage, CliError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/configs/{key}/history?limit={limit}"),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/configs/{key}/rollback` (`force` as in [`Client::put_config`]).
    ///
    /// # Errors
    /// As [`Client::put_config`]; an unknown version is a 404 [`CliError::Api`].
    pub async fn rollback(&self, key: &str, body: &Rollback) -> Result<ConfigView, CliError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/configs/{key}/rollback"),
            Some(body),
        )
        .await
    }

    /// `POST /v1/origins/test`.
    ///
    /// # Errors
    /// As [`Client::get_config`]; a private target is a 400 `forbidden_target`.
    pub async fn test_origin(&self, url: &str) -> Result<OriginTestResult, CliError> {
        let body = serde_json::json!({ "url": url });
        self.call(reqwest::Method::POST, "/v1/origins/test", Some(&body))
            .await
    }

    /// `GET /v1/configs/{key}/events`: the stream of versions, the current one first.
    ///
    /// `after` is sent as `Last-Event-ID` (the server then skips versions up to it).
    ///
    /// # Errors
    /// Connecting fails as [`Client::get_config`] does; stream items fail with
    /// [`CliError::Unreachable`] (connection lost) or [`CliError::Protocol`] (bad event).
    pub async fn events(
        &self,
        key: &str,
        after: Option<i64>,
    ) -> Result<impl Stream<Item = Result<ConfigView, CliError>> + use<>, CliError> {
        use eventsource_stream::Eventsource as _;
        let path = format!("/v1/configs/{key}/events");
        let url = self.url(&path);
        let mut req = self
            .request(reqwest::Method::GET, &path)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(v) = after {
            req = req.header("Last-Event-ID", v.to_string());
        }
        let resp = tokio::time::timeout(self.timeout, self.send(req, &url))
            .await
            .map_err(|_| CliError::Unreachable {
                url: url.clone(),
                reason: format!("no answer within {:?}", self.timeout),
            })??;
        let stream = resp.bytes_stream().eventsource().filter_map(move |ev| {
            let url = url.clone();
            async move {
                match ev {
                    Ok(ev) if ev.event == sourcegate_contract::EVENT_NAME => {
                        Some(serde_json::from_str::<ConfigView>(&ev.data).map_err(|e| {
                            CliError::Protocol {
                                url,
                                reason: format!("bad `config` event: {e}"),
                            }
                        }))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(CliError::Unreachable {
                        url,
                        reason: format!("event stream: {}", chain(&e)),
                    })),
                }
            }
        });
        Ok(stream)
    }
}

fn unreachable(url: &str, e: &reqwest::Error) -> CliError {
    let reason = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        root_cause(e)
    };
    CliError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// Decodes an error answer: the control plane's `{"code","message","field"}`, else a synthetic
/// `http_<status>` code with the (truncated) body as message.
pub fn parse_error_body(status: u16, text: &str) -> ErrorBody {
    if let Ok(b) = serde_json::from_str::<ErrorBody>(text) {
        return b;
    }
    let mut message: String = text.trim().chars().take(200).collect();
    if message.is_empty() {
        message = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_owned();
    }
    ErrorBody {
        code: format!("http_{status}"),
        message,
        field: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let b = parse_error_body(
            409,
            r#"{"code":"version_conflict","message":"version conflict"}"#,
        );
        assert_eq!(b.code, "version_conflict");
        assert_eq!(b.field, None);
        let b = parse_error_body(
            422,
            r#"{"code":"invalid_config","message":"m","field":"cdnUrl"}"#,
        );
        assert_eq!(b.field.as_deref(), Some("cdnUrl"));
        let b = parse_error_body(502, "<html>bad gateway</html>");
        assert_eq!(b.code, "http_502");
        assert_eq!(b.message, "<html>bad gateway</html>");
        let b = parse_error_body(404, "");
        assert_eq!(b.message, "Not Found");
    }

    #[test]
    fn urls_and_bad_base() {
        let c = Client::new("http://h:1/prefix/", None, Duration::from_secs(1)).unwrap();
        assert_eq!(c.url("/v1/x"), "http://h:1/prefix/v1/x");
        assert!(matches!(
            Client::new("ftp://h", None, Duration::from_secs(1)),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            Client::new("not a url", None, Duration::from_secs(1)),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn config_view_round_trips_the_contract() {
        let j = serde_json::json!({"key":"marketplace_source","version":3,"value":{"type":"git"},
            "updatedAt":"2026-11-23T18:00:00Z","updatedBy":null});
        let v: ConfigView = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(serde_json::to_value(&v).unwrap(), j);
    }
}
