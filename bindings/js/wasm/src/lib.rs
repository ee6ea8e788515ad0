//! # sourcegate-wasm
//!
//! The WebAssembly half of `@sourcegate/resolver` (`bindings/js/`): `sourcegate-core`'s
//! decisions exported with wasm-bindgen to the package's JavaScript, which does the I/O with
//! web-platform APIs only (`fetch`, timers, `EventSource`). Everything that decides is here:
//! validating a document (and the rollback rule), the install's canary bucket, the route, the
//! origins' health / outlier / rate-limit state, `Retry-After` and `x-ratelimit-reset`, and the
//! content check of a fetched body.
//!
//! Values cross the boundary as strings (JSON for structures) and numbers. The clock is the
//! host's: every `now_ms` is milliseconds since the Unix epoch (`Date.now()`). An error is
//! thrown as a JSON string `{"code": …, "message": …}` with a stable code (see [`Failure`]);
//! the JavaScript glue turns it into a `SourcegateError`.
//!
//! ## Layout
//! - `lib.rs`: [`Core`] (one resolver's state) and the stateless exports ([`bucket_of`],
//!   [`route_json`], [`validate_document`], [`check_content`], [`retry_after_ms`]).
//! - `state.rs`: the per-origin state and the outcome rules, as the Rust resolver applies them.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod state;

use serde_json::{Value, json};
use sourcegate_core::bucket::{Bucket, bucket_of as core_bucket_of};
use sourcegate_core::config::{MarketplaceConfig, OriginKind};
use sourcegate_core::content::ContentCheck;
use sourcegate_core::error::RequestError;
use url::Url;
use wasm_bindgen::prelude::*;

use crate::state::{Origins, ms_to_ns, wall};

/// An error crossing to JavaScript: a stable `code` and a message (thrown as their JSON).
///
/// Codes: `invalid_options` (a `Core` option), `invalid_argument` (input that is not the
/// expected shape), `config_invalid` (a document the validator refuses; `field` names the
/// field), `stale_version` (an older document than the one in use, TUF's rollback rule),
/// `invalid_path` / `no_origin` (as [`RequestError`]), `content_invalid` (a body refused by
/// its check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The offending document field, for `config_invalid`.
    pub field: Option<String>,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The JSON thrown to JavaScript.
    pub fn to_json(&self) -> String {
        json!({"code": self.code, "message": self.message, "field": self.field}).to_string()
    }
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Failure {
        let code = match e {
            RequestError::NoOrigin { .. } => "no_origin",
            _ => "invalid_path",
        };
        Failure::new(code, e.to_string())
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> JsValue {
        JsValue::from_str(&f.to_json())
    }
}

fn parse_document(value: &Value) -> Result<MarketplaceConfig, Failure> {
    MarketplaceConfig::from_value(value).map_err(|e| Failure {
        code: "config_invalid",
        message: e.to_string(),
        field: e.field().map(str::to_owned),
    })
}

fn parse_json(text: &str, what: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::new("invalid_argument", format!("{what}: {e}")))
}

fn origin_of(name: &str) -> Result<OriginKind, Failure> {
    match name {
        "git" => Ok(OriginKind::Git),
        // The seed calls the CDN origin `cloudflare`.
        "cdn" | "cloudflare" => Ok(OriginKind::Cdn),
        other => Err(Failure::new(
            "invalid_argument",
            format!("origin: `{other}` is not git, cdn or cloudflare"),
        )),
    }
}

/// The canary bucket (`0..10000`) of an install id: `murmur3_x86_32("sourcegate:" + id, 0) %
/// 10000` (`test-data/buckets.json`, the bucket rule every SDK reproduces).
#[wasm_bindgen(js_name = bucketOf)]
pub fn bucket_of(install_id: &str) -> u32 {
    core_bucket_of(install_id).0
}

/// Validates a `marketplace_source` document (JSON text) and returns it with every default
/// filled in, as JSON (`MarketplaceConfig::to_document`).
///
/// # Errors
/// `invalid_argument` for text that is not JSON; `config_invalid` (naming the field) for a
/// document the validator refuses.
#[wasm_bindgen(js_name = validateDocument)]
pub fn validate_document(document_json: &str) -> Result<String, JsValue> {
    let v = parse_json(document_json, "document")?;
    Ok(parse_document(&v)?.to_document().to_string())
}

/// The route decision alone, as JSON in and out, exactly as the C ABI's `sg_route_json` takes
/// and answers it (the conformance suite in `test-data/conformance` drives every host through
/// it): input `{document, installId, origins: {git, cdn}: {unavailable, lastFailure,
/// configured}, path?}`, output `{order, reason, url?}`.
///
/// # Errors
/// `invalid_argument`, `config_invalid`, `invalid_path`, `no_origin`.
#[wasm_bindgen(js_name = routeJson)]
pub fn route_json(input_json: &str) -> Result<String, JsValue> {
    Ok(route_value(input_json)?.to_string())
}

