//! The blocking client: the call plan executed with `std` threads and sleeps.

use crate::core::{self, Core, Granted, LeaseGuard, SecretEvent, SecretStep};
use crate::error::Error;
use crate::plan::{CallPlan, Outcome, Step};
use crate::store::{SecretKind, TokenStore};
use card_model::{AccessToken, ApiTicket, Endpoint};
use card_transport::BlockingTransport;
use std::fmt;
use std::sync::{Arc, RwLock, TryLockError};

/// The blocking client. Cheap to clone (clones share the token cache and transport)
/// and safe to use from many threads.
///
/// ```
/// use card_api::Client;
/// use card_model::AppSecret;
/// use card_transport::test_util::{Exchange, ExpectedRequest, ReplayTransport, json_response};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let replay = ReplayTransport::new([
///     Exchange::new(
///         ExpectedRequest::get("/cgi-bin/token").any_query(),
///         json_response(200, r#"{"access_token":"TOKEN","expires_in":7200}"#),
///     ),
///     Exchange::new(
///         ExpectedRequest::get("/cgi-bin/ticket/getticket")
///             .query("access_token", "TOKEN")
///             .query("type", "wx_card"),
///         json_response(200, r#"{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}"#),
///     ),
/// ]);
/// let client = Client::builder()
///     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///     .transport(replay.clone())
///     .build()?;
/// let ticket = client.api_ticket()?; // fetched once, then cached
/// assert_eq!(ticket.expose(), "TICKET");
/// assert_eq!(client.api_ticket()?.expose(), "TICKET");
/// replay.finish()?; // every expected request was made
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    core: Arc<Core>,
    /// The core's store, which [`ClientBuilder::build`] checked is a sync one.
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn BlockingTransport>,
    /// One refresh at a time per credential kind in this process (written by the
    /// refresher; read to wait for its end).
    flights: Arc<[RwLock<()>; 2]>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.core, f)
    }
}

