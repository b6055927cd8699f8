//! The workloads and the clients that run them: W1 (deposit 100,000 codes, count,
//! checkcode them all), W2 (10,000 `QR_CARD` creations), the allocation count per call,
//! and `deposit_all`.

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use card_api::{AsyncClient, Client};
use card_model::AccessToken;
use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};
use card_model::qrcode::{CreateQrCode, QrCard};
use card_sandbox::{CardSpec, Sandbox};
use card_transport::{ReqwestTransport, TransportConfig, UreqTransport};
use tokio::runtime::Runtime;

use crate::cli::{DepositAllMode, Sizes, Variant};
use crate::floors::raw_hyper::RawHyper;
use crate::floors::raw_std::RawStd;
use crate::floors::{Floor, ReqwestPost, UreqPost};
use crate::server::Remote;
use crate::stats::{mib, peak_rss_kib};
use crate::{BoxError, Res, alloc};

/// Code number `n` of batch family `tag`.
fn code(tag: usize, n: usize) -> String {
    format!("{tag:04}{n:08}")
}

/// The codes of one batch, as owned `String`s (as they would come from a file or a
/// database); the SDK and the floors get the same.
pub fn codes(tag: usize, batch: usize, per: usize) -> Vec<String> {
    (batch * per..(batch + 1) * per)
        .map(|n| code(tag, n))
        .collect()
}

// ---------------------------------------------------------------------------------------
// One interface over the ways of calling.

/// The calls the workloads make, one at a time.
pub trait BlockingApi {
    /// Deposits a batch; every code must be stored.
    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()>;
    fn count(&self, card: &str) -> Res<u64>;
    /// Checks a batch; every code must exist.
    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()>;
    /// Checks a batch of codes never deposited (for the allocation count).
    fn check_absent(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()>;
    fn qr(&self, card: &str) -> Res<String>;
}

/// [`BlockingApi`] for async clients.
pub trait AsyncApi: Send + Sync + 'static {
    fn deposit(
        &self,
        card: &str,
        tag: usize,
        batch: usize,
        per: usize,
    ) -> impl Future<Output = Res<()>> + Send;
    fn count(&self, card: &str) -> impl Future<Output = Res<u64>> + Send;
    fn check(
        &self,
        card: &str,
        tag: usize,
        batch: usize,
        per: usize,
    ) -> impl Future<Output = Res<()>> + Send;
    fn check_absent(
        &self,
        card: &str,
        tag: usize,
        batch: usize,
        per: usize,
    ) -> impl Future<Output = Res<()>> + Send;
    fn qr(&self, card: &str) -> impl Future<Output = Res<String>> + Send;
}

fn sdk_deposit_ok(result: &card_model::DepositResult, per: usize) -> Res<()> {
    let succ = result.deposited.as_ref().map(|t| t.count());
    if succ != Some(per as u64) {
        return Err(format!("deposit stored {succ:?} of {per}").into());
    }
    Ok(())
}

fn sdk_check_ok(result: &card_model::CodeCheck, per: usize) -> Res<()> {
    if result.existing.len() != per || !result.missing.is_empty() {
        return Err("codes missing".into());
    }
    Ok(())
}

fn sdk_absent_ok(result: &card_model::CodeCheck, per: usize) -> Res<()> {
    if result.missing.len() != per {
        return Err("unexpected checkcode answer".into());
    }
    Ok(())
}

impl BlockingApi for Client {
    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let result = self.deposit_codes(&DepositCodes::new(card, codes(tag, batch, per)))?;
        sdk_deposit_ok(&result, per)
    }
    fn count(&self, card: &str) -> Res<u64> {
        Ok(self.get_deposit_count(&GetDepositCount::new(card))?.count)
    }
    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let result = self.check_codes(&CheckCodes::new(card, codes(tag, batch, per)))?;
        sdk_check_ok(&result, per)
    }
    fn check_absent(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let result = self.check_codes(&CheckCodes::new(card, codes(tag, batch, per)))?;
        sdk_absent_ok(&result, per)
    }
    fn qr(&self, card: &str) -> Res<String> {
        Ok(self
            .create_qr_code(&CreateQrCode::card(QrCard::new(card)))?
            .ticket)
    }
}

