//! Which TLS stack the resolver's own HTTP clients use, chosen by Cargo features.
//!
//! | feature | certificate roots | crypto provider | for |
//! |---|---|---|---|
//! | `tls-platform` (in `default`, through `tls`) | the operating system's store, through `rustls-platform-verifier` | aws-lc-rs | desktop and server programs, which should honour the roots their administrator installed |
//! | `tls-webpki` | Mozilla's roots compiled in (`webpki-roots`) | ring | mobile apps and small libraries: no platform initialisation (Android's platform verifier needs a JNI call before the first request), and ring is about a megabyte smaller than aws-lc-rs |
//! | neither | none: `https` requests fail | none | builds that make no HTTPS request (the fuzz targets) |
//!
//! When both are enabled (Cargo unifies features across a workspace build: the control plane asks
//! for `tls-platform`, the FFI for `tls-webpki`), `tls-platform` is used, so a server never
//! silently loses the roots its administrator installed. A library built on its own
//! (`cargo build -p sourcegate-ffi`) gets only what it asks for.
//!
//! Every client the resolver builds itself comes from [`client_builder`]; a client passed in
//! (`ResolverBuilder::http_client`, `ControlPlaneProvider::with_client`, …) keeps the TLS set up
//! of whoever built it.
//!
//! Android: with `tls-platform`, the platform verifier panics on the first HTTPS request
//! ("Expect rustls-platform-verifier to be initialized") unless the app has initialised it
//! through JNI first: from C, `sg_android_init(env, context)` of the FFI crate; from Rust,
//! `rustls_platform_verifier::android::init_with_env`. The app also ships the verifier's
//! Android component (Gradle and ProGuard lines in `ffi/README.md`). `tls-webpki` needs none
//! of this, which is why it is the mobile default.

/// Which TLS stack this build's clients use, for logs and diagnostics: `"webpki-ring"`,
/// `"platform-aws-lc-rs"` or `"none"`.
pub const STACK: &str = if cfg!(feature = "tls-platform") {
    "platform-aws-lc-rs"
} else if cfg!(feature = "tls-webpki") {
    "webpki-ring"
} else {
    "none"
};

/// A `reqwest` client builder with this build's TLS stack ([`STACK`], see the module docs);
/// the caller adds its timeouts.
pub fn client_builder() -> reqwest::ClientBuilder {
    #[cfg(feature = "tls-platform")]
    return platform_client_builder();
    #[cfg(all(feature = "tls-webpki", not(feature = "tls-platform")))]
    return webpki_client_builder();
    #[cfg(not(any(feature = "tls-platform", feature = "tls-webpki")))]
    return reqwest::Client::builder();
}

/// How long a client built by [`origin_client`] waits for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// [`client_builder`] with the connect timeout every origin and provider client of the
/// resolver uses ([`CONNECT_TIMEOUT`], 5 s; no overall timeout: each request sets its own).
pub fn origin_client() -> reqwest::ClientBuilder {
    client_builder().connect_timeout(CONNECT_TIMEOUT)
}

/// A builder on reqwest's rustls set up: the platform verifier and aws-lc-rs.
#[cfg(feature = "tls-platform")]
pub fn platform_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_rustls()
}

/// A builder on Mozilla's roots and ring ([`webpki_config`]).
#[cfg(feature = "tls-webpki")]
pub fn webpki_client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match webpki_config() {
        Ok(config) => builder.tls_backend_preconfigured(config),
        // Not expected (ring supports rustls' default versions); reqwest's own set up is left,
        // and `build()` reports what it lacks.
        Err(e) => {
            tracing::warn!(error = %e, "bundled-roots TLS set up refused");
            builder
        }
    }
}

/// rustls with the ring provider, TLS 1.2 and 1.3 (rustls' safe defaults) and Mozilla's roots,
/// offering HTTP/2 (with the `http2` feature) and HTTP/1.1 by ALPN, as reqwest's own rustls set
/// up does.
///
/// # Errors
/// The provider supports none of the default protocol versions (not the case for ring).
#[cfg(feature = "tls-webpki")]
pub fn webpki_config() -> Result<rustls::ClientConfig, rustls::Error> {
    use std::sync::Arc;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // h2 only when this crate's `http2` feature guarantees reqwest can speak it.
    config.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_follows_the_features() {
        let expected = if cfg!(feature = "tls-platform") {
            "platform-aws-lc-rs"
        } else if cfg!(feature = "tls-webpki") {
            "webpki-ring"
        } else {
            "none"
        };
        assert_eq!(STACK, expected);
        assert!(client_builder().build().is_ok());
    }

    #[cfg(feature = "tls-webpki")]
    #[test]
    fn webpki_config_has_roots_and_alpn() {
        let c = webpki_config().unwrap();
        let first: &[u8] = if cfg!(feature = "http2") {
            b"h2"
        } else {
            b"http/1.1"
        };
        assert_eq!(c.alpn_protocols[0], first);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }
}
