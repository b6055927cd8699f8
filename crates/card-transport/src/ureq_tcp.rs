//! The TCP link under ureq for a direct connection: fewer system calls per request than
//! ureq's own, the same timeouts.
//!
//! ureq's TCP transport sets the socket's read or write timeout before every read and
//! write (the time left of the exchange changes with every one), and checks that a
//! pooled connection is still open, when it is given back to the pool and when it is
//! taken again, with a non-blocking read between two switches of the socket's blocking
//! mode: with the write and the read, ten system calls for each request on a kept-alive
//! connection, where the request needs two.
//!
//! [`Tcp`] keeps the socket's timeouts as long as they still fit the time left: a timeout
//! set to half of what was left stays while it is at most the time left and at least an
//! eighth of it, so the exchanges on a connection mostly run without touching it. When a
//! read or write outlasts the socket's timeout but the exchange still has time, it is
//! tried again with what is left; no I/O ever waits past the exchange's deadline, and a
//! transmission written in parts (a peer reading slowly) counts its time from its first
//! write, not from each part. An interrupted read or write is tried again. The open
//! check is one non-blocking peek (on Unix; elsewhere ureq's way).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::unversioned::resolver::ResolvedSocketAddrs;
use ureq::unversioned::transport::{Buffers, LazyBuffers, NextTimeout, ShutdownHandle, Transport};

/// The shortest time given to one address when a host has several.
const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);

/// Opens a TCP connection to the first of `addrs` that answers, within `timeout`
/// (shared among the addresses: each gets an equal part of what is left, at least
/// [`MIN_PER_ADDRESS`]).
pub(crate) fn connect(
    addrs: &ResolvedSocketAddrs,
    timeout: NextTimeout,
    config: &Config,
) -> Result<Tcp, ureq::Error> {
    let started = Instant::now();
    let total = timeout.not_zero().map(|d| *d);
    let mut last_error = None;
    let count = addrs.len();
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match total {
            None => TcpStream::connect(addr),
            Some(total) => {
                let left = total.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                let share = (left / u32::try_from(count - i).unwrap_or(u32::MAX))
                    .max(MIN_PER_ADDRESS)
                    .min(left);
                TcpStream::connect_timeout(addr, share)
            }
        };
        match attempt {
            Ok(stream) => {
                if config.no_delay() {
                    stream.set_nodelay(true)?;
                }
                tracing::trace!("connected");
                let buffers =
                    LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                return Ok(Tcp::new(stream, buffers));
            }
            Err(error) if tried_next(&error) => last_error = Some(connect_error(error, timeout)),
            Err(error) => return Err(connect_error(error, timeout)),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "no address to connect to",
        ))
    }))
}

/// Whether a failure to connect to one address leaves the next one worth trying.
fn tried_next(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::TimedOut
            | io::ErrorKind::WouldBlock
    )
}

fn connect_error(error: io::Error, timeout: NextTimeout) -> ureq::Error {
    if matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        ureq::Error::Timeout(timeout.reason)
    } else {
        ureq::Error::Io(error)
    }
}

/// A TCP connection for ureq. See the [module docs](self).
pub(crate) struct Tcp {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The socket's read timeout now (`None`: reads wait without limit).
    read_timeout: Option<Duration>,
    /// The socket's write timeout now.
    write_timeout: Option<Duration>,
}

