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
mod tests {
    use super::*;

    fn parse(q: &str) -> (String, Vec<String>) {
        parse_read_query("app_config", Some(q)).unwrap()
    }

    /// The `WHERE` conditions of `q` and its parameters.
    fn cond(q: &str) -> (String, Vec<String>) {
        let (sql, params) = parse(q);
        let w = sql
            .split_once(" WHERE ")
            .and_then(|(_, r)| r.split_once(") SELECT p.body"))
            .map(|(w, _)| w.to_owned())
            .unwrap_or_default();
        (w, params)
    }

    fn refused(table: &str, q: &str) -> (StatusCode, String) {
        parse_read_query(table, Some(q)).unwrap_err()
    }

    /// The message of a refusal from `build_select`.
    fn message(q: &str) -> String {
        let t = &TABLES[0];
        build_select(t, &query_pairs(Some(q)), None, false)
            .unwrap_err()
            .body
            .message
    }

    #[test]
    fn parse_read_query_builds_the_handlers_sql() {
        let (sql, params) = parse(
            "config_key=eq.marketplace_source&select=config_value&order=version.desc&limit=1&apikey=k",
        );
        assert_eq!(
            sql,
            "WITH f AS (SELECT * FROM public.\"app_config\" WHERE \"config_key\" = CAST($1 AS text)) \
             SELECT p.body, p.n, NULL::bigint FROM (SELECT coalesce(json_agg(s.j), '[]'::json)::text \
             AS body, count(*) AS n FROM (SELECT json_build_object('config_value', \"config_value\") \
             AS j FROM f ORDER BY \"version\" DESC LIMIT 1) s) p"
        );
        assert_eq!(params, ["marketplace_source"]);
    }

    #[test]
    fn comparison_operators() {
        for (op, sql) in [
            ("eq", "="),
            ("neq", "<>"),
            ("gt", ">"),
            ("gte", ">="),
            ("lt", "<"),
            ("lte", "<="),
            ("isdistinct", "IS DISTINCT FROM"),
        ] {
            assert_eq!(
                cond(&format!("version={op}.3")),
                (
                    format!("\"version\" {sql} CAST($1 AS bigint)"),
                    vec!["3".into()]
                ),
                "{op}"
            );
        }
    }

    #[test]
    fn pattern_operators() {
        assert_eq!(
            cond("config_key=like.market*"),
            (
                "\"config_key\" LIKE CAST($1 AS text)".into(),
                vec!["market%".into()]
            )
        );
        assert_eq!(
            cond("config_key=ilike.*SOURCE"),
            (
                "\"config_key\" ILIKE CAST($1 AS text)".into(),
                vec!["%SOURCE".into()]
            )
        );
        assert_eq!(
            cond("config_key=match.^m.*e$"),
            (
                "\"config_key\" ~ CAST($1 AS text)".into(),
                vec!["^m.*e$".into()]
            )
        );
        assert_eq!(
            cond("config_key=imatch.^M"),
            (
                "\"config_key\" ~* CAST($1 AS text)".into(),
                vec!["^M".into()]
            )
        );
    }

