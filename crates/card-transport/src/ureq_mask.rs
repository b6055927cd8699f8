//! Keeps the query string and the bodies of an exchange out of ureq's own logs.
//!
//! At `TRACE`, ureq (through the `log` facade) prints each request's URL with its query
//! and hex-dumps every byte it writes and reads: the `access_token` in every query, the
//! app secret of a token request, the token or ticket in an answer. An application that
//! turns `TRACE` on for everything would write them to its logs. Filtering `log` records
//! is the application's business (one global logger), so the blocking backend makes sure
//! ureq never holds those bytes instead:
//!
//! * ureq is handed the request with its query and body replaced by `*` bytes of the
//!   same length. The real bytes wait in a thread-local [`Exchange`]; ureq runs the
//!   whole exchange on the calling thread.
//! * [`MaskedTransport`], the last link of ureq's connector chain (below TLS it is the
//!   socket; above it, ureq's HTTP/1.1 code), writes the real query and body in place of
//!   the `*` bytes on their way out, after ureq has logged them.
//! * On the way in, it follows the HTTP/1.1 framing of each answer (head,
//!   `Content-Length`, chunked or close-delimited body) and hands ureq `*` bytes in place
//!   of the body's data, keeping the real bytes in the [`Exchange`]. ureq still checks
//!   the framing itself and counts the body against the limit; it never sees its content.
//!
//! Heads are passed as they are: the request line carries the masked query, and answer
//! heads carry nothing the SDK treats as secret.

use std::cell::RefCell;
use std::sync::Arc;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

/// The byte ureq sees in place of every masked byte.
pub(crate) const MASK: u8 = b'*';

/// The real bytes of the request in flight on this thread.
#[derive(Debug, Default)]
pub(crate) struct RealRequest {
    /// The query string (after `?`), as it goes on the wire.
    pub(crate) query: Vec<u8>,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// The values of the credential-bearing headers (`authorization`, `cookie`, ...), in
    /// the order they appear for each name.
    pub(crate) headers: Vec<(http::HeaderName, Vec<u8>)>,
}

/// What one exchange on this thread needs from the transport: the real request to
/// restore, and the real answer body as it arrives.
#[derive(Debug)]
pub(crate) struct Exchange {
    request: Arc<RealRequest>,
    head_request: bool,
    /// The real answer body, up to `keep` bytes.
    body: Vec<u8>,
    keep: usize,
}

thread_local! {
    static EXCHANGE: RefCell<Option<Exchange>> = const { RefCell::new(None) };
}

/// Clears this thread's exchange when dropped, however the exchange ends.
#[must_use]
pub(crate) struct ExchangeGuard(());

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        EXCHANGE.with(|e| e.borrow_mut().take());
    }
}

/// Starts an exchange on this thread: `request` is restored on the way out, and up to
/// `keep` bytes of the answer body are kept (the backend's limit, plus one to notice a
/// longer body).
pub(crate) fn begin(request: RealRequest, head_request: bool, keep: usize) -> ExchangeGuard {
    EXCHANGE.with(|e| {
        *e.borrow_mut() = Some(Exchange {
            request: Arc::new(request),
            head_request,
            body: Vec::new(),
            keep,
        });
    });
    ExchangeGuard(())
}

/// The real answer body of this thread's exchange (at most `keep` bytes).
pub(crate) fn take_body() -> Vec<u8> {
    EXCHANGE.with(|e| {
        e.borrow_mut()
            .as_mut()
            .map(|x| std::mem::take(&mut x.body))
            .unwrap_or_default()
    })
}

/// Makes room for an announced body of `len` bytes (never more than `keep`).
fn reserve_body(len: u64) {
    EXCHANGE.with(|e| {
        if let Some(x) = e.borrow_mut().as_mut() {
            let len = usize::try_from(len).unwrap_or(usize::MAX).min(x.keep);
            x.body.reserve(len.saturating_sub(x.body.len()));
        }
    });
}

