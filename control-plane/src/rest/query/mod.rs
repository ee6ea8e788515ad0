//! The pure parser of `GET /rest/v1/{table}` query strings: the tables and columns served,
//! vertical filtering (`select=` with aliases, casts and JSON paths), horizontal filtering
//! (`filter`), `order=`, `limit=`/`offset=` and the `Range` header, into SQL with bind
//! parameters. PostgREST's reference: <https://docs.postgrest.org/en/v12/references/api/tables_views.html>
//! and <https://docs.postgrest.org/en/v12/references/api/pagination_count.html>.
//!
//! - `field`: a column with an optional JSON path, and the allow-list of casts;
//! - `filter`: the filter grammar (operators, `not.`, `or`/`and` trees).

mod field;
mod filter;

use axum::http::StatusCode;

use super::error::RestError;
use field::{cast_type, parse_field};
pub(in crate::rest) use filter::filters;

/// The decoded `key=value` pairs of a raw (percent-encoded) query string, in order.
pub(in crate::rest) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A table served under `/rest/v1`.
pub(in crate::rest) struct Table {
    /// The table name in `public`.
    pub(in crate::rest) name: &'static str,
    /// `(column, SQL type)`; the type casts filter values like PostgREST's untyped literals.
    pub(in crate::rest) columns: &'static [(&'static str, &'static str)],
}

/// The tables served, with their columns.
pub(in crate::rest) const TABLES: &[Table] = &[
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

/// The served table called `name`, or PostgREST's 404 `PGRST205` for any other.
pub(in crate::rest) fn find_table(name: &str) -> Result<&'static Table, RestError> {
    TABLES.iter().find(|t| t.name == name).ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST205",
            format!("Could not find the table 'public.{name}' in the schema cache"),
        )
    })
}

/// 400 `PGRST100`, PostgREST's answer to a query string it cannot parse.
pub(super) fn parse_error(msg: impl Into<String>) -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST100", msg)
}

/// 416 `PGRST103`, PostgREST's answer to a range it cannot satisfy.
pub(in crate::rest) fn range_error(details: impl Into<String>) -> RestError {
    RestError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "PGRST103",
        "Requested range not satisfiable",
    )
    .details(details)
}

/// The column `name` of `t` and its SQL type; 400 `42703` (PostgreSQL's "column does not
/// exist", which PostgREST forwards) when `t` has none.
pub(super) fn column(t: &Table, name: &str) -> Result<(&'static str, &'static str), RestError> {
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

/// At most this many `select=` items: each is two arguments of `json_build_object`, which
/// takes at most 100.
const MAX_SELECT_ITEMS: usize = 50;

/// The rows asked for: `first` (0-based) and `end` (exclusive; `None`: to the last row),
/// from `offset=`/`limit=` intersected with the `Range` header, as PostgREST does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(in crate::rest) struct RowRange {
    /// The first row.
    pub(in crate::rest) first: u64,
    /// One past the last row, `None` when open.
    pub(in crate::rest) end: Option<u64>,
}

impl RowRange {
    /// The intersection of two ranges.
    fn intersect(self, other: RowRange) -> RowRange {
        let end = match (self.end, other.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        RowRange {
            first: self.first.max(other.first),
            end,
        }
    }
}

/// The read's SQL, parameters and the range it asked for.
#[derive(Debug)]
pub(in crate::rest) struct ReadQuery {
    /// One row: the page as a JSON array text, its row count, the exact total (or `NULL`).
    pub(in crate::rest) sql: String,
    /// Bind parameters of `sql`, `$1…` in order.
    pub(in crate::rest) params: Vec<String>,
    /// `EXPLAIN (FORMAT JSON)` of the filtered table, for `Prefer: count=planned`; its
    /// parameters are the first `filter_params` of `params`.
    pub(in crate::rest) plan_sql: String,
    /// How many of `params` the filters hold.
    pub(in crate::rest) filter_params: usize,
    /// The rows asked for.
    pub(in crate::rest) range: RowRange,
}

/// Parses `limit=`/`offset=` values.
fn query_range(q: &[(String, String)]) -> Result<RowRange, RestError> {
    let mut offset = 0u64;
    let mut limit: Option<u64> = None;
    for (k, v) in q {
        match k.as_str() {
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| parse_error(format!("limit must be an integer ({v})")))?;
                limit =
                    Some(u64::try_from(n).map_err(|_| {
                        range_error("Limit should be greater than or equal to zero.")
                    })?);
            }
            "offset" => {
                offset = v.parse().map_err(|_| {
                    parse_error(format!("offset must be a non-negative integer ({v})"))
                })?;
            }
            _ => {}
        }
    }
    Ok(RowRange {
        first: offset,
        end: limit.map(|l| offset.saturating_add(l)),
    })
}

