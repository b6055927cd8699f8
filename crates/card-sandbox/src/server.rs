//! The sandbox over HTTP/1.1: `std::net::TcpListener`, a thread per connection, and a
//! minimal hand-written parser (request line, headers, `Content-Length` bodies,
//! keep-alive, `Expect: 100-continue`). Header and body sizes are bounded; chunked request
//! bodies are refused with 501, which no WeChat client needs.

use crate::Sandbox;
use crate::engine::{Processed, Reply};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest request head (request line and headers); past it the answer is 431.
    pub max_header_bytes: usize,
    /// Largest request body; past it the answer is 413.
    pub max_body_bytes: usize,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

impl ServerConfig {
    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
}

type Connections = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running server. Dropping it shuts the server down, as [`ServerHandle::shutdown`] does.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Connections,
    accept: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (or the bound IP): a base URL for a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes open connections and waits for the accept loop to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        for (_, stream) in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Serves `sandbox` over HTTP/1.1 at `addr` (use `127.0.0.1:0` for a free port) with the
/// default [`ServerConfig`].
///
/// ```
/// use card_sandbox::{Sandbox, serve};
/// use std::io::{Read, Write};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = Sandbox::new();
/// let server = serve(sandbox.clone(), "127.0.0.1:0")?;
/// let mut stream = std::net::TcpStream::connect(server.local_addr())?;
/// stream.write_all(b"GET /sandbox/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut answer = String::new();
/// stream.read_to_string(&mut answer)?;
/// assert!(answer.starts_with("HTTP/1.1 200 OK"));
/// server.shutdown();
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// When the address cannot be bound.
pub fn serve(sandbox: Sandbox, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
    serve_with(sandbox, addr, ServerConfig::default())
}

/// [`serve`] with explicit limits.
///
/// # Errors
/// When the address cannot be bound.
pub fn serve_with(
    sandbox: Sandbox,
    addr: impl ToSocketAddrs,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let connections: Connections = Arc::default();
    let accept = {
        let stop = Arc::clone(&stop);
        let connections = Arc::clone(&connections);
        std::thread::Builder::new()
            .name("card-sandbox-accept".into())
            .spawn(move || accept_loop(listener, sandbox, config, stop, connections))?
    };
    Ok(ServerHandle {
        addr,
        stop,
        connections,
        accept: Some(accept),
    })
}

