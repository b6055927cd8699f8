//! Helpers shared by the sandbox's integration tests.
#![allow(dead_code)]

use card_sandbox::{Clock, Sandbox};
use card_transport::{BlockingTransport, HttpResponse, TransportError};
use serde_json::Value;

pub const T0: i64 = 1_700_000_000;

/// A sandbox on a manual clock with no token grace.
pub fn sandbox() -> Sandbox {
    Sandbox::builder()
        .clock(Clock::manual(T0))
        .token_grace(0)
        .build()
}

/// Calls an API over any blocking transport with a token.
pub struct Api<T> {
    pub transport: T,
    pub base: String,
    pub token: String,
}

impl<T: BlockingTransport> Api<T> {
    pub fn new(transport: T, base: &str, token: &str) -> Self {
        Self {
            transport,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    pub fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<HttpResponse, TransportError> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path_and_query))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.into())
            .expect("request");
        self.transport.send(request)
    }

    /// POST `body` to `path?access_token=...` and parse the answer.
    pub fn post(&self, path: &str, body: &str) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = self
            .raw(
                "POST",
                &format!("{path}{sep}access_token={}", self.token),
                body,
            )
            .expect("transport");
        assert_eq!(r.status(), 200, "{path}");
        serde_json::from_slice(r.body()).expect("json")
    }

    /// GET `path_and_query` (the caller adds any token) and parse the answer.
    pub fn get(&self, path_and_query: &str) -> Value {
        let r = self
            .raw("GET", path_and_query, Vec::new())
            .expect("transport");
        serde_json::from_slice(r.body()).expect("json")
    }
}

/// An API over the sandbox itself, with a fresh token.
pub fn api(sandbox: &Sandbox) -> Api<Sandbox> {
    let token = sandbox.issue_token();
    Api::new(sandbox.clone(), "https://api.weixin.qq.com", token.expose())
}

pub fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// Asserts the errcode, showing the answer otherwise.
#[track_caller]
pub fn expect_code(v: &Value, code: i64) {
    assert_eq!(errcode(v), code, "answer: {v}");
}

/// `n` codes starting at `from`: "C0000001", ...
pub fn codes(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("C{i:07}")).collect()
}

pub fn deposit_body(card_id: &str, codes: &[String]) -> String {
    serde_json::json!({"card_id": card_id, "code": codes}).to_string()
}
