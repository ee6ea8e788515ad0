//! Checks that a body is a plugin registry document.
//!
//! The registry is the JSON array Obsidian publishes as `community-plugins.json`: objects with
//! at least a string `id` and a string `repo` (`owner/name`); other fields (`name`, `author`,
//! `description`) are optional here.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

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

/// One registry entry: only `id` and `repo` are read, borrowed from the body when unescaped.
struct Entry<'a> {
    id: Cow<'a, str>,
    repo: Cow<'a, str>,
}

/// A string field, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Written by hand, not derived: a derived struct also accepts the sequence form
/// (`["id", "repo"]`), so `[["a","o/a"]]` passed as a registry (found by
/// `fuzz/fuzz_targets/registry.rs`). This one takes JSON objects only.
impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntryVisitor<'a> {
            type Value = Entry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with string `id` and `repo`")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entry<'a>, M::Error> {
                let (mut id, mut repo) = (None, None);
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let slot = match key.as_ref() {
                        "id" => &mut id,
                        "repo" => &mut repo,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    *slot = Some(map.next_value::<Text<'de>>()?.0);
                }
                Ok(Entry {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    repo: repo.ok_or_else(|| de::Error::missing_field("repo"))?,
                })
            }
        }
        d.deserialize_map(EntryVisitor(std::marker::PhantomData))
    }
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
    let text =
        std::str::from_utf8(bytes).map_err(|e| RegistryError::Shape(format!("not UTF-8 ({e})")))?;
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

    /// Fuzz regression (`fuzz/corpus/registry/crash-entry-as-array`): an entry written as a
    /// JSON array (serde's sequence form of a struct) was accepted.
    #[test]
    fn entries_must_be_objects() {
        for body in [
            &br#"[["a","o/a"]]"#[..],
            br#"[{"id":"a","repo":"o/a"},["b","o/b"]]"#,
        ] {
            assert!(
                matches!(validate_registry(body), Err(RegistryError::Shape(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let cases: [(&[u8], Result<usize, ()>); 5] = [
            (
                br#"[{"id":"a","repo":"o/a","name":"A","x":[1,{"id":""}]}]"#,
                Ok(1),
            ),
            (br#"[{"repo":"o/\u0061","id":"\"a\""}]"#, Ok(1)),
            (br#"[{"id":"a"}]"#, Err(())),
            (br#"[{"id":"a","repo":"o/a","id":"b"}]"#, Err(())),
            (br#"[{"id":1,"repo":"o/a"}]"#, Err(())),
        ];
        for (body, want) in cases {
            assert_eq!(
                validate_registry(body).map_err(|_| ()),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