fn accept_loop(
    listener: TcpListener,
    sandbox: Sandbox,
    config: ServerConfig,
    stop: Arc<AtomicBool>,
    connections: Connections,
) {
    let next_id = AtomicU64::new(0);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // Out of descriptors and the like: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= config.max_connections {
            let _ = write_simple(&mut stream, 503, "too many connections", false);
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, clone);
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (sandbox, config, conns, live) = (
            sandbox.clone(),
            config.clone(),
            Arc::clone(&connections),
            Arc::clone(&active),
        );
        let spawned = std::thread::Builder::new()
            .name("card-sandbox-conn".into())
            .spawn(move || {
                let _ = serve_connection(&sandbox, stream, &config);
                conns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                live.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
            if let Some(s) = connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// A parsed request head.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    content_length: usize,
    keep_alive: bool,
    expect_continue: bool,
}

/// Why a head could not be used: the status to answer.
#[derive(Debug)]
struct Refusal(u16, &'static str);

fn parse_head(head: &[u8], max_body: usize) -> Result<Head, Refusal> {
    let bad = Refusal(400, "bad request");
    let text = std::str::from_utf8(head).map_err(|_| Refusal(400, "bad request"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(Refusal(400, "bad request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(Refusal(505, "http version not supported")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return Err(bad);
    }
    let mut content_length: Option<usize> = None;
    let mut connection: Option<String> = None;
    let mut expect_continue = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Refusal(400, "bad header"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| Refusal(400, "bad content-length"))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(Refusal(400, "conflicting content-length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal(
                501,
                "transfer-encoding not supported; send content-length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            connection = Some(value.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > max_body {
        return Err(Refusal(413, "payload too large"));
    }
    let keep_alive = match connection.as_deref() {
        Some(c) if c.split(',').any(|t| t.trim() == "close") => false,
        Some(c) if c.split(',').any(|t| t.trim() == "keep-alive") => true,
        _ => http11,
    };
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        content_length,
        keep_alive,
        expect_continue,
    })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Reads more bytes into `buf`; `Ok(false)` at end of stream.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

fn serve_connection(
    sandbox: &Sandbox,
    mut stream: TcpStream,
    config: &ServerConfig,
) -> io::Result<()> {
    stream.set_read_timeout(Some(config.idle_timeout))?;
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // The head.
        let mut scanned: usize = 0;
        let head_end = loop {
            // Re-scan only what may hold a new terminator.
            if let Some(end) = find_head_end(&buf[scanned.saturating_sub(3)..]) {
                break scanned.saturating_sub(3) + end;
            }
            scanned = buf.len();
            if buf.len() > config.max_header_bytes {
                return write_simple(&mut stream, 431, "request header fields too large", false);
            }
            if !fill(&mut stream, &mut buf)? {
                return Ok(());
            }
        };
        if head_end > config.max_header_bytes {
            return write_simple(&mut stream, 431, "request header fields too large", false);
        }
        let head = match parse_head(&buf[..head_end], config.max_body_bytes) {
            Ok(h) => h,
            Err(Refusal(status, why)) => return write_simple(&mut stream, status, why, false),
        };
        // The body.
        let total = head_end + head.content_length;
        if head.expect_continue && buf.len() < total {
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        while buf.len() < total {
            if !fill(&mut stream, &mut buf)? {
                return Ok(());
            }
        }
        let body = buf[head_end..total].to_vec();
        buf.drain(..total);

        let request = match http::Request::builder()
            .method(head.method.as_str())
            .uri(head.target.as_str())
            .body(body)
        {
            Ok(r) => r,
            Err(_) => return write_simple(&mut stream, 400, "bad request target", false),
        };
        let Processed { reply, delay } = sandbox.process(&request);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match reply {
            Reply::Drop => {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Respond(response) => write_response(&mut stream, &response, head.keep_alive)?,
        }
        if !head.keep_alive {
            return Ok(());
        }
    }
}

fn write_response(
    stream: &mut TcpStream,
    response: &http::Response<Vec<u8>>,
    keep_alive: bool,
) -> io::Result<()> {
    let status = response.status();
    let mut out = Vec::with_capacity(256 + response.body().len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown")
        )
        .as_bytes(),
    );
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: {}\r\n\r\n",
            response.body().len(),
            if keep_alive { "keep-alive" } else { "close" }
        )
        .as_bytes(),
    );
    out.extend_from_slice(response.body());
    stream.write_all(&out)?;
    stream.flush()
}

fn write_simple(
    stream: &mut TcpStream,
    status: u16,
    why: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let body = serde_json::json!({"errcode": status, "errmsg": format!("sandbox: {why}")});
    let mut response = http::Response::new(serde_json::to_vec(&body).unwrap_or_default());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    write_response(stream, &response, keep_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let h = parse_head(
            b"POST /card/code/deposit?access_token=x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n",
            100,
        )
        .map_err(|r| r.0);
        let h = h.expect("valid head");
        assert_eq!(
            (h.method.as_str(), h.content_length, h.keep_alive),
            ("POST", 12, true)
        );
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n", 100)
            .map_err(|r| r.0)
            .expect("1.0");
        assert!(!h.keep_alive);
        let h = parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100)
            .map_err(|r| r.0)
            .expect("close");
        assert!(!h.keep_alive);
        for (raw, status) in [
            (&b"GET / HTTP/2\r\n\r\n"[..], 505),
            (b"GET /\r\n\r\n", 400),
            (b"get / HTTP/1.1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            (b"POST / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
            (b"\xff / HTTP/1.1\r\n\r\n", 400),
        ] {
            assert_eq!(
                parse_head(raw, 100).map(|_| ()).map_err(|r| r.0),
                Err(status)
            );
        }
    }
}
