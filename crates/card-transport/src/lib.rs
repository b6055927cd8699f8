//! # card-transport
//!
//! The layer that moves bytes. It knows HTTP, not WeChat: nothing here knows an
//! endpoint, an errcode or a token.
//!
//! * [`HttpRequest`] / [`HttpResponse`]: plain values (`http` crate types with a
//!   `Vec<u8>` body).
//! * [`BlockingTransport`] and [`AsyncTransport`]: object-safe, `Send + Sync`, so
//!   `Arc<dyn BlockingTransport>` works. Closures are transports too.
//! * Backends behind additive features: `blocking` ([`UreqTransport`], on ureq 3) and
//!   `async` ([`ReqwestTransport`], on reqwest).
//! * [`test_util`]: a replay transport that checks every request against expectations,
//!   for your own tests as well as ours.
//!
//! Nothing here logs a URL's query string: the `access_token` travels there. Logs and
//! tracing fields carry method and path only. That holds for the HTTP libraries
//! underneath too, at any level the application enables: ureq, which at `TRACE` prints
//! URLs and hex-dumps every byte, is only ever handed `*` masks of the query and of both
//! bodies (the real bytes are restored and kept below its HTTP code), and reqwest logs
//! none of them.
//!
//! ## Features
//!
//! | feature    | adds                | pulls in                      |
//! |------------|---------------------|-------------------------------|
//! | (none)     | traits, test transports | `http`, `serde_json`      |
//! | `blocking` | [`UreqTransport`]   | ureq, rustls (no tokio)       |
//! | `async`    | [`ReqwestTransport`] | reqwest, tokio (no ureq)     |
//!
//! A closure is a blocking transport:
//!
//! ```
//! use card_transport::{BlockingTransport, HttpRequest, HttpResponse, TransportError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let echo = |request: HttpRequest| -> Result<HttpResponse, TransportError> {
//!     Ok(HttpResponse::new(request.into_body()))
//! };
//! let response = echo.send(http::Request::post("http://127.0.0.1/x").body(b"hi".to_vec())?)?;
//! assert_eq!(response.body(), b"hi");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(
    not(feature = "blocking"),
    doc = "\n[`UreqTransport`]: #features \"needs the `blocking` feature\""
)]
#![cfg_attr(
    not(feature = "async"),
    doc = "\n[`ReqwestTransport`]: #features \"needs the `async` feature\""
)]
#![deny(missing_docs)]

mod error;
#[cfg(all(test, feature = "blocking"))]
mod loopback;
#[cfg(feature = "async")]
mod reqwest_transport;
pub mod test_util;
#[cfg(feature = "blocking")]
mod ureq_agent;
#[cfg(feature = "blocking")]
mod ureq_mask;
#[cfg(feature = "blocking")]
mod ureq_tcp;
#[cfg(feature = "blocking")]
mod ureq_transport;

#[cfg(feature = "async")]
pub use reqwest_transport::ReqwestTransport;
#[cfg(feature = "blocking")]
pub use ureq_transport::UreqTransport;

pub use error::{TransportError, TransportErrorKind};

use std::time::Duration;

/// An HTTP request: method, URL (with query), headers and body bytes.
///
/// Its URL may hold an `access_token`: print [`redacted_target`] rather than the URL.
pub type HttpRequest = http::Request<Vec<u8>>;

/// An HTTP response: status, headers and body bytes. Any status, 4xx and 5xx included,
/// is a response, not an error.
pub type HttpResponse = http::Response<Vec<u8>>;

/// `METHOD /path` of a request, without the query string: what logs may show.
pub fn redacted_target(request: &HttpRequest) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

