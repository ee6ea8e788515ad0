//! `/rest/v1` reads with PostgREST's filters, `select` (aliases, casts, JSON paths), `order`,
//! ranges, counts and `HEAD`, with our requests and with the `postgrest` crate.

use super::*;

#[tokio::test]
async fn every_filter_operator_selects_the_right_rows() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let all = ["a_key", "b_key", "c,d", "marketplace_source"];
    let cases: &[(&str, &[&str])] = &[
        ("", &all),
        ("version=eq.5", &["b_key"]),
        ("version=neq.5", &["a_key", "c,d", "marketplace_source"]),
        ("version=gt.3", &["b_key", "c,d"]),
        ("version=gte.3", &["a_key", "b_key", "c,d"]),
        ("version=lt.3", &["marketplace_source"]),
        ("version=lte.3", &["a_key", "marketplace_source"]),
        ("config_key=in.(a_key,%22c,d%22)", &["a_key", "c,d"]),
        (
            "config_key=not.in.(a_key,b_key)",
            &["c,d", "marketplace_source"],
        ),
        ("config_key=like.*_key", &["a_key", "b_key"]),
        ("config_key=like.market%25", &["marketplace_source"]),
        ("config_key=ilike.*KEY", &["a_key", "b_key"]),
        ("config_key=match.^[ab]_", &["a_key", "b_key"]),
        ("config_key=imatch.^MARKET", &["marketplace_source"]),
        (
            "updated_by=is.null",
            &["a_key", "b_key", "marketplace_source"],
        ),
        ("updated_by=not.is.null", &["c,d"]),
        (
            "version=isdistinct.5",
            &["a_key", "c,d", "marketplace_source"],
        ),
        ("version=not.eq.5", &["a_key", "c,d", "marketplace_source"]),
        (
            "or=(version.eq.1,version.eq.7)",
            &["c,d", "marketplace_source"],
        ),
        (
            "or=(version.eq.1,and(version.gt.2,config_key.lt.b))",
            &["a_key", "marketplace_source"],
        ),
        ("not.or=(version.eq.1,version.eq.7)", &["a_key", "b_key"]),
        (
            "and=(version.gt.1,not.and(config_key.eq.a_key,version.eq.3))",
            &["b_key", "c,d"],
        ),
        (
            "or=(config_key.eq.%22c,d%22,config_key.eq.b_key)",
            &["b_key", "c,d"],
        ),
        (
            "or=(version.eq.1,version.eq.7)&config_key=neq.c,d",
            &["marketplace_source"],
        ),
        ("config_value=cs.%7B%22type%22:%22cdn%22%7D", &["a_key"]),
        (
            "config_value=cd.%7B%22type%22:%22git%22,%22tags%22:[%22x%22,%22y%22],%22z%22:1%7D",
            &["b_key"],
        ),
        (
            "config_value->>type=eq.git",
            &["b_key", "marketplace_source"],
        ),
        ("config_value->healthCheck->>intervalSecs=eq.30", &["a_key"]),
        ("config_value->healthCheck->intervalSecs=lt.10", &["c,d"]),
        ("config_value->tags->>0=eq.x", &["b_key"]),
        (
            "or=(config_value->>type.eq.cdn,config_value->>type.eq.hybrid)",
            &["a_key", "c,d"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(keys(&ctx, filter).await, *want, "{filter}");
    }
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn select_aliases_casts_json_paths_and_order() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let (s, _, rows) = rest_get(
        &ctx,
        "app_config?select=key:config_key,v:version::text,config_value->>type,interval:config_value->healthCheck->intervalSecs&order=version.desc&limit=2",
        &[],
    )
    .await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(
        rows,
        json!([
            {"key": "c,d", "v": "7", "type": "hybrid", "interval": 5},
            {"key": "b_key", "v": "5", "type": "git", "interval": null}
        ])
    );
    // Order by a JSON path, nulls last, then by key.
    let (_, _, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=config_value->healthCheck->intervalSecs.desc.nullslast,config_key",
        &[],
    )
    .await;
    assert_eq!(
        rows,
        json!([{"config_key": "a_key"}, {"config_key": "c,d"}, {"config_key": "b_key"}, {"config_key": "marketplace_source"}])
    );
    let (_, _, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=version&offset=1&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        rows,
        json!([{"config_key": "a_key"}, {"config_key": "b_key"}])
    );
    // An alias or key holding quotes is data, not SQL.
    let (s, _, rows) = rest_get(
        &ctx,
        "app_config?select=a%22b%27c:config_key&config_key=eq.a_key",
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(rows, json!([{"a\"b'c": "a_key"}]));
    let (s, _, e) = rest_get(&ctx, "app_config?select=version::regclass", &[]).await;
    assert_eq!(s, 400);
    assert_eq!(e["code"], "PGRST100");
    assert!(e["message"].as_str().unwrap().contains("::regclass"), "{e}");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn counts_ranges_and_head() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let range = |h: &reqwest::header::HeaderMap| h["content-range"].to_str().unwrap().to_owned();
    let n = |v: &Value| v.as_array().unwrap().len();
    // What a case checks of the rows besides status and `Content-Range`.
    enum Rows {
        Any,
        Len(usize),
        Exactly(Value),
    }
    use Rows::{Any, Exactly, Len};
    let keys = |ks: &[&str]| Exactly(ks.iter().map(|k| json!({ "config_key": k })).collect());
    // (query, request headers, status, Content-Range, rows)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str, Rows);
    let cases: Vec<Case> = vec![
        // No count asked: the total is `*`, status 200 even for a partial page.
        (
            "app_config?order=version&limit=2",
            &[],
            200,
            "0-1/*",
            Len(2),
        ),
        (
            "app_config?order=version&limit=2",
            &[("prefer", "count=exact")],
            206,
            "0-1/4",
            Len(2),
        ),
        (
            "app_config",
            &[("prefer", "return=minimal, count=exact")],
            200,
            "0-3/4",
            Any,
        ),
        (
            "app_config?version=gt.2",
            &[("prefer", "count=estimated")],
            200,
            "0-2/3",
            Any,
        ),
        // Empty results.
        (
            "app_config?version=gt.100",
            &[("prefer", "count=exact")],
            200,
            "*/0",
            Exactly(json!([])),
        ),
        ("app_config?version=gt.100", &[], 200, "*/*", Any),
        // Range header, intersected with limit/offset.
        (
            "app_config?select=config_key&order=version",
            &[
                ("range-unit", "items"),
                ("range", "1-2"),
                ("prefer", "count=exact"),
            ],
            206,
            "1-2/4",
            keys(&["a_key", "b_key"]),
        ),
        (
            "app_config?select=config_key&order=version",
            &[("range", "2-")],
            200,
            "2-3/*",
            keys(&["b_key", "c,d"]),
        ),
        (
            "app_config?select=config_key&order=version&limit=2",
            &[("range", "0-5")],
            200,
            "0-1/*",
            keys(&["marketplace_source", "a_key"]),
        ),
        // limit=0 bypasses the header.
        (
            "app_config?limit=0",
            &[("range", "1-2"), ("prefer", "count=exact")],
            206,
            "*/4",
            Exactly(json!([])),
        ),
        // Offset at the end: 206 and `*`.
        (
            "app_config?offset=4",
            &[("prefer", "count=exact")],
            206,
            "*/4",
            Any,
        ),
    ];
    for (query, headers, status, want_range, want_rows) in cases {
        let (s, h, rows) = rest_get(&ctx, query, headers).await;
        assert_eq!(
            (s, range(&h).as_str()),
            (status, want_range),
            "{query} {headers:?}"
        );
        match want_rows {
            Any => {}
            Len(want) => assert_eq!(n(&rows), want, "{query} {headers:?}"),
            Exactly(want) => assert_eq!(rows, want, "{query} {headers:?}"),
        }
    }
    // Planned: the planner's estimate, whatever it is, is a number.
    let (s, h, _) = rest_get(&ctx, "app_config", &[("prefer", "count=planned")]).await;
    assert!(s == 200 || s == 206, "{s}");
    let total = range(&h).rsplit_once('/').unwrap().1.to_owned();
    assert!(total.parse::<u64>().is_ok(), "{total}");
    // A header disjoint from limit/offset is refused.
    let (s, _, e) = rest_get(&ctx, "app_config?limit=1", &[("range", "2-")]).await;
    assert_eq!((s, e["code"].as_str()), (416, Some("PGRST103")));
    // Offset beyond the end: 416 PGRST103.
    let (s, h, e) = rest_get(&ctx, "app_config?offset=5", &[("prefer", "count=exact")]).await;
    assert_eq!((s, range(&h).as_str()), (416, "*/4"));
    assert_eq!(
        e,
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "An offset of 5 was requested, but there are only 4 rows.", "hint": null})
    );
    let (s, _, e) = rest_get(&ctx, "app_config", &[("range", "3-1")]).await;
    assert_eq!(s, 416);
    assert_eq!(
        e,
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "The lower boundary must be lower than or equal to the upper boundary in the Range header.", "hint": null})
    );
    let (s, _, e) = rest_get(&ctx, "app_config?limit=-1", &[]).await;
    assert_eq!(s, 416);
    assert_eq!(
        e["details"],
        "Limit should be greater than or equal to zero."
    );
    // HEAD: the same headers, no body.
    let r = ctx
        .http
        .head(ctx.url("/rest/v1/app_config?version=gt.2"))
        .header("apikey", "k")
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-range"], "0-2/3");
    assert!(r.bytes().await.unwrap().is_empty());
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn postgrest_crate_filters_ranges_and_counts() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let client = postgrest::Postgrest::new(ctx.url("/rest/v1")).insert_header("apikey", anon_key());
    let keys_of = |text: &str| -> Vec<String> {
        serde_json::from_str::<Value>(text)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["config_key"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = client
        .from("app_config")
        .select("config_key")
        .or("version.eq.1,config_value->>type.eq.cdn")
        .not("in", "config_key", "(b_key)")
        .order("config_key")
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        keys_of(&r.text().await.unwrap()),
        ["a_key", "marketplace_source"]
    );
    let r = client
        .from("app_config")
        .select("config_key")
        .like("config_key", "*_key")
        .cs("config_value", r#"{"type":"git"}"#)
        .execute()
        .await
        .unwrap();
    assert_eq!(keys_of(&r.text().await.unwrap()), ["b_key"]);
    // exact_count asks `Range: 0-0`; range() then asks rows 1-2.
    let r = client
        .from("app_config")
        .select("config_key")
        .order("version")
        .exact_count()
        .range(1, 2)
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "1-2/4");
    assert_eq!(keys_of(&r.text().await.unwrap()), ["a_key", "b_key"]);
    // HEAD ignores `Range`, as PostgREST does (RFC 9110: Range is for GET).
    let r = ctx
        .http
        .head(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("range", "0-0")
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["content-range"].to_str().unwrap()
        ),
        (200, "0-3/4")
    );
    ctx.server.shutdown().await;
}
