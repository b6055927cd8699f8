//! # card-api
//!
//! Clients for WeChat's card-distribution API: a blocking [`Client`] (feature
//! `blocking`, the default, on ureq) and an [`AsyncClient`] (feature `async`, on
//! reqwest and tokio). A blocking-only build compiles no tokio. Most applications
//! depend on the `wxcard` crate, which re-exports this one with the model and the
//! transports.
//!
//! Both clients execute the same endpoint descriptions from `card-model` through the
//! same call plan: a pure state machine that holds the whole policy (retries with
//! jittered backoff, access-token refresh on 40001/40014/42001, failover across hosts,
//! and never repeating a non-repeatable send where WeChat may have acted). The clients
//! only carry out its steps: one with threads and `std::thread::sleep`, the other with
//! `.await`.
//!
//! * **Configuration**: [`Client::builder()`] and [`AsyncClient::builder()`] give a
//!   [`ClientBuilder`] typed by its client: base URL ([`DEFAULT_BASE_URL`], or any
//!   other), ordered failover ([`BACKUP_BASE_URLS`]), token source (a fixed token or app
//!   credentials via `/cgi-bin/token` or `/cgi-bin/stable_token`), [`RetryPolicy`],
//!   refresh margin, and the transport and token store of that client, taken by value.
//! * **Tokens**: cached in a [`TokenStore`] ([`MemoryTokenStore`] by default; the trait
//!   is ready for an external store shared by several servers; the async client takes
//!   an `AsyncTokenStore` whose operations it awaits), refreshed single-flight: however
//!   many concurrent calls find the cache empty, one fetch happens. The card
//!   api_ticket is cached the same way. Expiry follows an injectable [`Clock`].
//! * **Errors**: [`Error`] says how far a call got; no error, `Debug` or log carries a
//!   token, secret or full URL.
//! * **Tracing**: one `wxcard_call` span per call with the endpoint `path`, the `attempt`
//!   number and the `errcode`.
//!
//! ## Blocking
//!
//! ```
//! # #[cfg(feature = "blocking")]
//! # mod example {
//! use card_api::{Client, RetryPolicy};
//! use card_model::AppSecret;
//! use card_model::token::GetCardApiTicket;
//! use card_transport::test_util::{Exchange, ExpectedRequest, ReplayTransport, json_response};
//!
//! # pub fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // A test transport: the expected requests and their answers, in order.
//! let replay = ReplayTransport::new([
//!     Exchange::new(
//!         ExpectedRequest::get("/cgi-bin/token")
//!             .query("grant_type", "client_credential")
//!             .query("appid", "wx1234567890abcdef")
//!             .query("secret", "app-secret"),
//!         json_response(200, r#"{"access_token":"TOKEN-1","expires_in":7200}"#),
//!     ),
//!     Exchange::new(
//!         ExpectedRequest::get("/cgi-bin/ticket/getticket").query("access_token", "TOKEN-1").query("type", "wx_card"),
//!         json_response(200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#),
//!     ),
//!     // the token expired: one refresh, one repeat
//!     Exchange::new(
//!         ExpectedRequest::get("/cgi-bin/token").any_query(),
//!         json_response(200, r#"{"access_token":"TOKEN-2","expires_in":7200}"#),
//!     ),
//!     Exchange::new(
//!         ExpectedRequest::get("/cgi-bin/ticket/getticket").query("access_token", "TOKEN-2").query("type", "wx_card"),
//!         json_response(200, r#"{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}"#),
//!     ),
//! ]);
//! let client = Client::builder()
//!     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
//!     .retry(RetryPolicy::new().max_attempts(3))
//!     .transport(replay.clone())
//!     .build()?;
//!
//! let answer = client.call(&GetCardApiTicket)?; // any endpoint description
//! assert_eq!(answer.ticket.expose(), "TICKET");
//! assert!(!format!("{client:?}").contains("app-secret"));
//! replay.finish()?;
//! # Ok(())
//! # }
//! # }
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> { example::run() }
//! # #[cfg(not(feature = "blocking"))]
//! # fn main() {}
//! ```
//!
//! ## Async
//!
//! ```
//! # #[cfg(feature = "async")]
//! # mod example {
//! use card_api::AsyncClient;
//! use card_model::AppSecret;
//! use card_transport::test_util::{Exchange, ExpectedRequest, ReplayTransport, json_response};
//!
//! # pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let replay = ReplayTransport::new([
//!     Exchange::new(
//!         ExpectedRequest::post("/cgi-bin/stable_token").json_body(serde_json::json!({
//!             "grant_type": "client_credential",
//!             "appid": "wx1234567890abcdef",
//!             "secret": "app-secret",
//!         })),
//!         json_response(200, r#"{"access_token":"TOKEN","expires_in":7200}"#),
//!     ),
//!     Exchange::new(
//!         ExpectedRequest::get("/cgi-bin/ticket/getticket").query("access_token", "TOKEN").query("type", "wx_card"),
//!         json_response(200, r#"{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}"#),
//!     ),
//! ]);
//! let client = AsyncClient::builder()
//!     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
//!     .stable_token(true)
//!     .transport(replay.clone())
//!     .build()?;
//! let ticket = client.api_ticket().await?; // fetched once, cached afterwards
//! assert_eq!(ticket.expose(), "TICKET");
//! replay.finish()?;
//! # Ok(())
//! # }
//! # }
//! # #[cfg(feature = "async")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> { example::run().await }
//! # #[cfg(not(feature = "async"))]
//! # fn main() {}
//! ```
#![cfg_attr(
    not(feature = "blocking"),
    doc = "\n[`Client`]: #features \"needs the `blocking` feature\"\n[`Client::builder()`]: #features \"needs the `blocking` feature\""
)]
#![cfg_attr(
    not(feature = "async"),
    doc = "\n[`AsyncClient`]: #features \"needs the `async` feature\"\n[`AsyncClient::builder()`]: #features \"needs the `async` feature\""
)]
#![deny(missing_docs)]
// Without a client feature only the shared types remain (as a dependency of card-redis or
// a store crate): the machinery the clients share is then unused, not wrong.
#![cfg_attr(
    not(any(feature = "blocking", feature = "async")),
    allow(dead_code, unused_macros, unused_imports)
)]

mod adapters;
#[cfg(feature = "async")]
mod asynchronous;
#[cfg(feature = "blocking")]
mod blocking;
mod builder;
pub mod bulk;
mod config;
mod core;
mod error;
mod methods;
mod plan;
mod retry;
mod store;

pub use crate::core::new_clientmsgid;
#[cfg(feature = "async")]
pub use adapters::InPlace;
#[cfg(feature = "async")]
pub use asynchronous::AsyncClient;
#[cfg(feature = "blocking")]
pub use blocking::Client;
#[cfg(feature = "async")]
pub use builder::AsyncClientBuilder;
pub use builder::ClientBuilder;
pub use config::{BACKUP_BASE_URLS, ClientConfig, DEFAULT_BASE_URL, TokenEndpoint, TokenSource};
pub use error::{Body, Error, MAX_KEPT_BODY, StoreError};
pub use retry::RetryPolicy;
#[cfg(feature = "async")]
pub use store::AsyncTokenStore;
pub use store::{Clock, ManualClock, MemoryTokenStore, StoredSecret, SystemClock, TokenStore};
