//! Transports for tests: yours as well as ours. Always compiled, no feature needed.
//!
//! * [`ReplayTransport`]: a queue of [`Exchange`]s, each an [`ExpectedRequest`] and the
//!   response to give. Every incoming request is checked against the next expectation
//!   (method, path, query, headers, body — JSON compared by meaning, not byte for byte);
//!   the first difference is reported with the field that differed. At the end,
//!   [`ReplayTransport::assert_done`] or [`ReplayTransport::finish`] checks that every
//!   expectation was used and nothing mismatched.
//! * [`StaticResponder`]: answers every request with the same response.
//! * [`json_response`] and [`bytes_response`]: build an [`HttpResponse`] in one line.
//!
//! Both transports implement [`BlockingTransport`] and [`AsyncTransport`]. They are
//! cheap to clone and clones share their state, so hand a clone to the code under test
//! and keep one to check at the end. (A closure is a transport too: see the crate root.)
//!
//! Values of query parameters and JSON fields whose name contains `token`, `secret` or
//! `ticket` are never printed in mismatch messages: a message only says they differ.
//!
//! ```
//! use card_transport::BlockingTransport;
//! use card_transport::test_util::{json_response, Exchange, ExpectedRequest, ReplayTransport};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let replay = ReplayTransport::new([Exchange::new(
//!     ExpectedRequest::post("/card/code/get")
//!         .query("access_token", "TOKEN")
//!         .json_body(serde_json::json!({ "code": "110201201245", "check_consume": true })),
//!     json_response(200, r#"{"errcode":0,"errmsg":"ok"}"#),
//! )]);
//!
//! // The code under test sends (key order and whitespace do not matter):
//! let request = http::Request::post("https://api.weixin.qq.com/card/code/get?access_token=TOKEN")
//!     .body(br#"{"check_consume":true, "code":"110201201245"}"#.to_vec())?;
//! let response = replay.send(request)?;
//! assert_eq!(response.status(), 200);
//!
//! replay.finish()?; // or replay.assert_done(), which panics
//! # Ok(())
//! # }
//! ```

mod diff;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::Value;

use crate::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, TransportError,
    TransportErrorKind,
};

// ---------------------------------------------------------------------------------------
// Responses