fn route_value(input_json: &str) -> Result<Value, Failure> {
    use sourcegate_core::conformance::{CaseError, route_case};
    route_case(&parse_json(input_json, "input")?).map_err(|e| match e {
        CaseError::InvalidArgument(m) => Failure::new("invalid_argument", m),
        CaseError::Config(e) => Failure {
            code: "config_invalid",
            message: e.to_string(),
            field: e.field().map(str::to_owned),
        },
        CaseError::Request(e) => e.into(),
    })
}

/// Checks a fetched body with the named check (`none`, `auto`: JSON for `.json` paths,
/// `json`, `plugins`, `themes`; `ContentCheck::from_name`).
///
/// # Errors
/// `invalid_argument` for an unknown check name; `content_invalid` naming the check and what is
/// wrong with the body.
#[wasm_bindgen(js_name = checkContent)]
pub fn check_content(check: &str, path: &str, body: &[u8]) -> Result<(), JsValue> {
    let c = ContentCheck::from_name(check).ok_or_else(|| {
        Failure::new(
            "invalid_argument",
            format!("contentCheck: `{check}` is not none, auto, json, plugins or themes"),
        )
    })?;
    c.check(path, body)
        .map_err(|e| Failure::new("content_invalid", e.to_string()).into())
}

/// The wait, in milliseconds, a `Retry-After` value asks for (delay-seconds or an HTTP-date,
/// RFC 9110 §10.2.3) at `now_ms` (ms since the Unix epoch); `undefined` when it is neither.
/// Uncapped (the cooldown rule caps it at 30 minutes).
#[wasm_bindgen(js_name = retryAfterMs)]
pub fn retry_after_ms(value: &str, now_ms: f64) -> Option<f64> {
    sourcegate_core::ratelimit::parse_retry_after(value, wall(now_ms))
        .map(|d| d.as_secs_f64() * 1000.0)
}

/// One resolver's decisions and state: the config in use, the install's bucket and both
/// origins' health, outlier and rate-limit state.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Core {
    default_git: Url,
    install_id: String,
    bucket: Bucket,
    config: MarketplaceConfig,
    /// Whether the config in use came from a provider, a cache or the host (not the default):
    /// only then does the rollback rule apply (as in the Rust resolver).
    trusted: bool,
    origins: Origins,
}

