//! Fields: a column of the table, optionally followed by a JSON path
//! (`config_value->healthCheck->>intervalSecs`), and the allow-list of `::type` casts.
//!
//! PostgREST's JSON columns: <https://docs.postgrest.org/en/v12/references/api/tables_views.html#json-columns>;
//! casts: <https://docs.postgrest.org/en/v12/references/api/tables_views.html#casting-columns>.
//! The column comes from the table's list; JSON keys become bind parameters (`$n`), array
//! indexes parsed integers: no text of the request reaches the SQL.

use super::{Table, column, parse_error};
use crate::rest::error::RestError;

/// A column, optionally with a JSON path.
#[derive(Debug)]
pub(super) struct Field {
    /// The column (from the table's list).
    pub(super) col: &'static str,
    /// The column's SQL type.
    pub(super) col_ty: &'static str,
    /// `(key, as_text)`: each `->key` (`false`) or `->>key` (`true`) step.
    pub(super) path: Vec<(String, bool)>,
}

impl Field {
    /// The SQL type of the field's value: the column's without a path, `text` after `->>`,
    /// `jsonb` after `->`.
    pub(super) fn ty(&self) -> &'static str {
        match self.path.last() {
            None => self.col_ty,
            Some((_, true)) => "text",
            Some((_, false)) => "jsonb",
        }
    }

    /// The name PostgREST gives the field in a response: the last JSON key, else the column.
    pub(super) fn name(&self) -> &str {
        self.path.last().map_or(self.col, |(k, _)| k.as_str())
    }

    /// The field as SQL; JSON keys are pushed onto `params` (`$n`).
    pub(super) fn sql(&self, params: &mut Vec<String>) -> String {
        let mut s = format!("\"{}\"", self.col);
        for (key, text) in &self.path {
            s.push_str(if *text { "->>" } else { "->" });
            match key.parse::<i32>() {
                Ok(i) => s.push_str(&format!("({i})")),
                Err(_) => {
                    params.push(key.clone());
                    s.push_str(&format!("CAST(${} AS text)", params.len()));
                }
            }
        }
        s
    }
}

/// Parses `col` or `col->a->>b` (PostgREST's JSON path syntax) against `t`'s columns.
///
/// # Errors
/// 400 `42703` for an unknown column, 400 `PGRST100` for an empty JSON key.
pub(super) fn parse_field(t: &Table, s: &str) -> Result<Field, RestError> {
    let (head, mut rest) = match s.find("->") {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let (col, col_ty) = column(t, head)?;
    let mut path = Vec::new();
    while !rest.is_empty() {
        let (text, after) = if let Some(r) = rest.strip_prefix("->>") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("->") {
            (false, r)
        } else {
            return Err(parse_error(format!("failed to parse JSON path ({s})")));
        };
        let end = after.find("->").unwrap_or(after.len());
        let key = &after[..end];
        if key.is_empty() {
            return Err(parse_error(format!(
                "failed to parse JSON path ({s}): empty key"
            )));
        }
        path.push((key.to_owned(), text));
        rest = &after[end..];
    }
    Ok(Field { col, col_ty, path })
}

/// The casts `select=col::type` accepts: `(name as written, SQL type)`.
const CASTS: &[(&str, &str)] = &[
    ("text", "text"),
    ("varchar", "varchar"),
    ("int", "integer"),
    ("int4", "integer"),
    ("integer", "integer"),
    ("int2", "smallint"),
    ("smallint", "smallint"),
    ("int8", "bigint"),
    ("bigint", "bigint"),
    ("numeric", "numeric"),
    ("decimal", "numeric"),
    ("real", "real"),
    ("float4", "real"),
    ("float8", "double precision"),
    ("double precision", "double precision"),
    ("bool", "boolean"),
    ("boolean", "boolean"),
    ("json", "json"),
    ("jsonb", "jsonb"),
    ("uuid", "uuid"),
    ("date", "date"),
    ("timestamp", "timestamp"),
    ("timestamptz", "timestamptz"),
];

/// The SQL type of a `::type` cast from the allow-list.
///
/// # Errors
/// 400 `PGRST100` naming the cast when it is not in the list.
pub(super) fn cast_type(name: &str) -> Result<&'static str, RestError> {
    let lower = name.trim().to_ascii_lowercase();
    CASTS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, ty)| *ty)
        .ok_or_else(|| {
            parse_error(format!(
                "unsupported cast ::{name}; supported: {}",
                CASTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        })
}
