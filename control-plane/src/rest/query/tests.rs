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
