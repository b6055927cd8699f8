//! The raw sequential floor: one kept-alive HTTP/1.1 connection on
//! `std::net::TcpStream`, requests written by hand into one reused buffer, responses
//! parsed as little as HTTP/1.1 allows (status line, `Content-Length`, `Connection:
//! close`). No thread, no pool, no lookup: what one call at a time costs at least.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;

use super::{Answer, Post};
use crate::Res;

pub struct RawStd {
    addr: SocketAddr,
    /// `Host` header value.
    host: String,
    token: String,
    connection: Mutex<Option<Connection>>,
}

struct Connection {
    stream: TcpStream,
    /// The request being written.
    out: Vec<u8>,
    /// The read buffer (zeroed once, grown only for an answer larger than it).
    input: Vec<u8>,
    /// `input[..filled]` holds bytes read and not yet consumed.
    filled: usize,
}

impl RawStd {
    /// A client of `authority` (`ip:port`) sending `token` as the access token.
    pub fn new(authority: &str, token: &str) -> Res<Self> {
        Ok(Self {
            addr: authority.parse()?,
            host: authority.to_owned(),
            token: token.to_owned(),
            connection: Mutex::new(None),
        })
    }
}

impl Post for RawStd {
    fn post(&self, path: &str, body: String) -> Res<Answer> {
        let mut guard = self.connection.lock().map_err(|_| "poisoned")?;
        let connection = match guard.as_mut() {
            Some(connection) => connection,
            None => {
                let stream = TcpStream::connect(self.addr)?;
                stream.set_nodelay(true)?;
                guard.insert(Connection {
                    stream,
                    out: Vec::with_capacity(4096),
                    input: vec![0; 16 * 1024],
                    filled: 0,
                })
            }
        };
        match connection.exchange(&self.host, &self.token, path, body.as_bytes()) {
            Ok((answer, keep)) => {
                if !keep {
                    *guard = None;
                }
                Ok(answer)
            }
            Err(error) => {
                *guard = None;
                Err(error)
            }
        }
    }
}

impl Connection {
    /// One request and its response; `false` when the server closes the connection.
    fn exchange(
        &mut self,
        host: &str,
        token: &str,
        path: &str,
        body: &[u8],
    ) -> Res<(Answer, bool)> {
        self.out.clear();
        write!(
            self.out,
            "POST {path}?access_token={token} HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        self.out.extend_from_slice(body);
        self.stream.write_all(&self.out)?;

        let head_end = loop {
            if let Some(at) = find(&self.input[..self.filled], b"\r\n\r\n") {
                break at + 4;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.input[..head_end])?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .ok_or_else(|| format!("bad status line {status_line:?}"))?
            .parse()?;
        let mut length = None;
        let mut keep = true;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep = false;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("the raw floor reads Content-Length bodies only".into());
            }
        }
        let length = length.ok_or("no Content-Length")?;
        let end = head_end + length;
        while self.filled < end {
            self.fill()?;
        }
        let body = self.input[head_end..end].to_vec();
        // Keep what follows (nothing, without pipelining) at the front.
        self.input.copy_within(end..self.filled, 0);
        self.filled -= end;
        Ok((Answer { status, body }, keep))
    }

    /// Reads what the socket has into `input`, growing it only when it is full.
    fn fill(&mut self) -> Res<()> {
        if self.filled == self.input.len() {
            self.input.resize(self.input.len() * 2, 0);
        }
        let read = self.stream.read(&mut self.input[self.filled..])?;
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        self.filled += read;
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
