//! Pushing `user_get_card` events to a merchant's callback URL, as WeChat does when a
//! user takes a card.
//!
//! A [`PushTarget`] (URL and callback configuration) is set with
//! [`SandboxBuilder::push_target`](crate::SandboxBuilder::push_target),
//! [`Sandbox::set_push_target`](crate::Sandbox::set_push_target), the
//! `--push-url`/`--push-token`/`--push-aes-key` options of the binary, or
//! `POST /sandbox/push_target` at runtime. Each claim rendered through
//! `POST /sandbox/events/user_get_card` then becomes a signed (and, in the encrypted
//! modes, encrypted) push built with [`card_push::testing::PushRequest`], and a
//! [`PushRecord`] keeps what happened to it.
//!
//! Who delivers:
//!
//! * the HTTP server (feature `server`) POSTs each push from its own runtime, in a task
//!   of its own started as it answers the admin call;
//! * the in-process transport has no runtime and sends nothing: a claim rendered through
//!   it is recorded as [`PushOutcome::NotSent`]. `Sandbox::push_claim`
//!   (feature `server`) renders and delivers one claim, blocking, from any code.
//!
//! Delivery follows WeChat: up to [`PushTarget::attempts`] tries (3 by default) of the
//! same request (same `timestamp`, `nonce` and body, so the receiver's de-duplication
//! sees a retry); a try fails when no answer arrives within [`PushTarget::timeout`]
//! (5 s by default), the connection fails, or the status is not 2xx. Tries after a failed
//! one wait [`PushTarget::retry_pause`] (1 s by default). Only `http://` URLs are
//! supported (the sandbox pushes to a server on the developer's machine).

use card_push::PushConfig;
use card_push::testing::PushRequest;
use std::fmt;
use std::time::Duration;

/// Where the sandbox pushes events, and how they are signed.
///
/// ```
/// use card_push::{PushConfig, Token};
/// use card_sandbox::{PushTarget, Sandbox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = PushConfig::plain(Token::new("callback-token")?);
/// let target = PushTarget::new("http://127.0.0.1:8080/wechat", config)?;
/// let sandbox = Sandbox::builder().push_target(target).build();
/// assert_eq!(sandbox.push_target().map(|t| t.url().to_owned()).as_deref(), Some("http://127.0.0.1:8080/wechat"));
/// // The Token never shows.
/// assert!(!format!("{:?}", sandbox.push_target()).contains("callback-token"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PushTarget {
    url: String,
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) uri: http::Uri,
    pub(crate) config: PushConfig,
    timeout: Duration,
    attempts: u32,
    retry_pause: Duration,
}

impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("url", &self.url)
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("retry_pause", &self.retry_pause)
            .finish()
    }
}

/// The most tries of one push [`PushTarget::with_attempts`] accepts.
pub const MAX_PUSH_ATTEMPTS: u32 = 10;

impl PushTarget {
    /// A target at `url` (`http://host:port/path`, an optional query kept) signing with
    /// `config`. Defaults: 3 tries, 5 s for each, 1 s between them.
    ///
    /// # Errors
    /// [`SandboxError::InvalidPushTarget`](crate::SandboxError::InvalidPushTarget) when
    /// `url` is not an `http://` URL with a host.
    pub fn new(url: &str, config: PushConfig) -> Result<Self, crate::SandboxError> {
        let bad = |why: &str| crate::SandboxError::InvalidPushTarget(why.to_owned());
        let uri: http::Uri = url
            .parse()
            .map_err(|_| bad("the push URL is not a valid URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("the push URL must start with http://"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("the push URL has no host"));
        }
        Ok(Self {
            url: url.to_owned(),
            uri,
            config,
            timeout: Duration::from_secs(5),
            attempts: 3,
            retry_pause: Duration::from_secs(1),
        })
    }

    /// How long one try waits for the answer (default 5 s, as WeChat). At least 1 ms.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many tries a push gets, 1 to [`MAX_PUSH_ATTEMPTS`] (default 3, as WeChat).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.clamp(1, MAX_PUSH_ATTEMPTS);
        self
    }

    /// How long to wait after a failed try before the next (default 1 s).
    #[must_use]
    pub fn with_retry_pause(mut self, pause: Duration) -> Self {
        self.retry_pause = pause;
        self
    }

    /// The URL pushes go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The callback configuration pushes are signed (and encrypted) with.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// How long one try waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many tries a push gets.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait after a failed try.
    pub fn retry_pause(&self) -> Duration {
        self.retry_pause
    }
}

/// One try of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushAttempt {
    /// The HTTP status answered, if an answer came.
    pub status: Option<u16>,
    /// Why the try failed without an answer (timeout, connection refused, ...).
    pub error: Option<String>,
}

