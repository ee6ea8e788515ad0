//! Table writes under `/rest/v1/{table}`: `PATCH` (update), `POST` (insert, upsert) and
//! `DELETE`, as PostgREST runs them and supabase-js sends them
//! (`from(t).update(v).eq(..)`, `.insert(v)`, `.upsert(v, {onConflict})`, `.delete().eq(..)`).
//!
//! Each request is one statement in one transaction as the caller's role with its claims
//! ([`db::begin_as`]): grants and RLS decide who may write, and the table's triggers validate,
//! version, stamp, audit and notify exactly as for the RPC. Nothing here re-implements a rule of
//! the database.
//!
//! Statements follow PostgREST's shape: the body is one JSON parameter read with
//! `json_populate_record(set)` (so PostgreSQL converts each value to its column's type), the
//! filters come from [`super::query::filters`], and the affected rows are read back from a
//! data-modifying CTE:
//!
//! ```sql
//! WITH pgrst_source AS (UPDATE public."app_config" SET "config_value" = (SELECT _."config_value"
//!        FROM json_populate_record(NULL::public."app_config", $1::json) _)
//!      WHERE "config_key" = CAST($2 AS text) RETURNING public."app_config".*)
//! SELECT <rows as JSON>, <row count>, <keys written>
//! ```

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::RestError;
use super::handlers::json_response;
use super::query::{Table, filters, find_table};
use super::request::RestRequest;
use crate::AppState;
use crate::db;
use prefs::{Prefs, Resolution, Return, prefs};

/// PostgREST's answer to a payload (or `columns=`) naming a column the table lacks.
fn unknown_column(t: &Table, col: &str) -> RestError {
    RestError::new(
        StatusCode::BAD_REQUEST,
        "PGRST204",
        format!(
            "Could not find the '{col}' column of '{}' in the schema cache",
            t.name
        ),
    )
}

fn invalid_json() -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json")
}

/// A column of `t` by name, or `err(name)`.
fn column_of(
    t: &'static Table,
    name: &str,
    err: impl Fn(&Table, &str) -> RestError,
) -> Result<&'static str, RestError> {
    t.columns
        .iter()
        .find(|(c, _)| *c == name)
        .map(|(c, _)| *c)
        .ok_or_else(|| err(t, name))
}

/// A comma-separated column list (`columns=`, `on_conflict=`), names optionally double-quoted
/// as postgrest-js writes them.
fn column_list(
    t: &'static Table,
    v: &str,
    err: impl Fn(&Table, &str) -> RestError + Copy,
) -> Result<Vec<&'static str>, RestError> {
    let mut out = Vec::new();
    for name in v.split(',').map(|s| s.trim().trim_matches('"')) {
        if name.is_empty() {
            continue;
        }
        let c = column_of(t, name, err)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

fn no_such_column(t: &Table, col: &str) -> RestError {
    RestError::new(
        StatusCode::BAD_REQUEST,
        "42703",
        format!("column {}.{} does not exist", t.name, col),
    )
}

/// The value of the first `key=` pair of `q`.
fn param<'q>(q: &'q [(String, String)], key: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The columns of the returned representation (`select=`; all when absent or `*`).
fn select_list(t: &'static Table, q: &[(String, String)]) -> Result<String, RestError> {
    let mut cols: Vec<&str> = Vec::new();
    if let Some(v) = param(q, "select") {
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                cols.extend(t.columns.iter().map(|(c, _)| *c));
            } else {
                cols.push(column_of(t, item, no_such_column)?);
            }
        }
    }
    if cols.is_empty() {
        cols.extend(t.columns.iter().map(|(c, _)| *c));
    }
    Ok(cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", "))
}

/// `limit`, `offset` and `order` shape reads only here: a write that carries them is refused
/// rather than run on more rows than asked for.
fn refuse_read_options(q: &[(String, String)]) -> Result<(), RestError> {
    if let Some((k, _)) = q
        .iter()
        .find(|(k, _)| matches!(k.as_str(), "limit" | "offset" | "order"))
    {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            format!("'{k}' is not supported on writes by this endpoint"),
        )
        .details("limited or ordered updates and deletes are not implemented"));
    }
    Ok(())
}

/// pg-safeupdate's refusal, which Supabase loads for its API roles: a `PATCH` or `DELETE`
/// without a filter would touch every row RLS lets through.
fn requires_where(verb: &str) -> RestError {
    RestError::new(
        StatusCode::BAD_REQUEST,
        "21000",
        format!("{verb} requires a WHERE clause"),
    )
}

/// What the mutation returned.
struct Written {
    /// The affected rows, a JSON array (the `select=` columns).
    json: String,
    /// How many rows were affected.
    count: i64,
    /// The primary key (`id`) of the first row, for `Location`.
    first_id: Option<String>,
}

