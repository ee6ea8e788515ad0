//! The admin console at `/admin`: a static page (HTML, CSS, vanilla JS modules) embedded in the
//! binary, so it works offline and needs no build step.
//!
//! The page only talks to this service's own `/v1` API (same origin), signs in with an admin
//! JWT pasted by the admin (kept in `sessionStorage`), and follows the SSE stream. Every asset is
//! served with a strict Content-Security-Policy (`default-src 'self'`, no inline script or
//! style, `connect-src 'self'`), `X-Content-Type-Options: nosniff` and no framing.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The Content-Security-Policy of every admin asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded asset of the console: where it is served, its `Content-Type`, its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The request path (`/admin`, `/admin/app.js`, …).
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file, embedded at compile time.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Declares an [`Asset`] served at `/admin/<file>` from `assets/admin/<file>`.
macro_rules! asset {
    ($file:literal, $ty:expr) => {
        Asset {
            path: concat!("/admin/", $file),
            content_type: $ty,
            body: include_bytes!(concat!("../assets/admin/", $file)),
        }
    };
}

/// Every asset of the console, the page first. `app.js` is the entry module; the others are
/// the modules it imports (one per tab, plus the shared ones) and the stylesheet and icon.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/admin",
        content_type: HTML,
        body: include_bytes!("../assets/admin/index.html"),
    },
    asset!("app.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("common.js", JS),
    asset!("session.js", JS),
    asset!("config.js", JS),
    asset!("dialog.js", JS),
    asset!("tabs.js", JS),
    asset!("tab-source.js", JS),
    asset!("tab-health.js", JS),
    asset!("tab-usage.js", JS),
    asset!("tab-history.js", JS),
    asset!("tab-autopilot.js", JS),
    asset!("diff.js", JS),
    asset!("chart.js", JS),
];

/// Serves one asset with the security headers of the module docs and `Cache-Control: no-cache`.
fn serve(asset: &'static Asset) -> Response {
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Routes of the console: `GET` of every path of [`ASSETS`] (`/admin`, `/admin/app.css`,
/// `/admin/app.js`, …), and `/admin/` redirecting to `/admin`. Other paths under `/admin/` are
/// left to the caller's fallback.
///
/// Stateless, so it merges into any router: `router.merge(admin::routes())`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(
        Router::new().route("/admin/", get(|| async { Redirect::permanent("/admin") })),
        |router, asset| router.route(asset.path, get(move || async move { serve(asset) })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    async fn get(uri: &str) -> Response {
        routes::<()>()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_every_asset_with_its_type_and_the_csp() {
        for (uri, ty) in [
            ("/admin", "text/html; charset=utf-8"),
            ("/admin/app.css", "text/css; charset=utf-8"),
            ("/admin/app.js", "text/javascript; charset=utf-8"),
            ("/admin/api.js", "text/javascript; charset=utf-8"),
            ("/admin/tab-history.js", "text/javascript; charset=utf-8"),
            ("/admin/diff.js", "text/javascript; charset=utf-8"),
            ("/admin/chart.js", "text/javascript; charset=utf-8"),
            ("/admin/favicon.svg", "image/svg+xml"),
        ] {
            let resp = get(uri).await;
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], ty, "{uri}");
            let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.starts_with("default-src 'self'"), "{uri}");
            assert!(csp.contains("connect-src 'self'"), "{uri}");
            assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        for a in ASSETS {
            let resp = get(a.path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{}", a.path);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], a.content_type);
        }
        let resp = get("/admin/").await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(resp.headers()[header::LOCATION], "/admin");
        assert_eq!(get("/admin/nope.js").await.status(), StatusCode::NOT_FOUND);
    }

    fn text(path: &str) -> &'static str {
        let a = ASSETS.iter().find(|a| a.path == path).unwrap();
        std::str::from_utf8(a.body).unwrap()
    }

    #[tokio::test]
    async fn the_page_loads_only_its_own_assets() {
        let html = text("/admin");
        assert!(html.contains(r#"src="/admin/app.js""#));
        for remote in [r#"src="http"#, r#"href="http"#, "src=\"//", "href=\"//"] {
            assert!(!html.contains(remote), "no remote asset: {remote}");
        }
        assert!(!html.contains("<script>") && !html.contains("style="));
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let js = text(a.path);
            assert!(!js.contains("https://"), "no remote asset in {}", a.path);
            // Every module a script imports is in the table (served, not a 404).
            for spec in js.split("from '").skip(1) {
                let path = spec.split('\'').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|x| x.path == path),
                    "{} imports {path}, which is not served",
                    a.path
                );
            }
        }
    }
}