fn current_request() -> Option<(Arc<RealRequest>, bool)> {
    EXCHANGE.with(|e| {
        e.borrow()
            .as_ref()
            .map(|x| (Arc::clone(&x.request), x.head_request))
    })
}

fn keep_body(data: &[u8]) {
    EXCHANGE.with(|e| {
        if let Some(x) = e.borrow_mut().as_mut() {
            let room = x.keep.saturating_sub(x.body.len());
            x.body.extend_from_slice(&data[..data.len().min(room)]);
        }
    });
}

/// `*` bytes of the same length as `bytes`.
pub(crate) fn masked(bytes: &[u8]) -> Vec<u8> {
    vec![MASK; bytes.len()]
}

/// The last connector of ureq's chain: wraps every connection in a [`MaskedTransport`].
///
/// Through an HTTP proxy, ureq opens the connection to the proxy itself with the whole
/// chain (this connector included, with the proxy left out of its settings) and writes
/// its `CONNECT` over it; the exchange's connection is then built on top of that one
/// (TLS, then this connector again). The proxy's link must pass every byte as it is:
/// restoring the request there would take the `CONNECT` for the request (and write the
/// real body over what follows it: the TLS handshake or the real request), and masking
/// would hide the tunnel's bytes from TLS. So a connection opened without a proxy by
/// an agent that has one is made transparent.
#[derive(Debug)]
pub(crate) struct MaskConnector {
    /// Whether the agent's settings name a proxy.
    pub(crate) proxied: bool,
}

impl<In: Transport> Connector<In> for MaskConnector {
    type Out = MaskedTransport<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let transparent = self.proxied && details.config.proxy().is_none();
        Ok(chained.map(|inner| MaskedTransport {
            transparent,
            inner,
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            outgoing: Outgoing::Idle,
            incoming: Incoming::default(),
        }))
    }
}

/// A connection whose request query and body are restored on the way out and whose
/// answer bodies are masked on the way in. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct MaskedTransport<T> {
    /// The link to an HTTP proxy, under the tunnel: bytes pass as they are.
    transparent: bool,
    inner: T,
    /// What ureq reads from and writes to: masked bytes.
    buffers: LazyBuffers,
    outgoing: Outgoing,
    incoming: Incoming,
}