impl AsyncApi for AsyncClient {
    async fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let request = DepositCodes::new(card, codes(tag, batch, per));
        let result = self.deposit_codes(&request).await?;
        sdk_deposit_ok(&result, per)
    }
    async fn count(&self, card: &str) -> Res<u64> {
        Ok(self
            .get_deposit_count(&GetDepositCount::new(card))
            .await?
            .count)
    }
    async fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let request = CheckCodes::new(card, codes(tag, batch, per));
        let result = self.check_codes(&request).await?;
        sdk_check_ok(&result, per)
    }
    async fn check_absent(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let request = CheckCodes::new(card, codes(tag, batch, per));
        let result = self.check_codes(&request).await?;
        sdk_absent_ok(&result, per)
    }
    async fn qr(&self, card: &str) -> Res<String> {
        let request = CreateQrCode::card(QrCard::new(card));
        Ok(self.create_qr_code(&request).await?.ticket)
    }
}

// ---------------------------------------------------------------------------------------
// The workloads.

/// Runs `f(0..count)` with `concurrency` calls in flight, in `concurrency` spawned tasks
/// (one task when sequential: calls run on the runtime's workers, as in a server, not
/// on a thread outside the runtime that each answer has to wake).
async fn drive<F, Fut, T>(count: usize, concurrency: usize, f: F) -> Res<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<T>> + Send,
    T: Send + 'static,
{
    let concurrency = concurrency.max(1);
    let mut out = Vec::with_capacity(count);
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let f = Arc::clone(&f);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut part = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                part.push(f(i).await?);
            }
            Ok::<_, BoxError>(part)
        }));
    }
    for task in tasks {
        out.extend(task.await??);
    }
    Ok(out)
}

/// A part of W1: deposit some batches, count, or check some batches.
#[derive(Clone, Debug)]
pub enum W1Part {
    Deposit(Range<usize>),
    Count,
    Check(Range<usize>),
}

/// W1 in parts of at most `slice` calls (`slice` 0: each phase whole): every batch
/// deposited, the count, every batch checked.
pub fn w1_parts(sizes: Sizes, slice: usize) -> Vec<W1Part> {
    let batches = sizes.codes / sizes.per_call;
    let step = if slice == 0 { batches.max(1) } else { slice };
    let ranges = || {
        (0..batches)
            .step_by(step)
            .map(move |s| s..(s + step).min(batches))
    };
    let mut parts: Vec<W1Part> = ranges().map(W1Part::Deposit).collect();
    parts.push(W1Part::Count);
    parts.extend(ranges().map(W1Part::Check));
    parts
}

fn w1_blocking(
    api: &dyn BlockingApi,
    card: &str,
    tag: usize,
    sizes: Sizes,
    part: W1Part,
) -> Res<usize> {
    let per = sizes.per_call;
    match part {
        W1Part::Deposit(batches) => {
            let n = batches.len();
            for batch in batches {
                api.deposit(card, tag, batch, per)?;
            }
            Ok(n)
        }
        W1Part::Count => expect_count(api.count(card)?, sizes),
        W1Part::Check(batches) => {
            let n = batches.len();
            for batch in batches {
                api.check(card, tag, batch, per)?;
            }
            Ok(n)
        }
    }
}

fn expect_count(count: u64, sizes: Sizes) -> Res<usize> {
    if count != sizes.codes as u64 {
        return Err(format!("count {count}, expected {}", sizes.codes).into());
    }
    Ok(1)
}

async fn w1_async<A: AsyncApi>(
    api: Arc<A>,
    concurrency: usize,
    card: Arc<str>,
    tag: usize,
    sizes: Sizes,
    part: W1Part,
) -> Res<usize> {
    let per = sizes.per_call;
    match part {
        W1Part::Deposit(batches) => {
            let (n, first) = (batches.len(), batches.start);
            drive(n, concurrency, move |i| {
                let (api, card) = (Arc::clone(&api), Arc::clone(&card));
                async move { api.deposit(&card, tag, first + i, per).await }
            })
            .await?;
            Ok(n)
        }
        W1Part::Count => expect_count(api.count(&card).await?, sizes),
        W1Part::Check(batches) => {
            let (n, first) = (batches.len(), batches.start);
            drive(n, concurrency, move |i| {
                let (api, card) = (Arc::clone(&api), Arc::clone(&card));
                async move { api.check(&card, tag, first + i, per).await }
            })
            .await?;
            Ok(n)
        }
    }
}

fn distinct(tickets: Vec<String>, expected: usize) -> Res<usize> {
    let set: HashSet<String> = tickets.into_iter().collect();
    if set.len() != expected {
        return Err(format!("{} distinct tickets of {expected}", set.len()).into());
    }
    Ok(expected)
}

