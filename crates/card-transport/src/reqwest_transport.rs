//! The async backend, on reqwest (feature `async`).

use std::error::Error as _;
use std::fmt;
use std::io;

use crate::{
    AsyncTransport, HttpRequest, HttpResponse, TransportConfig, TransportError, TransportErrorKind,
};

/// An [`AsyncTransport`] on [reqwest](https://docs.rs/reqwest), with rustls.
///
/// * Any status, 4xx and 5xx included, comes back as a response.
/// * Redirects are not followed: a 3xx is returned as it is.
/// * [`TransportConfig::connect_timeout`] bounds connecting;
///   [`TransportConfig::timeout`] bounds the whole exchange, body included.
///   Running out of the connect time gives [`TransportErrorKind::Connect`] (nothing was
///   sent); running out of the whole time gives [`TransportErrorKind::Timeout`].
/// * A body longer than [`TransportConfig::max_response_bytes`] fails with
///   [`TransportErrorKind::TooLarge`] (a body of exactly that size is read): at once
///   when `Content-Length` announces it, otherwise as soon as the bytes read pass the
///   limit; the rest is never read.
/// * One `reqwest::Client` is kept, so connections are pooled. Clones share it.
///
/// It needs a tokio runtime, as reqwest does.
///
/// ```no_run
/// use card_transport::{AsyncTransport, HttpRequest, ReqwestTransport, TransportConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = ReqwestTransport::new(TransportConfig::default());
/// let request: HttpRequest = http::Request::get("https://api.weixin.qq.com/cgi-bin/getcallbackip")
///     .body(Vec::new())?;
/// let response = transport.send(request).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_bytes: u64,
}

impl ReqwestTransport {
    /// A transport with its own client, configured by `config`.
    ///
    /// # Panics
    /// If the TLS backend cannot be initialised, as `reqwest::Client::new` does. Use
    /// [`ReqwestTransport::try_new`] to get an error instead.
    pub fn new(config: TransportConfig) -> Self {
        match Self::try_new(config) {
            Ok(transport) => transport,
            Err(error) => panic!("cannot build the reqwest client: {error}"),
        }
    }

    /// A transport with its own client, configured by `config`.
    ///
    /// # Errors
    /// A [`TransportErrorKind::Tls`] error if the TLS backend cannot be initialised.
    pub fn try_new(config: TransportConfig) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::Tls, e.without_url()))?;
        Ok(Self {
            client,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// A transport over a client you configured yourself (proxy, certificates, ...).
    /// Its timeouts and redirect policy are the client's; responses longer than
    /// `max_response_bytes` fail with [`TransportErrorKind::TooLarge`].
    pub fn from_client(client: reqwest::Client, max_response_bytes: u64) -> Self {
        Self {
            client,
            max_response_bytes,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl Default for ReqwestTransport {
    /// A transport with [`TransportConfig::default`].
    ///
    /// # Panics
    /// As [`ReqwestTransport::new`].
    fn default() -> Self {
        Self::new(TransportConfig::default())
    }
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AsyncTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        tracing::debug!(%method, %path, "sending request (reqwest)");

        let result = self.exchange(request).await;
        match &result {
            Ok(response) => tracing::debug!(
                %method,
                %path,
                status = response.status().as_u16(),
                body_bytes = response.body().len(),
                "received response (reqwest)"
            ),
            Err(error) => {
                tracing::debug!(%method, %path, kind = ?error.kind(), "request failed (reqwest)");
            }
        }
        result
    }
}

impl ReqwestTransport {
    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let bodiless = request.body().is_empty()
            && matches!(*request.method(), http::Method::GET | http::Method::HEAD);
        let (mut parts, body) = request.into_parts();
        crate::userinfo_to_basic_auth(&mut parts)?;
        let request = http::Request::from_parts(parts, body);
        let mut request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidUrl, e.without_url()))?;
        if bodiless {
            *request.body_mut() = None;
        }

        let mut response = self.client.execute(request).await.map_err(map_error)?;

        let limit = self.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|announced| announced > limit)
        {
            return Err(too_large(limit));
        }

        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }

        let capacity = response.content_length().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            let total = body.len() as u64 + chunk.len() as u64;
            if total > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }

        builder
            .body(body)
            .map_err(|e| TransportError::new(TransportErrorKind::Other, e))
    }
}

fn too_large(limit: u64) -> TransportError {
    TransportError::new(
        TransportErrorKind::TooLarge,
        format!("the response body is larger than the limit of {limit} bytes"),
    )
}

/// Maps a reqwest error to our kinds. The URL is stripped from the error kept as source.
fn map_error(error: reqwest::Error) -> TransportError {
    use TransportErrorKind as K;
    let kind = if error.is_connect() {
        if chain_has_tls_failure(&error) {
            K::Tls
        } else {
            K::Connect
        }
    } else if error.is_timeout() {
        K::Timeout
    } else if error.is_builder() {
        K::InvalidUrl
    } else if error.is_body() || error.is_decode() || error.is_request() {
        K::Io
    } else {
        K::Other
    };
    TransportError::new(kind, error.without_url())
}

/// Whether a connect error came from the TLS handshake or certificate check. rustls
/// reports through tokio-rustls as an `InvalidData` I/O error wrapping the rustls error,
/// possibly inside another I/O error (whose `source()` skips the wrapped error, hence
/// the walk through `get_ref`).
fn chain_has_tls_failure(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(err) = source {
        let mut inner = Some(err);
        while let Some(io) = inner.and_then(|e| e.downcast_ref::<io::Error>()) {
            if io.kind() == io::ErrorKind::InvalidData {
                return true;
            }
            inner = io
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static));
        }
        source = err.source();
    }
    false
}