impl Tcp {
    fn new(stream: TcpStream, buffers: LazyBuffers) -> Self {
        Self {
            stream: Arc::new(stream),
            buffers,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// What ureq's agent keeps to shut the connection down.
    pub(crate) fn shutdown_handle(&self) -> Weak<dyn ShutdownHandle> {
        Arc::downgrade(&self.stream) as Weak<dyn ShutdownHandle>
    }
}

impl fmt::Debug for Tcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tcp")
            .field("peer", &self.stream.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Which way an I/O goes.
#[derive(Clone, Copy)]
enum Way {
    Read,
    Write,
}

/// The socket timeout to set before an I/O when `left` is what the exchange has left and
/// `current` is the socket's timeout now; `None` when `current` may stay.
///
/// A timeout may stay while it is no longer than `left` (no I/O waits past the deadline)
/// and no shorter than an eighth of it (the I/O is not cut into many short waits). A new
/// one is half of `left`, so that the following I/Os of the exchange can keep it; when
/// `left` is short, all of it.
fn timeout_to_set(current: Option<Duration>, left: Option<Duration>) -> Option<Option<Duration>> {
    match (current, left) {
        (None, None) => None,
        (Some(_), None) => Some(None),
        (Some(current), Some(left)) if current <= left && current >= left / 8 => None,
        (_, Some(left)) => {
            let new = if left >= Duration::from_millis(2) {
                left / 2
            } else {
                left
            };
            Some(Some(new))
        }
    }
}

impl Tcp {
    /// Brings the socket's timeout for `way` in line with `left` (see [`timeout_to_set`]).
    fn fit(&mut self, way: Way, left: Option<Duration>) -> io::Result<()> {
        let current = match way {
            Way::Read => &mut self.read_timeout,
            Way::Write => &mut self.write_timeout,
        };
        if let Some(new) = timeout_to_set(*current, left) {
            match way {
                Way::Read => self.stream.set_read_timeout(new)?,
                Way::Write => self.stream.set_write_timeout(new)?,
            }
            *current = new;
        }
        Ok(())
    }

    /// Runs `io` until it does not time out on the socket's timeout, with what is left of
    /// `timeout` (counted from `started`) before each try: a timeout error once nothing
    /// is left. An interrupted I/O is tried again.
    fn run<T>(
        &mut self,
        way: Way,
        timeout: NextTimeout,
        started: Instant,
        mut io: impl FnMut(&mut Self) -> io::Result<T>,
    ) -> Result<T, ureq::Error> {
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        let total = timeout.not_zero().map(|d| *d);
        loop {
            let left = match total {
                None => None,
                Some(total) => {
                    let rest = total.saturating_sub(started.elapsed());
                    if rest.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    Some(rest)
                }
            };
            self.fit(way, left)?;
            match io(self) {
                Ok(value) => return Ok(value),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error)
                    if total.is_some()
                        && matches!(
                            error.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                Err(error) => return Err(ureq::Error::Io(error)),
            }
        }
    }
}

impl Transport for Tcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        // One deadline for the whole transmission, however many writes it takes.
        let started = Instant::now();
        let mut written = 0;
        while written < amount {
            let n = self.run(Way::Write, timeout, started, |tcp| {
                let output = &tcp.buffers.output()[written..amount];
                (&*tcp.stream).write(output)
            })?;
            if n == 0 {
                return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into()));
            }
            written += n;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let amount = self.run(Way::Read, timeout, Instant::now(), |tcp| {
            let input = tcp.buffers.input_append_buf();
            (&*tcp.stream).read(input)
        })?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        still_open(&self.stream)
    }
}

/// Whether a connection at rest is still open: nothing to read (no early bytes, no end
/// of stream, no error).
#[cfg(unix)]
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    let peek = socket2::SockRef::from(stream)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT);
    matches!(peek, Err(error) if error.kind() == io::ErrorKind::WouldBlock)
}

