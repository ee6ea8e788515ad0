//! The pure parser of `GET /rest/v1/{table}` query strings: the tables and columns served,
//! `select=`, `col=op.value` filters, `order=`, `limit=`, `offset=`, into SQL with bind
//! parameters.

use axum::http::StatusCode;

use super::error::RestError;

/// The decoded `key=value` pairs of a raw (percent-encoded) query string, in order.
pub(super) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A table served under `/rest/v1`.
pub(super) struct Table {
    /// The table name in `public`.
    pub(super) name: &'static str,
    /// `(column, SQL type)`; the type casts filter values like PostgREST's untyped literals.
    pub(super) columns: &'static [(&'static str, &'static str)],
}

/// The tables served, with their columns.
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "app_config",
        columns: &[
            ("id", "uuid"),
            ("config_key", "text"),
            ("config_value", "jsonb"),
            ("version", "bigint"),
            ("updated_at", "timestamptz"),
            ("updated_by", "uuid"),
        ],
    },
    Table {
        name: "app_config_history",
        columns: &[
            ("id", "bigint"),
            ("config_id", "uuid"),
            ("config_key", "text"),
            ("version", "bigint"),
            ("op", "text"),
            ("old_value", "jsonb"),
            ("new_value", "jsonb"),
            ("changed_by", "uuid"),
            ("changed_role", "text"),
            ("changed_at", "timestamptz"),
            ("reason", "text"),
        ],
    },
];

fn parse_error(msg: impl Into<String>) -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST100", msg)
}

fn column<'t>(t: &'t Table, name: &str) -> Result<(&'t str, &'t str), RestError> {
    t.columns
        .iter()
        .find(|(c, _)| *c == name)
        .map(|(c, ty)| (*c, *ty))
        .ok_or_else(|| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "42703",
                format!("column {}.{} does not exist", t.name, name),
            )
        })
}

/// Builds the read query; returns SQL and its text parameters.
pub(super) fn build_select(
    t: &Table,
    q: &[(String, String)],
) -> Result<(String, Vec<String>), RestError> {
    let mut cols: Vec<String> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut limit: Option<u64> = None;
    let mut offset: Option<u64> = None;
    for (k, v) in q {
        match k.as_str() {
            "select" => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if item == "*" {
                        cols.extend(t.columns.iter().map(|(c, _)| format!("\"{c}\"")));
                    } else {
                        let (c, _) = column(t, item)?;
                        cols.push(format!("\"{c}\""));
                    }
                }
            }
            "order" => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let mut parts = item.split('.');
                    let (c, _) = column(t, parts.next().unwrap_or(""))?;
                    let mut sql = format!("\"{c}\"");
                    for p in parts {
                        sql.push_str(match p {
                            "asc" => " ASC",
                            "desc" => " DESC",
                            "nullsfirst" => " NULLS FIRST",
                            "nullslast" => " NULLS LAST",
                            _ => {
                                return Err(parse_error(format!("failed to parse order ({item})")));
                            }
                        });
                    }
                    order.push(sql);
                }
            }
            "limit" => {
                limit = Some(
                    v.parse()
                        .map_err(|_| parse_error("limit must be an integer"))?,
                )
            }
            "offset" => {
                offset = Some(
                    v.parse()
                        .map_err(|_| parse_error("offset must be an integer"))?,
                )
            }
            _ => {} // column filters: below
        }
    }
    let filters = filters(t, q, &mut params)?;
    if cols.is_empty() {
        cols.extend(t.columns.iter().map(|(c, _)| format!("\"{c}\"")));
    }
    let mut inner = format!("SELECT {} FROM public.\"{}\"", cols.join(", "), t.name);
    if !filters.is_empty() {
        inner.push_str(" WHERE ");
        inner.push_str(&filters.join(" AND "));
    }
    if !order.is_empty() {
        inner.push_str(" ORDER BY ");
        inner.push_str(&order.join(", "));
    }
    if let Some(l) = limit {
        inner.push_str(&format!(" LIMIT {l}"));
    }
    if let Some(o) = offset {
        inner.push_str(&format!(" OFFSET {o}"));
    }
    Ok((
        format!("SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM ({inner}) t"),
        params,
    ))
}

/// Query-string keys that are options, not column filters: skipped by [`filters`].
pub(super) const RESERVED: &[&str] = &[
    "apikey",
    "select",
    "order",
    "limit",
    "offset",
    "on_conflict",
    "columns",
];

