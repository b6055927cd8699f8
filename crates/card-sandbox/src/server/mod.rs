//! The sandbox over HTTP/1.1 on loopback: hyper on a tokio runtime that the server owns,
//! on a thread of its own, so blocking code (tests, the CLI) can start and stop it.
//!
//! Every request goes through [`Sandbox`]'s engine exactly as the in-process transport
//! does; this module adds only HTTP concerns: limits on head and body size, a deadline
//! for each request, a cap on connections, injected latency and dropped connections.

mod cli;

pub use cli::{SecretArg, ServeArgs, ServeError};

use crate::Sandbox;
use crate::engine::{Processed, Reply};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest request head (request line and headers); past it the answer is 431.
    pub max_header_bytes: usize,
    /// Largest request body; past it the answer is 413.
    pub max_body_bytes: usize,
    /// The deadline of one request: a connection must deliver a whole request head within
    /// this time of starting to wait for one (so an idle keep-alive connection is closed
    /// after it too), and then the whole body within this time again (past it the answer
    /// is 408). A client that drips its request holds nothing longer than this.
    pub request_timeout: Duration,
    /// Connections served at once; a connection past it is answered 503 and closed.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish before their
    /// connections are cut.
    pub shutdown_grace: Duration,
    /// Threads of the server's runtime (0: one per CPU).
    pub worker_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(2),
            worker_threads: 0,
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

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`worker_threads`](Self::worker_threads).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n;
        self
    }
}

/// A running server. Dropping it shuts the server down, as [`ServerHandle::shutdown`] does.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
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

    /// Stops accepting, lets requests in flight finish (up to
    /// [`ServerConfig::shutdown_grace`]), closes every connection and waits for the
    /// server's thread to end. The port is free when this returns.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
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
/// When the address cannot be bound or the runtime cannot start.
pub fn serve(sandbox: Sandbox, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
    serve_with(sandbox, addr, ServerConfig::default())
}

/// [`serve`] with explicit limits.
///
/// # Errors
/// When the address cannot be bound or the runtime cannot start.
pub fn serve_with(
    sandbox: Sandbox,
    addr: impl ToSocketAddrs,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    let runtime = runtime
        .thread_name("card-sandbox-http")
        .enable_all()
        .build()?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("card-sandbox-server".into())
        .spawn(move || {
            runtime.block_on(accept_loop(listener, sandbox, config, stopped));
            // Connections still open after the grace period are cut here.
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    sandbox: Sandbox,
    config: ServerConfig,
    mut stopped: oneshot::Receiver<()>,
) {
    let config = Arc::new(config);
    let graceful = GracefulShutdown::new();
    let served = Arc::new(Semaphore::new(config.max_connections));
    // Connections past the cap get a 503; as many again may wait for theirs at once, and
    // any more are closed without an answer.
    let refused = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.request_timeout)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(config.max_header_bytes.max(8192) + 8192);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if let Ok(permit) = Arc::clone(&served).try_acquire_owned() {
            let (sandbox, config) = (sandbox.clone(), Arc::clone(&config));
            let service =
                service_fn(move |request| answer(sandbox.clone(), Arc::clone(&config), request));
            let connection = graceful.watch(builder.serve_connection(io, service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        } else if let Ok(permit) = Arc::clone(&refused).try_acquire_owned() {
            let mut once = builder.clone();
            once.keep_alive(false);
            let service = service_fn(|_request: hyper::Request<Incoming>| async {
                Ok::<_, std::convert::Infallible>(refusal(503, "too many connections"))
            });
            let connection = graceful.watch(once.serve_connection(io, service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_grace) => {}
    }
}

/// Why a connection is dropped without an answer (an injected fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped (injected fault)")
    }
}

impl std::error::Error for Dropped {}

type Answer = hyper::Response<Full<Bytes>>;

/// A JSON refusal from the HTTP layer; the connection closes after it.
fn refusal(status: u16, why: &str) -> Answer {
    let body = serde_json::json!({"errcode": status, "errmsg": format!("sandbox: {why}")});
    let mut response = hyper::Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap_or_default(),
    )));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

async fn answer(
    sandbox: Sandbox,
    config: Arc<ServerConfig>,
    request: hyper::Request<Incoming>,
) -> Result<Answer, Dropped> {
    let (parts, body) = request.into_parts();
    if hyper::body::Body::size_hint(&body).lower() > config.max_body_bytes as u64 {
        return Ok(refusal(413, "payload too large"));
    }
    let limited = http_body_util::Limited::new(body, config.max_body_bytes);
    let body = match tokio::time::timeout(config.request_timeout, limited.collect()).await {
        Err(_) => return Ok(refusal(408, "request body not received in time")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(refusal(413, "payload too large"));
        }
        // The client went away mid-body: nobody to answer.
        Ok(Err(_)) => return Err(Dropped),
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
    };
    let request = http::Request::from_parts(parts, body);
    let (Processed { reply, delay }, pushes) = sandbox.process(&request);
    // The pushes the request queued go out in tasks of their own on this runtime.
    for job in pushes {
        tokio::spawn(crate::push::send::deliver(sandbox.clone(), job));
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match reply {
        Reply::Drop => Err(Dropped),
        Reply::Respond(response) => Ok(response.map(|b| Full::new(Bytes::from(b)))),
    }
}
