//! The async client: the call plan executed with `.await` and tokio's timer and locks.

use crate::core::{self, Core, Granted, LeaseGuard, SecretEvent, SecretFlow, SecretStep, StoreOp};
use crate::error::Error;
use crate::plan::{CallPlan, Outcome, Step};
use crate::store::{SecretKind, StoreHandle};
use card_model::{AccessToken, ApiTicket, Endpoint};
use card_transport::AsyncTransport;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tracing::Instrument;

/// The async client. Cheap to clone (clones share the token cache and transport); its
/// futures are `Send`. It sleeps with tokio's timer, so run it inside a tokio runtime.
///
/// ```
/// use card_api::AsyncClient;
/// use card_model::AccessToken;
/// use card_transport::test_util::{Exchange, ExpectedRequest, ReplayTransport, json_response};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let replay = ReplayTransport::new([Exchange::new(
///     ExpectedRequest::get("/cgi-bin/ticket/getticket")
///         .query("access_token", "MY-TOKEN")
///         .query("type", "wx_card"),
///     json_response(200, r#"{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}"#),
/// )]);
/// let client = AsyncClient::builder()
///     .access_token(AccessToken::new("MY-TOKEN")) // the application manages tokens
///     .transport(replay.clone())
///     .build()?;
/// let ticket = client.api_ticket().await?;
/// assert_eq!(ticket.expose(), "TICKET");
/// replay.finish()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    core: Arc<Core>,
    transport: Arc<dyn AsyncTransport>,
    /// One refresh at a time per credential kind in this process (written by the
    /// refresher; read to wait for its end).
    flights: Arc<[tokio::sync::RwLock<()>; 2]>,
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.core, f)
    }
}

type SecretFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Granted>, Error>> + Send + 'a>>;