/// Whether a connection at rest is still open: nothing to read (no early bytes, no end
/// of stream, no error).
#[cfg(not(unix))]
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8];
    let idle = matches!((&*stream).read(&mut byte), Err(error) if error.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && idle
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportConfig;
    use crate::loopback::{After, echo, listen, read_head, read_request, server};
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_timeout_that_still_fits_stays() {
        // Set on the first I/O: half of what is left.
        assert_eq!(timeout_to_set(None, Some(5 * S)), Some(Some(5 * S / 2)));
        // Later in the exchange, and on the next exchanges: it fits.
        assert_eq!(timeout_to_set(Some(5 * S / 2), Some(4 * S)), None);
        assert_eq!(timeout_to_set(Some(5 * S / 2), Some(5 * S)), None);
        assert_eq!(timeout_to_set(Some(5 * S / 2), Some(5 * S / 2)), None);
    }

    #[test]
    fn a_timeout_longer_than_what_is_left_is_shortened() {
        // Never wait past the deadline.
        assert_eq!(timeout_to_set(Some(5 * S / 2), Some(2 * S)), Some(Some(S)));
        let tiny = Duration::from_micros(1500);
        assert_eq!(timeout_to_set(Some(S), Some(tiny)), Some(Some(tiny)));
    }

    #[test]
    fn a_timeout_much_shorter_than_what_is_left_is_lengthened() {
        assert_eq!(
            timeout_to_set(Some(Duration::from_millis(100)), Some(5 * S)),
            Some(Some(5 * S / 2))
        );
    }

    #[test]
    fn no_deadline_means_no_socket_timeout() {
        assert_eq!(timeout_to_set(None, None), None);
        assert_eq!(timeout_to_set(Some(S), None), Some(None));
    }

    fn agent(timeout: Duration) -> ureq::Agent {
        crate::ureq_agent::agent(&TransportConfig {
            connect_timeout: Duration::from_secs(5),
            timeout,
            ..TransportConfig::default()
        })
    }

    fn post(agent: &ureq::Agent, addr: std::net::SocketAddr) -> Result<(), ureq::Error> {
        agent
            .post(format!("http://{addr}/x"))
            .send("{}")?
            .body_mut()
            .read_to_string()
            .map(drop)
    }

    #[test]
    fn an_answer_later_than_the_sockets_timeout_but_within_the_exchanges_arrives() {
        // The socket's read timeout is at most half of what is left (1 s of 2 s); the
        // answer comes after 1.3 s: the read is tried again with what is left.
        let (addr, _) = server(Duration::from_millis(1300), After::KeepAlive);
        let agent = agent(Duration::from_secs(2));
        for _ in 0..2 {
            post(&agent, addr).expect("an answer within the exchange's time");
        }
    }

    #[test]
    fn an_answer_after_the_exchanges_time_is_a_timeout() {
        let (addr, _) = server(Duration::from_millis(600), After::KeepAlive);
        let agent = agent(Duration::from_millis(200));
        let error = post(&agent, addr).expect_err("too late");
        assert!(matches!(error, ureq::Error::Timeout(_)), "{error:?}");
    }

    /// The connections three requests take when the server does `after` with each; the
    /// server sends its bytes once the client has read the answer, and the client sends
    /// the next request once the server has closed or sent them.
    fn connections_for_three(after: After) -> usize {
        let server = crate::loopback::server_telling(Duration::ZERO, after);
        let agent = agent(Duration::from_secs(5));
        for _ in 0..3 {
            post(&agent, server.addr).expect("an answer on a new connection");
            let _ = server.go.send(());
            server
                .done
                .recv_timeout(Duration::from_secs(10))
                .expect("the server closed or sent its bytes");
        }
        server.accepted.load(Ordering::SeqCst)
    }

    #[test]
    fn a_connection_the_server_closed_is_not_reused() {
        assert_eq!(connections_for_three(After::Close), 3);
    }

    #[test]
    fn a_connection_with_unasked_bytes_is_not_reused() {
        assert_eq!(connections_for_three(After::Garbage), 3);
    }

    /// A loopback listener whose connections have a small receive buffer, and a client
    /// connection to it with a small send buffer: a large write fills them at once.
    #[cfg(unix)]
    fn small_buffered_pair() -> (TcpStream, TcpStream) {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("receive buffer");
        let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
        socket.bind(&loopback.into()).expect("bind loopback");
        socket.listen(1).expect("listen");
        let listener = TcpListener::from(socket);
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        socket2::SockRef::from(&client)
            .set_send_buffer_size(4096)
            .expect("send buffer");
        let (server, _) = listener.accept().expect("accept");
        (client, server)
    }

    fn exchange_timeout(after: Duration) -> NextTimeout {
        NextTimeout {
            after: after.into(),
            reason: ureq::Timeout::Global,
            per_read: None,
            per_write: None,
        }
    }

    #[test]
    #[cfg(unix)]
    fn a_write_the_server_reads_slowly_ends_at_the_exchanges_deadline() {
        // The server reads the 256 KiB a little at a time, so every write of it makes
        // some progress within the socket's timeout, but all of it takes many times the
        // exchange's time: the write must give up when the exchange's time is over, not
        // start the count again after each partial write.
        let (client, mut server) = small_buffered_pair();
        std::thread::spawn(move || {
            let mut bite = [0u8; 1024];
            while let Ok(n) = server.read(&mut bite) {
                if n == 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let amount = 256 * 1024;
        let mut tcp = Tcp::new(client, LazyBuffers::new(1024, amount));
        tcp.buffers.output()[..amount].fill(b'x');
        let result = tcp.transmit_output(amount, exchange_timeout(Duration::from_millis(300)));
        assert!(
            matches!(result, Err(ureq::Error::Timeout(ureq::Timeout::Global))),
            "{result:?}"
        );
    }

    #[test]
    fn a_body_the_server_never_reads_is_a_timeout() {
        // The server reads the head and stops reading: the socket buffers fill up and the
        // write waits; the exchange's timeout ends it.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut head = [0u8; 256];
            let _ = (&stream).read(&mut head);
            std::thread::sleep(Duration::from_secs(10));
            drop(stream);
        });
        let agent = agent(Duration::from_millis(500));
        let body = vec![b'x'; 64 * 1024 * 1024];
        let error = agent
            .post(format!("http://{addr}/x"))
            .send(&body[..])
            .expect_err("the body cannot all be sent");
        assert!(matches!(error, ureq::Error::Timeout(_)), "{error:?}");
    }

    /// A self-signed certificate for `127.0.0.1` (valid for a century) and its key,
    /// for the TLS tests.
    const LOOPBACK_CERT: &[u8] = include_bytes!("testdata/loopback-cert.der");
    const LOOPBACK_KEY: &[u8] = include_bytes!("testdata/loopback-key.der");

    /// A loopback HTTPS/1.1 server that answers each request on a connection with its
    /// request line and body (`<line>\n<body>`). Returns its address and the count of
    /// connections.
    fn tls_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(LOOPBACK_KEY.to_vec().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![LOOPBACK_CERT.to_vec().into()], key)
            .expect("server certificate");
        let config = Arc::new(config);
        listen(move |stream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(tls) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                return;
            };
            let mut reader = BufReader::new(rustls::StreamOwned::new(tls, stream));
            while let Some((line, body)) = read_request(&mut reader) {
                if echo(reader.get_mut(), &line, &body).is_err() {
                    return;
                }
            }
        })
    }

    /// Sends, as the backend does, `POST {base}/card/x` with the real `query` and `body`
    /// restored under ureq (which is handed masks only), and returns the real answer
    /// body and what ureq read of it.
    fn masked_post(agent: &ureq::Agent, base: &str, query: &str, body: &str) -> (String, String) {
        let _exchange = crate::ureq_mask::begin(
            crate::ureq_mask::RealRequest {
                query: query.as_bytes().to_vec(),
                body: body.as_bytes().to_vec(),
                headers: Vec::new(),
            },
            false,
            usize::MAX,
        );
        let masked_query = "*".repeat(query.len());
        let seen_by_ureq = agent
            .post(format!("{base}/card/x?{masked_query}"))
            .send(crate::ureq_mask::masked(body.as_bytes()).as_slice())
            .expect("an answer")
            .body_mut()
            .read_to_string()
            .expect("the body");
        let answer = String::from_utf8(crate::ureq_mask::take_body()).expect("UTF-8");
        (answer, seen_by_ureq)
    }

    #[test]
    fn https_runs_over_the_link_and_its_connection_is_reused() {
        let (addr, accepted) = tls_server();
        let agent = crate::ureq_agent::agent_trusting(
            &TransportConfig {
                timeout: Duration::from_secs(10),
                ..TransportConfig::default()
            },
            LOOPBACK_CERT,
        );
        for i in 0..3 {
            // As the backend sends it: ureq holds masks of the query and the body, the
            // real ones are restored under TLS on their way out, and the answer's body
            // is kept aside for the backend (ureq reads masks).
            let query = format!("access_token=T{i}&q=*?");
            let body = format!("{{\"n\":{i}}}").repeat(1000);
            let (answer, seen_by_ureq) =
                masked_post(&agent, &format!("https://{addr}"), &query, &body);
            assert_eq!(answer, format!("POST /card/x?{query} HTTP/1.1\n{body}"));
            assert_eq!(seen_by_ureq, "*".repeat(answer.len()));
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
    }

    #[test]
    fn a_connection_through_a_proxy_keeps_ureqs_own_chain() {
        // A loopback HTTP proxy that tunnels nothing: it answers CONNECT with 200, then
        // echoes the request line it gets (absolute form or origin form). The target is
        // an address nothing listens on: a direct connection would be refused.
        let proxy = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let proxy_addr = proxy.local_addr().expect("local addr");
        let target = {
            let unused = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            unused.local_addr().expect("local addr")
        };
        std::thread::spawn(move || {
            let Ok((stream, _)) = proxy.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            while let Some((line, length)) = read_head(&mut reader) {
                if line.starts_with("CONNECT ") {
                    let _ = writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    continue;
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() || echo(&mut writer, &line, &body).is_err()
                {
                    return;
                }
            }
        });
        let agent = crate::ureq_agent::agent_via_proxy(
            &TransportConfig {
                timeout: Duration::from_secs(10),
                ..TransportConfig::default()
            },
            &format!("http://{proxy_addr}"),
        );
        let query = "access_token=T&q=*?";
        let body = r#"{"a":"*"}"#;
        let (answer, _) = masked_post(&agent, &format!("http://{target}"), query, body);
        let (line, echoed) = answer.split_once('\n').expect("line and body");
        assert_eq!(echoed, body);
        assert!(line.starts_with("POST "), "{line}");
        assert!(
            line.ends_with(&format!("/card/x?{query} HTTP/1.1")),
            "{line}"
        );
    }

    /// A loopback HTTP proxy that tunnels: reads a `CONNECT host:port` head, connects
    /// there, answers 200 and copies bytes both ways. Returns its address and every
    /// byte the client sent it.
    fn tunnel_proxy() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<u8>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let proxy = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = proxy.local_addr().expect("local addr");
        std::thread::spawn(move || {
            for stream in proxy.incoming() {
                let Ok(stream) = stream else { return };
                let record = Arc::clone(&record);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push_str(&line);
                        record
                            .lock()
                            .expect("record")
                            .extend_from_slice(line.as_bytes());
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let Some(target) = head
                        .strip_prefix("CONNECT ")
                        .and_then(|rest| rest.split(' ').next())
                    else {
                        return;
                    };
                    let Ok(upstream) = TcpStream::connect(target) else {
                        return;
                    };
                    let mut client = reader.into_inner();
                    if client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                    let (Ok(mut client_in), Ok(mut upstream_out)) =
                        (client.try_clone(), upstream.try_clone())
                    else {
                        return;
                    };
                    std::thread::spawn(move || {
                        let mut chunk = [0u8; 4096];
                        while let Ok(n @ 1..) = client_in.read(&mut chunk) {
                            record
                                .lock()
                                .expect("record")
                                .extend_from_slice(&chunk[..n]);
                            if upstream_out.write_all(&chunk[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = upstream_out.shutdown(std::net::Shutdown::Write);
                    });
                    let mut upstream_in = upstream;
                    let _ = std::io::copy(&mut upstream_in, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        (addr, seen)
    }

    #[test]
    fn https_through_an_http_proxy_tunnel_arrives_intact() {
        let (server, _) = tls_server();
        let (proxy, seen) = tunnel_proxy();
        let config = TransportConfig {
            timeout: Duration::from_secs(10),
            ..TransportConfig::default()
        };
        let agent = crate::ureq_agent::agent_via_proxy_trusting(
            &config,
            &format!("http://{proxy}"),
            LOOPBACK_CERT,
        );
        for i in 0..2 {
            let query = format!("access_token=T{i}&q=*?");
            let body = format!("{{\"n\":{i}}}").repeat(100);
            let (answer, seen_by_ureq) =
                masked_post(&agent, &format!("https://{server}"), &query, &body);
            assert_eq!(answer, format!("POST /card/x?{query} HTTP/1.1\n{body}"));
            assert_eq!(seen_by_ureq, "*".repeat(answer.len()));
        }
        // The proxy saw the CONNECT and ciphertext: no query or body in the clear.
        let seen = seen.lock().expect("record");
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("CONNECT "), "{text}");
        for secret in ["access_token", r#"{"n":"#] {
            assert!(!text.contains(secret), "{secret} in the clear: {text}");
        }
    }

    #[test]
    fn a_quiet_kept_alive_connection_is_reused() {
        let (addr, accepted) = server(Duration::ZERO, After::KeepAlive);
        let agent = agent(Duration::from_secs(5));
        for _ in 0..20 {
            post(&agent, addr).expect("answer");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