    #[test]
    fn in_and_is() {
        assert_eq!(
            cond(r#"config_key=in.(a,b,"c,d","e\"f")"#),
            (
                "\"config_key\" IN (CAST($1 AS text), CAST($2 AS text), CAST($3 AS text), CAST($4 AS text))".into(),
                vec!["a".into(), "b".into(), "c,d".into(), "e\"f".into()]
            )
        );
        assert_eq!(cond("version=in.()").0, "FALSE");
        assert_eq!(cond("version=not.in.()").0, "TRUE");
        for (v, sql) in [
            ("null", "NULL"),
            ("NULL", "NULL"),
            ("not_null", "NOT NULL"),
            ("true", "TRUE"),
            ("false", "FALSE"),
            ("unknown", "UNKNOWN"),
        ] {
            assert_eq!(
                cond(&format!("updated_by=is.{v}")),
                (format!("\"updated_by\" IS {sql}"), vec![])
            );
        }
        assert_eq!(refused("app_config", "updated_by=is.maybe").1, "PGRST100");
    }

    #[test]
    fn not_negates_any_operator() {
        assert_eq!(
            cond("version=not.eq.1"),
            (
                "NOT (\"version\" = CAST($1 AS bigint))".into(),
                vec!["1".into()]
            )
        );
        assert_eq!(
            cond("updated_by=not.is.null").0,
            "NOT (\"updated_by\" IS NULL)"
        );
        assert_eq!(
            cond("config_key=not.in.(a,b)").0,
            "NOT (\"config_key\" IN (CAST($1 AS text), CAST($2 AS text)))"
        );
    }

    #[test]
    fn jsonb_containment_and_paths() {
        assert_eq!(
            cond(r#"config_value=cs.{"type":"cdn"}"#),
            (
                "\"config_value\" @> CAST($1 AS jsonb)".into(),
                vec![r#"{"type":"cdn"}"#.into()]
            )
        );
        assert_eq!(
            cond(r#"config_value=cd.{"type":"cdn"}"#).0,
            "\"config_value\" <@ CAST($1 AS jsonb)"
        );
        assert_eq!(
            cond("config_value->>type=eq.cdn"),
            (
                "\"config_value\"->>CAST($1 AS text) = CAST($2 AS text)".into(),
                vec!["type".into(), "cdn".into()]
            )
        );
        assert_eq!(
            cond("config_value->healthCheck->intervalSecs=gt.5"),
            (
                "\"config_value\"->CAST($1 AS text)->CAST($2 AS text) > CAST($3 AS jsonb)".into(),
                vec!["healthCheck".into(), "intervalSecs".into(), "5".into()]
            )
        );
        assert_eq!(
            cond("config_value->priority->>0=eq.git").0,
            "\"config_value\"->CAST($1 AS text)->>(0) = CAST($2 AS text)"
        );
        // A key is a parameter, whatever it holds.
        let (w, p) = cond("config_value->>a'b\"c=eq.1");
        assert_eq!(w, "\"config_value\"->>CAST($1 AS text) = CAST($2 AS text)");
        assert_eq!(p[0], "a'b\"c");
        assert_eq!(refused("app_config", "config_value->=eq.1").1, "PGRST100");
        assert_eq!(refused("app_config", "nope->>a=eq.1").1, "42703");
    }

    #[test]
    fn logic_trees() {
        assert_eq!(
            cond("or=(version.eq.1,and(version.gt.2,config_key.lt.m))"),
            (
                "(\"version\" = CAST($1 AS bigint) OR (\"version\" > CAST($2 AS bigint) AND \"config_key\" < CAST($3 AS text)))".into(),
                vec!["1".into(), "2".into(), "m".into()]
            )
        );
        assert_eq!(
            cond("not.or=(version.eq.1,version.eq.2)").0,
            "NOT (\"version\" = CAST($1 AS bigint) OR \"version\" = CAST($2 AS bigint))"
        );
        assert_eq!(
            cond("and=(config_key.not.eq.x,not.or(version.is.null,config_value->>type.eq.cdn))").0,
            "(NOT (\"config_key\" = CAST($1 AS text)) AND NOT (\"version\" IS NULL OR \
             \"config_value\"->>CAST($2 AS text) = CAST($3 AS text)))"
        );
        let (w, p) = cond(r#"or=(config_key.eq."a,b",config_key.in.(x,"y,z"))"#);
        assert_eq!(
            w,
            "(\"config_key\" = CAST($1 AS text) OR \"config_key\" IN (CAST($2 AS text), CAST($3 AS text)))"
        );
        assert_eq!(p, ["a,b", "x", "y,z"]);
        // Several trees and filters are ANDed.
        let (sql, _) = parse("or=(version.eq.1,version.eq.2)&config_key=eq.k");
        assert!(sql.contains(
            "WHERE (\"version\" = CAST($1 AS bigint) OR \"version\" = CAST($2 AS bigint)) AND \"config_key\" = CAST($3 AS text)"
        ));
    }

    #[test]
    fn unsupported_logic_operators_are_parse_errors_not_missing_columns() {
        for q in [
            "xor=(version.eq.1,version.eq.2)",
            "not.xor=(version.eq.1)",
            "or=(version.eq.1,xor(version.eq.2))",
        ] {
            assert_eq!(
                refused("app_config", q),
                (StatusCode::BAD_REQUEST, "PGRST100".into()),
                "{q}"
            );
            assert!(
                message(q).contains("unsupported logic operator (xor)"),
                "{q}"
            );
        }
        for q in [
            "or=version.eq.1",
            "or=(version.eq.1",
            "or=()",
            "or=(version)",
        ] {
            assert_eq!(refused("app_config", q).1, "PGRST100", "{q}");
        }
    }

    #[test]
    fn unsupported_operators_are_named() {
        assert!(message("config_key=fts.x").contains("(fts)"));
        assert!(message("config_key=fts(english).x").contains("(fts)"));
        assert!(message("config_key=eq(any).{a,b}").contains("(any)"));
        assert!(message("config_key=between.1").contains("unsupported operator"));
    }

    #[test]
    fn select_aliases_casts_and_json_paths() {
        let (sql, params) = parse(
            "select=key:config_key,version::text,config_value->>type,n:config_value->healthCheck->intervalSecs::int",
        );
        assert!(
            sql.contains(
                "json_build_object(CAST($1 AS text), \"config_key\", 'version', CAST(\"version\" AS text), \
                 CAST($2 AS text), \"config_value\"->>CAST($3 AS text), CAST($4 AS text), \
                 CAST(\"config_value\"->CAST($5 AS text)->CAST($6 AS text) AS integer))"
            ),
            "{sql}"
        );
        assert_eq!(
            params,
            ["key", "type", "type", "n", "healthCheck", "intervalSecs"]
        );
        let (sql, _) = parse("select=*");
        assert!(sql.contains("json_build_object('id', \"id\", 'config_key', \"config_key\""));
        assert!(message("select=version::regclass").contains("unsupported cast ::regclass"));
        assert!(message("select=app_config_history(*)").contains("embedding"));
        assert_eq!(refused("app_config", "select=password").1, "42703");
        assert_eq!(refused("app_config", "select=:version").1, "PGRST100");
    }

    #[test]
    fn order_with_json_paths_and_parameters_in_text_order() {
        let (sql, params) = parse(
            "order=config_value->healthCheck->>intervalSecs.desc.nullslast,version&select=config_value->>type&version=gt.0",
        );
        assert!(sql.contains(
            "ORDER BY \"config_value\"->CAST($4 AS text)->>CAST($5 AS text) DESC NULLS LAST, \"version\""
        ), "{sql}");
        assert_eq!(params, ["0", "type", "type", "healthCheck", "intervalSecs"]);
        assert_eq!(refused("app_config", "order=version.up").1, "PGRST100");
    }

    #[test]
    fn ranges_from_limit_offset_and_the_header() {
        let t = &TABLES[0];
        let r = |q: &str, h: Option<RowRange>| {
            build_select(t, &query_pairs(Some(q)), h, false)
                .unwrap()
                .range
        };
        assert_eq!(
            r("", None),
            RowRange {
                first: 0,
                end: None
            }
        );
        assert_eq!(
            r("limit=10&offset=5", None),
            RowRange {
                first: 5,
                end: Some(15)
            }
        );
        let header = Some(RowRange {
            first: 2,
            end: Some(8),
        });
        assert_eq!(
            r("", header),
            RowRange {
                first: 2,
                end: Some(8)
            }
        );
        assert_eq!(
            r("limit=3&offset=4", header),
            RowRange {
                first: 4,
                end: Some(7)
            }
        );
        let (sql, _) = parse("limit=10&offset=5");
        assert!(sql.ends_with("FROM f LIMIT 10 OFFSET 5) s) p"), "{sql}");
        assert_eq!(
            refused("app_config", "limit=-1"),
            (StatusCode::RANGE_NOT_SATISFIABLE, "PGRST103".into())
        );
        assert_eq!(refused("app_config", "limit=x").1, "PGRST100");
        assert_eq!(refused("app_config", "offset=-1").1, "PGRST100");
        assert_eq!(
            refused("app_config", "offset=9223372036854775808").1,
            "PGRST100"
        );
        let exact = build_select(t, &query_pairs(Some("version=gt.0")), None, true).unwrap();
        assert!(exact.sql.contains("(SELECT count(*) FROM f)"));
        assert_eq!(
            exact.plan_sql,
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM public.\"app_config\" WHERE \"version\" > CAST($1 AS bigint)"
        );
        assert_eq!(exact.filter_params, 1);
    }

    #[test]
    fn filters_for_writes_number_after_existing_parameters() {
        let t = &TABLES[0];
        let mut params = vec!["body".to_owned()];
        let conds = filters(
            t,
            &query_pairs(Some(
                "config_key=eq.k&or=(version.eq.1,version.eq.2)&select=id",
            )),
            &mut params,
        )
        .unwrap();
        assert_eq!(
            conds,
            [
                "\"config_key\" = CAST($2 AS text)",
                "(\"version\" = CAST($3 AS bigint) OR \"version\" = CAST($4 AS bigint))"
            ]
        );
        assert_eq!(params, ["body", "k", "1", "2"]);
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
                "password=eq.1",
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