/// The `select=` list as `json_build_object` arguments (JSON names and values).
fn select_list(t: &Table, v: &str, params: &mut Vec<String>) -> Result<Vec<String>, RestError> {
    let mut out = Vec::new();
    let star = |out: &mut Vec<String>| {
        out.extend(t.columns.iter().map(|(c, _)| format!("'{c}', \"{c}\"")));
    };
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "*" {
            star(&mut out);
            continue;
        }
        if item.contains('(') || item.starts_with("...") || item.contains('!') {
            return Err(parse_error(format!(
                "unsupported select item ({item}): resource embedding, spreads and aggregates are not implemented"
            )));
        }
        let (rest, cast) = match item.rsplit_once("::") {
            Some((r, c)) => (r, Some(cast_type(c)?)),
            None => (item, None),
        };
        let (alias, field) = match rest.split_once(':') {
            Some((a, f)) if !a.is_empty() => (Some(a), f),
            Some(_) => return Err(parse_error(format!("failed to parse select ({item})"))),
            None => (None, rest),
        };
        let field = parse_field(t, field)?;
        let name = match alias {
            Some(a) => {
                params.push(a.to_owned());
                format!("CAST(${} AS text)", params.len())
            }
            None if field.path.is_empty() => format!("'{}'", field.col),
            None => {
                params.push(field.name().to_owned());
                format!("CAST(${} AS text)", params.len())
            }
        };
        let mut value = field.sql(params);
        if let Some(ty) = cast {
            value = format!("CAST({value} AS {ty})");
        }
        out.push(format!("{name}, {value}"));
    }
    if out.is_empty() {
        star(&mut out);
    }
    if out.len() > MAX_SELECT_ITEMS {
        return Err(parse_error(format!(
            "select lists at most {MAX_SELECT_ITEMS} items"
        )));
    }
    Ok(out)
}

/// The `order=` list as `ORDER BY` items.
fn order_list(t: &Table, v: &str, params: &mut Vec<String>) -> Result<Vec<String>, RestError> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut parts = item.split('.');
        let field = parse_field(t, parts.next().unwrap_or(""))?;
        let mut sql = field.sql(params);
        for p in parts {
            sql.push_str(match p {
                "asc" => " ASC",
                "desc" => " DESC",
                "nullsfirst" => " NULLS FIRST",
                "nullslast" => " NULLS LAST",
                _ => return Err(parse_error(format!("failed to parse order ({item})"))),
            });
        }
        out.push(sql);
    }
    Ok(out)
}

