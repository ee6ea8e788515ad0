use axum::http::HeaderMap;

use super::*;

fn headers(prefer: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for p in prefer {
        h.append("prefer", HeaderValue::from_str(p).unwrap());
    }
    h
}

#[test]
fn prefer_tokens_are_read_and_echoed() {
    let p = prefs(
        &headers(&[
            "return=representation, count=exact",
            "resolution=merge-duplicates",
        ]),
        true,
    )
    .unwrap();
    assert_eq!(p.ret, Return::Representation);
    assert!(p.count);
    assert_eq!(p.resolution, Some(Resolution::Merge));
    assert_eq!(
        p.applied,
        [
            "return=representation",
            "count=exact",
            "resolution=merge-duplicates"
        ]
    );
    // resolution means nothing to an update: not applied, not echoed.
    let p = prefs(&headers(&["resolution=ignore-duplicates"]), false).unwrap();
    assert_eq!(p.resolution, None);
    assert!(p.applied.is_empty());
    assert_eq!(p.ret, Return::Minimal);
}

#[test]
fn strict_handling_refuses_unknown_preferences() {
    let e = prefs(&headers(&["handling=strict, foo, return=minimal"]), true).unwrap_err();
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.body.code.as_deref(), Some("PGRST122"));
    assert_eq!(e.body.details.as_deref(), Some("Invalid preferences: foo"));
    assert!(prefs(&headers(&["foo"]), true).is_ok());
}

#[test]
fn column_lists_accept_postgrest_js_quoting() {
    let t = find_table("app_config").unwrap();
    assert_eq!(
        column_list(
            t,
            "\"config_key\",\"config_value\",config_key",
            unknown_column
        )
        .unwrap(),
        ["config_key", "config_value"]
    );
    let e = column_list(t, "\"nope\"", unknown_column).unwrap_err();
    assert_eq!(e.body.code.as_deref(), Some("PGRST204"));
    assert_eq!(
        e.body.message,
        "Could not find the 'nope' column of 'app_config' in the schema cache"
    );
}