/// What became of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Being delivered.
    Pending,
    /// A try was answered with this 2xx status.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Every try failed; the reason of the last one.
    Failed {
        /// Why.
        reason: String,
    },
    /// Not sent: rendered through the in-process transport, which has no runtime to send
    /// with (see `Sandbox::push_claim`, feature `server`).
    NotSent {
        /// Why.
        reason: String,
    },
}

impl PushOutcome {
    fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered { .. } => "delivered",
            Self::Failed { .. } => "failed",
            Self::NotSent { .. } => "not_sent",
        }
    }
}

/// A push the sandbox made (or was asked to make): what, where, each try and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushRecord {
    /// The push's number, from 1, unique in the sandbox's life.
    pub id: u64,
    /// The card taken.
    pub card_id: String,
    /// The code taken.
    pub code: String,
    /// Where it was sent.
    pub url: String,
    /// Each try, in order (a redelivery adds tries).
    pub attempts: Vec<PushAttempt>,
    /// The outcome of the last delivery.
    pub outcome: PushOutcome,
}

/// A push waiting to be sent: its record's id, the target and the exact request.
#[derive(Debug, Clone)]
pub(crate) struct PushJob {
    pub(crate) id: u64,
    pub(crate) target: PushTarget,
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) request: PushRequest,
}

/// The sandbox's push state: the target, the records, the jobs not yet taken by a
/// sender.
#[derive(Debug, Default)]
pub(crate) struct Pushes {
    pub(crate) target: Option<PushTarget>,
    records: Vec<(PushRecord, PushJob)>,
    queue: Vec<PushJob>,
    next_id: u64,
}

/// Most push records kept; the oldest go first.
const MAX_RECORDS: usize = 10_000;

/// Why the in-process transport sends nothing.
pub(crate) const IN_PROCESS: &str = "the in-process transport sends no pushes; serve the \
     sandbox over HTTP or call Sandbox::push_claim";

impl Pushes {
    /// Records a push of `claim` to the current target and returns its job (not queued),
    /// or `None` when no target is set.
    pub(crate) fn prepare(
        &mut self,
        event: &card_model::event::UserGetCard,
    ) -> Option<Result<PushJob, card_push::PushError>> {
        let target = self.target.clone()?;
        let request = match PushRequest::for_claim(&target.config, event) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        self.next_id += 1;
        let job = PushJob {
            id: self.next_id,
            target,
            request,
        };
        let record = PushRecord {
            id: job.id,
            card_id: event.card_id.clone(),
            code: event.user_card_code.clone().unwrap_or_default(),
            url: job.target.url.clone(),
            attempts: Vec::new(),
            outcome: PushOutcome::Pending,
        };
        if self.records.len() >= MAX_RECORDS {
            self.records.remove(0);
        }
        self.records.push((record, job.clone()));
        Some(Ok(job))
    }

    /// Queues a job for the next sender.
    pub(crate) fn enqueue(&mut self, job: PushJob) {
        self.queue.push(job);
    }

    /// The jobs waiting for a sender.
    pub(crate) fn take_queue(&mut self) -> Vec<PushJob> {
        std::mem::take(&mut self.queue)
    }

    /// The job of an earlier push, to send again (a redelivery: the same request).
    pub(crate) fn redeliver(&mut self, id: u64) -> Option<PushJob> {
        let (record, job) = self.records.iter_mut().find(|(r, _)| r.id == id)?;
        record.outcome = PushOutcome::Pending;
        Some(job.clone())
    }

    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn record_attempt(&mut self, id: u64, attempt: PushAttempt) {
        if let Some((r, _)) = self.records.iter_mut().find(|(r, _)| r.id == id) {
            r.attempts.push(attempt);
        }
    }

    pub(crate) fn finish(&mut self, id: u64, outcome: PushOutcome) {
        if let Some((r, _)) = self.records.iter_mut().find(|(r, _)| r.id == id) {
            r.outcome = outcome;
        }
    }

    pub(crate) fn records(&self) -> Vec<PushRecord> {
        self.records.iter().map(|(r, _)| r.clone()).collect()
    }

    pub(crate) fn record(&self, id: u64) -> Option<PushRecord> {
        self.records
            .iter()
            .find(|(r, _)| r.id == id)
            .map(|(r, _)| r.clone())
    }

    /// Counts of records by outcome, and tries in all.
    pub(crate) fn counts(&self) -> serde_json::Value {
        let mut counts = serde_json::Map::new();
        for name in ["pending", "delivered", "failed", "not_sent"] {
            counts.insert(name.into(), 0.into());
        }
        let mut attempts = 0usize;
        for (r, _) in &self.records {
            attempts += r.attempts.len();
            let n = counts
                .get(r.outcome.name())
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            counts.insert(r.outcome.name().into(), (n + 1).into());
        }
        counts.insert("pushes".into(), self.records.len().into());
        counts.insert("attempts".into(), attempts.into());
        serde_json::Value::Object(counts)
    }

