//! `GET /rest/v1/`: PostgREST's root endpoint, the OpenAPI (Swagger 2.0) description of what
//! the caller's role may use (PostgREST's default `openapi-mode = follow-privileges`):
//! <https://docs.postgrest.org/en/v12/references/api/openapi.html>.
//!
//! Tables come from [`TABLES`] (definitions with each column's format, paths with `GET` and
//! its filter, `select`, `order`, range and count parameters), functions from [`FUNCTIONS`];
//! which of them the role sees is asked of the database (`has_table_privilege`,
//! `has_function_privilege`), so the document follows the migrations' grants.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::error::RestError;
use super::query::{TABLES, Table};
use super::request::RestRequest;
use crate::AppState;
use crate::db;

/// The columns that are `NOT NULL` (the definitions' `required`), by table.
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "app_config",
        &["id", "config_key", "config_value", "version", "updated_at"],
    ),
    (
        "app_config_history",
        &[
            "id",
            "config_id",
            "config_key",
            "version",
            "op",
            "changed_at",
        ],
    ),
];

/// A function served under `/rest/v1/rpc/`.
struct Function {
    /// Its name in `public`.
    name: &'static str,
    /// Its signature for `has_function_privilege`.
    signature: &'static str,
    /// `(argument, SQL type, required)`.
    args: &'static [(&'static str, &'static str, bool)],
    /// Callable with `GET` (a `STABLE` function).
    get: bool,
}

/// The functions served (see `handlers::call_rpc`).
const FUNCTIONS: &[Function] = &[
    Function {
        name: "get_marketplace_config",
        signature: "public.get_marketplace_config()",
        args: &[],
        get: true,
    },
    Function {
        name: "update_app_config",
        signature: "public.update_app_config(text, jsonb, text, bigint, boolean)",
        args: &[
            ("p_key", "text", true),
            ("p_value", "jsonb", true),
            ("p_reason", "text", false),
            ("p_expected_version", "bigint", false),
            ("p_force", "boolean", false),
        ],
        get: false,
    },
];

/// PostgREST's Swagger `type`/`format` of a PostgreSQL type (`format` is the type's full
/// name; `json`/`jsonb` have no `type`).
fn schema_of(sql_type: &str) -> Value {
    let (ty, format) = match sql_type {
        "uuid" => (Some("string"), "uuid"),
        "text" => (Some("string"), "text"),
        "bigint" => (Some("integer"), "bigint"),
        "boolean" => (Some("boolean"), "boolean"),
        "timestamptz" => (Some("string"), "timestamp with time zone"),
        "jsonb" => (None, "jsonb"),
        other => (Some("string"), other),
    };
    let mut m = Map::new();
    m.insert("format".into(), json!(format));
    if let Some(ty) = ty {
        m.insert("type".into(), json!(ty));
    }
    Value::Object(m)
}

fn definition(t: &Table) -> Value {
    let mut props = Map::new();
    for (c, ty) in t.columns {
        let mut s = schema_of(ty);
        if *c == "id" {
            s["description"] = json!("Note:\nThis is a Primary Key.<pk/>");
        }
        props.insert((*c).to_owned(), s);
    }
    let required = REQUIRED
        .iter()
        .find(|(n, _)| *n == t.name)
        .map_or(&[][..], |(_, r)| *r);
    json!({"required": required, "properties": props, "type": "object"})
}

fn table_path(t: &Table) -> Value {
    let mut params: Vec<Value> = t
        .columns
        .iter()
        .map(|(c, _)| json!({"$ref": format!("#/parameters/rowFilter.{}.{c}", t.name)}))
        .collect();
    for p in [
        "select",
        "order",
        "range",
        "rangeUnit",
        "offset",
        "limit",
        "preferCount",
    ] {
        params.push(json!({"$ref": format!("#/parameters/{p}")}));
    }
    json!({"get": {
        "tags": [t.name],
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "schema": {"items": {"$ref": format!("#/definitions/{}", t.name)}, "type": "array"}},
            "206": {"description": "Partial Content"}
        }
    }})
}

fn function_path(f: &Function) -> Value {
    let mut props = Map::new();
    for (a, ty, _) in f.args {
        props.insert((*a).to_owned(), schema_of(ty));
    }
    let required: Vec<&str> = f
        .args
        .iter()
        .filter(|(_, _, r)| *r)
        .map(|(a, _, _)| *a)
        .collect();
    let tag = format!("(rpc) {}", f.name);
    let mut path = Map::new();
    if f.get {
        path.insert(
            "get".into(),
            json!({"tags": [tag], "produces": ["application/json", "application/vnd.pgrst.object+json"],
                   "responses": {"200": {"description": "OK"}}}),
        );
    }
    path.insert(
        "post".into(),
        json!({"tags": [tag], "produces": ["application/json", "application/vnd.pgrst.object+json"],
               "parameters": [
                   {"required": true, "schema": {"required": required, "type": "object", "properties": props}, "in": "body", "name": "args"},
                   {"$ref": "#/parameters/preferParams"}
               ],
               "responses": {"200": {"description": "OK"}}}),
    );
    Value::Object(path)
}

