//! Unit tests of token verification and the key set.

use super::claims::now_unix;
use super::jwks::parse_jwks;
use super::*;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use std::sync::atomic::{AtomicUsize, Ordering};

const S: &[u8] = b"0123456789abcdef0123456789abcdef";

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token with this header and payload and a dummy signature.
fn unsigned(header: serde_json::Value, payload: serde_json::Value) -> String {
    format!("{}.{}.c2ln", b64(&header), b64(&payload))
}

fn hs(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(S),
    )
    .unwrap()
}

#[tokio::test]
async fn round_trip_and_refusals() {
    let v = Verifier::new(Some(S));
    let sub = Uuid::new_v4();
    let t = mint_token(S, &Claims::new(Role::Authenticated, Some(sub), true, 60)).unwrap();
    let ctx = v.verify(&t).await.unwrap();
    assert_eq!(ctx.role, Role::Authenticated);
    assert_eq!(ctx.sub, Some(sub));
    assert!(ctx.claims_json.contains("\"admin\""));
    assert_eq!(verify_token(S, &t).unwrap(), ctx);
    let other = Verifier::new(Some(b"another-secret-another-secret-xx"));
    assert_eq!(other.verify(&t).await, Err(AuthError::WrongKey));
    let mut bad_role = Claims::new(Role::Authenticated, None, false, 60);
    bad_role.role = "postgres".into();
    let t = mint_token(S, &bad_role).unwrap();
    assert_eq!(
        v.verify(&t).await.unwrap_err().to_string(),
        "role \"postgres\" is not allowed"
    );
    for bad in [
        "abc",
        "a.b.c",
        "a.b.c.d",
        "",
        "..",
        &format!("{}.e30.", b64(&serde_json::json!([1]))),
    ] {
        assert_eq!(v.verify(bad).await, Err(AuthError::Malformed), "{bad}");
    }
    // A correctly signed payload that is not JSON; unsigned, the signature fails first
    // (the payload of an unverified token is never parsed).
    let signed = format!("{}.bm90LWpzb24", b64(&serde_json::json!({"alg":"HS256"})));
    let sig = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(S),
        Algorithm::HS256,
    )
    .unwrap();
    assert_eq!(
        v.verify(&format!("{signed}.{sig}")).await,
        Err(AuthError::Malformed)
    );
    assert_eq!(
        v.verify(&format!("{signed}.c2ln")).await,
        Err(AuthError::WrongKey)
    );
}