macro_rules! async_method {
    ($(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// See [`Error`]: nothing is sent for an invalid request.
        pub async fn $name(&self, request: &$request) -> Result<$response, Error> {
            self.call(request).await
        }
    };
}

impl AsyncClient {
    pub(crate) fn from_parts(core: Core, transport: Arc<dyn AsyncTransport>) -> Self {
        Self {
            core: Arc::new(core),
            transport,
            flights: Arc::new([tokio::sync::RwLock::new(()), tokio::sync::RwLock::new(())]),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &crate::ClientConfig {
        &self.core.config
    }

    /// Calls any endpoint: validates it, sends it with the access token, retries and
    /// fails over as the plan says, and decodes the response.
    ///
    /// # Errors
    /// See [`Error`]: nothing is sent for an invalid request.
    pub async fn call<E: Endpoint>(&self, endpoint: &E) -> Result<E::Response, Error> {
        let plan = self.core.plan(endpoint)?;
        self.drive(plan).await
    }

    /// The current access token, fetched (once, however many tasks ask) when the cache
    /// has none or it is about to expire.
    ///
    /// # Errors
    /// When fetching fails.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        core::granted_value(self.secret(SecretKind::AccessToken, None, true).await)
            .map(AccessToken::new)
    }

    /// The card api_ticket, cached like the access token.
    ///
    /// # Errors
    /// When fetching fails.
    pub async fn api_ticket(&self) -> Result<ApiTicket, Error> {
        core::granted_value(self.secret(SecretKind::CardApiTicket, None, true).await)
            .map(core::ticket)
    }

    /// A signed `card_ext` for `card_id`, optionally bound to a `code`
    /// and/or an `openid`: the cached api_ticket, the clock's timestamp and a fresh
    /// random nonce. Put it in a [`WxCard`](card_model::message::WxCard) or hand it to
    /// the JS-SDK.
    ///
    /// # Errors
    /// When the api_ticket cannot be had, or the values break a limit of
    /// [`CardExt::sign`](card_model::CardExt::sign).
    pub async fn card_ext(
        &self,
        card_id: &str,
        code: Option<&str>,
        openid: Option<&str>,
    ) -> Result<card_model::CardExt, Error> {
        let ticket = self.api_ticket().await?;
        self.core.card_ext(&ticket, card_id, code, openid)
    }

    async fn drive<T>(&self, mut plan: CallPlan<T>) -> Result<T, Error> {
        let span = core::call_span(plan.path());
        let mut outcome = Outcome::Start;
        loop {
            let step = span.in_scope(|| plan.next(outcome));
            self.core.observe(&span, &plan, &step);
            outcome = match step {
                Step::Send(request) => {
                    // Through the trait object itself: `self.transport.send` would pick
                    // the impl for `Arc<T>`, which boxes one more future per request.
                    let send = self.transport.as_ref().send(request);
                    Outcome::Response(send.instrument(span.clone()).await)
                }
                Step::AccessToken { stale, may_fetch } => {
                    let stale = core::stale_value(stale.as_ref());
                    let in_place = span.in_scope(|| {
                        self.secret_in_place(SecretKind::AccessToken, stale, may_fetch)
                    });
                    let granted = match in_place {
                        Ok(granted) => granted,
                        Err(rest) => rest.instrument(span.clone()).await,
                    };
                    self.core.token_outcome(&mut plan, granted)
                }
                Step::Sleep(delay) => {
                    tokio::time::sleep(delay).await;
                    Outcome::Slept
                }
                Step::Done(result) => return result,
            };
        }
    }

    /// A usable credential of `kind` other than `stale`: the core's
    /// [`SecretFlow`](crate::core::SecretFlow), carried out on either kind of store.
    /// Boxed: fetching the ticket drives a call that needs the token.
    fn secret<'a>(
        &'a self,
        kind: SecretKind,
        stale: Option<&'a str>,
        may_fetch: bool,
    ) -> SecretFuture<'a> {
        let mut flow = self.core.secret(kind, stale, may_fetch);
        let first = flow.next(SecretEvent::Start);
        self.secret_from(kind, flow, first)
    }

    /// [`secret`](Self::secret) without a future as long as the flow needs nothing
    /// but a fixed token or reads of a store that answers in place (a sync store): the
    /// usual call finds its token so. At the first step that would wait (a lock, a
    /// lease, a sleep, a fetch, an async store), the rest of the same flow is handed
    /// back as the boxed future, which carries out that step next: the store sees the
    /// same operations in the same order as through `secret`.
    fn secret_in_place<'a>(
        &'a self,
        kind: SecretKind,
        stale: Option<&'a str>,
        may_fetch: bool,
    ) -> Result<Result<Option<Granted>, Error>, SecretFuture<'a>> {
        let mut flow = self.core.secret(kind, stale, may_fetch);
        let mut event = SecretEvent::Start;
        loop {
            let step = flow.next(event);
            event = match (step, self.core.store()) {
                (SecretStep::Done(result), _) => return Ok(result),
                (SecretStep::Store(op @ StoreOp::Get { .. }), StoreHandle::Sync(store)) => {
                    SecretEvent::Stored(op.run(store.as_ref()))
                }
                (step, _) => return Err(self.secret_from(kind, flow, step)),
            };
        }
    }

    /// Carries `flow` out from its step `first` on. Boxed: fetching the ticket drives a
    /// call that needs the token.
    fn secret_from<'a>(
        &'a self,
        kind: SecretKind,
        mut flow: SecretFlow<'a>,
        first: SecretStep<'a>,
    ) -> SecretFuture<'a> {
        Box::pin(async move {
            let mut _flight = None;
            // Declared after the flight lock, so dropped before it: the lease is given
            // back before the next caller in this process looks at the store.
            let mut lease = LeaseGuard::new(&self.core, kind);
            let mut step = first;
            loop {
                lease.arm(flow.may_hold_lease());
                let event = match step {
                    SecretStep::Store(op) => SecretEvent::Stored(self.core.store().run(op).await),
                    SecretStep::Lock => {
                        _flight = Some(self.flights[kind.index()].write().await);
                        SecretEvent::Locked
                    }
                    SecretStep::TryLock => match self.flights[kind.index()].try_write() {
                        Ok(guard) => {
                            _flight = Some(guard);
                            SecretEvent::Locked
                        }
                        Err(_) => SecretEvent::Busy,
                    },
                    SecretStep::AwaitUnlock => {
                        drop(self.flights[kind.index()].read().await);
                        SecretEvent::Unlocked
                    }
                    SecretStep::Sleep(delay) => {
                        tokio::time::sleep(delay).await;
                        SecretEvent::Slept
                    }
                    SecretStep::Fetch(plan) => SecretEvent::Fetched(self.drive(*plan).await),
                    SecretStep::Done(result) => return result,
                };
                step = flow.next(event);
            }
        })
    }

    /// Imports any number of custom codes into a deposit-mode card: the same
    /// workflow, report and guarantees as the blocking
    /// `Client::deposit_all` (see there for the steps around it), with up to [`DepositOptions::concurrency`](crate::bulk::DepositOptions::concurrency)
    /// chunks in flight (default [`DEFAULT_CONCURRENCY`](crate::bulk::DEFAULT_CONCURRENCY),
    /// kept small for WeChat's rate limits). Chunks in flight never share a code: a
    /// repeat of an earlier chunk's code waits until every other chunk has completed.
    /// Memory holds the chunks in flight, a 64-bit fingerprint per distinct code and the
    /// repeated codes.
    ///
    /// ```
    /// use card_api::bulk::DepositOptions;
    /// use card_api::{AsyncClient, RetryPolicy};
    /// use card_sandbox::{CardSpec, Sandbox};
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = Sandbox::new();
    /// let card_id = sandbox.create_card(CardSpec::deposit_mode())?; // quantity 0
    /// let client = AsyncClient::builder()
    ///     .app_credentials(Sandbox::DEFAULT_APPID, sandbox.secret())
    ///     .retry(RetryPolicy::new())
    ///     .transport(sandbox.clone())
    ///     .build()?;
    /// let codes = (0..1000).map(|i| format!("{i:08}"));
    /// let report = client
    ///     .deposit_all(&card_id, codes, &DepositOptions::new().concurrency(8), |_| {})
    ///     .await?;
    /// assert_eq!(report.deposited, 1000);
    /// assert_eq!(report.deposit_count, Some(1000));
    /// assert_eq!(sandbox.deposited_count(&card_id), Some(1000));
    /// // then set the stock with the modify-stock API (not called here)
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Client::deposit_all`](crate::Client::deposit_all).
    pub async fn deposit_all<I>(
        &self,
        card_id: &str,
        codes: I,
        options: &crate::bulk::DepositOptions,
        progress: impl FnMut(crate::bulk::Progress),
    ) -> Result<crate::bulk::DepositReport, Error>
    where
        I: IntoIterator<Item = String>,
    {
        self.deposit_all_stream(
            card_id,
            futures_util::stream::iter(codes),
            options,
            progress,
        )
        .await
    }

    /// [`deposit_all`](Self::deposit_all) over a stream of codes (a file read
    /// asynchronously, a database cursor). The stream is read as chunks are needed, so of
    /// its codes only the chunks in flight are held in memory, with a fingerprint per
    /// distinct code and the repeated codes. [`Progress::total`](crate::bulk::Progress::total)
    /// comes from the stream's size hint when exact.
    ///
    /// # Errors
    /// As [`Client::deposit_all`](crate::Client::deposit_all).
    pub async fn deposit_all_stream<S>(
        &self,
        card_id: &str,
        codes: S,
        options: &crate::bulk::DepositOptions,
        mut progress: impl FnMut(crate::bulk::Progress),
    ) -> Result<crate::bulk::DepositReport, Error>
    where
        S: futures_core::Stream<Item = String>,
    {
        use crate::bulk::AfterInput;
        use futures_util::StreamExt;
        use futures_util::future::{self, Either};
        use futures_util::stream::FuturesUnordered;
        let mut codes = std::pin::pin!(codes);
        let mut job = crate::bulk::DepositJob::new(card_id, *options, codes.size_hint())?;
        let limit = options.chunks_in_flight();
        let mut in_flight = FuturesUnordered::new();
        let mut exhausted = false;
        loop {
            if exhausted {
                // The last chunk, then the held-back repeats once the chunks before
                // them have completed: the job says when.
                while in_flight.len() < limit {
                    match job.after_input() {
                        AfterInput::Chunk(chunk) => in_flight.push(self.run_chunk(chunk)),
                        AfterInput::Wait | AfterInput::Done => break,
                    }
                }
                match in_flight.next().await {
                    Some(done) => progress(job.complete(done?)),
                    None => break,
                }
                continue;
            }
            let event = if in_flight.len() >= limit {
                match in_flight.next().await {
                    Some(done) => Either::Right(done),
                    None => continue,
                }
            } else if in_flight.is_empty() {
                Either::Left(codes.next().await)
            } else {
                // Read the input while the chunks in flight go on: a slow stream does
                // not stall them.
                match future::select(codes.next(), in_flight.next()).await {
                    Either::Left((code, _)) => Either::Left(code),
                    Either::Right((Some(done), _)) => Either::Right(done),
                    Either::Right((None, _)) => continue,
                }
            };
            match event {
                Either::Left(Some(code)) => {
                    if let Some(chunk) = job.push(code) {
                        in_flight.push(self.run_chunk(chunk));
                    }
                }
                Either::Left(None) => exhausted = true,
                Either::Right(done) => progress(job.complete(done?)),
            }
        }
        if let Some(last) = job.last_progress() {
            progress(last);
        }
        let count = self.get_deposit_count(&job.count_request()).await;
        if let Err(error) = &count {
            tracing::warn!(%error, "deposit_all: getdepositcount failed");
        }
        Ok(job.finish(count.map(|c| c.count)))
    }

    async fn run_chunk(
        &self,
        mut chunk: crate::bulk::ChunkJob,
    ) -> Result<crate::bulk::ChunkResult, Error> {
        use crate::bulk::{ChunkEvent, ChunkStep};
        let mut event = ChunkEvent::Start;
        loop {
            event = match chunk.next(event) {
                // The codes go back to the chunk with the answer.
                ChunkStep::Check(request) => {
                    let answer = self.check_codes(&request).await;
                    ChunkEvent::Checked(request.code, answer)
                }
                ChunkStep::Deposit(request) => {
                    let answer = match self.core.plan(&request) {
                        Ok(plan) => self.drive(plan.once()).await,
                        Err(e) => Err(e),
                    };
                    ChunkEvent::Deposited(request.code, answer)
                }
                ChunkStep::Done(result) => return result,
            };
        }
    }

    crate::methods::endpoint_methods!(async_method);
}
