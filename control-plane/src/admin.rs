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

const INDEX_HTML: &str = include_str!("../assets/admin/index.html");
const APP_CSS: &str = include_str!("../assets/admin/app.css");
const APP_JS: &str = include_str!("../assets/admin/app.js");
const API_JS: &str = include_str!("../assets/admin/api.js");
const DIFF_JS: &str = include_str!("../assets/admin/diff.js");
const CHART_JS: &str = include_str!("../assets/admin/chart.js");
const FAVICON_SVG: &str = include_str!("../assets/admin/favicon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn api_js() -> Response {
    asset("text/javascript; charset=utf-8", API_JS)
}

async fn diff_js() -> Response {
    asset("text/javascript; charset=utf-8", DIFF_JS)
}

async fn chart_js() -> Response {
    asset("text/javascript; charset=utf-8", CHART_JS)
}

async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON_SVG)
}

/// Routes of the console: `GET /admin` (and `/admin/`), `/admin/app.css`, `/admin/app.js`,
/// `/admin/api.js`, `/admin/diff.js`, `/admin/chart.js`, `/admin/favicon.svg`.
///
/// Stateless, so it merges into any router: `router.merge(admin::routes())`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/", get(|| async { Redirect::permanent("/admin") }))
        .route("/admin/app.css", get(css))
        .route("/admin/app.js", get(app_js))
        .route("/admin/api.js", get(api_js))
        .route("/admin/diff.js", get(diff_js))
        .route("/admin/chart.js", get(chart_js))
        .route("/admin/favicon.svg", get(favicon))
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
        let resp = get("/admin/").await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(resp.headers()[header::LOCATION], "/admin");
    }

    #[tokio::test]
    async fn the_page_loads_only_its_own_assets() {
        let html = INDEX_HTML;
        assert!(html.contains(r#"src="/admin/app.js""#));
        for remote in [r#"src="http"#, r#"href="http"#, "src=\"//", "href=\"//"] {
            assert!(!html.contains(remote), "no remote asset: {remote}");
        }
        assert!(!html.contains("<script>") && !html.contains("style="));
        for js in [APP_JS, API_JS, DIFF_JS, CHART_JS] {
            assert!(!js.contains("https://"), "no remote asset in the scripts");
        }
    }
}