/// A response with `status`, `Content-Type: application/json; charset=utf-8` and `body`.
///
/// ```
/// let response = card_transport::test_util::json_response(200, r#"{"errcode":0}"#);
/// assert_eq!(response.status(), 200);
/// ```
///
/// # Panics
/// If `status` is not a valid HTTP status code (100 to 999). This is a test helper.
pub fn json_response(status: u16, body: &str) -> HttpResponse {
    let mut response = bytes_response(status, body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A response with `status`, no headers and `body`.
///
/// ```
/// let response = card_transport::test_util::bytes_response(502, "Bad Gateway");
/// assert_eq!(response.body(), b"Bad Gateway");
/// ```
///
/// # Panics
/// If `status` is not a valid HTTP status code (100 to 999). This is a test helper.
pub fn bytes_response(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
    let status = http::StatusCode::from_u16(status)
        .unwrap_or_else(|_| panic!("{status} is not a valid HTTP status code"));
    let mut response = HttpResponse::new(body.into());
    *response.status_mut() = status;
    response
}

// ---------------------------------------------------------------------------------------
// Expected requests

#[derive(Debug, Clone)]
enum QueryValue {
    Exactly(String),
    Present,
}

#[derive(Debug, Clone)]
enum BodyExpectation {
    Empty,
    Any,
    Json(Value),
    Bytes(Vec<u8>),
}

/// What a request must look like: built from a method and a path, then refined.
///
/// By default the request must have exactly the query parameters added with
/// [`query`](Self::query) / [`query_present`](Self::query_present) (none if none were
/// added) and an empty body; headers are not checked unless added with
/// [`header`](Self::header).
///
/// ```
/// use card_transport::test_util::ExpectedRequest;
///
/// let expected = ExpectedRequest::post("/card/qrcode/create?access_token=TOKEN")
///     .json_body(serde_json::json!({ "action_name": "QR_CARD" }));
/// let also = ExpectedRequest::get("/cgi-bin/token")
///     .query("grant_type", "client_credential")
///     .query("appid", "wx123")
///     .query_present("secret");
/// # let _ = (expected, also);
/// ```
#[derive(Clone)]
pub struct ExpectedRequest {
    method: http::Method,
    path: String,
    query: Option<Vec<(String, QueryValue)>>,
    headers: Vec<(HeaderName, String)>,
    body: BodyExpectation,
}

impl ExpectedRequest {
    /// A request with `method` to `path`. A query string in `path` (`/p?a=1&b=2`) adds its
    /// pairs as if by [`query`](Self::query).
    pub fn new(method: http::Method, path: &str) -> Self {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, diff::parse_query(query)),
            None => (path, Vec::new()),
        };
        Self {
            method,
            path: path.to_owned(),
            query: Some(
                query
                    .into_iter()
                    .map(|(name, value)| (name, QueryValue::Exactly(value)))
                    .collect(),
            ),
            headers: Vec::new(),
            body: BodyExpectation::Empty,
        }
    }

    /// A `GET` to `path`; see [`new`](Self::new).
    pub fn get(path: &str) -> Self {
        Self::new(http::Method::GET, path)
    }

    /// A `POST` to `path`; see [`new`](Self::new).
    pub fn post(path: &str) -> Self {
        Self::new(http::Method::POST, path)
    }

    /// The query must hold the pair `name=value` (compared after percent-decoding; the
    /// order of pairs does not matter). Add a name twice to expect it twice.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query
            .get_or_insert_with(Vec::new)
            .push((name.to_owned(), QueryValue::Exactly(value.to_owned())));
        self
    }

    /// The query must hold `name`, with any value (once).
    pub fn query_present(mut self, name: &str) -> Self {
        self.query
            .get_or_insert_with(Vec::new)
            .push((name.to_owned(), QueryValue::Present));
        self
    }

    /// Do not check the query at all (this forgets any pair added before).
    pub fn any_query(mut self) -> Self {
        self.query = None;
        self
    }

    /// The request must carry header `name` with `value` (among its values, if several).
    ///
    /// # Panics
    /// If `name` is not a valid header name. This is a test helper.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("{name:?} is not a valid header name"));
        self.headers.push((name, value.to_owned()));
        self
    }

    /// The body must be JSON equal in meaning to `body`: same fields and values, in any
    /// key order, with any whitespace, `1` equal to `1.0`, `"1"` different from `1`.
    pub fn json_body(mut self, body: impl Into<Value>) -> Self {
        self.body = BodyExpectation::Json(body.into());
        self
    }

    /// The body must be `body`: compared as JSON (as [`json_body`](Self::json_body)) when
    /// both it and the request's body parse as JSON, byte for byte otherwise.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = BodyExpectation::Bytes(body.into());
        self
    }

    /// Do not check the body.
    pub fn any_body(mut self) -> Self {
        self.body = BodyExpectation::Any;
        self
    }

    /// `METHOD /path`, for messages.
    fn target(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The first way `request` differs from this expectation, if any.
    fn first_difference(&self, request: &HttpRequest) -> Option<String> {
        if request.method() != self.method {
            return Some(format!(
                "method: expected {}, got {}",
                self.method,
                request.method()
            ));
        }
        if request.uri().path() != self.path {
            return Some(format!(
                "path: expected {:?}, got {:?}",
                self.path,
                request.uri().path()
            ));
        }
        if let Some(expected) = &self.query {
            let actual = diff::parse_query(request.uri().query().unwrap_or(""));
            if let Some(difference) = query_difference(expected, &actual) {
                return Some(difference);
            }
        }
        for (name, value) in &self.headers {
            let values = request.headers().get_all(name);
            if !values.iter().any(|v| v.as_bytes() == value.as_bytes()) {
                let got: Vec<String> = values
                    .iter()
                    .map(|v| format!("{:?}", String::from_utf8_lossy(v.as_bytes())))
                    .collect();
                return Some(if got.is_empty() {
                    format!("header {name}: missing (expected {value:?})")
                } else {
                    format!("header {name}: expected {value:?}, got {}", got.join(", "))
                });
            }
        }
        body_difference(&self.body, request.body())
    }
}

