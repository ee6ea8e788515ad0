//! The options JSON of [`sg_resolver_new`]: parsed by [`parse_options_json`] (types only, the
//! pure first step, also fuzzed), then checked and applied to a `sourcegate::ResolverBuilder`
//! by [`build_resolver`] (values: URLs, ranges, fields that go together).

use std::path::PathBuf;
use std::time::Duration;

use sourcegate::content::ContentCheck;
use sourcegate::provider::{ControlPlaneProvider, StaticProvider, SupabaseProvider};
use sourcegate::telemetry::TelemetrySettings;
use sourcegate::{Resolver, ResolverBuilder};

use crate::error::Failure;
#[cfg(doc)]
use crate::sg_resolver_new;
use crate::status::sg_status;

/// The Git URL used when the options give no `defaultGitUrl`: the Obsidian registry
/// repository on `raw.githubusercontent.com`.
pub const DEFAULT_GIT_URL: &str =
    "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/";

/// A duration in whole ms (saturating).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The shortest `telemetry.intervalMs` accepted (the resolver's floor).
const MIN_TELEMETRY_INTERVAL_MS: u64 = 10;

/// The options of [`sg_resolver_new`], as a JSON object (camelCase). Unknown fields are
/// refused (a typo such as `telemetry.enable` must not pass silently), and so is any other
/// JSON type than an object (serde's derive would take `[]` as empty options).
///
/// Public only so that [`parse_options_json`] can return it; its fields stay private.
#[doc(hidden)]
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Options {
    default_git_url: Option<String>,
    control_plane_url: Option<String>,
    control_plane_token: Option<String>,
    supabase_url: Option<String>,
    supabase_key: Option<String>,
    static_config: Option<serde_json::Value>,
    static_config_file: Option<PathBuf>,
    install_id: Option<String>,
    install_id_file: Option<PathBuf>,
    cache_file: Option<PathBuf>,
    cache_ttl_ms: Option<u64>,
    init_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    health_checks: Option<bool>,
    health_check_path: Option<String>,
    push: Option<bool>,
    /// Fleet telemetry; absent keeps the resolver's default (on, toward a control plane).
    #[serde(deserialize_with = "object_or_null")]
    telemetry: Option<TelemetryOptions>,
    /// No network at all (`sourcegate::ResolverBuilder::offline`), default `false`.
    offline: Option<bool>,
    /// Config-fetch backoff base in ms; the cap's default applies when only this is given.
    backoff_base_ms: Option<u64>,
    /// Config-fetch backoff cap in ms; the base's default applies when only this is given.
    backoff_cap_ms: Option<u64>,
    /// The HTTP cache of fetched bodies (RFC 9111), default `true`.
    http_cache: Option<bool>,
    /// Where fetched bodies are persisted; default beside `cacheFile` (`<cacheFile>.bodies`).
    body_cache_dir: Option<PathBuf>,
    /// Most bytes the body cache holds (default 64 MiB).
    body_cache_max_bytes: Option<u64>,
    /// Serve a stale kept body when every origin fails (default `true`).
    stale_if_error: Option<bool>,
    /// The content check by name: `none`, `auto` (default), `json`, `plugins`, `themes`.
    content_check: Option<String>,
    /// Largest body accepted, bytes (default 32 MiB, at least 1).
    max_body_bytes: Option<u64>,
    /// Longest wait for the next bytes of a response, ms (default 10000, at least 1).
    read_idle_timeout_ms: Option<u64>,
}

/// The `telemetry` object of the options (`sourcegate::telemetry::TelemetrySettings`): every
/// field optional, an absent one keeps the resolver's default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct TelemetryOptions {
    /// Master switch (default `true`); `false` sends nothing, even with an endpoint.
    enabled: Option<bool>,
    /// Where reports are POSTed (`http` or `https`); default: the control plane's
    /// `/v1/telemetry`, none without a control plane.
    endpoint: Option<String>,
    /// Mean time between reports in ms (default 60000, at least 10).
    interval_ms: Option<u64>,
}

