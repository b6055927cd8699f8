//! A small HTTP/1.1 server on 127.0.0.1 for the blocking backend's unit tests: reads
//! each request (head and `Content-Length` body), answers `ok`, and then does what the
//! test asks of the connection.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with a connection once it answered.
#[derive(Clone, Copy, Debug)]
pub(crate) enum After {
    /// Waits for the next request (`Connection: keep-alive`).
    KeepAlive,
    /// Says `Connection: close` in its answer and closes.
    SayClose,
    /// Closes the connection without having said so in its answer.
    Close,
    /// Sends bytes nobody asked for (with [`server_telling`], once told to), then waits.
    Garbage,
}

/// Starts the server: every answer comes after `delay`, then `after` applies. Returns
/// its address and the count of connections it accepted.
pub(crate) fn server(delay: Duration, after: After) -> (SocketAddr, Arc<AtomicUsize>) {
    listen(move |stream| serve(stream, delay, after, None))
}

/// A [`server_telling`]'s address and its two ends of the test's conversation.
pub(crate) struct Telling {
    /// The server's address.
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// A message each time the server has closed a connection ([`After::Close`]) or
    /// sent its unasked bytes ([`After::Garbage`]): on loopback the client's socket
    /// holds the end or the bytes by then.
    pub done: Receiver<()>,
    /// With [`After::Garbage`], the server sends its bytes only when told here that the
    /// client has read the whole answer.
    pub go: Sender<()>,
}

/// As [`server`], telling the test what it did (see [`Telling`]).
pub(crate) fn server_telling(delay: Duration, after: After) -> Telling {
    let (done, told) = channel();
    let (go, wait) = channel();
    let talk = Arc::new(Mutex::new((done, wait)));
    let (addr, accepted) = listen(move |stream| serve(stream, delay, after, Some(&talk)));
    Telling {
        addr,
        accepted,
        done: told,
        go,
    }
}

/// Listens on 127.0.0.1 and runs `handle` on a thread of its own for every connection.
/// Returns the address and the count of connections accepted.
pub(crate) fn listen(
    handle: impl Fn(TcpStream) + Clone + Send + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let handle = handle.clone();
            std::thread::spawn(move || handle(stream));
        }
    });
    (addr, accepted)
}

/// Reads one request head from `reader`: its request line (without the line end) and
/// its `Content-Length`. `None` at the end of the stream.
pub(crate) fn read_head(reader: &mut impl BufRead) -> Option<(String, usize)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    Some((request_line.trim_end().to_owned(), length))
}

/// Reads one whole request (head and `Content-Length` body): its request line and body.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let (line, length) = read_head(reader)?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line, body))
}

/// Answers `200` with `<request line>\n<body>` as the body.
pub(crate) fn echo(out: &mut impl Write, line: &str, body: &[u8]) -> std::io::Result<()> {
    let echo = [line.as_bytes(), b"\n", body].concat();
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", echo.len());
    out.write_all(head.as_bytes())?;
    out.write_all(&echo)?;
    out.flush()
}

/// The server's ends of a [`Telling`] conversation.
type Talk = Mutex<(Sender<()>, Receiver<()>)>;

fn serve(stream: TcpStream, delay: Duration, after: After, talk: Option<&Talk>) {
    let tell = || {
        if let Some(Ok(talk)) = talk.map(Mutex::lock) {
            let _ = talk.0.send(());
        }
    };
    let wait_for_go = || {
        if let Some(Ok(talk)) = talk.map(Mutex::lock) {
            let _ = talk.1.recv_timeout(Duration::from_secs(10));
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while read_request(&mut reader).is_some() {
        std::thread::sleep(delay);
        let connection = match after {
            After::SayClose => "close",
            _ => "keep-alive",
        };
        let answer =
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: {connection}\r\n\r\nok");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
        match after {
            After::KeepAlive => {}
            After::SayClose => return,
            After::Close => {
                drop(writer);
                drop(reader);
                tell();
                return;
            }
            After::Garbage => {
                wait_for_go();
                let _ = writer.write_all(b"surprise");
                tell();
            }
        }
    }
}
