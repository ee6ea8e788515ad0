//! Checks that a body is a plugin registry document or a theme list.
//!
//! The registry is the JSON array Obsidian publishes as `community-plugins.json`: objects with
//! at least a string `id` and a string `repo` (`owner/name`); other fields (`name`, `author`,
//! `description`) are optional here. The theme list (`community-css-themes.json`) has the same
//! form with a string `name` and a string `repo` ([`validate_theme_list`]).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

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
/// A field the list does not use, skipped but read as a standard JSON parser reads it: numbers
/// must fit an `f64`, as `serde_json::Value` requires (`IgnoredAny` skipped `1e30967440`, so a
/// body that `Value` refuses passed; found by `fuzz/fuzz_targets/registry.rs`). Nothing is
/// kept.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SkipVisitor;
        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skipped;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skipped, A::Error> {
                while seq.next_element::<Skipped>()?.is_some() {}
                Ok(Skipped)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Skipped, M::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(Skipped)
            }
        }
        d.deserialize_any(SkipVisitor)
    }
}

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
                        map.next_value::<Skipped>()?;
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
/// let n = sourcegate_core::registry::validate_registry(br#"[{"id":"a","repo":"o/a","name":"A"}]"#).unwrap();
/// assert_eq!(n, 1);
/// assert!(sourcegate_core::registry::validate_registry(br#"{"id":"a"}"#).is_err());
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
/// assert_eq!(sourcegate_core::registry::validate_theme_list(themes).unwrap(), 1);
/// assert!(sourcegate_core::registry::validate_theme_list(br#"[{"id":"a","repo":"o/a"}]"#).is_err());
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

    /// Found by the registry fuzz target: an unused field holding a number no `f64` holds.
    #[test]
    fn an_out_of_range_number_in_an_unused_field_is_refused() {
        let body = br#"[{"id":"a","repo":"o/a","author":1e30967440}]"#;
        assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
        assert!(validate_registry(body).is_err());
        // In range, nested, any type: still accepted.
        let ok = br#"[{"id":"a","repo":"o/a","x":{"y":[1e300,-2,3.5,null,true,"s"]}}]"#;
        assert_eq!(validate_registry(ok).unwrap(), 1);
    }
}
