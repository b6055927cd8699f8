//! The blocking backend, on ureq 3 (feature `blocking`).

use std::fmt;
use std::io;

use crate::ureq_mask::{self, RealRequest};
use crate::{
    BlockingTransport, HttpRequest, HttpResponse, TransportConfig, TransportError,
    TransportErrorKind,
};

/// A [`BlockingTransport`] on [ureq](https://docs.rs/ureq) 3, with rustls.
///
/// * Any status, 4xx and 5xx included, comes back as a response.
/// * Redirects are not followed: a 3xx is returned as it is.
/// * [`TransportConfig::connect_timeout`] bounds connecting (DNS, TCP and TLS);
///   [`TransportConfig::timeout`] bounds the whole exchange, body included.
///   Running out of the connect time gives [`TransportErrorKind::Connect`] (nothing was
///   sent); running out of the whole time gives [`TransportErrorKind::Timeout`].
/// * A body longer than [`TransportConfig::max_response_bytes`] fails with
///   [`TransportErrorKind::TooLarge`] (a body of exactly that size is read): at once
///   when `Content-Length` announces it, otherwise as soon as the bytes read pass the
///   limit; the rest is never read.
/// * TLS: a certificate or handshake failure gives [`TransportErrorKind::Tls`]. Other
///   failures of the TLS layer give [`TransportErrorKind::Io`], since ureq does not say
///   whether they happened before or after the request was sent.
/// * One agent is kept for the transport's life, so connections are reused. Clones share
///   that agent. A host name is looked up when a connection is opened (within the connect
///   timeout), not for each request: a request on a kept-alive connection starts no
///   thread and makes no lookup. An IP address in the URL is never looked up.
///
/// ```no_run
/// use card_transport::{BlockingTransport, HttpRequest, TransportConfig, UreqTransport};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = UreqTransport::new(TransportConfig {
///     timeout: Duration::from_secs(10),
///     ..TransportConfig::default()
/// });
/// let request: HttpRequest = http::Request::get("https://api.weixin.qq.com/cgi-bin/getcallbackip")
///     .body(Vec::new())?;
/// let response = transport.send(request)?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    config: TransportConfig,
}

impl UreqTransport {
    /// A transport with its own agent, configured by `config`.
    pub fn new(config: TransportConfig) -> Self {
        let agent = crate::ureq_agent::agent(&config);
        Self { agent, config }
    }

    /// The settings this transport was made with.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }
}

impl Default for UreqTransport {
    /// A transport with [`TransportConfig::default`].
    fn default() -> Self {
        Self::new(TransportConfig::default())
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqTransport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BlockingTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            // Nobody listens: no copies of the method and path for the log lines.
            return self.exchange(request);
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        tracing::debug!(%method, %path, "sending request (ureq)");

        let result = self.exchange(request);
        match &result {
            Ok(response) => tracing::debug!(
                %method,
                %path,
                status = response.status().as_u16(),
                body_bytes = response.body().len(),
                "received response (ureq)"
            ),
            Err(error) => {
                tracing::debug!(%method, %path, kind = ?error.kind(), "request failed (ureq)")
            }
        }
        result
    }
}

impl UreqTransport {
    fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (mut parts, body) = request.into_parts();
        // ureq logs the URL and every byte at TRACE: it gets the query and the body as
        // `*` bytes, and the real ones travel beside it (see `ureq_mask`).
        let query = parts.uri.query().unwrap_or_default().as_bytes().to_vec();
        let headers = mask_credential_headers(&mut parts)?;
        if !query.is_empty() {
            parts.uri = masked_uri(&parts.uri, query.len())?;
        }
        let bodiless =
            body.is_empty() && matches!(parts.method, http::Method::GET | http::Method::HEAD);
        let masked_body = ureq_mask::masked(&body);
        let limit = self.config.max_response_bytes;
        // One byte more than the limit, to notice a longer body.
        let keep = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let head_request = parts.method == http::Method::HEAD;
        let _exchange = ureq_mask::begin(
            RealRequest {
                query,
                body,
                headers,
            },
            head_request,
            keep,
        );

