//! Horizontal filtering: `field=[not.]op.value` pairs and `or=(…)`/`and=(…)` logic trees, as
//! PostgREST's "Tables and Views" reference lists them
//! (<https://docs.postgrest.org/en/v12/references/api/tables_views.html#horizontal-filtering>).
//!
//! Operators: `eq neq gt gte lt lte` (PostgreSQL's comparison with the value cast to the
//! field's type), `like ilike` (`*` is also `%`), `match imatch` (`~`, `~*`), `in.(a,"b,c")`,
//! `is.(null|not_null|true|false|unknown)`, `isdistinct`, `cs cd` (`@>`, `<@`); `not.` negates
//! any of them; `or`/`and`, nested and negated (`not.or=(…)`, `and(…)` inside, `not.and(…)`).
//! Every value is a bind parameter.

use super::field::{Field, parse_field};
use super::{RESERVED, Table, parse_error};
use crate::rest::error::RestError;

/// The operators refused by name (PostgREST has them; this table has nothing they apply to, or
/// they are not implemented here).
const UNSUPPORTED_OPS: &[&str] = &[
    "fts", "plfts", "phfts", "wfts", "ov", "sl", "sr", "nxr", "nxl", "adj",
];

/// The `WHERE` conditions (to be joined with `AND`) of every filter pair of `q` (`col=op.value`,
/// `or=(…)`, `and=(…)`, `not.or=(…)`, `not.and=(…)`), skipping [`RESERVED`] keys; each value is
/// pushed onto `params` and referenced as `$n` (`n` = its 1-based position in `params`), so
/// callers may push their own parameters before or after. Shared by the table read and the
/// table writes (`PATCH` filters).
///
/// # Errors
/// 400 `42703` for an unknown column, 400 `PGRST100` for a filter that does not parse or an
/// operator that is not supported (the message names it).
pub(in crate::rest) fn filters(
    t: &Table,
    q: &[(String, String)],
    params: &mut Vec<String>,
) -> Result<Vec<String>, RestError> {
    q.iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| top_level(t, k, v, params))
        .collect()
}

/// One query-string pair as a condition.
fn top_level(t: &Table, key: &str, v: &str, params: &mut Vec<String>) -> Result<String, RestError> {
    let (negate, name) = match key.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, key),
    };
    match name {
        "or" | "and" => {
            let inner = parenthesised(v).ok_or_else(|| {
                parse_error(format!(
                    "failed to parse logic tree ({v}): expected {name}=(…)"
                ))
            })?;
            tree(t, negate, name == "and", inner, params)
        }
        _ if negate || (v.starts_with('(') && !t.columns.iter().any(|(c, _)| *c == name)) => {
            Err(unsupported_logic(name))
        }
        _ => {
            let field = parse_field(t, key)?;
            leaf(&field, v, false, params)
        }
    }
}

fn unsupported_logic(name: &str) -> RestError {
    parse_error(format!(
        "unsupported logic operator ({name}); supported: and, or, not.and, not.or"
    ))
}

/// `(c1,c2,…)`'s conditions joined with `AND`/`OR`, negated if asked.
fn tree(
    t: &Table,
    negate: bool,
    and: bool,
    inner: &str,
    params: &mut Vec<String>,
) -> Result<String, RestError> {
    let items = split_top(inner)?;
    if items.iter().all(|i| i.trim().is_empty()) {
        return Err(parse_error(format!(
            "failed to parse logic tree ({inner}): empty"
        )));
    }
    let mut conds = Vec::new();
    for item in items {
        conds.push(tree_item(t, item.trim(), params)?);
    }
    let joined = format!("({})", conds.join(if and { " AND " } else { " OR " }));
    Ok(if negate {
        format!("NOT {joined}")
    } else {
        joined
    })
}

/// One element of a logic tree: a nested `and(…)`/`or(…)` (maybe `not.`), or `field.op.value`.
fn tree_item(t: &Table, item: &str, params: &mut Vec<String>) -> Result<String, RestError> {
    let (negate, body) = match item.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, item),
    };
    if let Some(open) = body.find('(')
        && !body[..open].contains('.')
        && !body[..open].contains("->")
    {
        let name = &body[..open];
        let inner = body[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| parse_error(format!("failed to parse logic tree ({item})")))?;
        return match name {
            "and" | "or" => tree(t, negate, name == "and", inner, params),
            _ => Err(unsupported_logic(name)),
        };
    }
    if negate {
        return Err(parse_error(format!(
            "failed to parse logic tree ({item}): `not.` goes after the column (col.not.eq.1)"
        )));
    }
    let (field, opexpr) = item
        .split_once('.')
        .ok_or_else(|| parse_error(format!("failed to parse logic tree ({item})")))?;
    let field = parse_field(t, field)?;
    leaf(&field, opexpr, true, params)
}

