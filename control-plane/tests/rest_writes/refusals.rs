//! Refused `/rest/v1` writes: RLS refusing non-admins, and every refusal (validation,
//! filters, `Prefer`, bodies) writing nothing and answering PostgREST's error body.

use super::*;

#[tokio::test]
async fn non_admins_are_refused_and_nothing_is_written() {
    let ctx = start().await;
    let before = table(&ctx).await;
    let history = ctx.history_count().await;
    let claimer = user_metadata_admin(Uuid::new_v4());
    let doc = json!({"config_value": cdn_doc()});

    // A user: RLS hides the rows from UPDATE and DELETE (0 rows, as PostgREST answers) and
    // refuses the INSERT.
    let r = send(
        &ctx,
        Method::PATCH,
        KEY_FILTER,
        Some(&claimer),
        Some("return=representation"),
        Some(doc.clone()),
    )
    .await;
    assert_eq!(r.expect_status(200).await, json!([]));
    let r = send(
        &ctx,
        Method::PATCH,
        KEY_FILTER,
        Some(&claimer),
        None,
        Some(doc.clone()),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = send(
        &ctx,
        Method::DELETE,
        KEY_FILTER,
        Some(&claimer),
        Some("return=representation"),
        None,
    )
    .await;
    assert_eq!(r.expect_status(200).await, json!([]));
    let rls = pgrst(
        "42501",
        "new row violates row-level security policy for table \"app_config\"",
        None,
    );
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&claimer),
        None,
        Some(json!({"config_key": "feature_flags", "config_value": {"a": 1}})),
    )
    .await;
    assert_eq!(r.expect_status(403).await, rls);
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config?on_conflict=config_key",
        Some(&claimer),
        Some("resolution=merge-duplicates"),
        Some(json!([{"config_key": "marketplace_source", "config_value": cdn_doc()}])),
    )
    .await;
    assert_eq!(r.expect(403, "42501").await["hint"], Value::Null);
    // The single-object form (supabase-js `.single()`) does not change that.
    let r = ctx
        .http
        .post(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("accept", "application/vnd.pgrst.object+json")
        .bearer_auth(&claimer)
        .json(&json!({"config_key": "feature_flags", "config_value": {"a": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.expect_status(403).await, rls);

    // Anonymous (publishable key, no JWT): no write privilege at all → 401.
    let denied = pgrst("42501", "permission denied for table app_config", None);
    for (method, path, body) in [
        (Method::PATCH, KEY_FILTER, Some(doc.clone())),
        (Method::DELETE, KEY_FILTER, None),
        (
            Method::POST,
            "/rest/v1/app_config",
            Some(json!({"config_key": "x", "config_value": {}})),
        ),
    ] {
        let r = send(&ctx, method.clone(), path, None, None, body).await;
        assert_eq!(r.expect_status(401).await, denied, "{method}");
    }
    // The Supabase anon JWT as apikey is anonymous too.
    let r = ctx
        .http
        .patch(ctx.url(KEY_FILTER))
        .header("apikey", anon_key())
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.expect_status(401).await, denied);

    assert_eq!(table(&ctx).await, before);
    assert_eq!(ctx.history_count().await, history);
    assert_eq!(ctx.get_config().await["version"], 1);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn refusals_write_nothing_and_carry_postgrest_bodies() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&admin),
        None,
        Some(json!([
            {"config_key": "feature_flags", "config_value": {"a": 1}},
            {"config_key": "limits", "config_value": {"max": 1}}
        ])),
    )
    .await;
    assert_eq!(r.status(), 201);
    let before = table(&ctx).await;
    let history = ctx.history_count().await;

    // What a refusal answers besides its status: its error code, or the whole body.
    enum Want {
        Code(&'static str),
        Body(Value),
    }
    use Want::{Body, Code};
    // (what it shows, method, path, Prefer, body, status, answer)
    type Case = (
        &'static str,
        Method,
        &'static str,
        Option<&'static str>,
        Option<Value>,
        u16,
        Want,
    );
    let upsert = "/rest/v1/app_config?on_conflict=config_key";
    let cases: Vec<Case> = vec![
        (
            "the validator (BEFORE trigger) refuses the document",
            Method::PATCH,
            KEY_FILTER,
            Some("return=representation"),
            Some(json!({"config_value": {"type": "nope"}})),
            422,
            Body(pgrst(
                "PT422",
                "type: type must be one of git, cdn, cloudflare, hybrid, canary",
                Some("field=type"),
            )),
        ),
        (
            "an upsert of an invalid document",
            Method::POST,
            upsert,
            Some("resolution=merge-duplicates"),
            Some(json!({"config_key": "marketplace_source", "config_value": {"type": "git"}})),
            422,
            Body(pgrst(
                "PT422",
                "gitUrl: gitUrl is required for type git",
                Some("field=gitUrl"),
            )),
        ),
        (
            "an unknown column, refused before the database",
            Method::PATCH,
            KEY_FILTER,
            None,
            Some(json!({"config_value": cdn_doc(), "owner": "me"})),
            400,
            Body(pgrst(
                "PGRST204",
                "Could not find the 'owner' column of 'app_config' in the schema cache",
                None,
            )),
        ),
        (
            "an update without a filter (as Supabase's pg-safeupdate refuses it)",
            Method::PATCH,
            "/rest/v1/app_config",
            None,
            Some(json!({"config_value": cdn_doc()})),
            400,
            Body(pgrst("21000", "UPDATE requires a WHERE clause", None)),
        ),
        (
            "a delete without a filter",
            Method::DELETE,
            "/rest/v1/app_config",
            None,
            None,
            400,
            Body(pgrst("21000", "DELETE requires a WHERE clause", None)),
        ),
        (
            "an array for an update",
            Method::PATCH,
            KEY_FILTER,
            None,
            Some(json!([{"config_value": {}}])),
            400,
            Code("PGRST102"),
        ),
        (
            "an upsert repeating a key: PostgreSQL's refusal",
            Method::POST,
            upsert,
            Some("resolution=merge-duplicates"),
            Some(json!([
                {"config_key": "feature_flags", "config_value": {"a": 5}},
                {"config_key": "feature_flags", "config_value": {"a": 6}}
            ])),
            400,
            Body(json!({"code": "21000",
                   "message": "ON CONFLICT DO UPDATE command cannot affect row a second time",
                   "details": null,
                   "hint": "Ensure that no rows proposed for insertion within the same command have duplicate constrained values."})),
        ),
        (
            "mismatched keys in a bulk insert without `columns=`",
            Method::POST,
            "/rest/v1/app_config",
            None,
            Some(json!([{"config_key": "a", "config_value": {}}, {"config_key": "b"}])),
            400,
            Body(pgrst("PGRST102", "All object keys must match", None)),
        ),
        (
            "an unknown table",
            Method::DELETE,
            "/rest/v1/users?id=eq.1",
            None,
            None,
            404,
            Code("PGRST205"),
        ),
        (
            "`limit` on a write",
            Method::DELETE,
            "/rest/v1/app_config?version=gte.1&limit=1",
            None,
            None,
            400,
            Code("PGRST100"),
        ),
        (
            "strict preferences",
            Method::PATCH,
            KEY_FILTER,
            Some("handling=strict, tx=commit"),
            Some(json!({"config_value": cdn_doc()})),
            400,
            Body(pgrst(
                "PGRST122",
                "Invalid preferences given with handling=strict",
                Some("Invalid preferences: tx=commit"),
            )),
        ),
    ];
    for (what, method, path, prefer, body, status, want) in cases {
        let r = send(&ctx, method, path, Some(&admin), prefer, body).await;
        let got = r.status().as_u16();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{what}: {answer}");
        match want {
            Code(code) => assert_eq!(answer["code"], code, "{what}: {answer}"),
            Body(want) => assert_eq!(answer, want, "{what}"),
        }
    }
    // What `send` cannot say: a body that is not JSON, a non-JSON media type, a single object
    // asked for when two rows match (406, and the update is rolled back).
    let r = ctx
        .http
        .patch(ctx.url(KEY_FILTER))
        .header("apikey", "k")
        .header("content-type", "application/json")
        .bearer_auth(&admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.expect_status(400).await,
        pgrst("PGRST102", "Empty or invalid json", None)
    );
    ctx.http
        .post(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("content-type", "text/csv")
        .bearer_auth(&admin)
        .body("config_key\nx")
        .expect(415, "PGRST107")
        .await;
    let r = ctx
        .http
        .patch(ctx.url("/rest/v1/app_config?config_key=neq.marketplace_source"))
        .header("apikey", "k")
        .header("accept", "application/vnd.pgrst.object+json")
        .header("prefer", "return=representation")
        .bearer_auth(&admin)
        .json(&json!({"config_value": {"a": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.expect_status(406).await,
        pgrst(
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            Some("The result contains 2 rows")
        )
    );

    assert_eq!(table(&ctx).await, before);
    assert_eq!(ctx.history_count().await, history);
    ctx.server.shutdown().await;
}
