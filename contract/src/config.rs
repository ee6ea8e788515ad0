//! A configuration version and its audit log, as `GET /v1/configs/{key}` and
//! `GET /v1/configs/{key}/history` serve them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One version of a configuration: the answer of `GET /v1/configs/{key}` and the `data` of
/// each Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    /// The configuration key (`config_key`), e.g. [`crate::CONFIG_KEY`].
    pub key: String,
    /// Monotonic version, bumped by every change.
    pub version: i64,
    /// The JSON document.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: serde_json::Value,
    /// When this version was written (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// Who wrote it (`auth.uid()` of the writer), `null` for the seed or a service token
    /// without `sub`.
    pub updated_by: Option<Uuid>,
    /// Who wrote it, for people (`admin <uuid>`, `service_role`, `seed`…). Never sent by the
    /// control plane: a client that looked the writer up (the CLI reads the history's
    /// `changedRole`) fills it in; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub actor: Option<String>,
}

/// One entry of the audit log (`GET /v1/configs/{key}/history`), written by a trigger on
/// every insert, update and delete of `app_config`; never updated or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    /// The version this change produced (or removed, for `DELETE`).
    pub version: i64,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub op: String,
    /// The document before the change.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub old_value: Option<serde_json::Value>,
    /// The document after the change.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub new_value: Option<serde_json::Value>,
    /// `auth.uid()` of the writer.
    pub changed_by: Option<Uuid>,
    /// Database role of the writer (`authenticated`, `service_role`, or the SQL user).
    pub changed_role: Option<String>,
    /// When (RFC 3339, UTC).
    pub changed_at: DateTime<Utc>,
    /// The reason given with the change.
    pub reason: Option<String>,
    /// Who made the change, for people; filled in by clients, never sent (see
    /// [`ConfigView::actor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub actor: Option<String>,
}

/// The answer of `GET /v1/configs/{key}/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    /// Entries, newest first.
    pub items: Vec<HistoryItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_view_round_trips_and_never_sends_the_actor() {
        let j = serde_json::json!({"key":"marketplace_source","version":3,"value":{"type":"git"},
            "updatedAt":"2026-11-23T18:00:00.5Z","updatedBy":null});
        let mut v: ConfigView = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(v.actor, None);
        assert_eq!(
            serde_json::to_value(&v).unwrap()["updatedAt"],
            "2026-11-23T18:00:00.500Z"
        );
        v.actor = Some("seed".into());
        assert_eq!(serde_json::to_value(&v).unwrap()["actor"], "seed");
    }

    #[test]
    fn history_item_reads_the_server_shape() {
        let j = serde_json::json!({"version":2,"op":"UPDATE","oldValue":{"type":"git"},
            "newValue":{"type":"cdn"},"changedBy":"2b6c1e9e-0000-4000-8000-000000000000",
            "changedRole":"authenticated","changedAt":"2026-11-23T18:00:00Z","reason":"flip"});
        let i: HistoryItem = serde_json::from_value(j).unwrap();
        assert_eq!(i.changed_role.as_deref(), Some("authenticated"));
        assert!(i.changed_by.is_some());
        assert!(serde_json::from_str::<HistoryItem>(r#"{"version":1}"#).is_err());
    }
}
