//! The router: every route of the service, the middleware stack (body limit, JSON errors, rate
//! limit, metrics, CORS, tracing) and the fallback.

use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::AppError;
use crate::state::AppState;
use crate::{admin, api, extract, fleet, health, observability, ratelimit, rest};

/// The fallback: 404 `not_found`, or PostgREST's 404 `PGRST125` under `/rest/v1/`.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/rest/v1/") {
        rest::not_found(uri.path()).into_response()
    } else {
        AppError::NotFound(format!("no route {}", uri.path())).into_response()
    }
}

/// `GET /openapi.json`.
async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi())
}

/// CORS for browser clients (supabase-js, the admin panel), as Supabase's gateway allows:
/// any origin, no credentials (authorization travels in `Authorization`/`apikey` headers, never
/// cookies, so a wildcard origin grants a page nothing its caller's token does not).
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("apikey"),
            HeaderName::from_static("x-client-info"),
            HeaderName::from_static("accept-profile"),
            HeaderName::from_static("content-profile"),
            HeaderName::from_static("prefer"),
            HeaderName::from_static("range"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::CONTENT_RANGE,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(3600))
}

/// Builds the router over `state` (no socket: usable with `tower::ServiceExt::oneshot`): every
/// route and the whole middleware stack. The server runs `app`: this router behind the
/// config-read path of `snapshot_reads`, which answers the same.
pub fn router(state: AppState) -> Router {
    routes(state)
        .layer(cors())
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// What the server runs: [`crate::snapshot_reads::SnapshotReads`] answering
/// `GET /v1/configs/{key}` itself, in front of [`router`] for everything else.
pub(crate) fn app(state: AppState) -> crate::snapshot_reads::SnapshotReads {
    crate::snapshot_reads::SnapshotReads::new(state.clone(), router(state), cors_headers())
}

/// The headers [`cors`] adds to a `GET` that carries no `Origin` (the only requests
/// [`crate::snapshot_reads`] serves), computed by running the layer itself once over an empty
/// answer, so the read path adds exactly what the router's CORS layer would.
pub(crate) fn cors_headers() -> axum::http::HeaderMap {
    use futures_util::FutureExt as _;
    use tower::{Layer as _, ServiceExt as _};
    let stub = tower::service_fn(|_: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::empty()))
    });
    let req = axum::extract::Request::new(axum::body::Body::empty());
    cors()
        .layer(stub)
        .oneshot(req)
        .now_or_never()
        .and_then(Result::ok)
        .map(|resp| resp.headers().clone())
        .unwrap_or_default()
}

/// Every route with the inner middlewares (body limit, JSON errors, rate limit, metrics).
fn routes(state: AppState) -> Router {
    Router::new()
        .route("/live", get(health::live))
        .route("/health", get(health::ready))
        .route("/ready", get(health::ready))
        .route("/openapi.json", get(openapi_json))
        .route(
            "/v1/configs/{key}",
            get(api::get_config).put(api::put_config),
        )
        .route("/v1/configs/{key}/events", get(api::events))
        .route("/v1/configs/{key}/history", get(api::history))
        .route("/v1/configs/{key}/rollback", post(api::rollback))
        .route("/v1/origins/test", post(api::test_origin))
        .route("/v1/modes", get(api::modes))
        .route("/v1/origins/health", get(fleet::origins_health))
        .route(
            "/v1/telemetry",
            post(fleet::post_telemetry).layer(axum::extract::DefaultBodyLimit::max(
                fleet::TELEMETRY_MAX_BYTES,
            )),
        )
        .route("/v1/telemetry/summary", get(fleet::telemetry_summary))
        .route("/v1/autopilot", get(crate::autopilot_api::get_autopilot))
        .route("/rest/v1/", get(rest::openapi_root))
        .route(
            "/rest/v1/rpc/{function}",
            get(rest::call_rpc).post(rest::call_rpc),
        )
        .route(
            "/rest/v1/{table}",
            get(rest::read_table)
                .patch(rest::update_table)
                .post(rest::insert_table)
                .delete(rest::delete_table)
                .fallback(rest::unsupported),
        )
        .merge(admin::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            extract::MAX_CONFIG_BODY_BYTES,
        ))
        .layer(axum::middleware::map_response(extract::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observability::track,
        ))
        .with_state(state)
}

/// The router over a pool that never connects (port 1) and no rate limit, for unit tests of
/// what is answered before the database.
#[cfg(test)]
pub(crate) fn offline_router() -> Router {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let settings = crate::settings::Settings {
        rate_limit_per_sec: 0,
        ..crate::settings::Settings::default()
    };
    router(AppState::new(
        pool,
        b"0123456789abcdef0123456789abcdef".to_vec(),
        settings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt as _;

    async fn call(req: axum::http::Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = offline_router().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn routes_that_need_no_database() {
        let get = |uri: &str| axum::http::Request::get(uri).body(Body::empty()).unwrap();
        assert_eq!(call(get("/live")).await.0, StatusCode::OK);
        // No database and no listener: not ready, and the body says why.
        let (s, e) = call(get("/ready")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e["code"], "unavailable");
        let (s, doc) = call(get("/openapi.json")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["paths"]["/v1/configs/{key}/history"]["get"].is_object());
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["apikey"]["in"], "header");
        // Query parameters are declared in the query, not the path (OpenAPI 3: every path
        // parameter must appear in the template).
        for (path, name) in [
            ("/v1/configs/{key}/history", "limit"),
            ("/v1/telemetry/summary", "minutes"),
        ] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let p = params.iter().find(|p| p["name"] == name).unwrap();
            assert_eq!(p["in"], "query", "{path} {name}");
        }
        let (s, e) = call(get("/rest/v1/app_config")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(e["message"], "No API key found in request");
        let (s, e) = call(
            axum::http::Request::get("/v1/configs/marketplace_source")
                .header("authorization", "Bearer a.b.c")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(e["code"], "unauthorized");
        let (s, e) = call(get("/nope")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(e["code"], "not_found");
        let (s, e) = call(get("/rest/v1/a/b/c")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(e["code"], "PGRST125");
    }
}