    /// Back to no records; the target stays.
    pub(crate) fn clear_records(&mut self) {
        self.records.clear();
        self.queue.clear();
    }
}

/// A record as the admin routes show it.
pub(crate) fn record_json(r: &PushRecord) -> serde_json::Value {
    let attempts: Vec<serde_json::Value> = r
        .attempts
        .iter()
        .map(|a| serde_json::json!({"status": a.status, "error": a.error}))
        .collect();
    let mut v = serde_json::json!({
        "id": r.id, "card_id": r.card_id, "code": r.code, "url": r.url,
        "attempts": attempts, "outcome": r.outcome.name(),
    });
    match &r.outcome {
        PushOutcome::Delivered { status } => v["status"] = (*status).into(),
        PushOutcome::Failed { reason } | PushOutcome::NotSent { reason } => {
            v["reason"] = reason.as_str().into();
        }
        PushOutcome::Pending => {}
    }
    v
}

/// A target as the admin routes show it (never the Token or key).
pub(crate) fn target_json(t: Option<&PushTarget>) -> serde_json::Value {
    match t {
        None => serde_json::Value::Null,
        Some(t) => {
            let mode = match t.config.mode() {
                card_push::Mode::Plain => "plain",
                card_push::Mode::Compatible => "compatible",
                _ => "safe",
            };
            serde_json::json!({
                "url": t.url, "mode": mode, "appid": t.config.app_id(),
                "timeout_ms": u64::try_from(t.timeout.as_millis()).unwrap_or(u64::MAX),
                "attempts": t.attempts,
                "retry_pause_ms": u64::try_from(t.retry_pause.as_millis()).unwrap_or(u64::MAX),
            })
        }
    }
}

#[cfg(feature = "server")]
pub(crate) mod send {
    //! Sending pushes over HTTP/1.1 with hyper's client, on a tokio runtime.

    use super::{PushAttempt, PushJob, PushOutcome};
    use crate::Sandbox;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    /// The most of an answer's body read (and dropped).
    const MAX_ANSWER_BYTES: usize = 64 * 1024;

    /// Delivers `job`: up to its target's number of tries, recording each and the
    /// outcome in `sandbox`.
    pub(crate) async fn deliver(sandbox: Sandbox, job: PushJob) -> PushOutcome {
        let target = &job.target;
        let mut last = String::new();
        for n in 0..target.attempts() {
            if n > 0 && !target.retry_pause().is_zero() {
                tokio::time::sleep(target.retry_pause()).await;
            }
            let attempt = match tokio::time::timeout(target.timeout(), post(&job)).await {
                Err(_) => PushAttempt {
                    status: None,
                    error: Some(format!(
                        "no answer within {} ms",
                        target.timeout().as_millis()
                    )),
                },
                Ok(Err(e)) => PushAttempt {
                    status: None,
                    error: Some(e),
                },
                Ok(Ok(status)) => PushAttempt {
                    status: Some(status),
                    error: None,
                },
            };
            sandbox.with_pushes(|p| p.record_attempt(job.id, attempt.clone()));
            match (attempt.status, attempt.error) {
                (Some(status), _) if (200..300).contains(&status) => {
                    let outcome = PushOutcome::Delivered { status };
                    sandbox.with_pushes(|p| p.finish(job.id, outcome.clone()));
                    return outcome;
                }
                (Some(status), _) => last = format!("answered HTTP {status}"),
                (None, Some(e)) => last = e,
                (None, None) => last = "no answer".to_owned(),
            }
        }
        let outcome = PushOutcome::Failed {
            reason: format!("{} tries failed; the last: {last}", target.attempts()),
        };
        sandbox.with_pushes(|p| p.finish(job.id, outcome.clone()));
        outcome
    }

    /// One POST of the push; the status answered, or why none came.
    async fn post(job: &PushJob) -> Result<u16, String> {
        let uri = &job.target.uri;
        let host = uri.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let driver = tokio::spawn(connection);
        let path = uri.path();
        let query = match uri.query() {
            Some(q) if !q.is_empty() => format!("{q}&{}", job.request.query_string()),
            _ => job.request.query_string().to_owned(),
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let request = hyper::Request::post(format!("{path}?{query}"))
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(http::header::USER_AGENT, "card-sandbox")
            .body(Full::new(Bytes::from(job.request.body().to_owned())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("no answer: {e}"))?;
            let status = response.status().as_u16();
            // Read the answer so the receiver sees a clean close; its content is not used.
            let _ = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok(status)
        }
        .await;
        driver.abort();
        result
    }
}
