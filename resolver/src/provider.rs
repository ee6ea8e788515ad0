//! Where the config document comes from: the [`ConfigProvider`] trait and its three providers.
//!
//! - [`SupabaseProvider`]: PostgREST on a Supabase project (or our control plane's `/rest/v1`).
//! - [`ControlPlaneProvider`]: the control plane's native `/v1/configs/{key}` with ETags, and its
//!   Server-Sent Events stream for push.
//! - [`StaticProvider`]: a fixed value or a file, for offline use and tests.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH};
use serde::Deserialize;
use tracing::Instrument;
use url::Url;

/// The config key read by default (`docs/seed.md`, S2).
pub const DEFAULT_CONFIG_KEY: &str = sourcegate_contract::CONFIG_KEY;

/// A document as a provider returned it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDocument {
    /// The JSON document (`config_value`).
    pub value: serde_json::Value,
    /// A version the transport carried beside the document (the control plane's envelope),
    /// which takes precedence over the document's own `version` field.
    pub version: Option<u64>,
}

/// The result of one fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// A (possibly unchanged) document.
    Document(RawDocument),
    /// The provider confirmed the document held is current (HTTP 304): nothing to parse.
    NotModified,
}

/// Why a provider could not deliver a document.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Transport failure: connect error, timeout, broken body.
    #[error("{provider}: request failed: {source}")]
    Http {
        /// Provider name.
        provider: &'static str,
        /// The reqwest error.
        #[source]
        source: reqwest::Error,
    },
    /// PostgREST answered with its error body `{code, message, details, hint}`
    /// (PostgREST docs, "Errors").
    #[error("{provider}: PostgREST error {status} {code}: {message}")]
    PostgRest {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// PostgREST or PostgreSQL error code, e.g. `PGRST116`, `42501`.
        code: String,
        /// Human-readable message.
        message: String,
        /// Extra detail, if any.
        details: Option<String>,
        /// Hint, if any.
        hint: Option<String>,
    },
    /// An unexpected HTTP status without a recognised error body.
    #[error("{provider}: unexpected HTTP status {status}")]
    Status {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
    },
    /// The response did not have the expected shape.
    #[error("{provider}: cannot decode response: {reason}")]
    Decode {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A static provider could not read its file.
    #[error("static provider: cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The provider does not support push.
    #[error("{provider}: no push stream")]
    NoPush {
        /// Provider name.
        provider: &'static str,
    },
}

impl ProviderError {
    /// Whether trying again later may succeed (transport errors, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http { .. } => true,
            ProviderError::PostgRest { status, .. } | ProviderError::Status { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            ProviderError::Decode { .. }
            | ProviderError::Io { .. }
            | ProviderError::NoPush { .. } => false,
        }
    }
}

/// A source of the config document.
///
/// Implementations do the I/O; validation, version checks and caching belong to the resolver.
pub trait ConfigProvider: Send + Sync + 'static {
    /// Short name used in logs, stats and errors (`supabase`, `control-plane`, `static`).
    fn name(&self) -> &'static str;

    /// Fetches the current document.
    ///
    /// # Errors
    /// A [`ProviderError`] describing the failure; the resolver then tries the next provider
    /// and, if all fail, keeps its last-known-good document.
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>>;

    /// Where resolvers using this provider report telemetry by default (see
    /// [`crate::telemetry`]); `None` (the default) for providers that have no such endpoint.
    fn telemetry_endpoint(&self) -> Option<Url> {
        None
    }

    /// Whether this provider reads no network (a value in memory, a local file): `false` by
    /// default, so a custom provider is assumed to need the network. A resolver built with
    /// [`crate::ResolverBuilder::offline`] keeps only the providers that answer `true`
    /// ([`StaticProvider`]).
    fn is_local(&self) -> bool {
        false
    }

    /// A push stream of new documents, if this provider has one. `after_version` is the
    /// version already held (sent as `Last-Event-ID`). The stream ends when the connection
    /// drops; the resolver reconnects with backoff and polls meanwhile.
    ///
    /// # Errors
    /// [`ProviderError::NoPush`] by default.
    fn watch(
        &self,
        after_version: Option<u64>,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<RawDocument, ProviderError>>, ProviderError>>
    {
        let _ = after_version;
        let name = self.name();
        async move { Err(ProviderError::NoPush { provider: name }) }.boxed()
    }
}