/// The first difference between expected query pairs and actual ones, compared as
/// multisets: by name, then the sorted values under that name.
fn query_difference(
    expected: &[(String, QueryValue)],
    actual: &[(String, String)],
) -> Option<String> {
    let mut wanted: BTreeMap<&str, (Vec<&str>, usize)> = BTreeMap::new();
    for (name, value) in expected {
        let entry = wanted.entry(name.as_str()).or_default();
        match value {
            QueryValue::Exactly(v) => entry.0.push(v.as_str()),
            QueryValue::Present => entry.1 += 1,
        }
    }
    let mut got: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in actual {
        got.entry(name.as_str()).or_default().push(value.as_str());
    }

    for (name, (mut exact, present)) in wanted {
        let secret = diff::is_secret_name(name);
        let Some(values) = got.remove(name) else {
            return Some(if secret || exact.is_empty() {
                format!("query {name}: missing")
            } else {
                format!("query {name}: missing (expected {})", show_values(&exact))
            });
        };
        if values.len() != exact.len() + present {
            return Some(if secret {
                format!(
                    "query {name}: expected {} value(s), got {}",
                    exact.len() + present,
                    values.len()
                )
            } else {
                format!(
                    "query {name}: expected {} value(s), got {}",
                    exact.len() + present,
                    show_values(&values)
                )
            });
        }
        // Every exact value must be among the actual ones; the rest fill the `present`s.
        let mut remaining = values.clone();
        exact.sort_unstable();
        for value in &exact {
            match remaining.iter().position(|v| v == value) {
                Some(i) => {
                    remaining.remove(i);
                }
                None => {
                    return Some(if secret {
                        format!("query {name}: value differs (not shown: secret)")
                    } else {
                        format!(
                            "query {name}: expected {}, got {}",
                            show_values(&exact),
                            show_values(&values)
                        )
                    });
                }
            }
        }
    }
    got.into_iter().next().map(|(name, values)| {
        if diff::is_secret_name(name) {
            format!("query {name}: unexpected parameter")
        } else {
            format!(
                "query {name}: unexpected parameter (got {})",
                show_values(&values)
            )
        }
    })
}

fn show_values(values: &[&str]) -> String {
    let shown: Vec<String> = values
        .iter()
        .map(|v| format!("{:?}", diff::shorten(v)))
        .collect();
    shown.join(", ")
}

fn body_difference(expected: &BodyExpectation, actual: &[u8]) -> Option<String> {
    match expected {
        BodyExpectation::Any => None,
        BodyExpectation::Empty if actual.is_empty() => None,
        BodyExpectation::Empty => Some(format!(
            "body: expected none, got {} bytes {}",
            actual.len(),
            diff::show_bytes(actual)
        )),
        BodyExpectation::Json(value) => match serde_json::from_slice::<Value>(actual) {
            Ok(actual) => diff::first_json_difference(value, &actual, "body"),
            Err(error) => Some(format!(
                "body: expected JSON {}, got {} bytes that are not JSON ({error}): {}",
                diff::show_json(value),
                actual.len(),
                diff::show_bytes(actual)
            )),
        },
        BodyExpectation::Bytes(bytes) => {
            let both_json = serde_json::from_slice::<Value>(bytes)
                .ok()
                .zip(serde_json::from_slice::<Value>(actual).ok());
            if let Some((expected, actual)) = both_json {
                return diff::first_json_difference(&expected, &actual, "body");
            }
            if bytes.as_slice() == actual {
                return None;
            }
            let at = bytes
                .iter()
                .zip(actual)
                .position(|(e, a)| e != a)
                .unwrap_or_else(|| bytes.len().min(actual.len()));
            Some(format!(
                "body: differs at byte {at}: expected {} bytes {}, got {} bytes {}",
                bytes.len(),
                diff::show_bytes(bytes),
                actual.len(),
                diff::show_bytes(actual)
            ))
        }
    }
}