/// Deserialises `T` from a JSON object only: the derive's sequence form (`[]`, `[1, 2]`) is
/// refused with "expected a JSON object".
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

/// The `telemetry` field: an object or `null`; an error inside it is prefixed with
/// `telemetry: ` so the message names the field (`telemetry: unknown field `enable``).
fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::de::Error as _;
    <Option<ObjectOnly<T>> as serde::Deserialize>::deserialize(d)
        .map(|o| o.map(|o| o.0))
        .map_err(|e| D::Error::custom(format_args!("telemetry: {e}")))
}

/// Parses the options JSON of [`sg_resolver_new`], without starting anything: the pure first
/// step of that function, public for the fuzz target (`fuzz/fuzz_targets/ffi_options.rs`) and
/// tests, which can then reach it without unsafe C calls. Values (URLs, ranges) are checked
/// later, when the resolver is built.
///
/// # Errors
/// The message [`sg_resolver_new`] stores for `sg_last_error_message` with
/// [`sg_status::InvalidOptions`] (`invalid options JSON: …`) when `json` is not a JSON object
/// of the documented fields and types: an unknown field is named (`unknown field
/// `telemtry``, inside `telemetry`: `telemetry: unknown field `enable``), and any other JSON
/// type than an object (`[]`, `null`, `1`) is refused.
#[doc(hidden)]
pub fn parse_options_json(json: &str) -> Result<Options, String> {
    serde_json::from_str::<ObjectOnly<Options>>(json)
        .map(|o| o.0)
        .map_err(|e| format!("invalid options JSON: {e}"))
}

/// An [`sg_status::InvalidOptions`] failure about `options.<field>`.
fn invalid(field: &str, why: impl std::fmt::Display) -> Failure {
    Failure::new(sg_status::InvalidOptions, format!("options.{field}: {why}"))
}

fn parse_url(field: &str, s: &str) -> Result<url::Url, Failure> {
    s.parse()
        .map_err(|e| invalid(field, format_args!("invalid URL `{s}`: {e}")))
}

/// The telemetry settings the options ask for.
///
/// # Errors
/// [`sg_status::InvalidOptions`] for an endpoint that is not an `http`/`https` URL or an
/// interval below 10 ms.
fn telemetry_settings(t: &TelemetryOptions) -> Result<TelemetrySettings, Failure> {
    let mut s = TelemetrySettings::default();
    if let Some(on) = t.enabled {
        s.enabled = on;
    }
    if let Some(e) = &t.endpoint {
        let url = parse_url("telemetry.endpoint", e)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                "telemetry.endpoint",
                format_args!("`{e}` is not an http or https URL"),
            ));
        }
        s.endpoint = Some(url);
    }
    if let Some(ms) = t.interval_ms {
        if ms < MIN_TELEMETRY_INTERVAL_MS {
            return Err(invalid(
                "telemetry.intervalMs",
                format_args!("{ms} is below the minimum of {MIN_TELEMETRY_INTERVAL_MS} ms"),
            ));
        }
        s.interval = Duration::from_millis(ms);
    }
    Ok(s)
}

/// The config-fetch backoff `(base, cap)` the options ask for, `None` when they give neither;
/// a missing one is the resolver's default ([`ResolverBuilder::DEFAULT_BACKOFF_BASE`], 1 s,
/// [`ResolverBuilder::DEFAULT_BACKOFF_CAP`], 300 s).
///
/// # Errors
/// [`sg_status::InvalidOptions`] for a base of 0 ms or a cap below the base.
fn backoff(
    base_ms: Option<u64>,
    cap_ms: Option<u64>,
) -> Result<Option<(Duration, Duration)>, Failure> {
    if base_ms.is_none() && cap_ms.is_none() {
        return Ok(None);
    }
    let base = base_ms.unwrap_or(millis(ResolverBuilder::DEFAULT_BACKOFF_BASE));
    let cap = cap_ms.unwrap_or(millis(ResolverBuilder::DEFAULT_BACKOFF_CAP));
    if base == 0 {
        return Err(invalid("backoffBaseMs", "must be at least 1 (ms)"));
    }
    if cap < base {
        let which = if base_ms.is_some() {
            ""
        } else {
            ", the default"
        };
        return Err(invalid(
            "backoffCapMs",
            format_args!("{cap} is below the backoff base ({base} ms{which})"),
        ));
    }
    Ok(Some((
        Duration::from_millis(base),
        Duration::from_millis(cap),
    )))
}