/// A database error of a write in PostgREST's shape: as [`RestError::from_db`], except two
/// refusals of the request's own payload that PostgREST answers 400 with PostgreSQL's message,
/// DETAIL and HINT (its default status), where the shared classifier would hide them as a 500:
/// `428C9`, a value for a `GENERATED ALWAYS` column (e.g. `id` of `app_config_history`, raised
/// while the statement is rewritten, before any privilege check), and `21000`, an upsert whose
/// rows repeat a conflict key ("ON CONFLICT DO UPDATE command cannot affect row a second time").
fn write_error(e: sqlx::Error, authed: bool) -> RestError {
    if let Some(pg) = e
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        .filter(|pg| matches!(pg.code(), "428C9" | "21000"))
    {
        let mut r = RestError::new(StatusCode::BAD_REQUEST, pg.code(), pg.message());
        r.body.details = pg.detail().map(str::to_owned);
        r.body.hint = pg.hint().map(str::to_owned);
        return r;
    }
    RestError::from_db(e, authed)
}

/// A mutation to run (see [`run`]).
struct Statement {
    /// `INSERT`/`UPDATE`/`DELETE … RETURNING public."t".*`.
    mutation: String,
    /// A `SELECT config_key …` of the rows before the change, when keys may be renamed.
    old_keys: Option<String>,
    /// The text bind parameters (`$1`, `$2`, …).
    params: Vec<String>,
}

impl Statement {
    /// `mutation` with its bind parameters, and no rename to follow.
    fn new(mutation: String, params: Vec<String>) -> Statement {
        Statement {
            mutation,
            old_keys: None,
            params,
        }
    }
}

/// Runs `mutation` (a statement ending in `RETURNING public."t".*`) in one transaction as the
/// caller's role, reads back the rows, and commits, unless a single object was asked for and
/// the statement did not affect exactly one row (then it is rolled back: 406 `PGRST116`, as
/// PostgREST). `old_keys` is an optional `SELECT config_key …` of the rows before the change
/// (same snapshot) so a renamed or deleted key is refreshed too. After commit, the in-memory
/// snapshots of every key touched are re-read, as after an RPC write (the NOTIFY sent by the
/// trigger reaches the listener too).
async fn run(
    state: &AppState,
    ctx: &crate::auth::AuthContext,
    t: &'static Table,
    stmt: Statement,
    select: &str,
    single: bool,
) -> Result<Written, RestError> {
    let Statement {
        mutation,
        old_keys,
        params,
    } = stmt;
    let keys_sql = if t.name == "app_config" {
        match &old_keys {
            Some(old) => format!(
                "coalesce((SELECT array_agg(DISTINCT k) FROM (SELECT config_key AS k FROM pgrst_source \
                 UNION SELECT config_key FROM ({old}) o) ks), '{{}}')"
            ),
            None => {
                "coalesce((SELECT array_agg(DISTINCT config_key) FROM pgrst_source), '{}')".into()
            }
        }
    } else {
        "'{}'::text[]".into()
    };
    let sql = format!(
        "WITH pgrst_source AS ({mutation}) \
         SELECT coalesce((SELECT json_agg(_s) FROM (SELECT {select} FROM pgrst_source) _s), '[]'::json)::text, \
                (SELECT count(*) FROM pgrst_source), \
                (SELECT id::text FROM pgrst_source LIMIT 1), \
                {keys_sql}"
    );
    let authed = ctx.is_authenticated();
    let mut tx = db::begin_as(&state.pool, ctx)
        .await
        .map_err(|e| RestError::from_db(e, authed))?;
    let mut query = sqlx::query_as::<_, (String, i64, Option<String>, Vec<String>)>(&sql);
    for p in &params {
        query = query.bind(p);
    }
    let (json, count, first_id, keys) = query
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| write_error(e, authed))?;
    if single && count != 1 {
        tx.rollback()
            .await
            .map_err(|e| RestError::from_db(e, authed))?;
        return Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
        )
        .details(format!("The result contains {count} rows")));
    }
    tx.commit()
        .await
        .map_err(|e| RestError::from_db(e, authed))?;
    for k in &keys {
        state.hub.refresh_key(&state.pool, k).await;
    }
    Ok(Written {
        json,
        count,
        first_id,
    })
}

