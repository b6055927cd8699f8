#![cfg_attr(feature = "blocking", doc = include_str!("../../../README.md"))]
#![cfg_attr(
    not(feature = "blocking"),
    doc = "wxcard: the Rust SDK for distributing WeChat cards and coupons. This build has no `blocking` feature, so the README (whose first program uses the blocking `Client`) is not shown here."
)]
//!
//! # Where things are
//!
//! | path | what |
//! |---|---|
//! | `Client`, `AsyncClient`, [`ClientBuilder`], [`Error`] | the clients (blocking: feature `blocking`, the default; async: feature `async`), their builder and error |
//! | the crate root | every request and response type ([`CreateQrCode`], [`DepositCodes`], [`MassSendByTag`], …), the secrets ([`AppSecret`], [`AccessToken`], [`ApiTicket`]), [`ErrCode`], [`CardExt`], [`parse_event`] |
//! | [`error`] | what an [`Error`] carries: errcodes, kept bodies, transport failures, validation problems |
//! | [`bulk`] | `deposit_all`'s options, progress and report |
//! | [`store`] | where tokens live: [`store::TokenStore`], `store::AsyncTokenStore`, the in-memory store, clocks |
//! | [`event`] | the events WeChat pushes (`user_get_card`) |
//! | [`push`] | receiving pushes: URL verification, signature checks, decryption, de-duplication of WeChat's retries, answers; `push::axum` (feature `push-axum`) |
//! | [`transport`] | the HTTP layer: transport traits, the ureq and reqwest backends |
//! | [`model`] | the pure model crate, module by module (limits, validation, endpoint descriptions) |
//! | `redis` (feature `redis`) | token and push de-duplication stores on Redis: one access token for all of a merchant's servers |
//! | `test_util` (feature `test-util`) | transports that check expected requests, for your tests |
//! | `sandbox` (feature `sandbox`) | an in-memory WeChat card server for tests, demos and the examples |
//!
//! # Features
//!
//! | feature | adds | pulls in |
//! |---|---|---|
//! | `blocking` (default) | `Client` | ureq, rustls; no tokio |
//! | `async` | `AsyncClient` | reqwest, tokio |
//! | `redis` | `wxcard::redis` (the async stores with `async`) | the redis client (rustls for `rediss://`); tokio only with `async` |
//! | `test-util` | `wxcard::test_util` | nothing more |
//! | `sandbox` | `wxcard::sandbox` (and `test-util`) | hyper, tokio (its HTTP server, which also sends its pushes) |
//! | `push-axum` | `wxcard::push::axum::PushService` | axum, tokio |
//!
//! Features only add: `features = ["async"]` keeps the blocking client, and
//! `default-features = false, features = ["async"]` builds the async client alone.
#![cfg_attr(
    all(feature = "blocking", feature = "async"),
    doc = include_str!("../../card-api/src/builder_misuse.md")
)]
#![deny(missing_docs)]

// The clients, their builder, configuration and errors.
#[cfg(feature = "blocking")]
pub use card_api::Client;
#[cfg(feature = "async")]
pub use card_api::{AsyncClient, AsyncClientBuilder};
pub use card_api::{
    BACKUP_BASE_URLS, ClientBuilder, ClientConfig, DEFAULT_BASE_URL, Error, RetryPolicy,
    StoreError, TokenEndpoint, TokenSource, new_clientmsgid,
};

// Secrets, errcodes, validation, the endpoint description.
pub use card_model::{
    AccessToken, Ack, ApiTicket, AppSecret, Endpoint, ErrCode, Problem, ValidationError,
    WeChatError,
};

// Every request and response type.
pub use card_model::card_ext::{
    CardExt, callback_signature, card_signature, verify_callback_signature,
};
pub use card_model::code::{
    CheckCodes, CodeCheck, CodeList, CodeTally, DepositCodes, DepositCount, DepositResult,
    GetDepositCount,
};
pub use card_model::event::{Event, UserGetCard, parse_event};
pub use card_model::landing::{CreateLandingPage, LandingCard, LandingPage, LandingScene};
pub use card_model::message::{
    MassFilter, MassSendByTag, MassSendResult, MassSendToOpenIds, PreviewCard, PreviewRecipient,
    PreviewResult, SendCustomerServiceCard, WxCard,
};
pub use card_model::mpnews::{ArticleHtml, GetArticleHtml};
pub use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem, QrCodeTicket};
pub use card_model::token::{ApiTicketResponse, GetCardApiTicket};
pub use card_model::whitelist::SetTestWhitelist;

pub use card_api::bulk;

