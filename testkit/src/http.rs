//! Request assertions shared by the HTTP tests: send, check the status and the stable error
//! `code` of the JSON body, and hand back the body, in one call.
//!
//! ```no_run
//! # async fn demo(base: &str) {
//! use sourcegate_testkit::http::Expect as _;
//! let http = reqwest::Client::new();
//! let e = http
//!     .get(format!("{base}/v1/configs/nope"))
//!     .expect(404, "not_found")
//!     .await;
//! assert!(e["message"].is_string());
//! # }
//! ```

use std::future::Future;

/// What a test expects of an answer. Implemented for a request not yet sent
/// (`reqwest::RequestBuilder`, sent first) and for an answer (`reqwest::Response`).
pub trait Expect: Sized {
    /// Asserts that the answer has HTTP `status` and a JSON body whose `code` is `code`, and
    /// returns the body.
    ///
    /// # Panics
    /// When the request fails, the status differs, the body is not JSON or its `code` differs;
    /// the message shows the body.
    fn expect(self, status: u16, code: &str) -> impl Future<Output = serde_json::Value> + Send;

    /// Asserts that the answer has HTTP `status` and returns its body as JSON (`null` when it
    /// is not JSON).
    ///
    /// # Panics
    /// When the request fails or the status differs; the message shows the body.
    fn expect_status(self, status: u16) -> impl Future<Output = serde_json::Value> + Send;
}

/// The status and the body of `resp` (the body as JSON, `null` when it is not), and its text.
async fn read(resp: reqwest::Response) -> (u16, serde_json::Value, String) {
    let status = resp.status().as_u16();
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => panic!("reading the body of a {status} answer: {e}"),
    };
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json, text)
}

fn check(
    status: u16,
    want: u16,
    code: Option<&str>,
    json: serde_json::Value,
    text: &str,
) -> serde_json::Value {
    assert_eq!(status, want, "status (body: {text})");
    if let Some(code) = code {
        assert_eq!(json["code"], code, "error code (body: {text})");
    }
    json
}

impl Expect for reqwest::Response {
    async fn expect(self, status: u16, code: &str) -> serde_json::Value {
        let (got, json, text) = read(self).await;
        check(got, status, Some(code), json, &text)
    }

    async fn expect_status(self, status: u16) -> serde_json::Value {
        let (got, json, text) = read(self).await;
        check(got, status, None, json, &text)
    }
}

impl Expect for reqwest::RequestBuilder {
    async fn expect(self, status: u16, code: &str) -> serde_json::Value {
        match self.send().await {
            Ok(resp) => resp.expect(status, code).await,
            Err(e) => panic!("request failed: {e}"),
        }
    }

    async fn expect_status(self, status: u16) -> serde_json::Value {
        match self.send().await {
            Ok(resp) => resp.expect_status(status).await,
            Err(e) => panic!("request failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_and_code_are_checked_and_the_body_returned() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::CONFLICT,
                    axum::Json(serde_json::json!({"code": "no_change", "message": "m"})),
                )
            }),
        );
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(tcp, app).await });
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/");
        let e = http.get(&url).expect(409, "no_change").await;
        assert_eq!(e["message"], "m");
        let e = http
            .get(&url)
            .send()
            .await
            .unwrap()
            .expect_status(409)
            .await;
        assert_eq!(e["code"], "no_change");
    }
}
