//! # card-redis
//!
//! One access token for all of a merchant's servers: a [`TokenStore`] on Redis for the
//! blocking `card_api::Client` ([`RedisTokenStore`]) and an `AsyncTokenStore` for the
//! `card_api::AsyncClient` (`AsyncRedisTokenStore`, feature `async`), plus push
//! de-duplication stores ([`RedisDedupStore`], `AsyncRedisDedupStore`) so that a push
//! WeChat retries to another server is still handled once.
//!
//! Fetching an access token invalidates the previous one, so servers that refresh on
//! their own knock each other's tokens out (errcode 40001 in a loop). With these stores
//! the servers share one token: exactly one of them refreshes it (under a lease), writes
//! it with compare-and-set, and the others read it.
//!
//! ```no_run
//! use card_api::Client;
//! use card_model::AppSecret;
//! use card_redis::{RedisConfig, RedisTokenStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `rediss://` for TLS (rustls); the password, if any, goes in the URL.
//! let redis = RedisConfig::new("rediss://:password@redis.internal:6380/0")?.prefix("shop-1:");
//! let client = Client::builder()
//!     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
//!     .token_store(RedisTokenStore::new(&redis))
//!     .build()?;
//! let token = client.access_token()?; // shared with every server on this Redis
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! ## Keys
//!
//! The client names its entries `wxcard:access_token:<AppID>` and
//! `wxcard:card_api_ticket:<AppID>` (its store namespace is the AppID unless set
//! otherwise). In Redis each becomes, after the configurable [`RedisConfig::prefix`]
//! (empty by default):
//!
//! | key | type | written by |
//! |---|---|---|
//! | `<prefix>wxcard:<kind>:<AppID>` | hash `value`, `use_until_ms` | a Lua compare-and-set script; expires (`PEXPIRE`) when the credential stops being used |
//! | `<prefix>wxcard:<kind>:<AppID>:lease` | string: the holder's id | `SET NX PX` (in a script that also answers "already mine"); deleted only by its holder (compare-and-delete script) |
//! | `<prefix>wxcard:dedup:<namespace>:<push key>` | string | `SET NX PX`, by the de-duplication stores |
//!
//! A lease holder that dies (a process killed mid-refresh) blocks the others for at most
//! the lease's time-to-live (`ClientBuilder::refresh_lease`): Redis expires the lease.
//!
//! The stores talk to one Redis server (or whatever answers at the URL, such as a proxy
//! in front of a primary); Redis Cluster's client is not used.
//!
//! ## The local copy: near-zero cost per call, and which tokens count as vouched
//!
//! The clients read the store on every call. So that a call does not cost a Redis round
//! trip, each store keeps a local copy of what Redis last told it and answers `get` from
//! it while the copy is **vouched for**: it was read from Redis, or written there by this
//! store's compare-and-set, less than [`RedisConfig::revalidate_after`] ago (1 s by
//! default), and its `use_until_ms` has not passed. Otherwise `get` asks Redis. Writes
//! (compare-and-set) and leases always go to Redis; a lease attempt (the client only asks
//! for one when the token it had was missing, expiring or rejected by WeChat) drops the
//! local copy, so the next read asks Redis. A token another server replaced is therefore
//! used here for at most `revalidate_after` (WeChat keeps the previous token valid for
//! 5 minutes after a refresh).
//!
//! When Redis cannot be reached, every operation that needs it fails with a
//! [`StoreError`] (the clients' `Error::Store`) naming the operation; no call is sent
//! with a token the store could not vouch for. With [`RedisConfig::local_fallback`]
//! turned on, `get` instead answers with the last value Redis confirmed (or this store
//! wrote) while its `use_until_ms` has not passed, however long ago it was confirmed; a
//! refresh still needs Redis. When Redis is back, the stores reconnect on their own (the
//! blocking one opens a new connection; the async one's connection manager reconnects):
//! no client needs a restart.
//!
//! ## Why a crate and not a feature of card-api
//!
//! The `redis` crate brings its own dependency tree (a RESP parser, tokio-util and a
//! connection manager for async, rustls for TLS) that users without Redis should not
//! compile, and it moves on its own major versions; a separate crate keeps card-api's
//! dependencies and feature checks as they are. The stores also implement card-push's
//! de-duplication traits, which card-api should not depend on.
//!
//! ## Features
//!
//! * (none): the blocking stores, `redis://` and `rediss://` (rustls with the *ring*
//!   provider; the webpki roots, or a private CA with [`RedisConfig::root_certificate`];
//!   no native-tls, no OpenSSL).
//! * `async`: `AsyncRedisTokenStore` and `AsyncRedisDedupStore` on tokio.
#![deny(missing_docs)]

mod blocking;
mod cache;
mod config;
mod protocol;
mod scripts;

#[cfg(feature = "async")]
mod asynchronous;

#[cfg(feature = "async")]
pub use asynchronous::{AsyncRedisDedupStore, AsyncRedisTokenStore};
pub use blocking::{RedisDedupStore, RedisTokenStore};
pub use config::RedisConfig;

#[cfg(doc)]
use card_api::{StoreError, TokenStore};