/// Everything an [`Error`] carries: how far a call got, WeChat's errcode and errmsg, the
/// kept (bounded) body of an unexpected answer, the transport's failure, the problem of
/// an invalid request.
pub mod error {
    pub use card_api::{Body, Error, MAX_KEPT_BODY, StoreError};
    pub use card_model::{
        ErrCode, EventError, Problem, ResponseError, ValidationError, WeChatError,
    };
    pub use card_push::PushError;
    pub use card_transport::{TransportError, TransportErrorKind};
}

/// Where cached access tokens and card api_tickets live, and the clock that decides
/// when they expire.
pub mod store {
    #[cfg(feature = "async")]
    pub use card_api::{AsyncTokenStore, InPlace};
    pub use card_api::{
        Clock, ManualClock, MemoryTokenStore, StoreError, StoredSecret, SystemClock, TokenStore,
    };
}

/// The events WeChat pushes to the merchant's server.
pub mod event {
    pub use card_model::event::*;
}

/// Receiving WeChat's pushes (the `card-push` crate): [`PushConfig`](push::PushConfig)
/// verifies the callback URL, opens plain and encrypted pushes into typed events and
/// seals passive replies; [`DedupStore`](push::DedupStore) recognises WeChat's retries;
/// `push::testing` builds signed pushes for your tests; `push::axum` (feature
/// `push-axum`) is a ready axum handler.
pub mod push {
    pub use card_push::*;
}

/// The HTTP layer (the `card-transport` crate): the transport traits the clients call,
/// and the backends behind the `blocking` and `async` features.
pub mod transport {
    #[cfg(feature = "async")]
    pub use card_transport::ReqwestTransport;
    #[cfg(feature = "blocking")]
    pub use card_transport::UreqTransport;
    pub use card_transport::{
        AsyncFn, AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, TransportConfig,
        TransportError, TransportErrorKind, async_fn, redacted_target,
    };
}

/// The pure model (the `card-model` crate), module by module: request and response
/// types, limits, validation, endpoint descriptions, events. No I/O.
pub mod model {
    pub use card_model::*;
}

/// One access token for all of a merchant's servers (feature `redis`; the `card-redis`
/// crate): a token store on Redis for each client, so that the servers share one token
/// and one of them refreshes it, and push de-duplication stores, so that a push WeChat
/// retries to another server is still handled once. `AsyncRedisTokenStore` and
/// `AsyncRedisDedupStore` need the `async` feature too.
///
/// ```no_run
/// # #[cfg(feature = "blocking")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wxcard::redis::{RedisConfig, RedisTokenStore};
/// use wxcard::{AppSecret, Client};
///
/// let redis = RedisConfig::new("redis://:password@127.0.0.1:6379/0")?.prefix("shop-1:");
/// let client = Client::builder()
///     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///     .token_store(RedisTokenStore::new(&redis))
///     .build()?;
/// let token = client.access_token()?; // shared with every server on this Redis
/// # let _ = token;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "blocking"))]
/// # fn main() {}
/// ```
#[cfg(feature = "redis")]
pub mod redis {
    #[cfg(feature = "async")]
    pub use card_redis::{AsyncRedisDedupStore, AsyncRedisTokenStore};
    pub use card_redis::{RedisConfig, RedisDedupStore, RedisTokenStore};
}

/// Transports for tests that check each request against an expectation and answer
/// it (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod test_util {
    pub use card_transport::test_util::*;
}

/// An in-memory WeChat card server (feature `sandbox`): a transport for both clients
/// and a loopback HTTP server, with set-up calls (cards, codes, faults, a clock) and
/// records of what the clients did. For tests, demos and the examples.
#[cfg(feature = "sandbox")]
pub mod sandbox {
    /// The sandbox's clock (seconds; system or manual). Not the clients'
    /// [`Clock`](crate::store::Clock).
    pub use card_sandbox::Clock as SandboxClock;
    /// A card of a landing page as the sandbox recorded it.
    pub use card_sandbox::records::LandingCard as RecordedLandingCard;
    /// A landing page as the sandbox recorded it (not the response
    /// [`LandingPage`](crate::LandingPage)).
    pub use card_sandbox::records::LandingPage as RecordedLandingPage;
    /// A QR code's card as the sandbox recorded it (not the request's
    /// [`QrCard`](crate::QrCard)).
    pub use card_sandbox::records::QrCard as RecordedQrCard;
    pub use card_sandbox::{
        CardInfo, CardSpec, Channel, Claim, DEFAULT_OPENID, Fault, FaultConfig, FaultCounts,
        GET_CUSTOM_CODE_MODE_DEPOSIT, MAX_PUSH_ATTEMPTS, PushAttempt, PushOutcome, PushRecord,
        PushTarget, QrTicket, Sandbox, SandboxBuilder, SandboxError, SecretArg, SentMessage,
        ServeArgs, ServeError, ServerConfig, ServerHandle, Stats, Whitelist, serve, serve_with,
    };
}
