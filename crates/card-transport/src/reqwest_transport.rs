//! The async backend, on reqwest (feature `async`).

use std::error::Error as _;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

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
/// * The parsed form of the last few request URLs is kept, so a request to a URL sent
///   before (the same endpoint with the same access token) skips parsing it again. The
///   entries are replaced as new URLs come; clones share them.
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
    urls: Arc<Mutex<UrlCache>>,
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
            // reqwest's own retries are of HTTP/2 and HTTP/3 refusals, which this HTTP/1.1
            // client never meets; off, it no longer copies every request in case it
            // would retry it.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::Tls, e.without_url()))?;
        Ok(Self::from_client(client, config.max_response_bytes))
    }

    /// A transport over a client you configured yourself (proxy, certificates, ...).
    /// Its timeouts and redirect policy are the client's; responses longer than
    /// `max_response_bytes` fail with [`TransportErrorKind::TooLarge`].
    pub fn from_client(client: reqwest::Client, max_response_bytes: u64) -> Self {
        Self {
            client,
            max_response_bytes,
            urls: Arc::default(),
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
        // Method and path are copied for the events below only when they are wanted.
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return self.exchange(request).await;
        }
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
        let url = self.url_of(parts.uri)?;
        // What `reqwest::Request::try_from(http::Request)` makes, without parsing the URL
        // again (the extensions are left out: reqwest reads none of an `http` request's).
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        *request.version_mut() = parts.version;
        if !bodiless {
            *request.body_mut() = Some(body.into());
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

impl ReqwestTransport {
    /// The parsed URL of `uri`: a copy of the one kept from an earlier request to the
    /// same `http`/`https` URL, or else parsed as reqwest parses an `http::Request`'s
    /// (and then kept).
    fn url_of(&self, uri: http::Uri) -> Result<reqwest::Url, TransportError> {
        let cacheable = matches!(uri.scheme_str(), Some("http" | "https"));
        if cacheable {
            let urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(url) = urls.get(&uri) {
                return Ok(url);
            }
        }
        let mut probe = http::Request::new(Vec::new());
        *probe.uri_mut() = uri.clone();
        let url = reqwest::Request::try_from(probe)
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidUrl, e.without_url()))?
            .url()
            .clone();
        if cacheable {
            let mut urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
            urls.insert(uri, url.clone());
        }
        Ok(url)
    }
}

/// How many parsed URLs a transport keeps: enough for the endpoints a client calls in
/// turn with one access token.
const URL_CACHE_ENTRIES: usize = 8;

/// The last few request URLs (`http` or `https`, without user information) and their
/// parsed forms. A URL's parsed form depends on nothing else, so a kept one is the same
/// as a new parse. The oldest entry goes first.
#[derive(Default)]
struct UrlCache {
    entries: Vec<(http::Uri, reqwest::Url)>,
    oldest: usize,
}

impl UrlCache {
    fn get(&self, uri: &http::Uri) -> Option<reqwest::Url> {
        self.entries
            .iter()
            .find(|(kept, _)| same_uri(kept, uri))
            .map(|(_, url)| url.clone())
    }

    fn insert(&mut self, uri: http::Uri, url: reqwest::Url) {
        if self.entries.iter().any(|(kept, _)| same_uri(kept, &uri)) {
            return;
        }
        if self.entries.len() < URL_CACHE_ENTRIES {
            self.entries.push((uri, url));
        } else {
            self.entries[self.oldest] = (uri, url);
            self.oldest = (self.oldest + 1) % URL_CACHE_ENTRIES;
        }
    }
}

