//! `--import-cost`: what a fresh `deposit_all` costs against the same codes by plain
//! calls (issue 11 §4). Per round and per client, over HTTP to one sandbox child
//! process (no faults), on fresh cards:
//! * blocking: `Client::deposit_all` against plain sequential `deposit` + `checkcode`
//!   per 100-code chunk, then one `getdepositcount`;
//! * async: `AsyncClient::deposit_all` (its default chunks in flight) against the same
//!   plain calls with as many chunks in flight (each chunk: `deposit`, then
//!   `checkcode`), then the count.
//!
//! The two sides of a pair run back to back, the first side alternating by round; the
//! requests come from the sandbox's counters; the time ratio is per pair, its median
//! reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use card_api::bulk::{DEFAULT_CONCURRENCY, DepositOptions};
use card_api::{AsyncClient, Client};
use card_model::AccessToken;
use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};

use crate::server::{Counters, Remote};
use crate::stats::{cpu_pair, cpu_us_per_request, load_average, median};
use crate::workloads::codes;
use crate::{BoxError, Res};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    DepositAll,
    Plain,
}

/// One measured import: seconds, the server's counters over it, and CPU µs per API
/// call (this process, the sandbox).
struct Measured {
    seconds: f64,
    counters: Counters,
    cpu: (f64, f64),
}

pub fn import_cost(runs: usize, n: usize, per: usize) -> Res<()> {
    let batches = n / per;
    let n = batches * per;
    // Two cards per client per round, one spare for the warm-up.
    let remote = Remote::start(4 * runs + 1, 0)?;
    let mut cards = remote.cards.iter().cloned();
    let token = AccessToken::new(remote.token.clone());
    let blocking = Client::builder()
        .base_url(remote.base.clone())
        .access_token(token.clone())
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let asynchronous = Arc::new(
        AsyncClient::builder()
            .base_url(remote.base.clone())
            .access_token(token)
            .build()?,
    );
    let in_flight = DepositOptions::new().chunks_in_flight();
    println!(
        "wxcard-bench --import-cost: {n} fresh codes ({batches} chunks of {per}); deposit_all \
         vs plain deposit + checkcode per chunk + count; async with {in_flight} chunks in \
         flight (DEFAULT_CONCURRENCY {DEFAULT_CONCURRENCY}); {runs} rounds; load average {}",
        load_average()
    );
    // Warm-up: connections open on both clients.
    let spare = cards.next().ok_or("out of cards")?;
    blocking.get_deposit_count(&GetDepositCount::new(&*spare))?;
    for _ in 0..in_flight {
        rt.block_on(asynchronous.get_deposit_count(&GetDepositCount::new(&*spare)))?;
    }

    let mut ratios: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut times: [[Vec<f64>; 2]; 2] = Default::default();
    let mut cpu: [[Vec<f64>; 2]; 2] = Default::default();
    for round in 0..runs {
        for (k, name) in ["blocking", "async"].into_iter().enumerate() {
            let order = if round % 2 == 0 {
                [Side::DepositAll, Side::Plain]
            } else {
                [Side::Plain, Side::DepositAll]
            };
            let mut measured = [None, None];
            for side in order {
                let card = cards.next().ok_or("out of cards")?;
                let tag = round * 10 + k * 2 + usize::from(side == Side::Plain);
                let before = remote.counters()?;
                let cpu_before = cpu_pair(remote.child.id());
                let start = Instant::now();
                let count = match (k, side) {
                    (0, Side::DepositAll) => {
                        let report = blocking.deposit_all(
                            &card,
                            (0..n).map(|i| code(tag, i)),
                            &DepositOptions::new(),
                            |_| {},
                        )?;
                        complete(&report, n)?
                    }
                    (0, Side::Plain) => plain_blocking(&blocking, &card, tag, batches, per)?,
                    (_, Side::DepositAll) => {
                        // In a spawned task, as a server runs it (not on the thread
                        // outside the runtime that `block_on` polls from).
                        let (client, card) = (Arc::clone(&asynchronous), card.clone());
                        let report = rt.block_on(rt.spawn(async move {
                            client
                                .deposit_all(
                                    &card,
                                    (0..n).map(|i| code(tag, i)),
                                    &DepositOptions::new(),
                                    |_| {},
                                )
                                .await
                        }))??;
                        complete(&report, n)?
                    }
                    (_, Side::Plain) => rt.block_on(plain_async(
                        Arc::clone(&asynchronous),
                        card.clone(),
                        tag,
                        batches,
                        per,
                        in_flight,
                    ))?,
                };
                let seconds = start.elapsed().as_secs_f64();
                let cpu_after = cpu_pair(remote.child.id());
                let counters = remote.counters()? - before;
                let calls = usize::try_from(counters.api_calls)?;
                let cpu = cpu_us_per_request(cpu_before, cpu_after, calls);
                if count != n as u64 || counters.codes_stored != n as u64 {
                    return Err(format!(
                        "{name} {side:?}: count {count}, stored {}",
                        counters.codes_stored
                    )
                    .into());
                }
                let i = usize::from(side == Side::Plain);
                measured[i] = Some(Measured {
                    seconds,
                    counters,
                    cpu,
                });
            }
            let [Some(all), Some(plain)] = measured else {
                return Err("a side did not run".into());
            };
            let ratio = all.seconds / plain.seconds;
            println!(
                "run {round} {name:<8} deposit_all {:.3} s, {} requests ({} deposit, {} checkcode, {} count), \
                 CPU/request {:.1}+{:.1} µs | plain {:.3} s, {} requests ({} deposit, {} checkcode, {} count), \
                 CPU/request {:.1}+{:.1} µs | time ratio {ratio:.3}",
                all.seconds,
                all.counters.api_calls,
                all.counters.deposit_requests,
                all.counters.check_requests,
                all.counters.count_requests,
                all.cpu.0,
                all.cpu.1,
                plain.seconds,
                plain.counters.api_calls,
                plain.counters.deposit_requests,
                plain.counters.check_requests,
                plain.counters.count_requests,
                plain.cpu.0,
                plain.cpu.1,
            );
            cpu[k][0].push(all.cpu.0);
            cpu[k][1].push(plain.cpu.0);
            ratios[k].push(ratio);
            times[k][0].push(all.seconds);
            times[k][1].push(plain.seconds);
        }
        println!("after round {round}: load average {}", load_average());
    }
    println!("(CPU/request: this process + the sandbox, µs per API call)");
    for (k, name) in ["blocking", "async"].into_iter().enumerate() {
        println!(
            "{name:<8} medians: deposit_all {:.3} s, plain {:.3} s; client CPU/request deposit_all \
             {:.1} µs, plain {:.1} µs; paired time ratio median {:.3} (target <= 1.15)",
            median(&mut times[k][0]),
            median(&mut times[k][1]),
            median(&mut cpu[k][0]),
            median(&mut cpu[k][1]),
            median(&mut ratios[k]),
        );
        let list: Vec<String> = ratios[k].iter().map(|r| format!("{r:.3}")).collect();
        println!("{name:<8} paired ratios, sorted: {}", list.join(" "));
    }
    println!("load average at the end {}", load_average());
    drop(asynchronous);
    drop(rt);
    remote.stop();
    Ok(())
}

