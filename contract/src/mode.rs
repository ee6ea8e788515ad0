//! The routing modes of a `marketplace_source` document, in one table: mode id ↔ document
//! `type` and `priority` ↔ label for people.
//!
//! The document names its mode with `type` (`git`, `cdn`, `hybrid`, `canary`; `cloudflare`
//! is the seed's alias of `cdn`) and, for `hybrid`, the order of origins with `priority`.
//! The table below gives each combination a stable id (what the console's mode picker and
//! the CLI's summaries use) and a label. The resolver's `Mode` is the parsed form of the same
//! thing; the control plane serves this table at `GET /v1/modes`.

use std::collections::BTreeMap;

use serde::Serialize;

/// One routing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModeInfo {
    /// Stable id: `git`, `cdn`, `hybrid-cdn-git`, `hybrid-git-cdn`, `canary`.
    pub id: &'static str,
    /// For people: `Git`, `CDN`, `Hybrid CDN→Git`, `Hybrid Git→CDN`, `Canary`.
    pub label: &'static str,
    /// The document's `type`.
    #[serde(rename = "type")]
    pub doc_type: &'static str,
    /// The document's `priority` for this mode: the origin tried first, then the fallback.
    pub priority: [&'static str; 2],
}

/// One row of [`MODES`]: id, label, document `type`, `priority`.
const fn mode(
    id: &'static str,
    label: &'static str,
    doc_type: &'static str,
    priority: [&'static str; 2],
) -> ModeInfo {
    ModeInfo {
        id,
        label,
        doc_type,
        priority,
    }
}

/// Every mode, in the order the console offers them.
pub const MODES: [ModeInfo; 5] = [
    mode("git", "Git", "git", ["git", "cdn"]),
    mode("cdn", "CDN", "cdn", ["cdn", "git"]),
    mode("hybrid-cdn-git", "Hybrid CDN→Git", "hybrid", ["cdn", "git"]),
    mode("hybrid-git-cdn", "Hybrid Git→CDN", "hybrid", ["git", "cdn"]),
    mode("canary", "Canary", "canary", ["cdn", "git"]),
];

/// The document `type` values, without aliases.
pub const DOCUMENT_TYPES: [&str; 4] = ["git", "cdn", "hybrid", "canary"];

/// The `type` aliases a document may use: `cloudflare` (the seed's name) means `cdn`.
pub const TYPE_ALIASES: [(&str, &str); 1] = [("cloudflare", "cdn")];

/// The answer of `GET /v1/modes`: [`MODES`] and [`TYPE_ALIASES`], so a client (the admin
/// console) names and applies modes without a table of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ModeTable {
    /// Every mode, in the order the console offers them.
    pub modes: Vec<ModeInfo>,
    /// Alias → canonical document `type` (`{"cloudflare": "cdn"}`).
    pub type_aliases: BTreeMap<String, String>,
    /// Origin kind → label for people (`{"cdn": "CDN", "git": "Git"}`).
    pub origin_labels: BTreeMap<String, String>,
}

/// The mode table as `GET /v1/modes` serves it.
pub fn table() -> ModeTable {
    ModeTable {
        modes: MODES.to_vec(),
        type_aliases: TYPE_ALIASES
            .iter()
            .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
            .collect(),
        origin_labels: ORIGIN_LABELS
            .iter()
            .map(|(o, l)| ((*o).to_owned(), (*l).to_owned()))
            .collect(),
    }
}

/// The mode with this id.
pub fn by_id(id: &str) -> Option<&'static ModeInfo> {
    MODES.iter().find(|m| m.id == id)
}

/// The canonical `type` for a document's `type` (aliases resolved), if it is one.
pub fn canonical_type(doc_type: &str) -> Option<&'static str> {
    let t = TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == doc_type)
        .map_or(doc_type, |(_, t)| *t);
    DOCUMENT_TYPES.iter().copied().find(|x| *x == t)
}

/// The mode of a document (`type` and, for `hybrid`, the first entry of `priority`; a
/// missing or unknown first entry reads as `cdn`, the resolver's default). `None` when the
/// document has no known `type`. No other validation: that is the resolver's
/// `MarketplaceConfig`'s job.
pub fn of_document(doc: &serde_json::Value) -> Option<&'static ModeInfo> {
    let t = canonical_type(doc.get("type")?.as_str()?)?;
    if t == "hybrid" {
        let first = doc
            .get("priority")
            .and_then(|p| p.get(0))
            .and_then(serde_json::Value::as_str);
        return by_id(if first == Some("git") {
            "hybrid-git-cdn"
        } else {
            "hybrid-cdn-git"
        });
    }
    MODES.iter().find(|m| m.doc_type == t)
}

/// Origin kind → label for people, as [`ModeTable::origin_labels`] serves it.
pub const ORIGIN_LABELS: [(&str, &str); 2] = [("git", "Git"), ("cdn", "CDN")];

/// The label of an origin kind for people: `git` → `Git`, `cdn` → `CDN`; anything else
/// as given.
pub fn origin_label(origin: &str) -> &str {
    ORIGIN_LABELS
        .iter()
        .find(|(o, _)| *o == origin)
        .map_or(origin, |(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_mode_is_found_from_its_own_document() {
        for m in &MODES {
            let doc = json!({"type": m.doc_type, "priority": m.priority});
            assert_eq!(of_document(&doc), Some(m), "{}", m.id);
            assert_eq!(by_id(m.id), Some(m));
        }
    }

    #[test]
    fn aliases_defaults_and_unknowns() {
        assert_eq!(
            of_document(&json!({"type":"cloudflare"})).map(|m| m.id),
            Some("cdn")
        );
        assert_eq!(
            of_document(&json!({"type":"hybrid"})).map(|m| m.id),
            Some("hybrid-cdn-git")
        );
        assert_eq!(of_document(&json!({"type":"ftp"})), None);
        assert_eq!(of_document(&json!({"priority":["git"]})), None);
        assert_eq!(canonical_type("cloudflare"), Some("cdn"));
        assert_eq!(canonical_type("Git"), None);
        assert_eq!(origin_label("cdn"), "CDN");
        assert_eq!(origin_label("x"), "x");
    }

    #[test]
    fn the_served_table_has_modes_and_aliases() {
        let j = serde_json::to_value(table()).unwrap();
        assert_eq!(j["modes"].as_array().unwrap().len(), MODES.len());
        assert_eq!(j["typeAliases"], json!({"cloudflare": "cdn"}));
        assert_eq!(j["originLabels"], json!({"cdn": "CDN", "git": "Git"}));
    }

    #[test]
    fn the_table_serialises_with_type() {
        let j = serde_json::to_value(MODES[2]).unwrap();
        assert_eq!(
            j,
            json!({"id":"hybrid-cdn-git","label":"Hybrid CDN→Git","type":"hybrid","priority":["cdn","git"]})
        );
    }
}
