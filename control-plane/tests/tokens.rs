//! Token rules end to end: ES256 and RS256 tokens verified against a JWKS served on loopback
//! (Supabase's asymmetric signing keys), alongside the HS256 secret; time claims, lifetime,
//! algorithm confusion and the exact refusal messages on `/v1` and `/rest/v1`; the start rule
//! of a shared deployment.
//!
//! Keys are generated per run with the `openssl` CLI: 0.09–0.15 s of CPU for an RSA-2048 key
//! and under 0.01 s for a P-256 key (`/usr/bin/time openssl genpkey …`), no extra crate to
//! build. The tests panic with a clear message when `openssl` is missing.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sourcegate_control_plane::embedded::testing;
use sourcegate_control_plane::settings::Settings;
use uuid::Uuid;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("these tests generate their keys with the `openssl` CLI: install it");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A signing key of the test and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// SubjectPublicKeyInfo PEM (what an algorithm-confusion attacker uses as an HMAC secret).
    public_pem: Vec<u8>,
}

fn ec_key(kid: &str) -> TestKey {
    let pem = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        b"",
    );
    let der = openssl(&["pkey", "-pubout", "-outform", "DER"], &pem);
    // SubjectPublicKeyInfo of a P-256 key ends with the uncompressed point 04 || x || y.
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 4);
    TestKey {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(&pem).unwrap(),
        jwk: json!({"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..])}),
        public_pem: openssl(&["pkey", "-pubout"], &pem),
    }
}

fn rsa_key(kid: &str) -> TestKey {
    let pem = openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        b"",
    );
    let modulus = String::from_utf8(openssl(&["rsa", "-noout", "-modulus"], &pem)).unwrap();
    let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    TestKey {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(&pem).unwrap(),
        // openssl's default public exponent is 65537.
        jwk: json!({"kty":"RSA","alg":"RS256","use":"sig","kid":kid,"n": b64(&n),"e":"AQAB"}),
        public_pem: openssl(&["pkey", "-pubout"], &pem),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Supabase-shaped claims: `role`, `iat` now, `exp` in ten minutes, admin via `app_metadata`.
fn claims(role: &str, admin: bool) -> Value {
    let mut c = json!({"sub": Uuid::new_v4().to_string(), "role": role, "aud": "authenticated",
        "iat": now(), "exp": now() + 600, "iss": "https://project.supabase.co/auth/v1"});
    if admin {
        c["app_metadata"] = json!({"provider":"email","role":"admin"});
    }
    c
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &key.encoding).unwrap()
}

/// A JWKS endpoint on 127.0.0.1:0 whose keys the test can change, counting its requests.
struct Jwks {
    url: url::Url,
    hits: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<Value>>>,
}

impl Jwks {
    async fn serve(keys: Vec<Value>) -> Jwks {
        let hits = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(Mutex::new(keys));
        let (h, k) = (Arc::clone(&hits), Arc::clone(&keys));
        let app = axum::Router::new().route(
            "/auth/v1/.well-known/jwks.json",
            axum::routing::get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                let doc = json!({"keys": *k.lock().unwrap()});
                async move { axum::Json(doc) }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        Jwks {
            url: format!("http://{addr}/auth/v1/.well-known/jwks.json")
                .parse()
                .unwrap(),
            hits,
            keys,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Asserts a 401 on `/v1` (PUT, `{code:"unauthorized", message}`) and on `/rest/v1` (GET,
/// PostgREST's shape with `code`) with this exact message; nothing changes.
async fn assert_refused(ctx: &Ctx, token: &str, message: &str, pgrst: &str) {
    let before = ctx.get_config().await["version"].clone();
    let r = ctx
        .put(Some(token), json!({"value": cdn_doc(), "force": true}))
        .await;
    assert_eq!(r.status(), 401, "{message}");
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"code":"unauthorized","message":message}));
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", "sb_publishable_test")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "{message}");
    assert_eq!(
        r.headers()["www-authenticate"],
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\"").as_str()
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], pgrst, "{message}");
    assert_eq!(body["message"], message);
    assert_eq!(ctx.get_config().await["version"], before, "{message}");
}

#[tokio::test]
async fn es256_and_rs256_tokens_from_a_jwks_and_every_refusal() {
    let (ec, rsa, other_ec) = (ec_key("ec-1"), rsa_key("rsa-1"), ec_key("ec-1"));
    let (rotated, unpublished) = (ec_key("ec-2"), ec_key("ec-3"));
    let jwks = Jwks::serve(vec![ec.jwk.clone(), rsa.jwk.clone()]).await;
    let url = jwks.url.clone();
    let ctx = start_with(|s| s.jwks_url = Some(url)).await;
    assert_eq!(jwks.hits(), 1, "fetched once at start");

    // ES256 admin (app_metadata.role = admin, read by the database's is_admin()) may write.
    let r = ctx
        .put(
            Some(&sign(&ec, &claims("authenticated", true))),
            json!({"value": cdn_doc(), "reason": "ES256 admin", "force": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(ctx.get_config().await["version"], 2);
    // ES256 non-admin: authenticated, but RLS refuses the write.
    let r = ctx
        .put(
            Some(&sign(&ec, &claims("authenticated", false))),
            json!({"value": cdn_doc(), "force": true}),
        )
        .await;
    assert_eq!(r.status(), 403);
    // RS256 service role reads the history, natively and through PostgREST's API.
    let service = sign(&rsa, &claims("service_role", false));
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/history"))
        .bearer_auth(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config_history?select=version"))
        .header("apikey", "sb_publishable_test")
        .bearer_auth(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap().as_array().unwrap().len(),
        2
    );
    // The HS256 secret keeps working alongside (a different document: an unchanged one is
    // refused as `no_change`).
    let mut second = cdn_doc();
    second["cdnUrl"] = json!("https://cdn2.example.com/");
    assert_eq!(
        ctx.put(Some(&service_token()), json!({"value": second}))
            .await
            .status(),
        200
    );
    let version = ctx.get_config().await["version"].clone();
    assert_eq!(version, 3);

    let t = now();
    let with = |key: &TestKey, patch: Value| {
        let mut c = claims("authenticated", true);
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(key, &c)
    };
    let payload = b64(claims("service_role", false).to_string().as_bytes());
    let alg_none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    // Algorithm confusion: HS256 with the RSA key's kid, "signed" with its public key as the
    // HMAC secret; and an ES256 header naming the RSA key.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(
        &h,
        &claims("service_role", false),
        &EncodingKey::from_secret(&rsa.public_pem),
    )
    .unwrap();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("rsa-1".into());
    let cross = jsonwebtoken::encode(&h, &claims("service_role", false), &ec.encoding).unwrap();
    let cases = [
        (
            sign(&other_ec, &claims("authenticated", true)),
            "token signed with another key",
            "PGRST301",
        ),
        (confused, "token signed with another key", "PGRST301"),
        (cross, "token signed with another key", "PGRST301"),
        (
            with(&rsa, json!({"exp": t - 120})),
            "token expired",
            "PGRST303",
        ),
        (
            with(&ec, json!({"nbf": t + 600})),
            "token not yet valid",
            "PGRST303",
        ),
        (
            with(&ec, json!({"iat": t + 600, "exp": t + 1200})),
            "token issued in the future",
            "PGRST303",
        ),
        (
            with(&ec, json!({"iat": t, "exp": t + 2 * 86400})),
            "token lifetime exceeds the maximum",
            "PGRST303",
        ),
        (alg_none, "unsupported algorithm", "PGRST301"),
        (
            format!(
                "{}.{payload}.c2ln",
                b64(br#"{"alg":"PS256","kid":"rsa-1"}"#)
            ),
            "unsupported algorithm",
            "PGRST301",
        ),
        ("not-a-jwt".to_owned(), "malformed token", "PGRST301"),
        (
            format!("{}.{payload}.c2ln", b64(b"{not json")),
            "malformed token",
            "PGRST301",
        ),
    ];
    for (token, message, pgrst) in &cases {
        assert_refused(&ctx, token, message, pgrst).await;
    }
    // The service key is exempt from the lifetime rule (Supabase's are ten-year keys).
    let mut long = claims("service_role", false);
    long["exp"] = (t + 10 * 365 * 86400).into();
    let r = ctx
        .put(
            Some(&sign(&rsa, &long)),
            json!({"value": cdn_doc(), "force": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(jwks.hits(), 1, "known kids never refetch");

    // Rotation: a key published after start is fetched on its first token, once.
    jwks.keys.lock().unwrap().push(rotated.jwk.clone());
    let r = ctx
        .put(
            Some(&sign(&rotated, &claims("authenticated", true))),
            json!({"value": cdn_doc(), "force": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(jwks.hits(), 2, "an unknown kid refetched the set");
    // Another unknown kid within the minute: refused without fetching again.
    assert_refused(
        &ctx,
        &sign(&unpublished, &claims("authenticated", true)),
        "unknown signing key",
        "PGRST301",
    )
    .await;
    assert_eq!(jwks.hits(), 2, "at most one refetch a minute");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_jwks_does_not_prevent_start() {
    let ec = ec_key("ec-1");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url: url::Url = format!(
        "http://{}/auth/v1/.well-known/jwks.json",
        closed.local_addr().unwrap()
    )
    .parse()
    .unwrap();
    drop(closed);
    let ctx = start_with(|s| s.jwks_url = Some(url)).await;
    assert_eq!(
        ctx.put(
            Some(&service_token()),
            json!({"value": cdn_doc(), "force": true})
        )
        .await
        .status(),
        200,
        "HS256 works without the key set"
    );
    assert_refused(
        &ctx,
        &sign(&ec, &claims("authenticated", true)),
        "unknown signing key: the key set could not be fetched",
        "PGRST301",
    )
    .await;
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn a_shared_deployment_needs_a_shared_verifier() {
    let db = testing::fresh_database().await.unwrap();
    let settings = Settings {
        database_url: Some(db.admin_url.clone()),
        authenticator_url: Some(db.authenticator_url.clone()),
        jwt_secret: None,
        jwks_url: None,
        origin_probes: false,
        ..Settings::default()
    };
    let e = sourcegate_control_plane::spawn(settings.clone())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, sourcegate_control_plane::StartError::NoTokenVerifier),
        "{msg}"
    );
    assert!(
        msg.contains("SOURCEGATE_JWT_SECRET") && msg.contains("SOURCEGATE_JWKS_URL"),
        "{msg}"
    );
    // An empty secret is no secret.
    let e = sourcegate_control_plane::spawn(Settings {
        jwt_secret: Some(String::new()),
        ..settings.clone()
    })
    .await
    .unwrap_err();
    assert!(matches!(
        e,
        sourcegate_control_plane::StartError::NoTokenVerifier
    ));

    // A JWKS alone is enough; HS256 tokens are then refused.
    let ec = ec_key("ec-1");
    let jwks = Jwks::serve(vec![ec.jwk.clone()]).await;
    let server = sourcegate_control_plane::spawn(Settings {
        jwks_url: Some(jwks.url.clone()),
        ..settings
    })
    .await
    .unwrap();
    assert!(server.jwt_secret().is_empty());
    let http = reqwest::Client::new();
    let put = |token: String| {
        http.put(format!(
            "{}/v1/configs/marketplace_source",
            server.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({"value": cdn_doc(), "force": true}))
        .send()
    };
    let r = put(service_token()).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "unsupported algorithm"
    );
    let r = put(sign(&ec, &claims("authenticated", true)))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await;
}