/// The Swagger 2.0 document over `tables` and `functions` (those the role may use).
fn document(host: Option<&str>, tables: &[&Table], functions: &[&Function]) -> Value {
    let mut paths = Map::new();
    paths.insert(
        "/".into(),
        json!({"get": {"tags": ["Introspection"], "summary": "OpenAPI description (this document)",
                        "produces": ["application/openapi+json", "application/json"],
                        "responses": {"200": {"description": "OK"}}}}),
    );
    let mut definitions = Map::new();
    let q = |name: &str, desc: &str| json!({"name": name, "description": desc, "required": false, "in": "query", "type": "string"});
    let mut parameters = Map::new();
    parameters.insert(
        "preferParams".into(),
        json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["params=single-object"], "in": "header", "type": "string"}),
    );
    parameters.insert(
        "preferCount".into(),
        json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["count=none", "count=exact", "count=planned", "count=estimated"], "in": "header", "type": "string"}),
    );
    parameters.insert("select".into(), q("select", "Filtering Columns"));
    parameters.insert("order".into(), q("order", "Ordering"));
    parameters.insert(
        "range".into(),
        json!({"name": "Range", "description": "Limiting and Pagination", "required": false, "in": "header", "type": "string"}),
    );
    parameters.insert(
        "rangeUnit".into(),
        json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "default": "items", "in": "header", "type": "string"}),
    );
    parameters.insert("offset".into(), q("offset", "Limiting and Pagination"));
    parameters.insert("limit".into(), q("limit", "Limiting and Pagination"));
    for t in tables {
        paths.insert(format!("/{}", t.name), table_path(t));
        definitions.insert(t.name.to_owned(), definition(t));
        for (c, ty) in t.columns {
            let mut p = json!({"name": c, "required": false, "in": "query", "type": "string"});
            p["format"] = schema_of(ty)["format"].clone();
            parameters.insert(format!("rowFilter.{}.{c}", t.name), p);
        }
    }
    for f in functions {
        paths.insert(format!("/rpc/{}", f.name), function_path(f));
    }
    let mut doc = json!({
        "swagger": "2.0",
        "info": {
            "description": "Sourcegate's PostgREST-compatible subset (reads, RPCs).",
            "title": "standard public schema",
            "version": env!("CARGO_PKG_VERSION")
        },
        "basePath": "/rest/v1",
        "schemes": ["http", "https"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json"],
        "produces": ["application/json", "application/vnd.pgrst.object+json"],
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
        "externalDocs": {"description": "PostgREST Documentation", "url": "https://docs.postgrest.org/en/v12/references/api.html"}
    });
    if let Some(h) = host {
        doc["host"] = json!(h);
    }
    doc
}

/// `GET /rest/v1/`: the OpenAPI document of the tables and functions the caller's role may
/// use, `Content-Type: application/openapi+json`.
///
/// # Errors
/// The refusals of every `/rest/v1` route ([`RestRequest`]); a database error.
pub(crate) async fn root(
    State(state): State<AppState>,
    RestRequest { ctx, headers, .. }: RestRequest,
) -> Result<Response, RestError> {
    let mut checks: Vec<String> = TABLES
        .iter()
        .map(|t| format!("has_table_privilege('public.{}', 'SELECT')", t.name))
        .collect();
    checks.extend(
        FUNCTIONS
            .iter()
            .map(|f| format!("has_function_privilege('{}', 'EXECUTE')", f.signature)),
    );
    let sql = format!("SELECT ARRAY[{}]", checks.join(", "));
    let allowed: Vec<bool> = db::in_role(&state.pool, &ctx, move |tx| {
        Box::pin(async move { sqlx::query_scalar(&sql).fetch_one(&mut **tx).await })
    })
    .await
    .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
    let tables: Vec<&Table> = TABLES
        .iter()
        .zip(&allowed)
        .filter(|(_, a)| **a)
        .map(|(t, _)| t)
        .collect();
    let functions: Vec<&Function> = FUNCTIONS
        .iter()
        .zip(allowed.iter().skip(TABLES.len()))
        .filter(|(_, a)| **a)
        .map(|(f, _)| f)
        .collect();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let body = document(host, &tables, &functions).to_string();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openapi+json; charset=utf-8"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_describes_tables_and_functions() {
        let tables: Vec<&Table> = TABLES.iter().collect();
        let functions: Vec<&Function> = FUNCTIONS.iter().collect();
        let doc = document(Some("h:1"), &tables, &functions);
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["host"], "h:1");
        let cv = &doc["definitions"]["app_config"]["properties"]["config_value"];
        assert_eq!(cv, &json!({"format": "jsonb"}));
        assert_eq!(
            doc["definitions"]["app_config_history"]["properties"]["changed_at"],
            json!({"format": "timestamp with time zone", "type": "string"})
        );
        let params = doc["paths"]["/app_config"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert!(params.contains(&json!({"$ref": "#/parameters/rowFilter.app_config.config_key"})));
        assert_eq!(
            doc["parameters"]["rowFilter.app_config.version"]["format"],
            "bigint"
        );
        let body = &doc["paths"]["/rpc/update_app_config"]["post"]["parameters"][0]["schema"];
        assert_eq!(body["required"], json!(["p_key", "p_value"]));
        assert_eq!(body["properties"]["p_force"]["type"], "boolean");
        assert!(doc["paths"]["/rpc/update_app_config"]["get"].is_null());
        assert!(doc["paths"]["/rpc/get_marketplace_config"]["get"].is_object());
    }
}
