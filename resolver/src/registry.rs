//! Checks that a body is a plugin registry document or a theme list.
//!
//! The registry is the JSON array Obsidian publishes as `community-plugins.json`: objects with
//! at least a string `id` and a string `repo` (`owner/name`); other fields (`name`, `author`,
//! `description`) are optional here. The theme list (`community-css-themes.json`) has the same
//! form with a string `name` and a string `repo` ([`validate_theme_list`]).

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
        /// `id`, `name` or `repo`.
        field: &'static str,
    },
}

/// The two string fields every entry of a list must have.
trait Shape {
    /// Field names, in the order reported.
    const FIELDS: [&'static str; 2];
}

/// `community-plugins.json`: `id` and `repo`.
struct Plugins;
impl Shape for Plugins {
    const FIELDS: [&'static str; 2] = ["id", "repo"];
}

/// `community-css-themes.json`: `name` and `repo`.
struct Themes;
impl Shape for Themes {
    const FIELDS: [&'static str; 2] = ["name", "repo"];
}

/// One list entry: only the shape's two fields are read, borrowed from the body when
/// unescaped.
struct Entry<'a, S> {
    fields: [Cow<'a, str>; 2],
    shape: std::marker::PhantomData<S>,
}

/// A string field, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Written by hand, not derived: a derived struct also accepts the sequence form
/// (`["id", "repo"]`), so `[["a","o/a"]]` passed as a registry (found by
/// `fuzz/fuzz_targets/registry.rs`). This one takes JSON objects only.
impl<'de: 'a, 'a, S: Shape> Deserialize<'de> for Entry<'a, S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor<'a, S>(std::marker::PhantomData<(&'a (), S)>);
        impl<'de: 'a, 'a, S: Shape> Visitor<'de> for EntryVisitor<'a, S> {
            type Value = Entry<'a, S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let [a, b] = S::FIELDS;
                write!(f, "an object with string `{a}` and `{b}`")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entry<'a, S>, M::Error> {
                let mut slots: [Option<Cow<'a, str>>; 2] = [None, None];
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let Some(i) = S::FIELDS.iter().position(|f| *f == key.as_ref()) else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    if slots[i].is_some() {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    slots[i] = Some(map.next_value::<Text<'de>>()?.0);
                }
                let [a, b] = slots;
                Ok(Entry {
                    fields: [
                        a.ok_or_else(|| de::Error::missing_field(S::FIELDS[0]))?,
                        b.ok_or_else(|| de::Error::missing_field(S::FIELDS[1]))?,
                    ],
                    shape: std::marker::PhantomData,
                })
            }
        }
        d.deserialize_map(EntryVisitor::<S>(std::marker::PhantomData))
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
    validate_list::<Plugins>(bytes)
}

/// Validates `bytes` as a theme list (`community-css-themes.json`: a JSON array of objects
/// with string `name` and `repo`) and returns its number of entries.
///
/// # Errors
/// As [`validate_registry`], for the fields `name` and `repo`.
///
/// # Examples
/// ```
/// let themes = br#"[{"name":"Minimal","author":"kepano","repo":"kepano/obsidian-minimal","modes":["dark","light"]}]"#;
/// assert_eq!(sourcegate::registry::validate_theme_list(themes).unwrap(), 1);
/// assert!(sourcegate::registry::validate_theme_list(br#"[{"id":"a","repo":"o/a"}]"#).is_err());
/// ```
pub fn validate_theme_list(bytes: &[u8]) -> Result<usize, RegistryError> {
    validate_list::<Themes>(bytes)
}

fn validate_list<S: Shape>(bytes: &[u8]) -> Result<usize, RegistryError> {
    // UTF-8 first (RFC 8259 §8.1): `from_slice` skips ignored fields (`name`, …) without
    // checking their bytes, so a body with invalid UTF-8 there passed (found by
    // `fuzz/fuzz_targets/registry.rs`).
    let text =
        std::str::from_utf8(bytes).map_err(|e| RegistryError::Shape(format!("not UTF-8 ({e})")))?;
    let entries: Vec<Entry<'_, S>> =
        serde_json::from_str(text).map_err(|e| RegistryError::Shape(e.to_string()))?;
    for (index, e) in entries.iter().enumerate() {
        for (value, field) in e.fields.iter().zip(S::FIELDS) {
            if value.is_empty() {
                return Err(RegistryError::EmptyField { index, field });
            }
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