/// Code `n` of family `tag`, exactly as [`codes`] makes them.
fn code(tag: usize, n: usize) -> String {
    format!("{tag:04}{n:08}")
}

fn complete(report: &card_api::bulk::DepositReport, n: usize) -> Res<u64> {
    if report.deposited != n as u64 || !report.is_complete() {
        return Err(format!("incomplete import: {report:?}").into());
    }
    report
        .deposit_count
        .ok_or_else(|| "no deposit count".into())
}

fn chunk_ok(
    deposit: &card_model::DepositResult,
    check: &card_model::CodeCheck,
    per: usize,
) -> Res<()> {
    let stored = deposit.deposited.as_ref().map_or(0, |t| t.count());
    if stored != per as u64 || check.existing.len() != per || !check.missing.is_empty() {
        return Err("a chunk was not stored whole".into());
    }
    Ok(())
}

fn plain_blocking(client: &Client, card: &str, tag: usize, batches: usize, per: usize) -> Res<u64> {
    for batch in 0..batches {
        let deposit = client.deposit_codes(&DepositCodes::new(card, codes(tag, batch, per)))?;
        let check = client.check_codes(&CheckCodes::new(card, codes(tag, batch, per)))?;
        chunk_ok(&deposit, &check, per)?;
    }
    Ok(client.get_deposit_count(&GetDepositCount::new(card))?.count)
}

async fn plain_async(
    client: Arc<AsyncClient>,
    card: String,
    tag: usize,
    batches: usize,
    per: usize,
    in_flight: usize,
) -> Res<u64> {
    let next = Arc::new(AtomicUsize::new(0));
    let card: Arc<str> = card.into();
    let mut tasks = Vec::new();
    for _ in 0..in_flight.max(1) {
        let (client, next, card) = (Arc::clone(&client), Arc::clone(&next), Arc::clone(&card));
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<_, BoxError>(());
                }
                let deposit = client
                    .deposit_codes(&DepositCodes::new(&*card, codes(tag, batch, per)))
                    .await?;
                let check = client
                    .check_codes(&CheckCodes::new(&*card, codes(tag, batch, per)))
                    .await?;
                chunk_ok(&deposit, &check, per)?;
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
