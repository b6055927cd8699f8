//! Helpers shared by the backend tests: tiny hand-written HTTP servers on loopback for
//! what wiremock cannot do (no `Content-Length`, a connection cut mid-body), and a port
//! nothing listens on.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Serves one connection on 127.0.0.1: reads the request head, writes `response` (raw
/// bytes) and closes. Write errors (the client hung up) are ignored.
pub fn raw_server(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let _ = stream.write_all(&response);
        let _ = stream.flush();
    });
    addr
}

/// A chunked 200 response (no `Content-Length`) whose body is `chunks` chunks of
/// `chunk_size` bytes of `x`.
pub fn chunked_response(chunks: usize, chunk_size: usize) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..chunks {
        out.extend_from_slice(format!("{chunk_size:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b'x', chunk_size));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked` (chunks of at most 16 KiB).
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    Close,
}

/// A 200 response whose body is `len` bytes of `a`, delimited by `framing`.
pub fn framed_response(len: usize, framing: Framing) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n".to_vec();
    match framing {
        Framing::Length => {
            out.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'a', len));
        }
        Framing::Chunked => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut left = len;
            while left > 0 {
                let n = left.min(16 * 1024);
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend(std::iter::repeat_n(b'a', n));
                out.extend_from_slice(b"\r\n");
                left -= n;
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Framing::Close => {
            out.extend_from_slice(b"\r\n");
            out.extend(std::iter::repeat_n(b'a', len));
        }
    }
    out
}

/// Serves one connection on 127.0.0.1 with a chunked body that never ends (up to
/// `max_bytes`), and reports how many body bytes it managed to write before the client
/// hung up.
pub fn endless_server(max_bytes: usize) -> (SocketAddr, std::sync::mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let mut written = 0;
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .is_ok()
        {
            let mut chunk = b"4000\r\n".to_vec();
            chunk.extend(std::iter::repeat_n(b'a', 0x4000));
            chunk.extend_from_slice(b"\r\n");
            while written < max_bytes && stream.write_all(&chunk).is_ok() {
                written += 0x4000;
            }
        }
        let _ = tx.send(written);
    });
    (addr, rx)
}

/// A 200 response announcing 100 bytes of body but sending 10, then closing.
pub fn truncated_response() -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n".to_vec();
    out.extend_from_slice(b"0123456789");
    out
}

/// A loopback port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    port
}

/// A request with `method` to `url` carrying `body`.
pub fn request(method: &str, url: &str, body: impl Into<Vec<u8>>) -> card_transport::HttpRequest {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(body.into())
        .expect("valid request")
}

/// Serves one connection on 127.0.0.1 as a TLS server that refuses every handshake:
/// reads the client's first bytes and answers with a fatal `handshake_failure` alert.
pub fn tls_alert_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut hello = [0u8; 4096];
        if stream.read(&mut hello).is_err() {
            return;
        }
        // TLS record: alert (21), TLS 1.2 (3,3), length 2, level fatal (2), handshake_failure (40).
        let _ = stream.write_all(&[21, 3, 3, 0, 2, 2, 40]);
        let _ = stream.flush();
        std::thread::sleep(Duration::from_millis(100));
    });
    addr
}

/// A loopback listener that never accepts and whose accept queue is full, so the kernel
/// drops every further SYN: a connect to [`addr`](Self::addr) neither succeeds nor is
/// refused, it hangs until the client gives up. Dropping it closes every socket.
pub struct FullListener {
    addr: SocketAddr,
    // Held only to keep the queue full; dropped (closed) with the value.
    _listener: TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl FullListener {
    /// Binds on 127.0.0.1 and connects to itself until a connect no longer completes
    /// within `PROBE`: the accept queue (std's backlog is 128) is then full.
    ///
    /// # Panics
    /// If the kernel still completes handshakes after `MAX_QUEUED` connections (it
    /// would then never drop a SYN and no connect timeout could be produced this way).
    pub fn new() -> Self {
        const MAX_QUEUED: usize = 1024;
        const PROBE: Duration = Duration::from_millis(100);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut queued = Vec::new();
        loop {
            match std::net::TcpStream::connect_timeout(&addr, PROBE) {
                Ok(stream) => queued.push(stream),
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => break,
                Err(error) => panic!("filling the accept queue failed: {error}"),
            }
            assert!(
                queued.len() < MAX_QUEUED,
                "the kernel completed {MAX_QUEUED} handshakes on a listener that accepts none"
            );
        }
        Self {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