#[tokio::test]
async fn algorithms_none_and_others_and_missing_verifiers_are_refused() {
    let now = now_unix();
    let p = serde_json::json!({"role":"service_role","exp": now + 60});
    let v = Verifier::new(Some(S));
    for alg in [
        "none", "None", "HS384", "HS512", "RS512", "PS256", "EdDSA", "ES384",
    ] {
        let t = unsigned(serde_json::json!({"alg": alg}), p.clone());
        assert_eq!(
            v.verify(&t).await,
            Err(AuthError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
    // ES256 without a key set, HS256 without a secret (an empty one counts as none).
    let t = unsigned(serde_json::json!({"alg":"ES256","kid":"k"}), p.clone());
    assert_eq!(v.verify(&t).await, Err(AuthError::UnsupportedAlgorithm));
    let no_secret = Verifier::new(Some(b""));
    assert!(!no_secret.has_secret());
    assert_eq!(
        no_secret.verify(&hs(p)).await,
        Err(AuthError::UnsupportedAlgorithm)
    );
}

#[test]
fn time_rules_with_leeway() {
    let v = Verifier::new(Some(S)).with_leeway_secs(30);
    let now = 1_800_000_000;
    let check = |claims: serde_json::Value| {
        let serde_json::Value::Object(m) = claims else {
            unreachable!()
        };
        v.check_claims(m, now).map(|c| c.role)
    };
    let svc = |extra: serde_json::Value| {
        let mut c = serde_json::json!({"role":"service_role","exp": now + 3600});
        for (k, val) in extra.as_object().unwrap() {
            c[k] = val.clone();
        }
        c
    };
    assert_eq!(check(svc(serde_json::json!({}))), Ok(Role::ServiceRole));
    // exp: within the leeway accepted, at the leeway's end refused.
    assert_eq!(
        check(svc(serde_json::json!({"exp": now - 29}))),
        Ok(Role::ServiceRole)
    );
    assert_eq!(
        check(svc(serde_json::json!({"exp": now - 30}))),
        Err(AuthError::Expired)
    );
    assert_eq!(
        check(svc(serde_json::json!({"exp": (now - 120) as f64 + 0.5}))),
        Err(AuthError::Expired)
    );
    // nbf and iat: up to the leeway ahead accepted, beyond refused.
    assert_eq!(
        check(svc(serde_json::json!({"nbf": now + 30}))),
        Ok(Role::ServiceRole)
    );
    assert_eq!(
        check(svc(serde_json::json!({"nbf": now + 31}))),
        Err(AuthError::NotYetValid)
    );
    assert_eq!(
        check(svc(serde_json::json!({"iat": now + 30}))),
        Ok(Role::ServiceRole)
    );
    assert_eq!(
        check(svc(serde_json::json!({"iat": now + 31}))),
        Err(AuthError::IssuedInFuture)
    );
    // Required and typed.
    assert_eq!(
        check(serde_json::json!({"role":"service_role"}))
            .unwrap_err()
            .to_string(),
        "token has no expiry (exp)"
    );
    assert_eq!(
        check(svc(serde_json::json!({"exp": "soon"})))
            .unwrap_err()
            .to_string(),
        "exp claim must be a number"
    );
    assert_eq!(
        check(svc(serde_json::json!({"nbf": true})))
            .unwrap_err()
            .to_string(),
        "nbf claim must be a number"
    );
    // Without leeway the boundary moves.
    let strict = Verifier::new(Some(S)).with_leeway_secs(0);
    let serde_json::Value::Object(m) = svc(serde_json::json!({"nbf": now + 1})) else {
        unreachable!()
    };
    assert_eq!(strict.check_claims(m, now), Err(AuthError::NotYetValid));
}

#[test]
fn lifetime_rule_applies_to_authenticated_tokens_only() {
    let now = 1_800_000_000;
    let v = Verifier::new(Some(S)).with_max_lifetime_secs(3600);
    let check = |v: &Verifier, role: &str, iat: Option<i64>, exp: i64| {
        let mut c = serde_json::json!({"role": role, "exp": exp});
        if let Some(iat) = iat {
            c["iat"] = iat.into();
        }
        let serde_json::Value::Object(m) = c else {
            unreachable!()
        };
        v.check_claims(m, now).map(|c| c.role)
    };
    assert_eq!(
        check(&v, "authenticated", Some(now), now + 3600),
        Ok(Role::Authenticated)
    );
    assert_eq!(
        check(&v, "authenticated", Some(now), now + 3601),
        Err(AuthError::LifetimeTooLong)
    );
    assert_eq!(
        check(&v, "authenticated", None, now + 60),
        Err(AuthError::MissingIssuedAt)
    );
    // Supabase's ten-year project keys: service_role and anon are exempt.
    let ten_years = 10 * 365 * 86400;
    assert_eq!(
        check(&v, "service_role", Some(now), now + ten_years),
        Ok(Role::ServiceRole)
    );
    assert_eq!(
        check(&v, "anon", Some(now), now + ten_years),
        Ok(Role::Anon)
    );
    assert_eq!(
        check(&v, "service_role", None, now + ten_years),
        Ok(Role::ServiceRole)
    );
    // 0: no maximum.
    let unbounded = Verifier::new(Some(S)).with_max_lifetime_secs(0);
    assert_eq!(
        check(&unbounded, "authenticated", None, now + ten_years),
        Ok(Role::Authenticated)
    );
    // The default is 24 h.
    let d = Verifier::new(Some(S));
    assert_eq!(
        check(&d, "authenticated", Some(now), now + 86400),
        Ok(Role::Authenticated)
    );
    assert_eq!(
        check(&d, "authenticated", Some(now), now + 86401),
        Err(AuthError::LifetimeTooLong)
    );
}

#[test]
fn jwks_documents_keep_only_usable_signing_keys() {
    // P-256 point and a small RSA modulus: parsing needs no real key.
    let ec = serde_json::json!({"kty":"EC","crv":"P-256","kid":"ec",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let rsa = serde_json::json!({"kty":"RSA","kid":"rsa","n":"sXch","e":"AQAB","alg":"RS256","use":"sig"});
    let mut wrong_alg = rsa.clone();
    wrong_alg["kid"] = "rsa-ps".into();
    wrong_alg["alg"] = "PS256".into();
    let mut enc = rsa.clone();
    enc["kid"] = "rsa-enc".into();
    enc["use"] = "enc".into();
    let mut no_kid = rsa.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let p384 = serde_json::json!({"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"});
    let oct = serde_json::json!({"kty":"oct","kid":"oct","k":"c2VjcmV0"});
    let odd = serde_json::json!({"kty":"future","kid":"odd"});
    let doc = serde_json::json!({"keys":[ec, rsa, wrong_alg, enc, no_kid, p384, oct, odd]});
    let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
    let mut kids: Vec<_> = keys.keys().cloned().collect();
    kids.sort();
    assert_eq!(kids, ["ec", "rsa"]);
    assert_eq!(keys["ec"].alg, Algorithm::ES256);
    assert_eq!(keys["rsa"].alg, Algorithm::RS256);
    assert!(matches!(parse_jwks(b"[]"), Err(JwksError::Parse(_))));
    assert!(matches!(
        parse_jwks(b"{\"keys\":{}}"),
        Err(JwksError::Parse(_))
    ));
}

/// A loopback JWKS endpoint answering an empty set and counting its requests.
async fn counting_jwks() -> (url::Url, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(serde_json::json!({"keys": []})) }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/jwks.json").parse().unwrap(), hits)
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_a_minute() {
    let (url, hits) = counting_jwks().await;
    let v = Verifier::new(None).with_jwks(url);
    v.prefetch().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let tok = |kid: &str| {
        unsigned(
            serde_json::json!({"alg":"ES256","kid": kid}),
            serde_json::json!({"role":"authenticated","exp": now_unix() + 60}),
        )
    };
    assert_eq!(v.verify(&tok("a")).await, Err(AuthError::UnknownKey));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "an unknown kid refetches");
    assert_eq!(v.verify(&tok("b")).await, Err(AuthError::UnknownKey));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "not twice within the minute"
    );
    // No kid at all: unknown, and no fetch.
    let no_kid = unsigned(serde_json::json!({"alg":"RS256"}), serde_json::json!({}));
    assert_eq!(v.verify(&no_kid).await, Err(AuthError::UnknownKey));
    tokio::time::pause();
    tokio::time::advance(JWKS_REFETCH_INTERVAL - Duration::from_secs(1)).await;
    tokio::time::resume();
    assert_eq!(v.verify(&tok("c")).await, Err(AuthError::UnknownKey));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "59 s later: still not");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::resume();
    assert_eq!(v.verify(&tok("d")).await, Err(AuthError::UnknownKey));
    assert_eq!(hits.load(Ordering::SeqCst), 3, "a minute later: once more");
}

#[tokio::test]
async fn an_unreachable_key_set_is_reported_as_such() {
    // A port that was just free: connection refused, on loopback.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url: url::Url = format!("http://{}/jwks.json", l.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(l);
    let v = Verifier::new(None).with_jwks(url);
    assert!(matches!(v.prefetch().await, Err(JwksError::Http(_))));
    let t = unsigned(
        serde_json::json!({"alg":"RS256","kid":"k"}),
        serde_json::json!({"role":"authenticated","exp": now_unix() + 60}),
    );
    let e = v.verify(&t).await.unwrap_err();
    assert_eq!(e, AuthError::KeySetUnavailable);
    assert_eq!(
        e.to_string(),
        "unknown signing key: the key set could not be fetched"
    );
    assert_eq!(e.pgrst_code(), "PGRST301");
}
