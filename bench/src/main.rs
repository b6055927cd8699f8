//! `wxcard-bench`: the load benchmark of issues 7 and 11.
//!
//! Runs W1 (deposit 100,000 codes, count, checkcode them all) and W2 (10,000 `QR_CARD`
//! creations) through the SDK clients, through the SDK's bare transports with
//! hand-written bodies (the own-transport floors) and through raw HTTP/1.1 clients that
//! share nothing with the SDK (the raw floors), side by side against the same loopback
//! sandbox, and prints requests/s (medians), paired ratios, CPU per request, allocations
//! per call and peak RSS. See docs/benchmarks.md.
//!
//! With `--under-faults`, 100,000 codes by plain calls at 16 in flight under issue 11's
//! fault mix (server state checked); with `--import-cost`, `deposit_all` against the
//! same codes by plain calls (requests and time).
//!
//! Rooms: `cli` (options, clients, pairs), `server` (the sandbox child process and its
//! counters), `faulted` (`--under-faults`), `import` (`--import-cost`),
//! `workloads` (W1, W2, allocations, `deposit_all`), `floors` (hand-written requests over
//! the bare transports and the raw clients), `stats` (medians, ratios, CPU, RSS, load).

mod alloc;
mod cli;
mod faulted;
mod floors;
mod import;
mod server;
mod stats;
mod workloads;

use std::time::Instant;

use cli::Options;
use server::Remote;
use stats::{Results, cpu_pair, cpu_us_per_request, load_average, mib, peak_rss_kib};
use workloads::{Clients, w1_parts};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

fn run(options: Options) -> Res<()> {
    if let Some(n) = options.deposit_all {
        return workloads::deposit_all(n, options.deposit_all_mode);
    }
    let sizes = options.sizes;
    if options.under_faults {
        return faulted::under_faults(faulted::FaultRun {
            runs: options.runs,
            codes: sizes.codes,
            per_call: sizes.per_call,
            in_flight: options.in_flight,
            default_retry: options.default_retry,
        });
    }
    if options.import_cost {
        return import::import_cost(options.runs, sizes.codes, sizes.per_call);
    }
    let w1_runs = if options.w1 {
        options.runs * options.variants.len()
    } else {
        0
    };
    let remote = Remote::start(w1_runs + 1, options.latency_ms)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let clients = Clients::new(&remote)?;
    println!(
        "wxcard-bench: server {} (sandbox, child process); runs {}; W1 {} codes / {} per call; \
         W2 {} QRs; {} CPUs; load average {}",
        remote.base,
        options.runs,
        sizes.codes,
        sizes.per_call,
        sizes.qrs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    // Warm-up: connections open, lazy statics initialised.
    for &v in &options.variants {
        clients.w2(&rt, v, &remote.qr_card, 64)?;
    }
    println!("peak RSS after warm-up: {}", mib(peak_rss_kib()));

    let mut results = Results::new();
    let server = remote.child.id();
    let mut cards = remote.cards.iter();
    let n = options.variants.len();
    for round in 0..options.runs {
        // Each workload goes in parts, the clients taking turns part by part (with
        // `--slice`, parts of that many calls; otherwise each W1 phase and W2 whole), and
        // each client's time is the sum of its parts: under a machine whose load comes
        // and goes, turns this short keep the clients' conditions alike.
        if options.w1 {
            let round_cards = (0..n).map(|_| cards.next()).collect::<Option<Vec<_>>>();
            let round_cards = round_cards.ok_or("out of cards")?;
            let mut seconds = vec![0.0; n];
            let mut requests = vec![0; n];
            for part in w1_parts(sizes, options.slice) {
                for (k, &v) in options.variants.iter().enumerate() {
                    let start = Instant::now();
                    requests[k] +=
                        clients.w1(&rt, v, round_cards[k], round, sizes, part.clone())?;
                    seconds[k] += start.elapsed().as_secs_f64();
                }
            }
            for (k, &v) in options.variants.iter().enumerate() {
                let rate = requests[k] as f64 / seconds[k];
                println!("run {round} W1 {:<16} {rate:>9.0} req/s", v.name());
                results.w1[v.index()].push(rate);
            }
        }
        if options.w2 {
            let slice = if options.slice == 0 {
                sizes.qrs
            } else {
                options.slice
            };
            let mut seconds = vec![0.0; n];
            let mut requests = vec![0; n];
            let mut cpu = vec![(0.0, 0.0); n];
            let mut left = sizes.qrs;
            while left > 0 {
                let qrs = slice.min(left);
                left -= qrs;
                for (k, &v) in options.variants.iter().enumerate() {
                    let before = cpu_pair(server);
                    let start = Instant::now();
                    let made = clients.w2(&rt, v, &remote.qr_card, qrs)?;
                    seconds[k] += start.elapsed().as_secs_f64();
                    let (client_us, server_us) = cpu_us_per_request(before, cpu_pair(server), 1);
                    requests[k] += made;
                    cpu[k].0 += client_us;
                    cpu[k].1 += server_us;
                }
            }
            for (k, &v) in options.variants.iter().enumerate() {
                let rate = requests[k] as f64 / seconds[k];
                let per = requests[k].max(1) as f64;
                let (client_us, server_us) = (cpu[k].0 / per, cpu[k].1 / per);
                println!(
                    "run {round} W2 {:<16} {rate:>9.0} req/s   CPU per request: client {client_us:.1} µs, server {server_us:.1} µs",
                    v.name()
                );
                results.w2[v.index()].push(rate);
                results.w2_cpu[v.index()].push((client_us, server_us));
            }
        }
        println!("after round {round}: load average {}", load_average());
    }

    results.print(&options);
    println!(
        "peak RSS (VmHWM) after the timed runs: {}",
        mib(peak_rss_kib())
    );

    if options.alloc {
        let check_card = remote.cards.last().ok_or("no card")?;
        println!("\nallocations per call (whole process, sequential):");
        println!(
            "{:<16} {:>8} {:>12} {:>14}",
            "client", "calls", "qrcode", "checkcode/100"
        );
        for &v in &options.variants {
            if v.concurrency() > 1 {
                continue;
            }
            for n in options.alloc_counts {
                let (qr, check) =
                    clients.allocs_per_call(&rt, v, &remote.qr_card, check_card, n)?;
                println!("{:<16} {n:>8} {qr:>12.1} {check:>14.1}", v.name());
            }
        }
    }
    println!(
        "\npeak RSS (VmHWM) of this process: {}; load average at the end {}",
        mib(peak_rss_kib()),
        load_average()
    );
    drop(clients);
    drop(rt);
    remote.stop();
    Ok(())
}

/// The arguments of `--serve-sandbox N MS [SEED]`.
fn serve_args(args: Vec<String>) -> Res<(usize, u64, Option<u64>)> {
    let [cards, latency, rest @ ..] = args.as_slice() else {
        return Err("--serve-sandbox needs a card count and a latency".into());
    };
    let seed = rest.first().map(|s| s.parse::<u64>()).transpose()?;
    Ok((cards.parse()?, latency.parse()?, seed))
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let result = if args.peek().map(String::as_str) == Some("--serve-sandbox") {
        args.next();
        serve_args(args.collect())
            .and_then(|(cards, latency, seed)| server::serve_sandbox(cards, latency, seed))
    } else {
        cli::parse_args(args).and_then(|options| options.map_or(Ok(()), run))
    };
    if let Err(error) = result {
        eprintln!("wxcard-bench: {error}");
        std::process::exit(1);
    }
}