/// How [`SupabaseProvider`] reads the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupabaseRead {
    /// `GET /rest/v1/app_config?config_key=eq.<key>&select=config_value` with
    /// `Accept: application/vnd.pgrst.object+json` (a single object).
    Table,
    /// `POST /rest/v1/rpc/get_marketplace_config` with body `{}` (the seed's public function).
    Rpc,
}

/// Reads `app_config` through PostgREST, as on a Supabase project.
///
/// Sends the project key in `apikey`, and a JWT in `Authorization: Bearer` when one is set,
/// or when the key itself is a legacy JWT (three dot-separated parts). New `sb_publishable_…`
/// keys are not JWTs and go in `apikey` only (a Bearer of one is refused with PGRST301).
#[derive(Debug, Clone)]
pub struct SupabaseProvider {
    client: reqwest::Client,
    base: Url,
    api_key: String,
    jwt: Option<String>,
    key: String,
    read: SupabaseRead,
}

impl SupabaseProvider {
    /// A provider for the project at `project_url` (e.g. `https://xyz.supabase.co`) with
    /// `api_key`. Defaults: key `marketplace_source`, [`SupabaseRead::Table`], a 10 s request
    /// timeout and a 5 s connect timeout.
    ///
    /// # Errors
    /// [`ProviderError::Http`] if the HTTP client cannot be built.
    pub fn new(project_url: Url, api_key: impl Into<String>) -> Result<Self, ProviderError> {
        Ok(SupabaseProvider {
            client: default_client("supabase", Duration::from_secs(10))?,
            base: crate::util::as_base(project_url),
            api_key: api_key.into(),
            jwt: None,
            key: DEFAULT_CONFIG_KEY.into(),
            read: SupabaseRead::Table,
        })
    }

    /// Sends `jwt` as `Authorization: Bearer` (a user's access token).
    pub fn with_jwt(mut self, jwt: impl Into<String>) -> Self {
        self.jwt = Some(jwt.into());
        self
    }

    /// Reads another config key (table mode only; the RPC reads `marketplace_source`).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Chooses table or RPC reads.
    pub fn with_read(mut self, read: SupabaseRead) -> Self {
        self.read = read;
        self
    }

    /// Uses `client` (for custom TLS, proxies or timeouts).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    fn bearer(&self) -> Option<&str> {
        self.jwt.as_deref().or_else(|| {
            (self.api_key.split('.').count() == 3 && !self.api_key.starts_with("sb_"))
                .then_some(self.api_key.as_str())
        })
    }

    async fn fetch_inner(&self) -> Result<Fetched, ProviderError> {
        const P: &str = "supabase";
        let req = match self.read {
            SupabaseRead::Table => {
                let mut url = self
                    .base
                    .join("rest/v1/app_config")
                    .map_err(|e| decode(P, e))?;
                url.query_pairs_mut()
                    .append_pair("config_key", &format!("eq.{}", self.key))
                    .append_pair("select", "config_value");
                self.client
                    .get(url)
                    .header(ACCEPT, "application/vnd.pgrst.object+json")
            }
            SupabaseRead::Rpc => {
                let url = self
                    .base
                    .join("rest/v1/rpc/get_marketplace_config")
                    .map_err(|e| decode(P, e))?;
                self.client
                    .post(url)
                    .header(ACCEPT, "application/json")
                    .json(&serde_json::json!({}))
            }
        };
        let mut req = req.header("apikey", &self.api_key);
        if let Some(jwt) = self.bearer() {
            req = req.header(AUTHORIZATION, format!("Bearer {jwt}"));
        }
        let resp = req.send().await.map_err(|source| ProviderError::Http {
            provider: P,
            source,
        })?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|source| ProviderError::Http {
            provider: P,
            source,
        })?;
        if !(200..300).contains(&status) {
            return Err(postgrest_error(P, status, &body));
        }
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| decode(P, e))?;
        let value = match self.read {
            SupabaseRead::Rpc => value,
            SupabaseRead::Table => match value {
                serde_json::Value::Object(mut row) => {
                    row.remove("config_value")
                        .ok_or_else(|| ProviderError::Decode {
                            provider: P,
                            reason: "row has no config_value".into(),
                        })?
                }
                other => {
                    return Err(ProviderError::Decode {
                        provider: P,
                        reason: format!("expected one row object, got {}", json_kind(&other)),
                    });
                }
            },
        };
        if value.is_null() {
            return Err(ProviderError::Decode {
                provider: P,
                reason: "config is null".into(),
            });
        }
        Ok(Fetched::Document(RawDocument {
            value,
            version: None,
        }))
    }
}