/// Builds the read of `t` for query `q`, restricted to `header_range` (the `Range` request
/// header) when given; `exact_count` adds the exact total of the filtered rows.
///
/// # Errors
/// 400 `42703` for an unknown column, 400 `PGRST100` for what does not parse or is not
/// supported, 416 `PGRST103` for a negative limit or a `Range` header disjoint from
/// `limit`/`offset`.
pub(in crate::rest) fn build_select(
    t: &Table,
    q: &[(String, String)],
    header_range: Option<RowRange>,
    exact_count: bool,
) -> Result<ReadQuery, RestError> {
    let mut params: Vec<String> = Vec::new();
    // Parameters in the order they appear in the SQL text: filters, select, order.
    let conds = filters(t, q, &mut params)?;
    let filter_params = params.len();
    let mut cols = Vec::new();
    let mut order = Vec::new();
    for (k, v) in q {
        if k == "select" {
            cols.extend(select_list(t, v, &mut params)?);
        }
    }
    if cols.is_empty() {
        cols = select_list(t, "*", &mut params)?;
    }
    for (k, v) in q {
        if k == "order" {
            order.extend(order_list(t, v, &mut params)?);
        }
    }
    // PostgREST intersects the `Range` header with `limit`/`offset`; `limit=0` bypasses the
    // header, and any other empty intersection is refused.
    let url_range = query_range(q)?;
    let range = match header_range {
        Some(h) if url_range.end != Some(url_range.first) => {
            let r = url_range.intersect(h);
            if r.end.is_some_and(|e| e <= r.first) {
                return Err(range_error(
                    "Limit should be greater than or equal to zero.",
                ));
            }
            r
        }
        _ => url_range,
    };
    // PostgreSQL's LIMIT and OFFSET are bigint.
    let too_big = |n: u64| i64::try_from(n).is_err();
    if too_big(range.first) || range.end.is_some_and(too_big) {
        return Err(parse_error(
            "limit and offset must be at most 9223372036854775807",
        ));
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let mut page = format!("SELECT json_build_object({}) AS j FROM f", cols.join(", "));
    if !order.is_empty() {
        page.push_str(" ORDER BY ");
        page.push_str(&order.join(", "));
    }
    if let Some(end) = range.end {
        page.push_str(&format!(" LIMIT {}", end.saturating_sub(range.first)));
    }
    if range.first > 0 {
        page.push_str(&format!(" OFFSET {}", range.first));
    }
    let total = if exact_count {
        "(SELECT count(*) FROM f)"
    } else {
        "NULL::bigint"
    };
    Ok(ReadQuery {
        sql: format!(
            "WITH f AS (SELECT * FROM public.\"{}\"{where_sql}) SELECT p.body, p.n, {total} FROM \
             (SELECT coalesce(json_agg(s.j), '[]'::json)::text AS body, count(*) AS n FROM ({page}) s) p",
            t.name
        ),
        plan_sql: format!(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM public.\"{}\"{where_sql}",
            t.name
        ),
        params,
        filter_params,
        range,
    })
}

/// Query-string keys that are options, not column filters: skipped by [`filters`].
pub(in crate::rest) const RESERVED: &[&str] = &[
    "apikey",
    "select",
    "order",
    "limit",
    "offset",
    "on_conflict",
    "columns",
];

/// Parses the query string of `GET /rest/v1/{table}` (`select=`, filters, `order=`, `limit=`,
/// `offset=`; `apikey=` is skipped) into the SQL it runs and that SQL's text bind parameters
/// (`$1`, `$2`, … in order, each used once). Pure: no database, no auth, no headers (no
/// `Range`, no count); the handler runs the same code after its key and JWT checks. Public for
/// the fuzz target (`fuzz/fuzz_targets/rest_query.rs`).
///
/// `raw_query` is the part after `?`, still percent-encoded (`None` when there is none).
/// Identifiers in the SQL come only from this module's table and column lists, casts from its
/// allow-list; every value, alias and JSON key from the query is a bind parameter.
///
/// # Errors
/// The HTTP status and PostgREST code the request is refused with: 404 `PGRST205` for an
/// unknown table, 400 `42703` for an unknown column, 400 `PGRST100` for a filter, select,
/// order, limit or offset that does not parse or is not supported, 416 `PGRST103` for a
/// negative limit.
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
    build_select(t, &q, None, false)
        .map(|r| (r.sql, r.params))
        .map_err(|e| (e.status, e.body.code.unwrap_or_default()))
}

#[cfg(test)]
mod tests;
