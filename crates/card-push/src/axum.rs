//! An axum 0.8 endpoint for WeChat's pushes (feature `axum`).
//!
//! [`PushService::router`] mounts one path that answers the GET verification of the
//! callback URL and opens POST pushes: it checks and decrypts each push, skips WeChat's
//! retries through an [`AsyncDedupStore`], hands each new event to the merchant's async
//! function, and answers WeChat in time.
//!
//! Answers: `success` (200) once the function succeeded, or once
//! [`reply_within`](PushService::with_reply_within) has passed while it still runs (it
//! then goes on running and its outcome is traced); 500 when the function failed in
//! time (its key is forgotten, so WeChat's retry runs it again); `success` for a
//! duplicate, without calling the function; 401 with an empty body for a wrong
//! signature or stale timestamp; 413 for an over-size body; 400 for anything else that
//! cannot be opened.
//!
//! Logs (through `tracing`) name the event type and the de-duplication key, never the
//! Token, a key, or the event's content.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use card_model::event::Event;
//! use card_push::{PushConfig, Token, axum::PushService};
//!
//! let config = PushConfig::plain(Token::new("token")?);
//! let app = PushService::new(config, |push: card_push::Push| async move {
//!     if let Event::UserGetCard(claim) = push.event() {
//!         println!("card {} taken", claim.card_id);
//!     }
//!     Ok::<(), std::io::Error>(())
//! })
//! .router("/wechat");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::PushConfig;
use crate::dedup::{AsyncDedupStore, DEFAULT_DEDUP_TTL, MemoryDedupStore};
use crate::error::PushError;
use crate::open::{Push, PushQuery, SUCCESS};

/// The error a merchant's function may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
type Handler = Arc<dyn Fn(Push) -> BoxFuture + Send + Sync>;

/// How long the merchant's function may run before WeChat is answered anyway, unless
/// set: WeChat gives up after 5 s, so this leaves a second for the network.
pub const DEFAULT_REPLY_WITHIN: Duration = Duration::from_secs(4);

/// The push endpoint: configuration, de-duplication store and the merchant's function.
#[derive(Clone)]
pub struct PushService {
    config: Arc<PushConfig>,
    store: Arc<dyn AsyncDedupStore>,
    ttl: Duration,
    reply_within: Duration,
    handler: Handler,
}

impl std::fmt::Debug for PushService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushService")
            .field("config", &self.config)
            .field("store", &self.store)
            .field("ttl", &self.ttl)
            .field("reply_within", &self.reply_within)
            .finish_non_exhaustive()
    }
}

impl PushService {
    /// An endpoint that calls `handler` once per new push, with an in-memory
    /// de-duplication store ([`MemoryDedupStore::default`]) and a TTL of
    /// [`DEFAULT_DEDUP_TTL`].
    pub fn new<F, Fut, E>(config: PushConfig, handler: F) -> Self
    where
        F: Fn(Push) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let handler: Handler = Arc::new(move |push| {
            let fut = handler(push);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        Self {
            config: Arc::new(config),
            store: Arc::new(MemoryDedupStore::default()),
            ttl: DEFAULT_DEDUP_TTL,
            reply_within: DEFAULT_REPLY_WITHIN,
            handler,
        }
    }

    /// Use `store` to recognise retries (a shared store lets several servers skip each
    /// other's retries).
    #[must_use]
    pub fn with_dedup_store(mut self, store: Arc<dyn AsyncDedupStore>) -> Self {
        self.store = store;
        self
    }

    /// Remember each push for `ttl` (at least 15 s makes sense).
    #[must_use]
    pub fn with_dedup_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Answer WeChat after at most `limit` even if the function still runs (keep it
    /// under WeChat's 5 s).
    #[must_use]
    pub fn with_reply_within(mut self, limit: Duration) -> Self {
        self.reply_within = limit;
        self
    }

    /// A router answering GET and POST at `path`.
    ///
    /// # Panics
    /// As [`axum::Router::route`]: if `path` is empty or does not start with `/`.
    pub fn router(self, path: &str) -> Router {
        let limit = self.config.max_body_bytes();
        Router::new()
            .route(path, get(verify).post(receive))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
    }
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

fn refused(error: &PushError) -> Response {
    tracing::warn!(%error, "push refused");
    status(StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST))
}

async fn verify(State(service): State<PushService>, RawQuery(query): RawQuery) -> Response {
    let query = match PushQuery::parse(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return refused(&e),
    };
    match service.config.verify_url(&query) {
        Ok(echostr) => echostr.to_owned().into_response(),
        Err(e) => refused(&e),
    }
}

async fn receive(
    State(service): State<PushService>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let code = rejection.status();
            tracing::warn!(status = code.as_u16(), "push body refused");
            return status(code);
        }
    };
    let push = match PushQuery::parse(query.as_deref().unwrap_or(""))
        .and_then(|q| service.config.open(&q, &body))
    {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let key = push.dedup_key().clone();
    let event_type = push.event().event_type().unwrap_or("").to_owned();
    let msg_type = push.event().msg_type().to_owned();
    match service.store.first_seen(&key, service.ttl).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(key = key.as_str(), %msg_type, %event_type, "duplicate push skipped");
            return SUCCESS.into_response();
        }
        Err(error) => {
            // Better twice than never: handle the push.
            tracing::warn!(%error, key = key.as_str(), "dedup store failed; handling the push");
        }
    }
    tracing::info!(key = key.as_str(), %msg_type, %event_type, "push received");
    let mut task = tokio::spawn((service.handler)(push));
    match tokio::time::timeout(service.reply_within, &mut task).await {
        Ok(finished) => match outcome(finished) {
            Ok(()) => SUCCESS.into_response(),
            Err(error) => {
                tracing::error!(%error, key = key.as_str(), %event_type, "push handler failed; WeChat will retry");
                if let Err(error) = service.store.forget(&key).await {
                    tracing::warn!(%error, key = key.as_str(), "dedup store could not forget the push");
                }
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
        Err(_) => {
            tracing::warn!(key = key.as_str(), %event_type, "push handler still running; answered WeChat");
            tokio::spawn(async move {
                match outcome(task.await) {
                    Ok(()) => {
                        tracing::info!(key = key.as_str(), %event_type, "late push handler finished");
                    }
                    Err(error) => {
                        tracing::error!(%error, key = key.as_str(), %event_type, "late push handler failed");
                    }
                }
            });
            SUCCESS.into_response()
        }
    }
}

/// The merchant function's result, a panic counted as an error.
fn outcome(joined: Result<Result<(), BoxError>, tokio::task::JoinError>) -> Result<(), String> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(join) => Err(format!("the function panicked or was cancelled: {join}")),
    }
}
