//! `GET /v1/autopilot` (admin): the autopilot's policy in force, what this replica's decider is
//! doing, and the latest decisions of the fleet's decider (`app_private.autopilot_decisions`).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use crate::autopilot::Policy;
use crate::decider::Status;
use crate::error::AppError;
use crate::state::AppState;

/// Decisions returned, newest first.
pub const DECISIONS: i64 = 20;

/// One recorded decision (also the webhook's body, `crate::notify::AutopilotEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    /// When, RFC 3339.
    pub decided_at: chrono::DateTime<chrono::Utc>,
    /// `gitPressure` or `errorRollback`.
    pub rule: String,
    /// The rule and the figures that fired it.
    pub reason: String,
    /// Recorded only, nothing changed.
    pub dry_run: bool,
    /// The `marketplace_source` version decided on.
    pub from_version: i64,
    /// The version written (`null` for a dry run).
    pub to_version: Option<i64>,
    /// The replica that decided.
    pub decided_by: String,
}

/// Answer of `GET /v1/autopilot`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotView {
    /// The `autopilot` document's version (0: no document yet, the defaults apply: off).
    pub version: i64,
    /// The policy in force, every default filled in.
    #[schema(value_type = Object)]
    pub policy: Policy,
    /// This replica's decider (`leader`, `state`, `error`); `null` with `--autopilot false`.
    pub replica: Option<Status>,
    /// Seconds per autopilot minute on this control plane (`--minute-secs`).
    pub minute_secs: u64,
    /// The latest decisions, newest first (at most 20).
    pub decisions: Vec<DecisionView>,
}

/// `GET /v1/autopilot` (admin).
#[utoipa::path(get, path = "/v1/autopilot", security(("bearer" = [])),
    responses(
        (status = 200, description = "the policy, this replica's decider and the latest decisions", body = AutopilotView),
        crate::openapi::AdminReadErrors))]
pub(crate) async fn get_autopilot(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AutopilotView>, AppError> {
    let (_ctx, mut tx) = crate::api::admin_tx(&state, &headers).await?;
    let doc = crate::db::fetch_config(&mut tx, crate::api::AUTOPILOT_KEY)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    drop(tx);
    let (version, policy) = match doc {
        Some(d) => (
            d.version,
            Policy::from_value(&d.value).map_err(|e| AppError::Internal(e.to_string()))?,
        ),
        None => (0, Policy::default()),
    };
    let mut tx = crate::db::begin_service(&state.pool)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    type Row = (
        chrono::DateTime<chrono::Utc>,
        String,
        String,
        bool,
        i64,
        Option<i64>,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT decided_at, rule, reason, dry_run, from_version, to_version, decided_by
           FROM app_private.autopilot_decisions ORDER BY id DESC LIMIT $1",
    )
    .bind(DECISIONS)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| AppError::from_db(e, false))?;
    drop(tx);
    Ok(Json(AutopilotView {
        version,
        policy,
        replica: state
            .settings
            .autopilot
            .then(|| state.fleet.autopilot_status()),
        minute_secs: u64::from(state.settings.telemetry_minute_secs.max(1)),
        decisions: rows
            .into_iter()
            .map(|r| DecisionView {
                decided_at: r.0,
                rule: r.1,
                reason: r.2,
                dry_run: r.3,
                from_version: r.4,
                to_version: r.5,
                decided_by: r.6,
            })
            .collect(),
    }))
}