/// Whether two URIs are the same text: scheme, authority, path and query byte for byte
/// (stricter than `http::Uri`'s own equality, which ignores the case of scheme and host),
/// so that both have the same parsed form.
fn same_uri(a: &http::Uri, b: &http::Uri) -> bool {
    a.scheme_str() == b.scheme_str()
        && a.authority().map(http::uri::Authority::as_str)
            == b.authority().map(http::uri::Authority::as_str)
        && a.path_and_query().map(http::uri::PathAndQuery::as_str)
            == b.path_and_query().map(http::uri::PathAndQuery::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What reqwest makes of `uri` on its own: the parse the cache stands in for.
    fn parsed_by_reqwest(uri: &http::Uri) -> reqwest::Url {
        reqwest::Url::parse(&uri.to_string()).expect("a URL reqwest parses")
    }

    /// `url_of` gives reqwest's own parse of `text`, the first time (parsed) and the
    /// second (kept).
    fn assert_kept_as_parsed(transport: &ReqwestTransport, text: &str) {
        let uri: http::Uri = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        let expected = parsed_by_reqwest(&uri);
        let first = transport.url_of(uri.clone()).expect("first");
        let second = transport.url_of(uri).expect("second");
        assert_eq!(first.as_str(), expected.as_str(), "{text}");
        assert_eq!(second.as_str(), expected.as_str(), "{text}");
    }

    #[test]
    fn a_kept_url_is_the_url_reqwest_parses() {
        let t = ReqwestTransport::default();
        for text in [
            "http://127.0.0.1:8080/card/qrcode/create?access_token=T-1_a.b~c",
            "https://api.weixin.qq.com/card/code/deposit?access_token=T-1",
            "https://API.Weixin.QQ.com:443/card/get?access_token=T-1",
            "http://127.0.0.1:80/a/./b/../c?x=1",
            "http://127.0.0.1/%7euser/%2F%2e%2E/x?q=%41%2B+&r=%E4%BC%9A",
            "http://127.0.0.1/x?b={1}|^`&t='&c=会员卡&d=%zz#fragment",
            "http://127.0.0.1/p{a}|\"b\"^/会员/z?",
            "http://127.0.0.1//double//slash?",
            "http://127.0.0.1",
            "http://127.0.0.1?x=1",
            "http://[::1]:8080/x?access_token=T",
            "http://[0:0:0:0:0:0:0:1]/x",
            "http://xn--fiqs8s.example/card?x=1",
            "http://0x7f.1/x",
            "https://api.weixin.qq.com/cgi-bin/ticket/getticket?access_token=T&type=wx_card",
        ] {
            assert_kept_as_parsed(&t, text);
        }
    }

    #[test]
    fn urls_that_differ_in_any_byte_are_kept_apart() {
        let t = ReqwestTransport::default();
        let pairs = [
            ("http://127.0.0.1/Card?x=1", "http://127.0.0.1/card?x=1"),
            ("http://127.0.0.1/card?x=A", "http://127.0.0.1/card?x=a"),
            ("http://127.0.0.1/card?x=%2f", "http://127.0.0.1/card?x=%2F"),
            ("http://127.0.0.1:1/card", "http://127.0.0.1:2/card"),
            ("http://127.0.0.1/card", "https://127.0.0.1/card"),
            ("http://127.0.0.1/card?", "http://127.0.0.1/card"),
        ];
        for (a, b) in pairs {
            // each one parsed, kept, then asked again after the other
            assert_kept_as_parsed(&t, a);
            assert_kept_as_parsed(&t, b);
            assert_kept_as_parsed(&t, a);
            assert_kept_as_parsed(&t, b);
        }
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_urls_and_clones_share_it() {
        let t = ReqwestTransport::default();
        let clone = t.clone();
        let texts: Vec<String> = (0..3 * URL_CACHE_ENTRIES)
            .map(|i| format!("http://127.0.0.1/endpoint/{i}?access_token=T{i}"))
            .collect();
        for round in 0..2 {
            for text in &texts {
                assert_kept_as_parsed(if round == 0 { &t } else { &clone }, text);
            }
        }
        let urls = t.urls.lock().unwrap();
        assert_eq!(urls.entries.len(), URL_CACHE_ENTRIES);
        // the last ones sent are the ones kept
        for text in &texts[texts.len() - URL_CACHE_ENTRIES..] {
            assert!(urls.get(&text.parse().unwrap()).is_some(), "{text}");
        }
        drop(urls);
        assert!(format!("{t:?}").starts_with("ReqwestTransport"));
        assert!(!format!("{t:?}").contains("access_token"));
    }

    #[test]
    fn a_url_reqwest_cannot_use_gives_invalid_url_and_is_not_kept() {
        let t = ReqwestTransport::default();
        for text in [
            "/card/get?access_token=T",
            "http://127.0.0.1:99999/card/get?access_token=T",
            "http://999.0.0.1/card/get?access_token=T",
        ] {
            let uri: http::Uri = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            for _ in 0..2 {
                let error = t.url_of(uri.clone()).expect_err(text);
                assert_eq!(error.kind(), TransportErrorKind::InvalidUrl);
                assert!(!format!("{error:?}").contains("access_token"), "{error:?}");
            }
        }
        assert!(t.urls.lock().unwrap().entries.is_empty());
    }

    /// Bytes an `http::Uri` takes in a path or a query, the tricky ones over-represented.
    fn uri_text() -> impl Strategy<Value = String> {
        let part = "[a-zA-Z0-9/._~%!$&'()*+,;=:?@\"{}|^`<>#\\[\\]会 -]{0,24}";
        (part, prop::option::of(part)).prop_map(|(path, query)| match query {
            Some(query) => format!("http://127.0.0.1:9/{path}?{query}"),
            None => format!("http://127.0.0.1:9/{path}"),
        })
    }

    proptest! {
        #[test]
        fn any_kept_url_is_the_url_reqwest_parses(texts in prop::collection::vec(uri_text(), 1..24)) {
            let t = ReqwestTransport::default();
            for _ in 0..2 {
                for text in &texts {
                    let Ok(uri) = text.parse::<http::Uri>() else { continue };
                    let expected = reqwest::Url::parse(&uri.to_string()).ok();
                    let got = t.url_of(uri).ok();
                    prop_assert_eq!(
                        got.as_ref().map(reqwest::Url::as_str),
                        expected.as_ref().map(reqwest::Url::as_str),
                        "{}", text
                    );
                }
            }
        }
    }
}
