//! `--under-faults`: issue 11's first scenario in the load benchmark. 100,000 codes by
//! plain `deposit` calls of 100 codes, 16 in flight (the blocking client on 16 threads,
//! the async client in 16 tasks), over HTTP to a sandbox child process that expires
//! the access token every 50 API calls, answers -1 on about one call in 97 and 45009 on
//! about one in 200 ([`fault_mix`](crate::server::fault_mix)). The clients fetch their
//! own tokens with app credentials. After each run the server's state must be exact:
//! `getdepositcount` is the number of codes, every code was stored once, and no code
//! reached the server twice in an applied deposit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use card_api::{AsyncClient, Client, RetryPolicy};
use card_model::AppSecret;
use card_model::code::{DepositCodes, GetDepositCount};

use crate::server::{APPID, Counters, Remote, SECRET};
use crate::stats::{load_average, median};
use crate::workloads::codes;
use crate::{BoxError, Res};

/// Settings of `--under-faults`.
#[derive(Clone, Copy, Debug)]
pub struct FaultRun {
    pub runs: usize,
    pub codes: usize,
    pub per_call: usize,
    pub in_flight: usize,
    /// The SDK's default retry policy (its backoff sleeps then dominate the time)
    /// instead of a short one that measures the client rather than its sleeps.
    pub default_retry: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    Blocking,
    Async,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Blocking => "blocking",
            Flavor::Async => "async",
        }
    }
}

/// The retry policy of the run: short delays (the faults still cost a resend each) or
/// the SDK's default.
fn policy(default_retry: bool) -> RetryPolicy {
    if default_retry {
        RetryPolicy::new()
    } else {
        RetryPolicy::new()
            .max_attempts(6)
            .base_delay(Duration::from_micros(200))
            .rate_limit_delay(Duration::from_micros(400))
            .max_delay(Duration::from_millis(2))
    }
}

/// Runs every round (the two clients alternating which goes first), prints each run's
/// figures and the medians; fails if any run's server state is not exact.
pub fn under_faults(settings: FaultRun) -> Res<()> {
    let batches = settings.codes / settings.per_call;
    let codes = (batches * settings.per_call) as u64;
    println!(
        "wxcard-bench --under-faults: {codes} codes in {batches} plain deposit calls, {} in flight; \
         faults: token expires every 50 API calls, -1 ~1/97, 45009 ~1/200; retry {}; \
         load average {}",
        settings.in_flight,
        if settings.default_retry {
            "default (200 ms / 2 s base delays)"
        } else {
            "short (200/400 µs base, 2 ms max, 6 attempts)"
        },
        load_average()
    );
    println!(
        "{:<3} {:<8} {:>7} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>9} {:>5} {:>7}",
        "run",
        "client",
        "time s",
        "requests",
        "deposit",
        "errors",
        "tokens",
        "expired",
        "-1",
        "45009",
        "count",
        "received",
        "dup",
        "state"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut failures = 0;
    for round in 0..settings.runs {
        let order = if round % 2 == 0 {
            [Flavor::Blocking, Flavor::Async]
        } else {
            [Flavor::Async, Flavor::Blocking]
        };
        for flavor in order {
            // A fresh server per run: its fault sequence starts at call 1 with this
            // run's seed, and its counters are this run's alone.
            let remote = Remote::start_with(1, 0, Some(round as u64 + 1))?;
            let card = remote.cards.first().ok_or("no card")?.clone();
            let before = remote.counters()?;
            let start = Instant::now();
            let count = match flavor {
                Flavor::Blocking => blocking(&remote, &card, settings, batches)?,
                Flavor::Async => rt.block_on(asynchronous(&remote, &card, settings, batches))?,
            };
            let seconds = start.elapsed().as_secs_f64();
            let c = remote.counters()? - before;
            remote.stop();
            let exact = count == codes
                && c.codes_stored == codes
                && c.codes_received == codes
                && c.codes_duplicate == 0;
            if !exact {
                failures += 1;
            }
            print_row(round, flavor, seconds, count, &c, exact);
            times[usize::from(flavor == Flavor::Async)].push(seconds);
        }
    }
    println!(
        "medians: blocking {:.3} s, async {:.3} s; load average at the end {}",
        median(&mut times[0]),
        median(&mut times[1]),
        load_average()
    );
    println!(
        "(requests = API calls + token fetches; errors = answers with a non-zero errcode \
         (every call in flight with a killed token gets 42001 and resends); tokens = /cgi-bin/token fetches; expired = \
         tokens the server killed with 42001; received = codes in applied deposits; \
         dup = codes sent again after the server had stored them)"
    );
    if failures > 0 {
        return Err(format!("{failures} run(s) left the server's state inexact").into());
    }
    Ok(())
}

fn print_row(round: usize, flavor: Flavor, seconds: f64, count: u64, c: &Counters, exact: bool) {
    println!(
        "{round:<3} {:<8} {seconds:>7.3} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>9} {:>5} {:>7}",
        flavor.name(),
        c.api_calls + c.token_fetches,
        c.deposit_requests,
        c.errors_answered,
        c.token_fetches,
        c.token_expired,
        c.system_busy,
        c.rate_limited,
        count,
        c.codes_received,
        c.codes_duplicate,
        if exact { "exact" } else { "INEXACT" }
    );
}

fn deposit_ok(result: &card_model::DepositResult, per: usize) -> Res<()> {
    let stored = result.deposited.as_ref().map_or(0, |t| t.count());
    if stored != per as u64 {
        return Err(format!("a deposit stored {stored} of {per} codes").into());
    }
    Ok(())
}

/// The blocking client on `in_flight` threads, each taking the next batch; then the
/// count.
fn blocking(remote: &Remote, card: &str, settings: FaultRun, batches: usize) -> Res<u64> {
    let client = Client::builder()
        .base_url(remote.base.clone())
        .app_credentials(APPID, AppSecret::new(SECRET))
        .retry(policy(settings.default_retry))
        .build()?;
    let next = AtomicUsize::new(0);
    let per = settings.per_call;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..settings.in_flight.max(1))
            .map(|_| {
                scope.spawn(|| -> Res<()> {
                    loop {
                        let batch = next.fetch_add(1, Ordering::Relaxed);
                        if batch >= batches {
                            return Ok(());
                        }
                        let request = DepositCodes::new(card, codes(0, batch, per));
                        deposit_ok(&client.deposit_codes(&request)?, per)?;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| "a worker panicked")??;
        }
        Ok::<_, BoxError>(())
    })?;
    Ok(client.get_deposit_count(&GetDepositCount::new(card))?.count)
}

/// The async client with `in_flight` tasks, each taking the next batch; then the count.
async fn asynchronous(remote: &Remote, card: &str, settings: FaultRun, batches: usize) -> Res<u64> {
    let client = Arc::new(
        AsyncClient::builder()
            .base_url(remote.base.clone())
            .app_credentials(APPID, AppSecret::new(SECRET))
            .retry(policy(settings.default_retry))
            .build()?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let per = settings.per_call;
    let card: Arc<str> = card.into();
    let mut tasks = Vec::new();
    for _ in 0..settings.in_flight.max(1) {
        let (client, next, card) = (Arc::clone(&client), Arc::clone(&next), Arc::clone(&card));
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<_, BoxError>(());
                }
                let request = DepositCodes::new(&*card, codes(0, batch, per));
                deposit_ok(&client.deposit_codes(&request).await?, per)?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(client
        .get_deposit_count(&GetDepositCount::new(&*card))
        .await?
        .count)
}