impl<T: Transport> Transport for MaskedTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let data = &mut self.buffers.output()[..amount];
        if !self.transparent {
            self.outgoing.restore(data);
        }
        let mut sent = 0;
        while sent < amount {
            let out = self.inner.buffers().output();
            let n = out.len().min(amount - sent);
            if n == 0 {
                return Err(ureq::Error::Io(std::io::Error::other(
                    "the connection has no output buffer",
                )));
            }
            out[..n].copy_from_slice(&data[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if self.inner.buffers().input().is_empty() && !self.inner.await_input(timeout)? {
            return Ok(false);
        }
        let src = self.inner.buffers().input();
        let dst = self.buffers.input_append_buf();
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        if !self.transparent {
            self.incoming.mask(&mut dst[..n]);
        }
        self.inner.buffers().input_consume(n);
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Where the outgoing byte stream is in the current request.
#[derive(Debug)]
enum Outgoing {
    /// Between requests.
    Idle,
    /// In the request line; `query` counts the query bytes restored once `?` was seen.
    Line {
        real: Arc<RealRequest>,
        query: Option<usize>,
    },
    /// In the headers.
    Headers(Box<HeaderLines>),
    /// In the body, `at` bytes in.
    Body { real: Arc<RealRequest>, at: usize },
}

impl Outgoing {
    /// Writes the real query and body over their masks in `data`, the next bytes of
    /// the outgoing stream.
    fn restore(&mut self, data: &mut [u8]) {
        let mut i = 0;
        while i < data.len() {
            match self {
                Self::Idle => match current_request() {
                    Some((real, _)) => *self = Self::Line { real, query: None },
                    // Not one of ours: pass it on as it is.
                    None => return,
                },
                Self::Line { real, query } => match query {
                    Some(at) if *at < real.query.len() && data[i] == MASK => {
                        // The masked query: its run of mask bytes, restored at once.
                        let run = data[i..]
                            .iter()
                            .take(real.query.len() - *at)
                            .take_while(|&&b| b == MASK)
                            .count();
                        data[i..i + run].copy_from_slice(&real.query[*at..*at + run]);
                        *at += run;
                        i += run;
                    }
                    _ => {
                        // Up to the next byte that matters: `?` (before the query was
                        // seen), a mask byte (of the query not yet restored) or the
                        // line's end.
                        let looking_for_query = query.is_none();
                        let masks_left = query.is_some_and(|at| at < real.query.len());
                        let Some(skip) = data[i..].iter().position(|&b| {
                            b == b'\n'
                                || (looking_for_query && b == b'?')
                                || (masks_left && b == MASK)
                        }) else {
                            return;
                        };
                        i += skip;
                        if data[i] == MASK && masks_left {
                            continue;
                        }
                        if data[i] == b'\n' {
                            *self = Self::Headers(Box::new(HeaderLines {
                                used: vec![false; real.headers.len()],
                                real: Arc::clone(real),
                                line: 0,
                                name: Vec::new(),
                                value: None,
                            }));
                        } else {
                            *query = Some(0);
                        }
                        i += 1;
                    }
                },
                Self::Headers(h) if h.real.headers.is_empty() => {
                    // Nothing to restore in the headers: only their end matters, the
                    // first empty line.
                    for (offset, &b) in data[i..].iter().enumerate() {
                        match b {
                            b'\n' if h.line == 0 => {
                                i += offset + 1;
                                *self = if h.real.body.is_empty() {
                                    Self::Idle
                                } else {
                                    Self::Body {
                                        real: Arc::clone(&h.real),
                                        at: 0,
                                    }
                                };
                                break;
                            }
                            b'\n' => h.line = 0,
                            b'\r' => {}
                            _ => h.line += 1,
                        }
                    }
                    if matches!(self, Self::Headers(_)) {
                        return;
                    }
                }
                Self::Headers(h) => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\n' if h.line == 0 => {
                            *self = if h.real.body.is_empty() {
                                Self::Idle
                            } else {
                                Self::Body {
                                    real: Arc::clone(&h.real),
                                    at: 0,
                                }
                            };
                        }
                        b'\n' => h.end_line(),
                        b'\r' => {}
                        _ => {
                            h.line += 1;
                            h.restore(&mut data[i - 1]);
                        }
                    }
                }
                Self::Body { real, at } => {
                    let n = (data.len() - i).min(real.body.len() - *at);
                    data[i..i + n].copy_from_slice(&real.body[*at..*at + n]);
                    *at += n;
                    i += n;
                    if *at == real.body.len() {
                        *self = Self::Idle;
                    }
                }
            }
        }
    }
}

/// The headers of a request on their way out: the values of credential-bearing headers
/// are restored over their masks.
#[derive(Debug)]
struct HeaderLines {
    real: Arc<RealRequest>,
    /// Which of `real.headers` were restored already.
    used: Vec<bool>,
    /// The length of the current line.
    line: usize,
    /// The current line's header name, until its `:`.
    name: Vec<u8>,
    /// The header value being restored: its index in `real.headers`, bytes restored.
    value: Option<(usize, usize)>,
}

impl HeaderLines {
    fn end_line(&mut self) {
        self.line = 0;
        self.name.clear();
        self.value = None;
    }

    /// Handles one byte of a header line (not CR or LF), restoring it if it is a masked
    /// byte of a credential-bearing value.
    fn restore(&mut self, byte: &mut u8) {
        if let Some((index, at)) = &mut self.value {
            let value = &self.real.headers[*index].1;
            if *byte == MASK && *at < value.len() {
                *byte = value[*at];
                *at += 1;
            }
            return;
        }
        if self.line != self.name.len() + 1 || self.real.headers.is_empty() {
            // past this line's name (or nothing to restore)
            return;
        }
        if *byte != b':' {
            self.name.push(byte.to_ascii_lowercase());
            return;
        }
        let found = self
            .real
            .headers
            .iter()
            .zip(&self.used)
            .position(|((name, _), used)| !used && name.as_str().as_bytes() == self.name);
        if let Some(index) = found {
            self.used[index] = true;
            self.value = Some((index, 0));
        }
    }
}

