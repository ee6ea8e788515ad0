//! The bodies of the two admin writes of a configuration: `PUT /v1/configs/{key}` (a new
//! document) and `POST /v1/configs/{key}/rollback` (an old version's document again). Both are
//! recorded as a new version with an audit log entry; both carry the same [`WriteTerms`].

use serde::{Deserialize, Serialize};

/// What both admin writes carry besides their subject (flattened into [`PutConfig`] and
/// [`Rollback`]): the audit reason, the optimistic-concurrency guard and the no-change override.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WriteTerms {
    /// Why (stored in the history, at most 1 KiB). A rollback without one records
    /// `rollback to version N`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Refuse with 409 `version_conflict` unless the current version is this one (a `PUT` may
    /// send `If-Match: "N"` instead).
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// Record the document even if it equals the current one (otherwise 409 `no_change`).
    #[serde(default)]
    pub force: bool,
}

/// Body of `PUT /v1/configs/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PutConfig {
    /// The new document.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: serde_json::Value,
    /// The reason, expected version and override.
    #[serde(flatten)]
    pub terms: WriteTerms,
}

/// Body of `POST /v1/configs/{key}/rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// The version whose document becomes current again (as a new version).
    pub to_version: i64,
    /// The reason, expected version and override.
    #[serde(flatten)]
    pub terms: WriteTerms,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_sit_beside_the_subject_on_the_wire() {
        let put = PutConfig {
            value: json!({"type": "git"}),
            terms: WriteTerms {
                reason: Some("why".into()),
                expected_version: Some(3),
                force: true,
            },
        };
        let wire = serde_json::to_value(&put).unwrap();
        assert_eq!(
            wire,
            json!({"value": {"type": "git"}, "reason": "why", "expectedVersion": 3, "force": true})
        );
        assert_eq!(serde_json::from_value::<PutConfig>(wire).unwrap(), put);
        let rb: Rollback = serde_json::from_value(json!({"toVersion": 2})).unwrap();
        assert_eq!(rb.to_version, 2);
        assert_eq!(rb.terms, WriteTerms::default());
        assert!(serde_json::from_value::<Rollback>(json!({"toVersion": "2"})).is_err());
    }
}
