//! The probes: `GET /live` (liveness) and `GET /ready` / `GET /health` (readiness).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /live`: the process answers (liveness; never touches the database).
pub(crate) async fn live() -> Response {
    axum::Json(serde_json::json!({"status": "live"})).into_response()
}

/// `GET /ready` (and `/health`): 200 when the database answers within 2 s, the `LISTEN` session
/// has synced the snapshots at least once, and it has not been down longer than
/// `listener_down_max_secs`; else 503 `unavailable` with what is missing.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await;
    let database = matches!(db, Ok(Ok(_)));
    let status = state.hub.store().status();
    let bound = Duration::from_secs(state.settings.listener_down_max_secs);
    let listener = status.ready_within(bound);
    if database && listener {
        return axum::Json(serde_json::json!({
            "status": "ready",
            "database": true,
            "listener": true,
            "snapshotCurrent": status.is_current(),
        }))
        .into_response();
    }
    let why = match (database, listener) {
        (false, false) => "database unreachable and change listener down".to_owned(),
        (false, true) => "database unreachable".to_owned(),
        _ => format!(
            "change listener down for {} s (limit {} s)",
            status.down_for().as_secs(),
            bound.as_secs()
        ),
    };
    tracing::warn!(reason = %why, "not ready");
    let mut resp = axum::Json(serde_json::json!({
        "code": "unavailable",
        "message": format!("not ready: {why}"),
        "database": database,
        "listener": listener,
    }))
    .into_response();
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp
}