/// The answer to a write: status, body, `Content-Range`, `Preference-Applied`, `Location`.
fn respond(
    t: &Table,
    p: &Prefs,
    w: Written,
    insert: bool,
    single: bool,
) -> Result<Response, RestError> {
    let mut resp = if p.ret == Return::Representation {
        let status = if insert {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let body = if single {
            let v: serde_json::Value = serde_json::from_str(&w.json).map_err(|_| {
                RestError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST000",
                    "internal error",
                )
            })?;
            v.get(0).cloned().unwrap_or_default().to_string()
        } else {
            w.json
        };
        json_response(status, body, single)
    } else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = if insert {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        };
        r
    };
    let total = if p.count {
        w.count.to_string()
    } else {
        "*".to_owned()
    };
    let range = if insert || w.count == 0 {
        format!("*/{total}")
    } else {
        format!("0-{}/{total}", w.count - 1)
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&range) {
        h.insert(header::CONTENT_RANGE, v);
    }
    if !p.applied.is_empty()
        && let Ok(v) = HeaderValue::from_str(&p.applied.join(", "))
    {
        h.insert("preference-applied", v);
    }
    if insert
        && p.ret == Return::HeadersOnly
        && w.count == 1
        && let Some(id) = &w.first_id
    {
        let loc: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id", &format!("eq.{id}"))
            .finish();
        if let Ok(v) = HeaderValue::from_str(&format!("/{}?{loc}", t.name)) {
            h.insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

/// What every table write checks and reads before its statement.
pub(crate) struct Prepared {
    /// The decoded query string.
    q: Vec<(String, String)>,
    /// The caller, from the key and the JWT.
    ctx: crate::auth::AuthContext,
    /// The table written.
    t: &'static Table,
    /// The `Prefer` header.
    p: Prefs,
    /// `Accept: application/vnd.pgrst.object+json`.
    single: bool,
    /// The `RETURNING` select list (`select=`).
    select: String,
    /// A `POST`: the answer is 201 Created.
    insert: bool,
}

impl Prepared {
    /// Runs `stmt` as the caller ([`run`]) and answers as `Prefer` asks ([`respond`]; 201 for
    /// an insert).
    async fn execute(&self, state: &AppState, stmt: Statement) -> Result<Response, RestError> {
        let w = run(state, &self.ctx, self.t, stmt, &self.select, self.single).await?;
        respond(self.t, &self.p, w, self.insert, self.single)
    }
}

/// The checks of a table write after those of [`RestRequest`], in PostgREST's order: the table,
/// `Prefer` (`insert` allows `resolution=`), no read options, and `select=`.
fn prepare(req: RestRequest, table: &str, insert: bool) -> Result<Prepared, RestError> {
    let t = find_table(table)?;
    let p = prefs(&req.headers, insert)?;
    refuse_read_options(&req.q)?;
    let single = req.wants_object();
    let select = select_list(t, &req.q)?;
    Ok(Prepared {
        q: req.q,
        ctx: req.ctx,
        t,
        p,
        single,
        select,
        insert,
    })
}

/// A table write past every check ([`RestRequest`], then [`prepare`]; a `POST` is an insert).
/// Rejections: axum's own for a path that does not decode, else the [`RestError`] of the first
/// check that fails.
impl FromRequestParts<AppState> for Prepared {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(table) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = RestRequest::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let insert = req.method == Method::POST;
        prepare(req, &table, insert).map_err(IntoResponse::into_response)
    }
}

/// The body as JSON (`PGRST102` when it is empty or not JSON).
fn parse_body(body: &Bytes) -> Result<serde_json::Value, RestError> {
    serde_json::from_slice(body).map_err(|_| invalid_json())
}

/// `PATCH /rest/v1/{table}?<filters>`: updates the rows the filters (and RLS) select with the
/// body's columns. 204, or 200 with the rows for `return=representation`; 0 rows is not an
/// error (an update RLS hides is an update of nothing, as in PostgREST).
pub(crate) async fn update_table(
    State(state): State<AppState>,
    pr: Prepared,
    body: Bytes,
) -> Result<Response, RestError> {
    let (q, t, p) = (&pr.q, pr.t, &pr.p);
    let serde_json::Value::Object(obj) = parse_body(&body)? else {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST102",
            "Invalid body: an update takes one JSON object of the columns to set",
        ));
    };
    let cols: Vec<&'static str> = match param(q, "columns") {
        Some(v) => column_list(t, v, unknown_column)?,
        None => obj
            .keys()
            .map(|k| column_of(t, k, unknown_column))
            .collect::<Result<_, _>>()?,
    };
    let mut params = vec![body_text(&serde_json::Value::Object(obj))];
    let conds = filters(t, q, &mut params)?;
    if conds.is_empty() {
        return Err(requires_where("UPDATE"));
    }
    if cols.is_empty() {
        // PostgREST: an empty update changes nothing and answers as for zero rows.
        return respond(
            t,
            p,
            Written {
                json: "[]".into(),
                count: 0,
                first_id: None,
            },
            false,
            false,
        );
    }
    let set = cols
        .iter()
        .map(|c| {
            format!(
                "\"{c}\" = (SELECT _.\"{c}\" FROM json_populate_record(NULL::public.\"{t}\", $1::json) _)",
                t = t.name
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let where_sql = conds.join(" AND ");
    let mutation = format!(
        "UPDATE public.\"{t}\" SET {set} WHERE {where_sql} RETURNING public.\"{t}\".*",
        t = t.name
    );
    let old = (t.name == "app_config" && cols.contains(&"config_key")).then(|| {
        format!(
            "SELECT config_key FROM public.\"{}\" WHERE {where_sql}",
            t.name
        )
    });
    let stmt = Statement {
        old_keys: old,
        ..Statement::new(mutation, params)
    };
    pr.execute(&state, stmt).await
}

/// The JSON text of a body value, as PostgreSQL's `json` input reads it.
fn body_text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// `POST /rest/v1/{table}`: inserts an object or an array of objects; with
/// `Prefer: resolution=merge-duplicates|ignore-duplicates`, an upsert on `?on_conflict=`
/// (default: the primary key). 201, with the rows for `return=representation`.
pub(crate) async fn insert_table(
    State(state): State<AppState>,
    pr: Prepared,
    body: Bytes,
) -> Result<Response, RestError> {
    let (q, t, p) = (&pr.q, pr.t, &pr.p);
    let rows = match parse_body(&body)? {
        serde_json::Value::Array(rows) => rows,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST102",
                "Invalid body: an insert takes a JSON object or an array of objects",
            ));
        }
    };
    let mut objects = Vec::with_capacity(rows.len());
    for r in &rows {
        match r {
            serde_json::Value::Object(o) => objects.push(o),
            _ => {
                return Err(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST102",
                    "Invalid body: every element of the array must be a JSON object",
                ));
            }
        }
    }
    let cols: Vec<&'static str> = match param(q, "columns") {
        Some(v) => column_list(t, v, unknown_column)?,
        None => {
            let first: Vec<&String> = objects
                .first()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            if objects
                .iter()
                .any(|o| o.len() != first.len() || first.iter().any(|k| !o.contains_key(*k)))
            {
                return Err(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST102",
                    "All object keys must match",
                ));
            }
            first
                .iter()
                .map(|k| column_of(t, k, unknown_column))
                .collect::<Result<_, _>>()?
        }
    };
    let list = cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let target = if cols.is_empty() {
        String::new()
    } else {
        format!(" ({list})")
    };
    let mut mutation = format!(
        "INSERT INTO public.\"{t}\"{target} SELECT {list} FROM json_populate_recordset(NULL::public.\"{t}\", $1::json) _",
        t = t.name
    );
    if let Some(res) = p.resolution {
        let conflict = match param(q, "on_conflict") {
            Some(v) => column_list(t, v, no_such_column)?,
            None => vec!["id"],
        };
        if conflict.is_empty() {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST100",
                "on_conflict names no column",
            ));
        }
        let conflict = conflict
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let action = match res {
            Resolution::Merge if !cols.is_empty() => format!(
                "DO UPDATE SET {}",
                cols.iter()
                    .map(|c| format!("\"{c}\" = EXCLUDED.\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "DO NOTHING".to_owned(),
        };
        mutation.push_str(&format!(" ON CONFLICT ({conflict}) {action}"));
    }
    mutation.push_str(&format!(" RETURNING public.\"{}\".*", t.name));
    let params = vec![body_text(&serde_json::Value::Array(rows))];
    pr.execute(&state, Statement::new(mutation, params)).await
}

/// `DELETE /rest/v1/{table}?<filters>`: deletes the rows the filters (and RLS) select. 204, or
/// 200 with the deleted rows for `return=representation`. A `DELETE` without a filter is
/// refused (400 `21000`), as Supabase's pg-safeupdate refuses it.
pub(crate) async fn delete_table(
    State(state): State<AppState>,
    pr: Prepared,
) -> Result<Response, RestError> {
    let (q, t) = (&pr.q, pr.t);
    let mut params = Vec::new();
    let conds = filters(t, q, &mut params)?;
    if conds.is_empty() {
        return Err(requires_where("DELETE"));
    }
    let mutation = format!(
        "DELETE FROM public.\"{t}\" WHERE {} RETURNING public.\"{t}\".*",
        conds.join(" AND "),
        t = t.name
    );
    pr.execute(&state, Statement::new(mutation, params)).await
}

mod prefs;
#[cfg(test)]
mod tests;