fn w2_blocking(api: &dyn BlockingApi, card: &str, qrs: usize) -> Res<usize> {
    let tickets = (0..qrs).map(|_| api.qr(card)).collect::<Res<Vec<_>>>()?;
    distinct(tickets, qrs)
}

async fn w2_async<A: AsyncApi>(
    api: Arc<A>,
    concurrency: usize,
    card: Arc<str>,
    qrs: usize,
) -> Res<usize> {
    let tickets = drive(qrs, concurrency, move |_| {
        let (api, card) = (Arc::clone(&api), Arc::clone(&card));
        async move { api.qr(&card).await }
    })
    .await?;
    distinct(tickets, qrs)
}

/// Allocations per call of `qr` and of a 100-code `check_absent`, over `n` calls.
fn allocs_blocking(
    api: &dyn BlockingApi,
    qr_card: &str,
    check_card: &str,
    n: usize,
) -> Res<(f64, f64)> {
    let before = alloc::allocations();
    for _ in 0..n {
        api.qr(qr_card)?;
    }
    let qr = per_call(before, n);
    let before = alloc::allocations();
    for batch in 0..n {
        api.check_absent(check_card, 9999, batch % 1000, 100)?;
    }
    Ok((qr, per_call(before, n)))
}

async fn allocs_async<A: AsyncApi>(
    api: Arc<A>,
    qr_card: &str,
    check_card: &str,
    n: usize,
) -> Res<(f64, f64)> {
    let before = alloc::allocations();
    for _ in 0..n {
        api.qr(qr_card).await?;
    }
    let qr = per_call(before, n);
    let before = alloc::allocations();
    for batch in 0..n {
        api.check_absent(check_card, 9999, batch % 1000, 100)
            .await?;
    }
    Ok((qr, per_call(before, n)))
}

fn per_call(before: u64, n: usize) -> f64 {
    (alloc::allocations() - before) as f64 / n as f64
}

// ---------------------------------------------------------------------------------------

/// Every client of a run, connected to the same sandbox.
pub struct Clients {
    sdk_blocking: Client,
    sdk_async: Arc<AsyncClient>,
    floor_ureq: Floor<UreqPost>,
    floor_reqwest: Arc<Floor<ReqwestPost>>,
    raw_std: Floor<RawStd>,
    raw_hyper: Arc<Floor<RawHyper>>,
    raw_hyper16: Arc<Floor<RawHyper>>,
}

/// Runs `$run` with `$api` bound to the async client of `$v` (an `Arc`).
macro_rules! with_async {
    ($clients:expr, $v:expr, |$api:ident| $run:expr) => {
        match $v {
            Variant::SdkAsync | Variant::SdkAsync16 => {
                let $api = Arc::clone(&$clients.sdk_async);
                $run
            }
            Variant::FloorReqwest | Variant::FloorReqwest16 => {
                let $api = Arc::clone(&$clients.floor_reqwest);
                $run
            }
            Variant::RawHyper => {
                let $api = Arc::clone(&$clients.raw_hyper);
                $run
            }
            Variant::RawHyper16 => {
                let $api = Arc::clone(&$clients.raw_hyper16);
                $run
            }
            Variant::SdkBlocking | Variant::FloorUreq | Variant::RawStd => {
                Err(format!("{} is not an async client", $v.name()).into())
            }
        }
    };
}

impl Clients {
    pub fn new(remote: &Remote) -> Res<Self> {
        let token = AccessToken::new(remote.token.clone());
        let sdk_blocking = Client::builder()
            .base_url(remote.base.clone())
            .access_token(token.clone())
            .transport(Arc::new(UreqTransport::new(TransportConfig::default())))
            .build()?;
        let sdk_async = Arc::new(
            AsyncClient::builder()
                .base_url(remote.base.clone())
                .access_token(token)
                .transport(ReqwestTransport::try_new(TransportConfig::default())?)
                .build()?,
        );
        let (base, token) = (remote.base.clone(), remote.token.clone());
        Ok(Self {
            sdk_blocking,
            sdk_async,
            floor_ureq: Floor(UreqPost {
                base: base.clone(),
                token: token.clone(),
                transport: UreqTransport::new(TransportConfig::default()),
            }),
            floor_reqwest: Arc::new(Floor(ReqwestPost {
                base,
                token: token.clone(),
                transport: ReqwestTransport::try_new(TransportConfig::default())?,
            })),
            raw_std: Floor(RawStd::new(remote.authority(), &token)?),
            raw_hyper: Arc::new(Floor(RawHyper::new(remote.authority(), &token)?)),
            raw_hyper16: Arc::new(Floor(RawHyper::new(remote.authority(), &token)?)),
        })
    }