/// Splits `s` at the commas outside double quotes and parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, RestError> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0usize);
    for (i, c) in s.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| parse_error(format!("unbalanced parentheses in ({s})")))?;
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || depth != 0 {
        return Err(parse_error(format!(
            "unbalanced quotes or parentheses in ({s})"
        )));
    }
    out.push(&s[start..]);
    Ok(out)
}

/// `"a\"b"` → `a"b`; anything not wholly quoted is returned as is.
fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if s.len() >= 2 => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => s.to_owned(),
    }
}

/// `[not.]op.value` on `field` as a condition. `in_tree`: the value may be double-quoted (logic
/// trees reserve `,.:()`), as PostgREST reads them.
fn leaf(
    field: &Field,
    opexpr: &str,
    in_tree: bool,
    params: &mut Vec<String>,
) -> Result<String, RestError> {
    let bad = || parse_error(format!("failed to parse filter ({opexpr})"));
    let (mut op, mut val) = opexpr.split_once('.').ok_or_else(bad)?;
    let negate = op == "not";
    if negate {
        (op, val) = val.split_once('.').ok_or_else(bad)?;
    }
    if let Some(open) = op.find('(') {
        let base = &op[..open];
        return Err(if UNSUPPORTED_OPS.contains(&base) {
            unsupported_op(base)
        } else {
            parse_error(format!(
                "unsupported operator modifier in filter ({opexpr}): {}",
                &op[open..]
            ))
        });
    }
    if op == "in" && val == "()" {
        return Ok(if negate { "TRUE" } else { "FALSE" }.to_owned());
    }
    let lhs = field.sql(params);
    let value = |v: &str| if in_tree { unquote(v) } else { v.to_owned() };
    let cmp = |sql_op: &str, ty: &str, params: &mut Vec<String>| {
        params.push(value(val));
        format!("{lhs} {sql_op} CAST(${} AS {ty})", params.len())
    };
    let ty = field.ty();
    let cond = match op {
        "eq" => cmp("=", ty, params),
        "neq" => cmp("<>", ty, params),
        "gt" => cmp(">", ty, params),
        "gte" => cmp(">=", ty, params),
        "lt" => cmp("<", ty, params),
        "lte" => cmp("<=", ty, params),
        "cs" => cmp("@>", ty, params),
        "cd" => cmp("<@", ty, params),
        "isdistinct" => cmp("IS DISTINCT FROM", ty, params),
        "match" => cmp("~", "text", params),
        "imatch" => cmp("~*", "text", params),
        "like" | "ilike" => {
            params.push(value(val).replace('*', "%"));
            let sql_op = if op == "like" { "LIKE" } else { "ILIKE" };
            format!("{lhs} {sql_op} CAST(${} AS text)", params.len())
        }
        "is" => {
            let rhs = match val.to_ascii_lowercase().as_str() {
                "null" => "NULL",
                "not_null" => "NOT NULL",
                "true" => "TRUE",
                "false" => "FALSE",
                "unknown" => "UNKNOWN",
                _ => {
                    return Err(parse_error(format!(
                        "failed to parse filter ({opexpr}): is takes null, not_null, true, false or unknown"
                    )));
                }
            };
            format!("{lhs} IS {rhs}")
        }
        "in" => {
            let list = parenthesised(val).ok_or_else(|| {
                parse_error(format!(
                    "failed to parse filter ({opexpr}): in takes a list, in.(a,b)"
                ))
            })?;
            let mut refs = Vec::new();
            for item in split_top(list)? {
                params.push(unquote(item));
                refs.push(format!("CAST(${} AS {ty})", params.len()));
            }
            format!("{lhs} IN ({})", refs.join(", "))
        }
        o if UNSUPPORTED_OPS.contains(&o) => return Err(unsupported_op(o)),
        _ => {
            return Err(parse_error(format!(
                "unsupported operator in filter ({opexpr}); supported: eq, neq, gt, gte, lt, lte, \
                 like, ilike, match, imatch, in, is, isdistinct, cs, cd, with not."
            )));
        }
    };
    Ok(if negate {
        format!("NOT ({cond})")
    } else {
        cond
    })
}

fn unsupported_op(op: &str) -> RestError {
    parse_error(format!(
        "unsupported operator ({op}): full-text search and range operators are not implemented"
    ))
}

/// What stands between the outer parentheses of `s` (`(a,b)` → `a,b`), as PostgREST writes
/// logic trees and `in` lists; `None` without them.
fn parenthesised(s: &str) -> Option<&str> {
    s.strip_prefix('(').and_then(|s| s.strip_suffix(')'))
}
