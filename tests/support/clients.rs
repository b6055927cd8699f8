//! Helpers for the client tests (`tests/clients_*.rs`): wiremock servers that play
//! WeChat's token endpoint, and one handle that drives either client, so that each
//! scenario is written once and run on both.

use card_api::{AsyncClient, AsyncClientBuilder, Client, ClientBuilder, Error, RetryPolicy};
use card_model::{AppSecret, Endpoint};
use std::net::TcpListener;
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// The AppID every client test uses.
pub const APPID: &str = "wx0123456789abcdef";
/// The AppSecret every client test uses (tests check it never shows in Debug).
pub const SECRET: &str = "SECRET-do-not-print-4f1c";
/// The first token the mock token endpoint hands out.
pub const TOKEN: &str = "TOKEN-first-9a7e";
/// The token handed out after a refresh.
pub const TOKEN2: &str = "TOKEN-second-31b2";

/// Which client a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// [`card_api::Client`] (run on the runtime's blocking pool).
    Blocking,
    /// [`card_api::AsyncClient`].
    Async,
}

/// Either client.
#[derive(Debug, Clone)]
pub enum AnyClient {
    /// The blocking client.
    Blocking(Client),
    /// The async client.
    Async(AsyncClient),
}

/// Builds the client of `$flavor` from `$builder`, an expression of type
/// `ClientBuilder<C>` for any `C` (it is written once and typed once per client).
///
/// # Panics
/// When the builder refuses (a test bug).
#[macro_export]
macro_rules! any_client {
    ($flavor:expr, $builder:expr $(,)?) => {
        match $flavor {
            $crate::clients::Flavor::Blocking => $crate::clients::AnyClient::Blocking(
                $crate::clients::blocking_builder($builder)
                    .build()
                    .expect("blocking client"),
            ),
            $crate::clients::Flavor::Async => $crate::clients::AnyClient::Async(
                $crate::clients::async_builder($builder)
                    .build()
                    .expect("async client"),
            ),
        }
    };
}

/// Types a builder expression as the blocking client's (for [`any_client!`]).
pub fn blocking_builder(builder: ClientBuilder<Client>) -> ClientBuilder<Client> {
    builder
}

/// Types a builder expression as the async client's (for [`any_client!`]).
pub fn async_builder(builder: AsyncClientBuilder) -> AsyncClientBuilder {
    builder
}

impl AnyClient {
    /// Calls `endpoint` (the blocking client inside `block_in_place`: use a multi-thread
    /// runtime).
    ///
    /// # Errors
    /// The client's error.
    pub async fn call<E: Endpoint + Sync>(&self, endpoint: &E) -> Result<E::Response, Error>
    where
        E::Response: Send,
    {
        match self {
            Self::Blocking(c) => tokio::task::block_in_place(|| c.call(endpoint)),
            Self::Async(c) => c.call(endpoint).await,
        }
    }

    /// The client's `Debug` text.
    pub fn debug(&self) -> String {
        match self {
            Self::Blocking(c) => format!("{c:?} {c:#?} {:?}", c.config()),
            Self::Async(c) => format!("{c:?} {c:#?} {:?}", c.config()),
        }
    }
}

/// A builder for app credentials against `server`, with tiny retry delays.
pub fn builder<C>(server: &MockServer) -> ClientBuilder<C> {
    ClientBuilder::new()
        .base_url(server.uri())
        .app_credentials(APPID, AppSecret::new(SECRET))
        .retry(fast_retry())
        .jitter_seed(7)
}

/// The default number of attempts with millisecond delays.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::new()
        .base_delay(Duration::from_millis(1))
        .rate_limit_delay(Duration::from_millis(2))
        .max_delay(Duration::from_millis(5))
}

/// Matches `GET /cgi-bin/token` with the test credentials.
pub fn token_request() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/token"))
        .and(query_param("grant_type", "client_credential"))
        .and(query_param("appid", APPID))
        .and(query_param("secret", SECRET))
}

/// A mock of `GET /cgi-bin/token` with the test credentials, answering `token`.
pub fn token_mock(token: &str) -> Mock {
    token_request().respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token,
        "expires_in": 7200
    })))
}

/// A JSON response with status 200.
pub fn json(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// `http://127.0.0.1:PORT` where nobody listens.
///
/// # Panics
/// When no loopback port can be bound.
pub fn dead_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Runs an async scenario `$name(Flavor)` on both clients, as two tests.
#[macro_export]
macro_rules! on_both_clients {
    ($($name:ident),* $(,)?) => {
        mod blocking {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::clients::Flavor::Blocking).await;
                }
            )*
        }
        mod r#async {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::clients::Flavor::Async).await;
                }
            )*
        }
    };
}