    /// The blocking client of `v`, if it is one.
    fn blocking(&self, v: Variant) -> Option<&dyn BlockingApi> {
        match v {
            Variant::SdkBlocking => Some(&self.sdk_blocking),
            Variant::FloorUreq => Some(&self.floor_ureq),
            Variant::RawStd => Some(&self.raw_std),
            _ => None,
        }
    }

    /// Runs `part` of W1 on `card`; the number of requests made.
    pub fn w1(
        &self,
        rt: &Runtime,
        v: Variant,
        card: &str,
        tag: usize,
        sizes: Sizes,
        part: W1Part,
    ) -> Res<usize> {
        if let Some(api) = self.blocking(v) {
            return w1_blocking(api, card, tag, sizes, part);
        }
        let c = v.concurrency();
        with_async!(self, v, |api| rt.block_on(w1_async(
            api,
            c,
            card.into(),
            tag,
            sizes,
            part
        )))
    }

    /// Runs W2 (`qrs` QR codes on `card`); the number of requests made.
    pub fn w2(&self, rt: &Runtime, v: Variant, card: &str, qrs: usize) -> Res<usize> {
        if let Some(api) = self.blocking(v) {
            return w2_blocking(api, card, qrs);
        }
        let c = v.concurrency();
        with_async!(self, v, |api| rt.block_on(w2_async(
            api,
            c,
            card.into(),
            qrs
        )))
    }

    /// Allocations per call of `qrcode` and of a 100-code `checkcode`, over `n`
    /// sequential calls.
    pub fn allocs_per_call(
        &self,
        rt: &Runtime,
        v: Variant,
        qr_card: &str,
        check_card: &str,
        n: usize,
    ) -> Res<(f64, f64)> {
        if v.concurrency() > 1 {
            return Err("allocations are measured on sequential clients".into());
        }
        if let Some(api) = self.blocking(v) {
            return allocs_blocking(api, qr_card, check_card, n);
        }
        with_async!(self, v, |api| rt
            .block_on(allocs_async(api, qr_card, check_card, n)))
    }
}

/// `--deposit-all N`: one import of `N` distinct codes from an iterator (never collected).
pub fn deposit_all(n: u64, mode: DepositAllMode) -> Res<()> {
    use card_api::bulk::DepositOptions;
    let codes = move || (0..n).map(|i| format!("{i:012}"));
    let options = DepositOptions::new();
    let before = peak_rss_kib();
    let (report, elapsed) = match mode {
        DepositAllMode::InProcess => {
            let sandbox = Sandbox::new();
            let card = sandbox.create_card(CardSpec::deposit_mode())?;
            let client = Client::builder()
                .access_token(sandbox.issue_token())
                .transport(Arc::new(sandbox.clone()))
                .build()?;
            let start = Instant::now();
            let report = client.deposit_all(&card, codes(), &options, |_| {})?;
            (report, start.elapsed())
        }
        DepositAllMode::Http | DepositAllMode::Async => {
            let remote = Remote::start(1, 0)?;
            let card = remote.cards.first().ok_or("no card")?.clone();
            let token = AccessToken::new(remote.token.clone());
            let start = Instant::now();
            let report = if mode == DepositAllMode::Async {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                let client = AsyncClient::builder()
                    .base_url(remote.base.clone())
                    .access_token(token)
                    .build()?;
                rt.block_on(client.deposit_all(&card, codes(), &options, |_| {}))?
            } else {
                Client::builder()
                    .base_url(remote.base.clone())
                    .access_token(token)
                    .build()?
                    .deposit_all(&card, codes(), &options, |_| {})?
            };
            let elapsed = start.elapsed();
            remote.stop();
            (report, elapsed)
        }
    };
    if report.deposited != n || report.deposit_count != Some(n) || !report.is_complete() {
        return Err(format!("incomplete import: {report:?}").into());
    }
    println!(
        "deposit_all {mode:?}: {n} codes in {:.2} s ({:.0} codes/s, {} chunks, {} deposit calls); \
         deposit_count {n}; peak RSS before {}, after {}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        report.chunks,
        report.deposit_calls,
        mib(before),
        mib(peak_rss_kib())
    );
    Ok(())
}