impl fmt::Debug for ExpectedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values of secret-named parameters are not shown.
        let query = self.query.as_ref().map(|pairs| {
            pairs
                .iter()
                .map(|(name, value)| match value {
                    QueryValue::Exactly(_) if diff::is_secret_name(name) => {
                        format!("{name}=[redacted]")
                    }
                    QueryValue::Exactly(v) => format!("{name}={v}"),
                    QueryValue::Present => format!("{name}=*"),
                })
                .collect::<Vec<_>>()
        });
        f.debug_struct("ExpectedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &query)
            .field("headers", &self.headers)
            .field("body", &DebugBody(&self.body))
            .finish()
    }
}

/// Shows a body expectation with the values of secret-named JSON fields redacted.
struct DebugBody<'a>(&'a BodyExpectation);

impl fmt::Debug for DebugBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BodyExpectation::Empty => f.write_str("Empty"),
            BodyExpectation::Any => f.write_str("Any"),
            BodyExpectation::Json(value) => write!(f, "Json({})", diff::redacted(value)),
            BodyExpectation::Bytes(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => write!(f, "Json({})", diff::redacted(&value)),
                Err(_) => write!(f, "Bytes({} bytes)", bytes.len()),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Exchanges and the replay transport

#[derive(Debug)]
enum Reply {
    Response(HttpResponse),
    Error(TransportErrorKind),
}

/// One expected request and what to answer when it arrives.
#[derive(Debug)]
pub struct Exchange {
    expected: ExpectedRequest,
    reply: Reply,
}

impl Exchange {
    /// Answer a request matching `expected` with `response`.
    pub fn new(expected: ExpectedRequest, response: HttpResponse) -> Self {
        Self {
            expected,
            reply: Reply::Response(response),
        }
    }

    /// Fail a request matching `expected` with an error of `kind` (a timeout, a broken
    /// connection, ...), as a real transport would.
    pub fn error(expected: ExpectedRequest, kind: TransportErrorKind) -> Self {
        Self {
            expected,
            reply: Reply::Error(kind),
        }
    }
}

/// The error a [`ReplayTransport`] fails a request with when the request differs from
/// the expectation (kind [`TransportErrorKind::Other`]); it is the
/// [`TransportError`]'s `source()`. The same text is recorded for
/// [`ReplayTransport::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMismatch {
    message: String,
}

impl ReplayMismatch {
    /// What differed, e.g. `request 2 (POST /card/code/get): body.code: expected "1", got "2"`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ReplayMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReplayMismatch {}

/// What [`ReplayTransport::finish`] found wrong: expectations never used, and requests
/// that did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    unmet: Vec<String>,
    mismatches: Vec<String>,
}

impl ReplayError {
    /// The expectations that no request used, as `METHOD /path`, in order.
    pub fn unmet(&self) -> &[String] {
        &self.unmet
    }

