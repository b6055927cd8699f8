//! The Redis servers the tests run against, and the clients they build.
//!
//! Every test here needs a real `redis-server`. They find the shared one through
//! `WXCARD_TEST_REDIS_URL` (set by `.ci/run`); a test that stops and restarts Redis
//! starts its own instance (the `redis-server` binary, or `WXCARD_TEST_REDIS_SERVER`) on
//! a free loopback port. Without the variable each test says so on stderr and returns;
//! under `CI=true` a missing variable fails the test.
#![allow(dead_code)]

use card_api::{AsyncClient, Client, RetryPolicy};
use card_model::AppSecret;
use card_redis::{AsyncRedisTokenStore, RedisConfig, RedisTokenStore};
use card_sandbox::{CardSpec, FaultConfig, Sandbox, ServerHandle};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The variable naming the shared test Redis.
pub const URL_VAR: &str = "WXCARD_TEST_REDIS_URL";

/// The marker `.ci/run` looks for: a Redis test did not run.
pub const SKIP_MARKER: &str = "SKIPPED (Redis)";

/// The shared test Redis, or `None` (and a message on stderr) when `WXCARD_TEST_REDIS_URL`
/// is not set. Panics under `CI=true` when it is not.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{URL_VAR} is not set, and CI=true: the Redis test {test} cannot be skipped \
                 (start a redis-server and set {URL_VAR}=redis://127.0.0.1:PORT/)"
            );
            // Written straight to stderr (not through the test harness's capture) so that
            // the skip is visible in a passing run.
            let _ = writeln!(
                std::io::stderr().lock(),
                "{SKIP_MARKER}: {test}: {URL_VAR} is not set; start a redis-server and set \
                 {URL_VAR}=redis://127.0.0.1:PORT/ to run it"
            );
            None
        }
    }
}

/// A prefix no other test run uses, so that tests share one Redis without clashing.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A raw connection, to look at what the stores wrote.
pub fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect to the test redis")
}

/// A `redis-server` of a test's own, on a free loopback port, without persistence.
/// Dropping it kills it.
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl RedisServer {
    /// Starts one and waits until it answers PING.
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            tls_port: None,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts one that also listens with TLS (the test certificate of `tests/tls/` for
    /// 127.0.0.1); see [`tls_url`](Self::tls_url).
    pub fn start_tls() -> Self {
        let mut server = Self {
            port: free_port(),
            tls_port: Some(free_port()),
            child: None,
        };
        server.restart();
        server
    }

    /// `rediss://127.0.0.1:TLS_PORT/`.
    pub fn tls_url(&self) -> String {
        format!(
            "rediss://127.0.0.1:{}/",
            self.tls_port.expect("a TLS server")
        )
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (by its PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.stop();
        let binary =
            std::env::var("WXCARD_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .args(self.tls_port.iter().flat_map(|port| {
                let tls = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls");
                [
                    "--tls-port".to_owned(),
                    port.to_string(),
                    "--tls-cert-file".to_owned(),
                    format!("{tls}/server.pem"),
                    "--tls-key-file".to_owned(),
                    format!("{tls}/server.key"),
                    "--tls-ca-cert-file".to_owned(),
                    format!("{tls}/ca.pem"),
                    "--tls-auth-clients".to_owned(),
                    "no".to_owned(),
                ]
            }))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("url");
        for _ in 0..400 {
            if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The AppID and secret of the test sandboxes.
pub const APPID: &str = "wxredis0000000001";
pub const SECRET: &str = "redis-test-secret";

/// A sandbox over HTTP on loopback: a superseded token fails at once (no grace), so
/// that every token fetch shows in the counters; `expire_every` kills the current token
/// every that many calls (0: never). Answers the server and a card to make QR codes of.
pub fn sandbox(expire_every: u64) -> (Sandbox, ServerHandle, String) {
    let sandbox = Sandbox::builder()
        .appid(APPID)
        .secret(AppSecret::new(SECRET))
        .token_grace(0)
        .faults(FaultConfig::seeded(1).expire_token_every(expire_every))
        .build();
    let card = sandbox
        .create_card(CardSpec::new().quantity(1_000_000))
        .expect("a card");
    let server = card_sandbox::serve(sandbox.clone(), "127.0.0.1:0").expect("serve the sandbox");
    (sandbox, server, card)
}

/// The base URL of a sandbox server.
pub fn base_url(server: &ServerHandle) -> String {
    format!("http://{}", server.local_addr())
}

/// How a test client is set up.
pub struct Setup<'a> {
    pub base_url: &'a str,
    pub redis: &'a RedisConfig,
    pub lease: Duration,
}

fn builder<C>(setup: &Setup<'_>) -> card_api::ClientBuilder<C> {
    card_api::ClientBuilder::new()
        .app_credentials(APPID, AppSecret::new(SECRET))
        .base_url(setup.base_url)
        .retry(RetryPolicy::new().max_attempts(3))
        .refresh_lease(setup.lease, Duration::from_millis(20))
}

/// A blocking client on a [`RedisTokenStore`].
pub fn blocking_client(setup: &Setup<'_>) -> Client {
    builder::<Client>(setup)
        .token_store(RedisTokenStore::new(setup.redis))
        .build()
        .expect("a blocking client")
}

/// An async client on an [`AsyncRedisTokenStore`] (inside a tokio runtime).
pub fn async_client(setup: &Setup<'_>) -> AsyncClient {
    builder::<AsyncClient>(setup)
        .token_store(AsyncRedisTokenStore::new(setup.redis).expect("an async store"))
        .build()
        .expect("an async client")
}

/// A QR code request for `card`.
pub fn qr(card: &str) -> card_model::qrcode::CreateQrCode {
    card_model::qrcode::CreateQrCode::card(card_model::qrcode::QrCard::new(card))
}