        let response = if bodiless {
            // No body at all (not even `Content-Length: 0`) on a bodiless GET or HEAD.
            self.agent.run(http::Request::from_parts(parts, ()))
        } else {
            self.agent
                .run(http::Request::from_parts(parts, masked_body.as_slice()))
        }
        .map_err(map_error)?;
        let (mut parts, body) = response.into_parts();
        // ureq keeps the (masked) request URI in the extensions; drop it so the response
        // stays a plain value.
        parts.extensions = http::Extensions::new();
        let announced = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|announced| announced > limit) {
            // Fail at once rather than read `limit` bytes first.
            return Err(TransportError::new(
                TransportErrorKind::TooLarge,
                format!("the response announces more than the limit of {limit} bytes"),
            ));
        }
        // ureq reads (masked) bytes up to the limit and checks the framing; the real
        // bytes were kept on the way in.
        let read =
            drain(&mut body.into_with_config().limit(limit).reader()).map_err(map_io_error)?;
        let bytes = ureq_mask::take_body();
        if bytes.len() as u64 != read {
            return Err(TransportError::new(
                TransportErrorKind::Io,
                Redacted("the response body could not be followed"),
            ));
        }
        Ok(HttpResponse::from_parts(parts, bytes))
    }
}

/// Reads `reader` to its end, counting the bytes: ureq's (masked) view of a body. A
/// small buffer on the stack, set once: the answers are a few KiB at most, and
/// `io::copy` would clear 8 KiB for every call.
fn drain(reader: &mut impl io::Read) -> io::Result<u64> {
    let mut buffer = [0u8; 2048];
    let mut read = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(read),
            Ok(n) => read += n as u64,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Headers whose values are credentials, masked like the query.
const CREDENTIAL_HEADERS: [http::HeaderName; 3] = [
    http::header::AUTHORIZATION,
    http::header::PROXY_AUTHORIZATION,
    http::header::COOKIE,
];

/// Replaces the values of credential-bearing headers by masks of the same length and
/// returns the real ones. A URL's user information becomes such a header first (ureq
/// would otherwise build one itself, and log it).
fn mask_credential_headers(
    parts: &mut http::request::Parts,
) -> Result<Vec<(http::HeaderName, Vec<u8>)>, TransportError> {
    crate::userinfo_to_basic_auth(parts)?;
    let invalid =
        || TransportError::new(TransportErrorKind::InvalidUrl, Redacted("invalid header"));
    let mut real = Vec::new();
    for name in CREDENTIAL_HEADERS {
        let values: Vec<Vec<u8>> = parts
            .headers
            .get_all(&name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        if values.is_empty() {
            continue;
        }
        parts.headers.remove(&name);
        for value in values {
            let mask =
                http::HeaderValue::from_bytes(&ureq_mask::masked(&value)).map_err(|_| invalid())?;
            parts.headers.append(name.clone(), mask);
            real.push((name.clone(), value));
        }
    }
    Ok(real)
}

/// `uri` with its query replaced by `len` mask bytes.
fn masked_uri(uri: &http::Uri, len: usize) -> Result<http::Uri, TransportError> {
    let invalid = || TransportError::new(TransportErrorKind::InvalidUrl, Redacted("invalid URI"));
    let mut path_and_query = String::with_capacity(uri.path().len() + 1 + len);
    path_and_query.push_str(uri.path());
    path_and_query.push('?');
    // Mask bytes by the run, not by the character.
    const MASKS: &str = "****************************************************************";
    let mut left = len;
    while left > 0 {
        let n = left.min(MASKS.len());
        path_and_query.push_str(&MASKS[..n]);
        left -= n;
    }
    let mut uri_parts = uri.clone().into_parts();
    uri_parts.path_and_query = Some(path_and_query.parse().map_err(|_| invalid())?);
    http::Uri::from_parts(uri_parts).map_err(|_| invalid())
}

/// A source error with a fixed text, used where ureq's own text would show the URL.
#[derive(Debug)]
struct Redacted(&'static str);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Redacted {}

/// Maps a ureq error to our kinds, keeping it as the source unless its text could hold
/// the URL.
fn map_error(error: ureq::Error) -> TransportError {
    use TransportErrorKind as K;
    use ureq::Error as E;
    use ureq::Timeout as T;

    let kind = match &error {
        // The URL (with its query) is in these texts: never keep them.
        E::BadUri(_) => {
            return TransportError::new(K::InvalidUrl, Redacted("the URI has no scheme or host"));
        }
        E::RequireHttpsOnly(_) => {
            return TransportError::new(K::InvalidUrl, Redacted("only https URLs are allowed"));
        }
        E::ConnectProxyFailed(_) => {
            return TransportError::new(K::Connect, Redacted("CONNECT through the proxy failed"));
        }
        E::Io(io) => io_kind(io),
        E::Timeout(T::Resolve | T::Connect) => K::Connect,
        E::Timeout(_) => K::Timeout,
        E::HostNotFound | E::ConnectionFailed | E::InvalidProxyUrl => K::Connect,
        E::Tls(_) | E::TlsRequired | E::Pem(_) | E::Rustls(_) => K::Tls,
        E::BodyExceedsLimit(_) => K::TooLarge,
        E::Protocol(_) | E::BodyStalled => K::Io,
        _ => K::Other,
    };
    TransportError::new(kind, error)
}

/// Maps an error of reading the body: ureq wraps its own errors (the limit, a timeout)
/// in the I/O error its reader returns, and unwraps them again in this conversion.
fn map_io_error(error: io::Error) -> TransportError {
    map_error(ureq::Error::from(error))
}

fn io_kind(error: &io::Error) -> TransportErrorKind {
    use TransportErrorKind as K;
    use io::ErrorKind as IoK;
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        // ureq does not say whether the handshake had finished, and a TLS error after it
        // may come after the request was sent. Only errors that can arise in the
        // handshake alone prove that nothing was sent.
        return if handshake_only(tls) { K::Tls } else { K::Io };
    }
    match error.kind() {
        IoK::ConnectionRefused
        | IoK::AddrNotAvailable
        | IoK::NetworkUnreachable
        | IoK::HostUnreachable
        | IoK::NetworkDown => K::Connect,
        IoK::TimedOut | IoK::WouldBlock => K::Timeout,
        _ => K::Io,
    }
}

/// Whether a rustls error can only arise during the handshake (before any request byte
/// is sent): certificate problems, an incompatible peer, a handshake alert.
fn handshake_only(error: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    use rustls::Error as E;
    match error {
        E::InappropriateHandshakeMessage { .. }
        | E::InvalidEncryptedClientHello(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::PeerIncompatible(_)
        | E::InvalidCertificate(_)
        | E::InvalidCertRevocationList(_)
        | E::HandshakeNotComplete
        | E::NoApplicationProtocol
        | E::InconsistentKeys(_) => true,
        E::AlertReceived(alert) => matches!(
            alert,
            A::HandshakeFailure
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::ProtocolVersion
                | A::InsufficientSecurity
                | A::UnrecognisedName
                | A::CertificateRequired
                | A::NoApplicationProtocol
                | A::UnsupportedExtension
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_uri_keeps_the_path_and_masks_every_query_byte() {
        for len in [1, 63, 64, 65, 200] {
            let query = "q".repeat(len);
            let uri: http::Uri = format!("http://127.0.0.1:1/card/x?{query}")
                .parse()
                .expect("uri");
            let masked = masked_uri(&uri, len).expect("masked");
            assert_eq!(masked.path(), "/card/x");
            let masked_query = masked.query().expect("query");
            assert_eq!(masked_query.len(), len);
            assert!(masked_query.bytes().all(|b| b == ureq_mask::MASK));
            assert_eq!(masked.authority(), uri.authority());
        }
    }
}