    /// The mismatch messages, in the order the requests arrived.
    pub fn mismatches(&self) -> &[String] {
        &self.mismatches
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("replay transport:")?;
        if !self.mismatches.is_empty() {
            write!(f, " {} request(s) did not match:", self.mismatches.len())?;
            for m in &self.mismatches {
                write!(f, "\n  - {m}")?;
            }
            if !self.unmet.is_empty() {
                f.write_str("\n")?;
            }
        }
        if !self.unmet.is_empty() {
            write!(
                f,
                " {} expected request(s) never arrived:",
                self.unmet.len()
            )?;
            for u in &self.unmet {
                write!(f, "\n  - {u}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ReplayError {}

#[derive(Debug, Default)]
struct ReplayState {
    queue: VecDeque<Exchange>,
    received: Vec<HttpRequest>,
    mismatches: Vec<String>,
}

/// A transport that checks every request against a queue of [`Exchange`]s and answers
/// with their canned responses. See the [module documentation](self) for an example.
///
/// * Each incoming request is compared with the next expectation in the queue. If it
///   matches, the expectation is used up and its reply returned.
/// * If it differs, the request fails with a [`TransportError`] of kind
///   [`TransportErrorKind::Other`] whose source is a [`ReplayMismatch`] naming the
///   first difference; the mismatch is recorded and the expectation stays at the head
///   of the queue.
/// * A request arriving when the queue is empty is a mismatch too.
///
/// Clones share the queue and the records.
#[derive(Clone, Default)]
pub struct ReplayTransport {
    state: Arc<Mutex<ReplayState>>,
}

impl ReplayTransport {
    /// A transport expecting `exchanges`, in order.
    pub fn new(exchanges: impl IntoIterator<Item = Exchange>) -> Self {
        Self {
            state: Arc::new(Mutex::new(ReplayState {
                queue: exchanges.into_iter().collect(),
                ..ReplayState::default()
            })),
        }
    }

    /// Appends `exchange` to the queue.
    pub fn push(&self, exchange: Exchange) {
        self.lock().queue.push_back(exchange);
    }

    /// How many expectations are still waiting for their request.
    pub fn remaining(&self) -> usize {
        self.lock().queue.len()
    }

    /// Every request received so far (matching or not), in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.lock().received.clone()
    }

    /// The mismatch messages recorded so far.
    pub fn mismatches(&self) -> Vec<String> {
        self.lock().mismatches.clone()
    }

    /// Checks that every expectation was used and that no request mismatched.
    ///
    /// # Errors
    /// A [`ReplayError`] listing the unused expectations and the mismatches.
    pub fn finish(&self) -> Result<(), ReplayError> {
        let state = self.lock();
        if state.queue.is_empty() && state.mismatches.is_empty() {
            return Ok(());
        }
        Err(ReplayError {
            unmet: state.queue.iter().map(|x| x.expected.target()).collect(),
            mismatches: state.mismatches.clone(),
        })
    }

    /// As [`finish`](Self::finish), but panics with the listing.
    ///
    /// # Panics
    /// If an expectation was not used or a request mismatched.
    #[track_caller]
    pub fn assert_done(&self) {
        if let Err(error) = self.finish() {
            panic!("{error}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut state = self.lock();
        let number = state.received.len() + 1;
        let target = crate::redacted_target(&request);
        let difference = match state.queue.front() {
            None => Some("no more requests were expected".to_owned()),
            Some(exchange) => exchange.expected.first_difference(&request),
        };
        state.received.push(request);
        if let Some(difference) = difference {
            let message = format!("request {number} ({target}): {difference}");
            tracing::debug!(%message, "replay transport: mismatch");
            state.mismatches.push(message.clone());
            return Err(TransportError::new(
                TransportErrorKind::Other,
                ReplayMismatch { message },
            ));
        }
        match state.queue.pop_front().map(|exchange| exchange.reply) {
            Some(Reply::Response(response)) => Ok(response),
            Some(Reply::Error(kind)) => Err(TransportError::from_kind(kind)),
            // Unreachable: a difference is reported when the queue is empty.
            None => Err(TransportError::from_kind(TransportErrorKind::Other)),
        }
    }
}

impl fmt::Debug for ReplayTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("ReplayTransport")
            .field("remaining", &state.queue.len())
            .field("received", &state.received.len())
            .field("mismatches", &state.mismatches.len())
            .finish()
    }
}

impl BlockingTransport for ReplayTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.answer(request)
    }
}

#[async_trait::async_trait]
impl AsyncTransport for ReplayTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.answer(request)
    }
}

// ---------------------------------------------------------------------------------------
// Static responder

/// A transport that answers every request with a copy of the same response, and counts
/// them. Handy for benchmarks and for code that only needs *a* response.
///
/// ```
/// use card_transport::BlockingTransport;
/// use card_transport::test_util::{json_response, StaticResponder};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = StaticResponder::new(json_response(200, r#"{"errcode":0}"#));
/// let response = transport.send(http::Request::get("http://127.0.0.1/x").body(Vec::new())?)?;
/// assert_eq!(response.body(), br#"{"errcode":0}"#);
/// assert_eq!(transport.requests_seen(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StaticResponder {
    response: Arc<HttpResponse>,
    seen: Arc<std::sync::atomic::AtomicUsize>,
}

impl StaticResponder {
    /// A transport answering `response` to everything.
    pub fn new(response: HttpResponse) -> Self {
        Self {
            response: Arc::new(response),
            seen: Arc::default(),
        }
    }

    /// How many requests it has answered (all clones together).
    pub fn requests_seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn answer(&self) -> HttpResponse {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (*self.response).clone()
    }
}

impl BlockingTransport for StaticResponder {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self.answer())
    }
}

#[async_trait::async_trait]
impl AsyncTransport for StaticResponder {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self.answer())
    }
}