/// Where the incoming byte stream is in the current answer.
#[derive(Debug, Default)]
struct Incoming {
    state: In,
    /// The head read so far (kept until it is complete, to read its framing).
    head: Vec<u8>,
    /// The current chunk-size or trailer line.
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum In {
    /// Reading an answer head.
    #[default]
    Head,
    /// In a body of known length: this many bytes left.
    Length(u64),
    /// In a chunked body, reading a chunk-size line.
    ChunkSize,
    /// In a chunk's data: this many bytes left.
    ChunkData(u64),
    /// After a chunk's data: the CRLF that ends it.
    ChunkEnd,
    /// In the trailers after the last chunk.
    Trailers,
    /// A body that ends when the connection closes.
    UntilClose,
    /// Framing we could not follow: everything from here on is masked.
    Lost,
}

/// Longest head or chunk line followed; past it the framing is given up (and the rest
/// masked), as ureq refuses such heads anyway.
const MAX_LINE: usize = 64 * 1024;

impl Incoming {
    /// Replaces the body data in `data`, the next bytes of the incoming stream, by
    /// [`MASK`] bytes, handing the real ones to this thread's exchange.
    fn mask(&mut self, data: &mut [u8]) {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                In::Head => {
                    let end = data[i..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(data.len(), |p| i + p + 1);
                    self.head.extend_from_slice(&data[i..end]);
                    i = end;
                    if self.head.ends_with(b"\r\n\r\n") || self.head.ends_with(b"\n\n") {
                        self.state = framing(&self.head);
                        self.head.clear();
                    } else if self.head.len() > MAX_LINE {
                        self.state = In::Lost;
                    }
                }
                In::Length(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(data.len() - i);
                    take(&mut data[i..i + n]);
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        In::Head
                    } else {
                        In::Length(left)
                    };
                }
                In::ChunkSize | In::Trailers | In::ChunkEnd => {
                    let b = data[i];
                    i += 1;
                    self.line.push(b);
                    if b != b'\n' {
                        if self.line.len() > MAX_LINE {
                            self.state = In::Lost;
                        }
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    self.state = match self.state {
                        In::ChunkEnd => In::ChunkSize,
                        In::Trailers if line.len() <= 2 => In::Head,
                        In::Trailers => In::Trailers,
                        _ => match chunk_size(&line) {
                            Some(0) => In::Trailers,
                            Some(n) => In::ChunkData(n),
                            None => In::Lost,
                        },
                    };
                }
                In::ChunkData(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(data.len() - i);
                    take(&mut data[i..i + n]);
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        In::ChunkEnd
                    } else {
                        In::ChunkData(left)
                    };
                }
                In::UntilClose | In::Lost => {
                    take(&mut data[i..]);
                    i = data.len();
                }
            }
        }
    }
}

/// Hands `data` to the exchange and masks it.
fn take(data: &mut [u8]) {
    keep_body(data);
    data.fill(MASK);
}

/// How the body after `head` (a complete answer head) is delimited.
fn framing(head: &[u8]) -> In {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = response.parse(head) else {
        return In::Lost;
    };
    let status = response.code.unwrap_or(0);
    let head_request = current_request().is_some_and(|(_, head)| head);
    if (100..200).contains(&status) {
        // An interim answer: the real head follows.
        return In::Head;
    }
    if head_request || status == 204 || status == 304 {
        return In::Head;
    }
    let mut length = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let chunked = std::str::from_utf8(header.value).is_ok_and(|v| {
                v.rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
            });
            return if chunked {
                In::ChunkSize
            } else {
                In::UntilClose
            };
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if length.is_none() {
                return In::Lost;
            }
        }
    }
    match length {
        Some(0) => In::Head,
        Some(n) => {
            reserve_body(n);
            In::Length(n)
        }
        None => In::UntilClose,
    }
}