#[wasm_bindgen]
impl Core {
    /// A core for the install `install_id`, starting on the default config: Git at
    /// `default_git_url` (version 0, untrusted: any document replaces it).
    ///
    /// # Errors
    /// `invalid_options` when `default_git_url` is not an http(s) URL or the install id is empty.
    #[wasm_bindgen(constructor)]
    pub fn new(default_git_url: &str, install_id: &str) -> Result<Core, JsValue> {
        let url = Url::parse(default_git_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Failure::new(
                    "invalid_options",
                    format!("options.defaultGitUrl: `{default_git_url}` is not an http(s) URL"),
                )
            })?;
        if install_id.is_empty() {
            return Err(Failure::new("invalid_options", "options.installId: empty").into());
        }
        let default_git = sourcegate_core::util::as_base(url);
        let config = MarketplaceConfig::default_git(default_git.clone());
        let origins = Origins::for_config(&config, &default_git, None);
        Ok(Core {
            default_git,
            install_id: install_id.to_owned(),
            bucket: core_bucket_of(install_id),
            config,
            trusted: false,
            origins,
        })
    }

    /// The install's canary bucket (`0..10000`).
    #[wasm_bindgen(getter)]
    pub fn bucket(&self) -> u32 {
        self.bucket.0
    }

    /// The install id.
    #[wasm_bindgen(getter, js_name = installId)]
    pub fn install_id(&self) -> String {
        self.install_id.clone()
    }

    /// Installs a document (JSON text). `version`, when given (the control plane's envelope),
    /// overrides the document's own. Returns JSON `{changed, version, mode, document,
    /// healthCheck: {enabled, intervalMs, timeoutMs, path}}`; an identical document is
    /// `changed: false` and keeps the origins' state; an origin whose URL is unchanged keeps
    /// its state too.
    ///
    /// # Errors
    /// `invalid_argument`, `config_invalid` (nothing changes); `stale_version` when the document
    /// is older than a trusted one in use (TUF's rollback rule, as the Rust resolver applies it).
    pub fn install(
        &mut self,
        document_json: &str,
        version: Option<f64>,
    ) -> Result<String, JsValue> {
        Ok(self.install_doc(document_json, version)?.to_string())
    }

    /// The config in use, as [`Core::install`] returns it (`changed: false`).
    #[wasm_bindgen(js_name = configInfo)]
    pub fn config_info(&self) -> String {
        self.info(false).to_string()
    }

    /// The URL `path` resolves to at `now_ms`: the route's first origin joined with the path.
    ///
    /// # Errors
    /// `invalid_path`, `no_origin`.
    #[wasm_bindgen(js_name = resolveUrl)]
    pub fn resolve_url(&self, path: &str, now_ms: f64) -> Result<String, JsValue> {
        let r = self
            .origins
            .route(&self.config, self.bucket, ms_to_ns(now_ms));
        Ok(self.origins.url(r.first(), path).map_err(Failure::from)?)
    }

    /// The full decision for `path` at `now_ms`, as JSON: `{order: ["cdn", "git"], urls:
    /// [...], reason: {kind, ...}, configVersion, bucket}` (`urls[i]` serves `order[i]`).
    ///
    /// # Errors
    /// `invalid_path`, `no_origin` (for the first origin; a fallback that cannot serve the path
    /// is left out).
    pub fn route(&self, path: &str, now_ms: f64) -> Result<String, JsValue> {
        let r = self
            .origins
            .route(&self.config, self.bucket, ms_to_ns(now_ms));
        let first = self.origins.url(r.first(), path).map_err(Failure::from)?;
        let mut order = vec![r.first().as_str()];
        let mut urls = vec![first];
        for k in r.candidates().iter().skip(1) {
            if let Ok(u) = self.origins.url(*k, path) {
                order.push(k.as_str());
                urls.push(u);
            }
        }
        Ok(json!({
            "order": order,
            "urls": urls,
            "reason": r.reason,
            "configVersion": self.config.version,
            "bucket": self.bucket.0,
        })
        .to_string())
    }

    /// Applies one request's outcome on `origin` (`git`, `cdn`/`cloudflare`) at `now_ms`:
    /// `status` 0 is a transport error; `retry_after` / `ratelimit_reset` are the response's
    /// `Retry-After` / `x-ratelimit-reset` values; `refused` the cause when the body failed its
    /// check; `jitter` a random fraction in `0..1` (the default cooldown's +25 % spread). A
    /// rate-limit answer (429, or 403 from Git) starts a cooldown; a 5xx, transport error or
    /// refused body counts toward outlier ejection. Returns JSON `{success, rateLimited,
    /// cooldownMs, ejected}`.
    ///
    /// # Errors
    /// `invalid_argument` for an unknown origin.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        origin: &str,
        status: u16,
        retry_after: Option<String>,
        ratelimit_reset: Option<String>,
        refused: Option<String>,
        now_ms: f64,
        jitter: f64,
    ) -> Result<String, JsValue> {
        let kind = origin_of(origin)?;
        let out = self.origins.observe(
            kind,
            &self.config,
            state::Observed {
                status: (status != 0).then_some(status),
                retry_after: retry_after.as_deref(),
                ratelimit_reset: ratelimit_reset.as_deref(),
                refused: refused.as_deref(),
            },
            now_ms,
            jitter,
        );
        Ok(out.to_string())
    }

    /// Records an active health probe's result on `origin` (hysteresis: the document's
    /// `healthyThreshold` / `unhealthyThreshold` consecutive results flip the verdict).
    /// Returns whether the verdict flipped.
    ///
    /// # Errors
    /// `invalid_argument` for an unknown origin.
    pub fn probe(
        &mut self,
        origin: &str,
        success: bool,
        error: Option<String>,
    ) -> Result<bool, JsValue> {
        let kind = origin_of(origin)?;
        Ok(self.origins.probe(kind, &self.config, success, error))
    }

    /// The origins' health at `now_ms`, as a JSON array of `{origin, url, healthy, ejected,
    /// rateLimited, rateLimitedForSecs, lastError}`.
    pub fn health(&self, now_ms: f64) -> String {
        self.origins.health(ms_to_ns(now_ms)).to_string()
    }

    /// The base URL of `origin` in use (the default Git URL under the seed's fallback rule),
    /// or `undefined` when the config has none.
    ///
    /// # Errors
    /// `invalid_argument` for an unknown origin.
    #[wasm_bindgen(js_name = originBase)]
    pub fn origin_base(&self, origin: &str) -> Result<Option<String>, JsValue> {
        Ok(self.origins.base(origin_of(origin)?).map(|u| u.to_string()))
    }
}

impl Core {
    /// [`Core::install`] without the JavaScript error value.
    fn install_doc(&mut self, document_json: &str, version: Option<f64>) -> Result<Value, Failure> {
        let v = parse_json(document_json, "document")?;
        let mut config = parse_document(&v)?;
        if let Some(ver) = version.filter(|x| x.is_finite() && *x >= 0.0) {
            // A version the control plane sends is an integer below 2^53.
            config.version = ver as u64;
        }
        if self.trusted && config.version < self.config.version {
            return Err(Failure::new(
                "stale_version",
                format!(
                    "config version {} is older than the version in use ({})",
                    config.version, self.config.version
                ),
            ));
        }
        let changed = config != self.config;
        if changed {
            self.origins = Origins::for_config(&config, &self.default_git, Some(&self.origins));
            self.config = config;
        }
        self.trusted = true;
        Ok(self.info(changed))
    }

    fn info(&self, changed: bool) -> Value {
        let hc = &self.config.health_check;
        json!({
            "changed": changed,
            "version": self.config.version,
            "mode": self.config.mode.info().id,
            "document": self.config.to_document(),
            "healthCheck": {
                "enabled": self.config.health_check_enabled,
                "intervalMs": hc.interval.as_secs_f64() * 1000.0,
                "timeoutMs": hc.timeout.as_secs_f64() * 1000.0,
                "path": hc.path,
            },
        })
    }
}

#[cfg(test)]
mod tests;
