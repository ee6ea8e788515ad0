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
/// [`RegistryError::Shape`] for anything but an array of objects with string `id` and `repo`;
/// [`RegistryError::EmptyField`] for an empty one.
///
/// # Examples
/// ```
/// let n = sourcegate::registry::validate_registry(br#"[{"id":"a","repo":"o/a","name":"A"}]"#).unwrap();
/// assert_eq!(n, 1);
/// assert!(sourcegate::registry::validate_registry(br#"{"id":"a"}"#).is_err());
/// ```
pub fn validate_registry(bytes: &[u8]) -> Result<usize, RegistryError> {
    let entries: Vec<Entry<'_>> =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::Shape(e.to_string()))?;
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