/// The `WHERE` conditions (to be joined with `AND`) of every `col=op.value` pair of `q`,
/// skipping [`RESERVED`] keys; each value is pushed onto `params` and referenced as `$n`
/// (`n` = its 1-based position in `params`), so callers may push their own parameters before
/// or after. Shared by the table read and the table writes (`PATCH` filters).
///
/// # Errors
/// 400 `42703` for an unknown column, 400 `PGRST100` for a filter that does not parse.
pub(super) fn filters(
    t: &Table,
    q: &[(String, String)],
    params: &mut Vec<String>,
) -> Result<Vec<String>, RestError> {
    q.iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| filter(t, k, v, params))
        .collect()
}

/// One `col=op.value` filter as a SQL condition; its value becomes a bind parameter.
fn filter(t: &Table, col: &str, v: &str, params: &mut Vec<String>) -> Result<String, RestError> {
    let (c, ty) = column(t, col)?;
    let (op, val) = v
        .split_once('.')
        .ok_or_else(|| parse_error(format!("failed to parse filter ({v})")))?;
    let sql_op = match op {
        "eq" => "=",
        "neq" => "<>",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "is" => {
            let rhs = match val.to_ascii_lowercase().as_str() {
                "null" => "NULL",
                "true" => "TRUE",
                "false" => "FALSE",
                "unknown" => "UNKNOWN",
                _ => return Err(parse_error(format!("failed to parse filter ({v})"))),
            };
            return Ok(format!("\"{c}\" IS {rhs}"));
        }
        _ => {
            return Err(parse_error(format!(
                "unsupported operator in filter ({v}); supported: eq, neq, gt, gte, lt, lte, is"
            )));
        }
    };
    params.push(val.to_owned());
    Ok(format!("\"{c}\" {sql_op} CAST(${} AS {ty})", params.len()))
}

/// Parses the query string of `GET /rest/v1/{table}` (`select=`, `col=op.value` filters,
/// `order=`, `limit=`, `offset=`; `apikey=` is skipped) into the SQL it runs and that SQL's
/// text bind parameters (`$1`, `$2`, … in order). Pure: no database, no auth; the handler runs
/// the same code after its key and JWT checks. Public for the fuzz target
/// (`fuzz/fuzz_targets/rest_query.rs`).
///
/// `raw_query` is the part after `?`, still percent-encoded (`None` when there is none).
/// Identifiers in the SQL come only from this module's table and column lists; every value
/// from the query is a bind parameter.
///
/// # Errors
/// The HTTP status and PostgREST code the request is refused with: 404 `PGRST205` for an
/// unknown table, 400 `42703` for an unknown column, 400 `PGRST100` for a filter, order,
/// limit or offset that does not parse.
#[doc(hidden)]
pub fn parse_read_query(
    table: &str,
    raw_query: Option<&str>,
) -> Result<(String, Vec<String>), (StatusCode, String)> {
    let q = query_pairs(raw_query);
    let t = TABLES
        .iter()
        .find(|t| t.name == table)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "PGRST205".to_owned()))?;
    build_select(t, &q).map_err(|e| (e.status, e.body.code.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_read_query_builds_the_handlers_sql() {
        let (sql, params) = parse_read_query(
            "app_config",
            Some("config_key=eq.marketplace_source&select=config_value&order=version.desc&limit=1&apikey=k"),
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM (SELECT \"config_value\" \
             FROM public.\"app_config\" WHERE \"config_key\" = CAST($1 AS text) \
             ORDER BY \"version\" DESC LIMIT 1) t"
        );
        assert_eq!(params, ["marketplace_source"]);
    }

    #[test]
    fn parse_read_query_refusals_carry_postgrest_codes() {
        let cases = [
            (
                "app_config_v2",
                "select=*",
                StatusCode::NOT_FOUND,
                "PGRST205",
            ),
            (
                "app_config",
                "select=password",
                StatusCode::BAD_REQUEST,
                "42703",
            ),
            (
                "app_config",
                "config_key=fts.x",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
            (
                "app_config",
                "order=version.up",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
            (
                "app_config",
                "limit=-1",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
        ];
        for (table, query, status, code) in cases {
            assert_eq!(
                parse_read_query(table, Some(query)),
                Err((status, code.to_owned())),
                "{table}?{query}"
            );
        }
    }
}