/// Moves a URL's user information (`http://user:pass@host`) into an
/// `Authorization: Basic` header (user and password percent-decoded), unless the request
/// already has one, so that the URL handed to an HTTP library carries no credentials.
/// Both backends do this, so both send the same header.
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) fn userinfo_to_basic_auth(
    parts: &mut http::request::Parts,
) -> Result<(), TransportError> {
    use base64::Engine as _;
    let Some((userinfo, host)) = parts
        .uri
        .authority()
        .and_then(|authority| authority.as_str().rsplit_once('@'))
    else {
        return Ok(());
    };
    let invalid = |what: &'static str| TransportError::new(TransportErrorKind::InvalidUrl, what);
    let authority: http::uri::Authority = host
        .parse()
        .map_err(|_| invalid("the URL's host is invalid"))?;
    if !parts.headers.contains_key(http::header::AUTHORIZATION) {
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let mut credentials = percent_decode(user);
        credentials.push(b':');
        credentials.extend(percent_decode(pass));
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = http::HeaderValue::try_from(format!("Basic {encoded}"))
            .map_err(|_| invalid("the URL's user information is invalid"))?;
        value.set_sensitive(true);
        parts.headers.insert(http::header::AUTHORIZATION, value);
    }
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    uri.authority = Some(authority);
    parts.uri = http::Uri::from_parts(uri).map_err(|_| invalid("the URL is invalid"))?;
    Ok(())
}

/// `%XX` sequences decoded; anything else kept as it is.
#[cfg(any(feature = "blocking", feature = "async"))]
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Settings shared by the backends.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Time allowed to establish a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, from sending to the end of the body.
    pub timeout: Duration,
    /// The largest response body accepted, in bytes: a body of exactly this size is
    /// read, one byte more fails with [`TransportErrorKind::TooLarge`]. The backends
    /// fail at once when `Content-Length` announces more, and otherwise stop reading as
    /// soon as the limit is passed, so a call never holds much more than this.
    ///
    /// The default, [`DEFAULT_MAX_RESPONSE_BYTES`] (256 KiB), is far above WeChat's
    /// card answers (the largest, a `checkcode` of 100 codes or a `gethtml` snippet,
    /// is a few KiB). Raise it if you call other endpoints with large answers through
    /// the clients' generic `call` (a follower list of 10,000 OpenIDs is about
    /// 0.3 MB).
    pub max_response_bytes: u64,
}

/// The default [`TransportConfig::max_response_bytes`]: 256 KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 * 1024;

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Sends an HTTP request and waits for the response, blocking the thread.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a blocking transport",
    label = "the blocking `Client` needs a `BlockingTransport` here",
    note = "an async transport (such as `ReqwestTransport` or `async_fn(..)`) goes to `AsyncClient::builder().transport(..)`"
)]
pub trait BlockingTransport: Send + Sync {
    /// Sends `request`. A response with any status is `Ok`.
    ///
    /// # Errors
    /// A [`TransportError`] when no complete response was received.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Sends an HTTP request asynchronously.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async transport",
    label = "the `AsyncClient` needs an `AsyncTransport` here",
    note = "a blocking transport (such as `UreqTransport` or a closure) goes to `Client::builder().transport(..)`"
)]
#[async_trait::async_trait]
pub trait AsyncTransport: Send + Sync {
    /// Sends `request`. A response with any status is `Ok`.
    ///
    /// # Errors
    /// A [`TransportError`] when no complete response was received.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Any closure from request to response is a blocking transport.
impl<F> BlockingTransport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

/// A shared transport is a transport: `Arc<T>` and `Arc<dyn BlockingTransport>`. (A
/// boxed closure is a transport as a closure.)
impl<T: BlockingTransport + ?Sized> BlockingTransport for std::sync::Arc<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for std::sync::Arc<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request).await
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for Box<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request).await
    }
}

/// Wraps a closure returning a future as an [`AsyncTransport`].
///
/// ```
/// use card_transport::{AsyncTransport, HttpRequest, HttpResponse, async_fn};
///
/// let transport = async_fn(|req: HttpRequest| async move {
///     Ok(HttpResponse::new(req.into_body()))
/// });
/// # let _ = &transport as &dyn AsyncTransport;
/// ```
pub fn async_fn<F, Fut>(f: F) -> AsyncFn<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    AsyncFn(f)
}

/// An [`AsyncTransport`] made from a closure; see [`async_fn`].
pub struct AsyncFn<F>(F);

impl<F> std::fmt::Debug for AsyncFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsyncFn")
    }
}

#[async_trait::async_trait]
impl<F, Fut> AsyncTransport for AsyncFn<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (self.0)(request).await
    }
}