/// The size in a chunk-size line (`1a3;ext=1\r\n`), or `None` if it is not one.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = std::str::from_utf8(line).ok()?;
    let size = line.split(';').next()?.trim();
    if size.is_empty() || size.len() > 15 {
        return None;
    }
    u64::from_str_radix(size, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_stream(stream: &[u8], splits: usize) -> (Vec<u8>, Vec<u8>) {
        let _guard = begin(RealRequest::default(), false, usize::MAX);
        let mut incoming = Incoming::default();
        let mut out = stream.to_vec();
        let step = (stream.len() / splits.max(1)).max(1);
        for piece in out.chunks_mut(step) {
            incoming.mask(piece);
        }
        (out, take_body())
    }

    #[test]
    fn answer_bodies_are_masked_in_every_framing_and_however_split() {
        let answers: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"ticket\":\"T\"}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\n{\"tic\r\n9\r\nket\":\"T\"}\r\n0\r\nA: b\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n{\"ticket\":\"T\"}",
            b"HTTP/1.1 200 OK\r\n\r\n{\"ticket\":\"T\"}",
        ];
        for answer in answers {
            for splits in [1, 2, 3, 7, answer.len()] {
                let (out, body) = masked_stream(answer, splits);
                assert_eq!(body, br#"{"ticket":"T"}"#, "{splits}");
                assert_eq!(out.len(), answer.len());
                let text = String::from_utf8_lossy(&out);
                assert!(!text.contains("ticket"), "{text}");
                // the framing is untouched
                assert!(text.starts_with("HTTP/1.1 "), "{text}");
            }
        }
        // two answers in a row on one connection, the second one bodiless
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nde";
        let (out, body) = masked_stream(two, 5);
        assert_eq!(body, b"abcde");
        assert!(out.ends_with(b"\r\n\r\n**"));
        // a chunked answer with trailers, then another answer
        let chunked_then_length = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc";
        for splits in [1, 3, chunked_then_length.len()] {
            let (out, body) = masked_stream(chunked_then_length, splits);
            assert_eq!(body, b"abc");
            assert!(out.ends_with(b"Content-Length: 1\r\n\r\n*"));
        }
    }

    #[test]
    fn query_headers_and_body_are_restored_on_the_way_out() {
        let real = RealRequest {
            query: b"access_token=TOKEN&x=1".to_vec(),
            body: br#"{"secret":"S"}"#.to_vec(),
            headers: vec![
                (http::header::COOKIE, b"a=1".to_vec()),
                (http::header::AUTHORIZATION, b"Basic dTpw".to_vec()),
                (http::header::COOKIE, b"b=2".to_vec()),
            ],
        };
        let wire = [
            &b"POST /cgi-bin/stable_token?access_token=TOKEN&x=1 HTTP/1.1\r\nhost: h\r\n"[..],
            b"cookie: a=1\r\nauthorization: Basic dTpw\r\nx-cookie: ***\r\ncookie: b=2\r\n",
            b"content-length: 14\r\n\r\n",
            br#"{"secret":"S"}"#,
        ]
        .concat();
        let masked_wire = [
            &b"POST /cgi-bin/stable_token?"[..],
            &masked(&real.query),
            b" HTTP/1.1\r\nhost: h\r\n",
            b"cookie: ***\r\nauthorization: **********\r\nx-cookie: ***\r\ncookie: ***\r\n",
            b"content-length: 14\r\n\r\n",
            &masked(&real.body),
        ]
        .concat();
        let _guard = begin(real, false, 0);
        for splits in [1, 4, masked_wire.len()] {
            let mut outgoing = Outgoing::Idle;
            let mut out = masked_wire.clone();
            let step = (out.len() / splits).max(1);
            for piece in out.chunks_mut(step) {
                outgoing.restore(piece);
            }
            assert_eq!(out, wire, "{splits}");
            assert!(matches!(outgoing, Outgoing::Idle));
        }
    }

    /// A request as it goes on the wire and as ureq writes it (query, credential header
    /// values and body masked).
    fn wire_and_masked(
        path: &str,
        query: Option<&[u8]>,
        headers: &[(http::HeaderName, Vec<u8>)],
        plain_headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let (mut wire, mut masked_wire) = (Vec::new(), Vec::new());
        for out in [&mut wire, &mut masked_wire] {
            out.extend_from_slice(b"POST ");
            out.extend_from_slice(path.as_bytes());
        }
        if let Some(query) = query {
            wire.push(b'?');
            wire.extend_from_slice(query);
            masked_wire.push(b'?');
            masked_wire.extend_from_slice(&masked(query));
        }
        for out in [&mut wire, &mut masked_wire] {
            out.extend_from_slice(b" HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        }
        // plain headers first, then the credential ones, then plain ones again
        let (early, late) = plain_headers.split_at(plain_headers.len() / 2);
        let plain = |out: &mut Vec<u8>, list: &[(String, Vec<u8>)]| {
            for (name, value) in list {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        };
        plain(&mut wire, early);
        plain(&mut masked_wire, early);
        for (name, value) in headers {
            for (out, value) in [
                (&mut wire, value.clone()),
                (&mut masked_wire, masked(value)),
            ] {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(&value);
                out.extend_from_slice(b"\r\n");
            }
        }
        plain(&mut wire, late);
        plain(&mut masked_wire, late);
        for out in [&mut wire, &mut masked_wire] {
            out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        }
        wire.extend_from_slice(body);
        masked_wire.extend_from_slice(&masked(body));
        (wire, masked_wire)
    }

    fn restored(masked_wire: &[u8], cuts: &[usize]) -> (Vec<u8>, bool) {
        let mut outgoing = Outgoing::Idle;
        let mut out = masked_wire.to_vec();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (out.len() + 1)).collect();
        cuts.sort_unstable();
        let mut start = 0;
        for end in cuts.into_iter().chain([out.len()]) {
            outgoing.restore(&mut out[start..end]);
            start = end;
        }
        (out, matches!(outgoing, Outgoing::Idle))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Whatever the query, headers and body hold (`*`, `?`, nothing at all) and
        /// however the stream is cut into writes, the real bytes reach the wire.
        #[test]
        fn any_request_cut_anywhere_is_restored_exactly(
            path in "/[a-z*/]{0,12}",
            query in proptest::option::of(proptest::collection::vec(
                proptest::sample::select(b"a=*?&%1 \t".to_vec()), 0..40)),
            credentials in proptest::collection::vec(
                (0..3usize, proptest::collection::vec(
                    proptest::sample::select(b"Bx*: =\t".to_vec()), 0..12)),
                0..4),
            plain_headers in proptest::collection::vec(
                ("(x-cookie|accept|x-[a-z]{1,6})", proptest::collection::vec(
                    proptest::sample::select(b"*/ a:".to_vec()), 0..8)),
                0..4),
            body in proptest::collection::vec(
                proptest::sample::select(b"{}*\"\r\n:x".to_vec()), 0..300),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..12),
        ) {
            let names = [
                http::header::AUTHORIZATION,
                http::header::PROXY_AUTHORIZATION,
                http::header::COOKIE,
            ];
            let headers: Vec<(http::HeaderName, Vec<u8>)> = credentials
                .into_iter()
                .map(|(n, v)| (names[n].clone(), v))
                .collect();
            let (wire, masked_wire) =
                wire_and_masked(&path, query.as_deref(), &headers, &plain_headers, &body);
            // The backend hands the real values in the order of its credential names.
            let mut real_headers = Vec::new();
            for name in &names {
                real_headers.extend(headers.iter().filter(|(n, _)| n == name).cloned());
            }
            let _guard = begin(
                RealRequest {
                    query: query.unwrap_or_default(),
                    body: body.clone(),
                    headers: real_headers,
                },
                false,
                0,
            );
            let (out, idle) = restored(&masked_wire, &cuts);
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&wire)
            );
            proptest::prop_assert!(idle);
        }
    }
}