/// Applies an option the builder takes as it is: `f(b, v)` when the option is set, `b` (the
/// builder's default) otherwise.
fn set<T>(
    b: ResolverBuilder,
    v: Option<T>,
    f: impl FnOnce(ResolverBuilder, T) -> ResolverBuilder,
) -> ResolverBuilder {
    match v {
        Some(v) => f(b, v),
        None => b,
    }
}

/// Checks the option values and builds the resolver (inside the new resolver's runtime).
///
/// # Errors
/// [`sg_status::InvalidOptions`] naming the field (bad URL, out-of-range number, fields that go
/// together); the resolver's build errors ([`sg_status::HttpClient`],
/// [`sg_status::InstallIdFile`], [`sg_status::Runtime`]).
pub(crate) fn build_resolver(opts: Options) -> Result<Resolver, Failure> {
    let git = parse_url(
        "defaultGitUrl",
        opts.default_git_url.as_deref().unwrap_or(DEFAULT_GIT_URL),
    )?;
    let mut b = Resolver::builder(git);
    if let Some(u) = &opts.control_plane_url {
        let mut p = ControlPlaneProvider::new(parse_url("controlPlaneUrl", u)?)
            .map_err(|e| Failure::new(sg_status::HttpClient, e.to_string()))?;
        if let Some(t) = &opts.control_plane_token {
            p = p.with_token(t.clone());
        }
        b = b.provider(p);
    }
    match (&opts.supabase_url, &opts.supabase_key) {
        (Some(u), Some(k)) => {
            let p = SupabaseProvider::new(parse_url("supabaseUrl", u)?, k.clone())
                .map_err(|e| Failure::new(sg_status::HttpClient, e.to_string()))?;
            b = b.provider(p);
        }
        (None, None) => {}
        _ => {
            return Err(Failure::new(
                sg_status::InvalidOptions,
                "options.supabaseUrl and options.supabaseKey go together",
            ));
        }
    }
    if let Some(v) = opts.static_config {
        b = b.provider(StaticProvider::Value(v));
    }
    if let Some(f) = opts.static_config_file {
        b = b.provider(StaticProvider::File(f));
    }
    // Each option the JSON gives is passed to its builder setter; an absent one keeps the
    // builder's default.
    use ResolverBuilder as B;
    let ms = |v: Option<u64>| v.map(Duration::from_millis);
    b = set(b, opts.install_id, B::install_id);
    b = set(b, opts.install_id_file, B::install_id_file);
    b = set(b, opts.cache_file, B::cache_file);
    b = set(b, ms(opts.cache_ttl_ms), B::cache_ttl);
    b = set(b, ms(opts.init_timeout_ms), B::init_timeout);
    b = set(b, ms(opts.request_timeout_ms), B::request_timeout);
    b = set(b, opts.health_checks, B::health_checks);
    b = set(b, opts.health_check_path, B::health_check_path);
    b = set(b, opts.push, B::push);
    if let Some(t) = &opts.telemetry {
        b = b.telemetry(telemetry_settings(t)?);
    }
    b = set(b, opts.offline, B::offline);
    if let Some((base, cap)) = backoff(opts.backoff_base_ms, opts.backoff_cap_ms)? {
        b = b.backoff(base, cap);
    }
    b = set(b, opts.http_cache, B::http_cache);
    b = set(b, opts.body_cache_dir, B::body_cache_dir);
    b = set(b, opts.body_cache_max_bytes, B::body_cache_max_bytes);
    b = set(b, opts.stale_if_error, B::stale_if_error);
    if let Some(name) = &opts.content_check {
        let check = ContentCheck::from_name(name).ok_or_else(|| {
            invalid(
                "contentCheck",
                format_args!(
                    "unknown check `{name}` (expected none, auto, json, plugins or themes)"
                ),
            )
        })?;
        b = b.content_check(check);
    }
    if let Some(n) = opts.max_body_bytes {
        if n == 0 {
            return Err(invalid("maxBodyBytes", "must be at least 1 (bytes)"));
        }
        b = b.max_body_bytes(n);
    }
    if let Some(ms) = opts.read_idle_timeout_ms {
        if ms == 0 {
            return Err(invalid("readIdleTimeoutMs", "must be at least 1 (ms)"));
        }
        b = b.read_idle_timeout(Duration::from_millis(ms));
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::{sg_last_error_message, sg_resolver, sg_resolver_free, sg_resolver_new};

    #[test]
    fn null_and_bad_options_give_statuses_and_messages() {
        let mut out: *mut sg_resolver = std::ptr::null_mut();
        let s = unsafe { sg_resolver_new(std::ptr::null(), &mut out) };
        assert_eq!(s, sg_status::NullParameter);
        assert!(out.is_null());
        let s = unsafe { sg_resolver_new(c"{not json".as_ptr(), &mut out) };
        assert_eq!(s, sg_status::InvalidOptions);
        assert!(out.is_null());
        let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
        assert!(
            msg.to_str().unwrap().contains("invalid options JSON"),
            "{msg:?}"
        );
        let bad = [0xffu8, 0];
        let s = unsafe { sg_resolver_new(bad.as_ptr().cast(), &mut out) };
        assert_eq!(s, sg_status::InvalidUtf8);
    }

    /// `sg_resolver_new` with `json`: `Ok(())` (the resolver freed again) or the status and
    /// message.
    fn new_with(json: &str) -> Result<(), (sg_status, String)> {
        let c = std::ffi::CString::new(json).unwrap();
        let mut out: *mut sg_resolver = std::ptr::null_mut();
        let s = unsafe { sg_resolver_new(c.as_ptr(), &mut out) };
        if s == sg_status::Ok {
            assert!(!out.is_null());
            unsafe { sg_resolver_free(out) };
            Ok(())
        } else {
            assert!(out.is_null(), "out written on failure");
            let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
            Err((s, msg.to_str().unwrap().to_owned()))
        }
    }

    const BASE: &str = r#""staticConfig":{"type":"git","gitUrl":"http://127.0.0.1:9/git/","healthCheckEnabled":false},"installId":"i","push":false"#;

    #[test]
    fn telemetry_options_are_taken_and_checked() {
        for ok in [
            r#""telemetry":{"enabled":false}"#,
            r#""telemetry":{"enabled":true,"endpoint":"http://127.0.0.1:9/v1/telemetry","intervalMs":60000}"#,
            r#""telemetry":{}"#,
            r#""telemetry":null"#,
        ] {
            assert_eq!(new_with(&format!("{{{BASE},{ok}}}")), Ok(()), "{ok}");
        }
        let t = parse_options_json(r#"{"telemetry":{"enabled":false,"endpoint":"https://t.example/v1/telemetry","intervalMs":2500}}"#).unwrap();
        let s = telemetry_settings(t.telemetry.as_ref().unwrap()).unwrap();
        assert!(!s.enabled);
        assert_eq!(
            s.endpoint.as_ref().map(url::Url::as_str),
            Some("https://t.example/v1/telemetry")
        );
        assert_eq!(s.interval, Duration::from_millis(2500));
        let d = telemetry_settings(&TelemetryOptions::default()).unwrap();
        assert_eq!(d, TelemetrySettings::default());

        for (bad, status, needle) in [
            (
                r#""telemetry":{"endpoint":"not a url"}"#,
                sg_status::InvalidOptions,
                "options.telemetry.endpoint: invalid URL",
            ),
            (
                r#""telemetry":{"endpoint":"ftp://127.0.0.1/t"}"#,
                sg_status::InvalidOptions,
                "options.telemetry.endpoint: `ftp://127.0.0.1/t` is not an http or https URL",
            ),
            (
                r#""telemetry":{"intervalMs":5}"#,
                sg_status::InvalidOptions,
                "options.telemetry.intervalMs: 5 is below the minimum of 10 ms",
            ),
            (
                r#""telemetry":{"enabled":"no"}"#,
                sg_status::InvalidOptions,
                "invalid options JSON",
            ),
            (
                r#""telemetry":false"#,
                sg_status::InvalidOptions,
                "invalid options JSON",
            ),
        ] {
            let (s, msg) = new_with(&format!("{{{BASE},{bad}}}")).unwrap_err();
            assert_eq!(s, status, "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
    }

    #[test]
    fn unknown_fields_and_non_objects_are_refused_naming_the_field() {
        for (bad, needle) in [
            (
                r#"{"telemtry":{"enabled":false}}"#,
                "unknown field `telemtry`, expected one of",
            ),
            (
                r#"{"telemetry":{"enable":false}}"#,
                "telemetry: unknown field `enable`, expected one of `enabled`, `endpoint`, `intervalMs`",
            ),
            ("[]", "invalid type: sequence, expected a JSON object"),
            (r#"["https://x.example/"]"#, "expected a JSON object"),
            ("null", "invalid type: null, expected a JSON object"),
            ("7", "expected a JSON object"),
            (
                r#"{"telemetry":[]}"#,
                "telemetry: invalid type: sequence, expected a JSON object",
            ),
            (
                r#"{"telemetry":[true]}"#,
                "telemetry: invalid type: sequence",
            ),
        ] {
            let msg = parse_options_json(bad).unwrap_err();
            assert!(msg.starts_with("invalid options JSON: "), "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
            let (s, msg) = new_with(bad).unwrap_err();
            assert_eq!(s, sg_status::InvalidOptions, "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
        for ok in ["{}", r#"{"telemetry":null}"#, r#"{"offline":true}"#] {
            parse_options_json(ok).unwrap();
        }
        assert_eq!(new_with(&format!(r#"{{{BASE},"offline":true}}"#)), Ok(()));
    }

    #[test]
    fn backoff_options_are_taken_and_checked() {
        for ok in [
            r#""backoffBaseMs":250,"backoffCapMs":10000"#,
            r#""backoffBaseMs":5"#,
            r#""backoffCapMs":1000"#,
            r#""backoffBaseMs":1000,"backoffCapMs":1000"#,
        ] {
            assert_eq!(new_with(&format!("{{{BASE},{ok}}}")), Ok(()), "{ok}");
        }
        assert_eq!(backoff(None, None).unwrap(), None);
        assert_eq!(
            backoff(Some(250), Some(10_000)).unwrap(),
            Some((Duration::from_millis(250), Duration::from_secs(10)))
        );
        assert_eq!(
            backoff(Some(5), None).unwrap(),
            Some((Duration::from_millis(5), Duration::from_secs(300)))
        );
        assert_eq!(
            backoff(None, Some(2_000)).unwrap(),
            Some((Duration::from_secs(1), Duration::from_secs(2)))
        );
        for (bad, needle) in [
            (
                r#""backoffBaseMs":0"#,
                "options.backoffBaseMs: must be at least 1 (ms)",
            ),
            (
                r#""backoffBaseMs":5000,"backoffCapMs":100"#,
                "options.backoffCapMs: 100 is below the backoff base (5000 ms)",
            ),
            (
                r#""backoffCapMs":500"#,
                "options.backoffCapMs: 500 is below the backoff base (1000 ms, the default)",
            ),
            (r#""backoffBaseMs":-1"#, "invalid options JSON"),
            (r#""backoffCapMs":"1s""#, "invalid options JSON"),
        ] {
            let (s, msg) = new_with(&format!("{{{BASE},{bad}}}")).unwrap_err();
            assert_eq!(s, sg_status::InvalidOptions, "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
    }
}
