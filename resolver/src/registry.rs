//! Checks that a body is a plugin registry document.
//!
//! The registry is the JSON array Obsidian publishes as `community-plugins.json`: objects with
//! at least a string `id` and a string `repo` (`owner/name`); other fields (`name`, `author`,
//! `description`) are optional here.

use serde::Deserialize;

/// Why a body is not a registry document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// Not a JSON array of objects with string `id` and `repo`.
    #[error("not a registry document: {0}")]
    Shape(String),
    /// An entry has an empty `id` or `repo`.
    #[error("registry entry {index} has an empty `{field}`")]
    EmptyField {
        /// Position of the entry in the array.
        index: usize,
        /// `id` or `repo`.
        field: &'static str,
    },
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    repo: std::borrow::Cow<'a, str>,
}

/// Validates `bytes` as a registry and returns its number of entries.
///
/// # Errors
/// [`RegistryError::Shape`] for anything but a UTF-8 JSON array of objects with string `id`
/// and `repo`;
/// [`RegistryError::EmptyField`] for an empty one.
///
/// # Examples
/// ```
/// let n = sourcegate::registry::validate_registry(br#"[{"id":"a","repo":"o/a","name":"A"}]"#).unwrap();
/// assert_eq!(n, 1);
/// assert!(sourcegate::registry::validate_registry(br#"{"id":"a"}"#).is_err());
/// ```
pub fn validate_registry(bytes: &[u8]) -> Result<usize, RegistryError> {
    // UTF-8 first (RFC 8259 §8.1): `from_slice` skips ignored fields (`name`, …) without
    // checking their bytes, so a body with invalid UTF-8 there passed (found by
    // `fuzz/fuzz_targets/registry.rs`).
    let text = std::str::from_utf8(bytes)
        .map_err(|e| RegistryError::Shape(format!("not UTF-8 ({e})")))?;
    let entries: Vec<Entry<'_>> =
        serde_json::from_str(text).map_err(|e| RegistryError::Shape(e.to_string()))?;
    for (index, e) in entries.iter().enumerate() {
        if e.id.is_empty() {
            return Err(RegistryError::EmptyField { index, field: "id" });
        }
        if e.repo.is_empty() {
            return Err(RegistryError::EmptyField {
                index,
                field: "repo",
            });
        }
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz regression (`fuzz/corpus/registry/crash-invalid-utf8`): invalid UTF-8 inside a
    /// field the validator ignores was accepted.
    #[test]
    fn invalid_utf8_in_an_ignored_field_is_refused() {
        let mut body = br#"[{"id":"a","name":"Paste"#.to_vec();
        body.extend_from_slice(&[0xd1, 0x51]);
        body.extend_from_slice(br#" URL","repo":"o/a"}]"#);
        assert!(matches!(
            validate_registry(&body),
            Err(RegistryError::Shape(m)) if m.starts_with("not UTF-8")
        ));
        // The same body with valid text in that field is a registry.
        let ok = br#"[{"id":"a","name":"Paste\u00d1Q URL","repo":"o/a"}]"#;
        assert_eq!(validate_registry(ok), Ok(1));
    }
}