macro_rules! blocking_method {
    ($(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// See [`Error`]: nothing is sent for an invalid request.
        pub fn $name(&self, request: &$request) -> Result<$response, Error> {
            self.call(request)
        }
    };
}

impl Client {
    pub(crate) fn from_parts(
        core: Core,
        store: Arc<dyn TokenStore>,
        transport: Arc<dyn BlockingTransport>,
    ) -> Self {
        Self {
            core: Arc::new(core),
            store,
            transport,
            flights: Arc::new([RwLock::new(()), RwLock::new(())]),
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
    pub fn call<E: Endpoint>(&self, endpoint: &E) -> Result<E::Response, Error> {
        self.drive(self.core.plan(endpoint)?)
    }

    /// The current access token, fetched (once, however many threads ask) when the
    /// cache has none or it is about to expire.
    ///
    /// # Errors
    /// When fetching fails.
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        core::granted_value(self.secret(SecretKind::AccessToken, None, true)).map(AccessToken::new)
    }

    /// The card api_ticket, cached like the access token.
    ///
    /// # Errors
    /// When fetching fails.
    pub fn api_ticket(&self) -> Result<ApiTicket, Error> {
        core::granted_value(self.secret(SecretKind::CardApiTicket, None, true)).map(core::ticket)
    }

    /// A signed `card_ext` for `card_id`, optionally bound to a `code`
    /// and/or an `openid`: the cached api_ticket, the clock's timestamp and a fresh
    /// random nonce. Put it in a [`WxCard`](card_model::message::WxCard) or hand it to
    /// the JS-SDK.
    ///
    /// # Errors
    /// When the api_ticket cannot be had, or the values break a limit of
    /// [`CardExt::sign`](card_model::CardExt::sign).
    pub fn card_ext(
        &self,
        card_id: &str,
        code: Option<&str>,
        openid: Option<&str>,
    ) -> Result<card_model::CardExt, Error> {
        let ticket = self.api_ticket()?;
        self.core.card_ext(&ticket, card_id, code, openid)
    }

    fn drive<T>(&self, mut plan: CallPlan<T>) -> Result<T, Error> {
        let span = core::call_span(plan.path());
        let _entered = span.enter();
        let mut outcome = Outcome::Start;
        loop {
            let step = plan.next(outcome);
            self.core.observe(&span, &plan, &step);
            outcome = match step {
                Step::Send(request) => Outcome::Response(self.transport.as_ref().send(request)),
                Step::AccessToken { stale, may_fetch } => self.core.token_outcome(
                    &mut plan,
                    self.secret(
                        SecretKind::AccessToken,
                        core::stale_value(stale.as_ref()),
                        may_fetch,
                    ),
                ),
                Step::Sleep(delay) => {
                    std::thread::sleep(delay);
                    Outcome::Slept
                }
                Step::Done(result) => return result,
            };
        }
    }

    /// A usable credential of `kind` other than `stale`: the core's
    /// [`SecretFlow`](crate::core::SecretFlow), carried out on the sync store.
    fn secret(
        &self,
        kind: SecretKind,
        stale: Option<&str>,
        may_fetch: bool,
    ) -> Result<Option<Granted>, Error> {
        let mut flow = self.core.secret(kind, stale, may_fetch);
        let mut _flight = None;
        // Declared after the flight lock, so dropped before it (a panic included).
        let mut lease = LeaseGuard::new(&self.core, kind);
        let mut event = SecretEvent::Start;
        loop {
            let step = flow.next(event);
            lease.arm(flow.may_hold_lease());
            event = match step {
                SecretStep::Store(op) => SecretEvent::Stored(op.run(self.store.as_ref())),
                SecretStep::Lock => {
                    let flight = &self.flights[kind.index()];
                    _flight = Some(flight.write().unwrap_or_else(|p| p.into_inner()));
                    SecretEvent::Locked
                }
                SecretStep::TryLock => match self.flights[kind.index()].try_write() {
                    Ok(guard) => {
                        _flight = Some(guard);
                        SecretEvent::Locked
                    }
                    Err(TryLockError::Poisoned(p)) => {
                        _flight = Some(p.into_inner());
                        SecretEvent::Locked
                    }
                    Err(TryLockError::WouldBlock) => SecretEvent::Busy,
                },
                SecretStep::AwaitUnlock => {
                    drop(self.flights[kind.index()].read());
                    SecretEvent::Unlocked
                }
                SecretStep::Sleep(delay) => {
                    std::thread::sleep(delay);
                    SecretEvent::Slept
                }
                SecretStep::Fetch(plan) => SecretEvent::Fetched(self.drive(*plan)),
                SecretStep::Done(result) => return result,
            };
        }
    }

    /// Imports any number of custom codes into a deposit-mode card, in chunks of at
    /// most 100: `deposit`, then one `checkcode` to verify (a fresh import of N chunks
    /// makes 2 × N calls and one `getdepositcount` at the end); codes WeChat failed are
    /// deposited again within a bound ([`DepositOptions`](crate::bulk::DepositOptions)),
    /// then reported. To resume an interrupted import, run it again with
    /// [`DepositOptions::resume`](crate::bulk::DepositOptions::resume): each chunk is
    /// then checked first and codes already stored are not sent again. A deposit whose
    /// answer was lost is never re-sent blindly: the chunk is checked first. A failed
    /// final count is reported in
    /// [`DepositReport::count_error`](crate::bulk::DepositReport::count_error). Invalid codes (empty, blank, longer than 20 characters) are
    /// reported in [`DepositReport::failed`](crate::bulk::DepositReport::failed), never
    /// sent. A code repeated in the input is sent at most once: a repeat of an earlier
    /// chunk's code is held back to the end, then checked, so the report stays exact
    /// when answers are lost. `progress` is called after each chunk (and once more at the
    /// end when rejected codes or repeats followed the last one; the last call counts
    /// every code read). The codes are read
    /// from `codes` as they go, and each chunk is verified right after its deposit;
    /// memory holds one chunk, a 64-bit fingerprint per distinct code and the repeated
    /// codes; see [`bulk`](crate::bulk).
    ///
    /// WeChat's workflow for custom codes:
    /// 1. create the card with `quantity` 0, `use_custom_code: true` and
    ///    `get_custom_code_mode: "GET_CUSTOM_CODE_MODE_DEPOSIT"` (card creation is not
    ///    part of this SDK; here the sandbox creates it);
    /// 2. deposit the codes and check them: this method;
    /// 3. set the stock to the number of stored codes with WeChat's modify-stock API
    ///    (`/card/modifystock`), which this method does **not** call: the stock is a
    ///    business decision, and [`DepositReport::deposit_count`](crate::bulk::DepositReport::deposit_count)
    ///    gives the number to use.
    ///
    /// ```
    /// use card_api::bulk::DepositOptions;
    /// use card_api::{Client, RetryPolicy};
    /// use card_sandbox::{CardSpec, Sandbox};
    /// use std::sync::Arc;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = Sandbox::new();
    /// // quantity 0, use_custom_code, GET_CUSTOM_CODE_MODE_DEPOSIT
    /// let card_id = sandbox.create_card(CardSpec::deposit_mode())?;
    /// let client = Client::builder()
    ///     .app_credentials(Sandbox::DEFAULT_APPID, sandbox.secret())
    ///     .retry(RetryPolicy::new())
    ///     .transport(sandbox.clone())
    ///     .build()?;
    ///
    /// let codes = (0..250).map(|i| format!("{i:08}"));
    /// let report = client.deposit_all(&card_id, codes, &DepositOptions::new(), |p| {
    ///     eprintln!("{} of {:?} codes", p.codes_done, p.total);
    /// })?;
    /// assert_eq!((report.deposited, report.chunks), (250, 3));
    /// assert!(report.is_complete());
    /// assert_eq!(report.deposit_count, Some(250));
    /// // then set the stock to 250 with the modify-stock API
    ///
    /// // running it again as a resume sends nothing
    /// let resume = DepositOptions::new().resume(true);
    /// let again = client.deposit_all(&card_id, (0..250).map(|i| format!("{i:08}")), &resume, |_| {})?;
    /// assert_eq!((again.deposited, again.already_present, again.deposit_calls), (0, 250, 0));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for an invalid `card_id`; otherwise the error of a call that
    /// kept failing past the bound, or could not succeed (unknown card, for example).
    /// Chunks finished before it are stored: run it again to resume.
    pub fn deposit_all<I>(
        &self,
        card_id: &str,
        codes: I,
        options: &crate::bulk::DepositOptions,
        mut progress: impl FnMut(crate::bulk::Progress),
    ) -> Result<crate::bulk::DepositReport, Error>
    where
        I: IntoIterator<Item = String>,
    {
        let codes = codes.into_iter();
        let mut job = crate::bulk::DepositJob::new(card_id, *options, codes.size_hint())?;
        for code in codes {
            if let Some(chunk) = job.push(code) {
                let done = self.run_chunk(chunk)?;
                progress(job.complete(done));
            }
        }
        // The last chunk, then the held-back repeats (each chunk completes before the
        // next is asked for, so the job never has to wait here).
        while let crate::bulk::AfterInput::Chunk(chunk) = job.after_input() {
            let done = self.run_chunk(chunk)?;
            progress(job.complete(done));
        }
        if let Some(last) = job.last_progress() {
            progress(last);
        }
        let count = self.get_deposit_count(&job.count_request());
        if let Err(error) = &count {
            tracing::warn!(%error, "deposit_all: getdepositcount failed");
        }
        Ok(job.finish(count.map(|c| c.count)))
    }

    fn run_chunk(
        &self,
        mut chunk: crate::bulk::ChunkJob,
    ) -> Result<crate::bulk::ChunkResult, Error> {
        use crate::bulk::{ChunkEvent, ChunkStep};
        let mut event = ChunkEvent::Start;
        loop {
            event = match chunk.next(event) {
                // The codes go back to the chunk with the answer.
                ChunkStep::Check(request) => {
                    let answer = self.check_codes(&request);
                    ChunkEvent::Checked(request.code, answer)
                }
                ChunkStep::Deposit(request) => {
                    let answer = self
                        .core
                        .plan(&request)
                        .and_then(|plan| self.drive(plan.once()));
                    ChunkEvent::Deposited(request.code, answer)
                }
                ChunkStep::Done(result) => return result,
            };
        }
    }

    crate::methods::endpoint_methods!(blocking_method);
}