impl ConfigProvider for SupabaseProvider {
    fn name(&self) -> &'static str {
        "supabase"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>> {
        let span = tracing::info_span!("config_fetch", provider = "supabase", url = %self.base);
        self.fetch_inner().instrument(span).boxed()
    }
}

/// Decodes PostgREST's error body `{code, message, details, hint}`; falls back to
/// [`ProviderError::Status`] when the body is something else.
pub(crate) fn postgrest_error(provider: &'static str, status: u16, body: &[u8]) -> ProviderError {
    #[derive(Deserialize)]
    struct PgErr {
        code: Option<String>,
        message: Option<String>,
        details: Option<String>,
        hint: Option<String>,
    }
    match serde_json::from_slice::<PgErr>(body) {
        Ok(e) if e.code.is_some() || e.message.is_some() => ProviderError::PostgRest {
            provider,
            status,
            code: e.code.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            details: e.details,
            hint: e.hint,
        },
        _ => ProviderError::Status { provider, status },
    }
}

fn decode(provider: &'static str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Decode {
        provider,
        reason: e.to_string(),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn default_client(
    provider: &'static str,
    timeout: Duration,
) -> Result<reqwest::Client, ProviderError> {
    crate::tls::origin_client()
        .timeout(timeout)
        .build()
        .map_err(|source| ProviderError::Http { provider, source })
}

/// The control plane's envelope around a document (`GET /v1/configs/{key}`, SSE `data:`): the
/// two fields of [`sourcegate_contract::ConfigView`] a resolver needs. Reading only these (not
/// the whole view) is deliberate: an app already shipped keeps reading its config whatever the
/// view gains or drops later.
#[derive(Debug, Deserialize)]
struct Envelope {
    version: u64,
    value: serde_json::Value,
}

impl From<Envelope> for RawDocument {
    fn from(env: Envelope) -> RawDocument {
        RawDocument {
            value: env.value,
            version: Some(env.version),
        }
    }
}

/// Reads the control plane's native API: `GET /v1/configs/{key}` with `If-None-Match`, so an
/// unchanged config costs a 304 and no parse, and `GET /v1/configs/{key}/events` (SSE) for push.
#[derive(Debug)]
pub struct ControlPlaneProvider {
    client: reqwest::Client,
    stream_client: reqwest::Client,
    base: Url,
    key: String,
    token: Option<String>,
    etag: Mutex<Option<String>>,
}

impl ControlPlaneProvider {
    /// A provider for the control plane at `base` (e.g. `https://sourcegate.example.com`).
    /// Defaults: key `marketplace_source`, 10 s request timeout, 5 s connect timeout, no token.
    ///
    /// # Errors
    /// [`ProviderError::Http`] if the HTTP client cannot be built.
    pub fn new(base: Url) -> Result<Self, ProviderError> {
        let stream_client =
            crate::tls::origin_client()
                .build()
                .map_err(|source| ProviderError::Http {
                    provider: "control-plane",
                    source,
                })?;
        Ok(ControlPlaneProvider {
            client: default_client("control-plane", Duration::from_secs(10))?,
            stream_client,
            base: crate::util::as_base(base),
            key: DEFAULT_CONFIG_KEY.into(),
            token: None,
            etag: Mutex::new(None),
        })
    }

    /// Reads another config key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Uses `request` for fetches and `stream` for the SSE stream (give the stream client no
    /// overall timeout, or it cuts the stream). Lets many resolvers in one process share
    /// connection pools.
    pub fn with_http_clients(mut self, request: reqwest::Client, stream: reqwest::Client) -> Self {
        self.client = request;
        self.stream_client = stream;
        self
    }

    /// Sends `token` as `Authorization: Bearer`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    fn url(&self, suffix: &str) -> Result<Url, ProviderError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| decode("control-plane", "base URL cannot be a base"))?
            .pop_if_empty()
            .extend(["v1", "configs", &self.key]);
        if !suffix.is_empty() {
            url.path_segments_mut()
                .map_err(|()| decode("control-plane", "base URL cannot be a base"))?
                .push(suffix);
        }
        Ok(url)
    }

    async fn fetch_inner(&self) -> Result<Fetched, ProviderError> {
        const P: &str = "control-plane";
        let mut req = self.client.get(self.url("")?);
        let etag = self.etag.lock().ok().and_then(|e| e.clone());
        if let Some(etag) = etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        let new_etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map_err(|source| ProviderError::Http {
            provider: P,
            source,
        })?;
        if status != 200 {
            return Err(postgrest_error(P, status, &body));
        }
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| decode(P, e))?;
        if let Ok(mut slot) = self.etag.lock() {
            *slot = new_etag;
        }
        Ok(Fetched::Document(env.into()))
    }

    /// Sends `req` with the bearer token, if any.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        let req = match &self.token {
            Some(t) => req.header(AUTHORIZATION, format!("Bearer {t}")),
            None => req,
        };
        req.send().await.map_err(|source| ProviderError::Http {
            provider: "control-plane",
            source,
        })
    }

    /// Forgets the stored ETag, so the next fetch gets a full document.
    pub fn forget_etag(&self) {
        if let Ok(mut slot) = self.etag.lock() {
            *slot = None;
        }
    }

    async fn watch_inner(
        &self,
        after_version: Option<u64>,
    ) -> Result<BoxStream<'static, Result<RawDocument, ProviderError>>, ProviderError> {
        const P: &str = "control-plane";
        let mut req = self
            .stream_client
            .get(self.url("events")?)
            .header(ACCEPT, "text/event-stream");
        if let Some(v) = after_version {
            req = req.header("Last-Event-ID", v.to_string());
        }
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(ProviderError::Status {
                provider: P,
                status,
            });
        }
        use eventsource_stream::Eventsource;
        let stream = resp
            .bytes_stream()
            .eventsource()
            .filter_map(|ev| async move {
                match ev {
                    Ok(ev) if ev.event == sourcegate_contract::event::EVENT_NAME => Some(
                        serde_json::from_str::<Envelope>(&ev.data)
                            .map(RawDocument::from)
                            .map_err(|e| decode(P, e)),
                    ),
                    Ok(_) => None,
                    Err(e) => Some(Err(decode(P, e))),
                }
            });
        Ok(stream.boxed())
    }
}

impl ConfigProvider for ControlPlaneProvider {
    fn name(&self) -> &'static str {
        "control-plane"
    }

    fn telemetry_endpoint(&self) -> Option<Url> {
        self.base.join("v1/telemetry").ok()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>> {
        let span =
            tracing::info_span!("config_fetch", provider = "control-plane", url = %self.base);
        self.fetch_inner().instrument(span).boxed()
    }

    fn watch(
        &self,
        after_version: Option<u64>,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<RawDocument, ProviderError>>, ProviderError>>
    {
        let span =
            tracing::info_span!("config_watch", provider = "control-plane", url = %self.base);
        self.watch_inner(after_version).instrument(span).boxed()
    }
}

/// A fixed document, or one read from a file on every fetch.
#[derive(Debug, Clone)]
pub enum StaticProvider {
    /// A value held in memory.
    Value(serde_json::Value),
    /// A JSON file, read on each fetch.
    File(PathBuf),
}

impl ConfigProvider for StaticProvider {
    fn name(&self) -> &'static str {
        "static"
    }

    fn is_local(&self) -> bool {
        true
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>> {
        async move {
            match self {
                StaticProvider::Value(v) => Ok(Fetched::Document(RawDocument {
                    value: v.clone(),
                    version: None,
                })),
                StaticProvider::File(path) => {
                    let bytes =
                        tokio::fs::read(path)
                            .await
                            .map_err(|source| ProviderError::Io {
                                path: path.clone(),
                                source,
                            })?;
                    let value = serde_json::from_slice(&bytes).map_err(|e| decode("static", e))?;
                    Ok(Fetched::Document(RawDocument {
                        value,
                        version: None,
                    }))
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope reads what the control plane serialises: the contract's `ConfigView`.
    #[test]
    fn the_envelope_reads_the_contracts_config_view() {
        let view = sourcegate_contract::ConfigView {
            key: sourcegate_contract::CONFIG_KEY.into(),
            version: 7,
            value: serde_json::json!({"type": "git", "gitUrl": "https://g.example/"}),
            updated_at: chrono::Utc::now(),
            updated_by: None,
            actor: None,
        };
        let env: Envelope = serde_json::from_value(serde_json::to_value(&view).unwrap()).unwrap();
        let raw = RawDocument::from(env);
        assert_eq!(raw.version, Some(7));
        assert_eq!(raw.value, view.value);
    }
}
