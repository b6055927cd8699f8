//! The command line: options, the clients a run can drive, and what each is compared
//! with.

use crate::Res;

pub const USAGE: &str = "\
wxcard-bench: load benchmark of the wxcard clients against their own bare transports
and against raw HTTP clients that share nothing with the SDK (issues 7 and 11)

usage: cargo run --release -p wxcard-bench -- [options]
  --quick              1 run, W1 with 10,000 codes, W2 with 1,000 QRs (for profiling)
  --runs N             timed runs per client (default 3; medians are reported)
  --only w1|w2         run one workload only (e.g. to measure W1's peak RSS alone)
  --clients LIST       comma-separated subset of: sdk-blocking, sdk-async, sdk-async16,
                       floor-ureq, floor-reqwest, floor-reqwest16, raw-std, raw-hyper,
                       raw-hyper16 (default: all)
  --no-alloc           skip the allocations-per-call measurement
  --slice N            the clients take turns every N calls (W1: N batches, W2: N QRs)
                       instead of each running a whole phase in one go; each client's
                       time is the sum of its turns (pairs them closely on a busy machine)
  --latency-ms N       the sandbox delays every API call by N ms (a WeChat-like round
                       trip, to see what concurrency buys when the server is not local)
  --deposit-all N      import N codes with Client::deposit_all (blocking, over HTTP to the
                       sandbox child process) and print the time and the peak RSS
  --in-process         with --deposit-all: use the sandbox as an in-process transport (the
                       peak RSS then includes the sandbox's store of N codes)
  --async              with --deposit-all: AsyncClient::deposit_all over HTTP instead
  --under-faults       100,000 codes by plain deposit calls of 100, 16 in flight (blocking:
                       16 threads; async: 16 tasks) against a sandbox whose token expires
                       every 50 calls, with -1 on ~1/97 and 45009 on ~1/200 calls; checks
                       the server's state and prints requests, token fetches, expiries and
                       time per run (--runs, --quick apply; --in-flight N to change 16)
  --default-retry      with --under-faults: the SDK's default retry policy (its backoff
                       sleeps then dominate the time) instead of a short one
  --import-cost        deposit_all of 100,000 fresh codes against the same codes by plain
                       deposit + checkcode calls (blocking: sequential; async: as many
                       chunks in flight as deposit_all), paired per round; requests from
                       the sandbox's counters, time ratios (--runs, --quick apply)
  -h, --help           this text";

/// One way of calling the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    /// `card_api::Client` on `UreqTransport`.
    SdkBlocking,
    /// `card_api::AsyncClient` on `ReqwestTransport`, one call at a time.
    SdkAsync,
    /// The same, 16 calls in flight.
    SdkAsync16,
    /// Hand-written requests through the bare `UreqTransport`.
    FloorUreq,
    /// Hand-written requests through the bare `ReqwestTransport`, one at a time.
    FloorReqwest,
    /// The same, 16 in flight.
    FloorReqwest16,
    /// A keep-alive HTTP/1.1 client on `std::net::TcpStream`, one call at a time.
    RawStd,
    /// A bare hyper 1 HTTP/1.1 client on tokio, one call at a time.
    RawHyper,
    /// The same, 16 in flight (up to 16 connections).
    RawHyper16,
}

impl Variant {
    /// Every client, in the order a round runs them.
    pub const ALL: [Variant; 9] = [
        Variant::SdkBlocking,
        Variant::FloorUreq,
        Variant::RawStd,
        Variant::SdkAsync,
        Variant::FloorReqwest,
        Variant::RawHyper,
        Variant::SdkAsync16,
        Variant::FloorReqwest16,
        Variant::RawHyper16,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::SdkBlocking => "sdk-blocking",
            Variant::SdkAsync => "sdk-async",
            Variant::SdkAsync16 => "sdk-async16",
            Variant::FloorUreq => "floor-ureq",
            Variant::FloorReqwest => "floor-reqwest",
            Variant::FloorReqwest16 => "floor-reqwest16",
            Variant::RawStd => "raw-std",
            Variant::RawHyper => "raw-hyper",
            Variant::RawHyper16 => "raw-hyper16",
        }
    }

    /// Its position in [`Variant::ALL`].
    pub fn index(self) -> usize {
        Variant::ALL.iter().position(|x| *x == self).unwrap_or(0)
    }

    pub fn concurrency(self) -> usize {
        match self {
            Variant::SdkAsync16 | Variant::FloorReqwest16 | Variant::RawHyper16 => 16,
            _ => 1,
        }
    }

    /// The pairs `(a, b)` whose ratio a/b of throughput is reported: each SDK client
    /// against its own bare transport and against the raw floors (sequential: the std
    /// client, and for async also raw hyper; 16 in flight: raw hyper with 16), and each
    /// bare transport against the raw floor (the transport's own cost).
    pub const PAIRS: [(Variant, Variant); 9] = [
        (Variant::SdkBlocking, Variant::FloorUreq),
        (Variant::SdkBlocking, Variant::RawStd),
        (Variant::SdkAsync, Variant::FloorReqwest),
        (Variant::SdkAsync, Variant::RawStd),
        (Variant::SdkAsync, Variant::RawHyper),
        (Variant::SdkAsync16, Variant::FloorReqwest16),
        (Variant::SdkAsync16, Variant::RawHyper16),
        (Variant::FloorUreq, Variant::RawStd),
        (Variant::FloorReqwest16, Variant::RawHyper16),
    ];
}

/// The workload sizes.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub codes: usize,
    pub per_call: usize,
    pub qrs: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DepositAllMode {
    Http,
    Async,
    InProcess,
}

pub struct Options {
    pub runs: usize,
    pub sizes: Sizes,
    pub w1: bool,
    pub w2: bool,
    pub variants: Vec<Variant>,
    pub alloc: bool,
    pub deposit_all: Option<u64>,
    pub deposit_all_mode: DepositAllMode,
    pub latency_ms: u64,
    /// Calls per turn (0: each phase whole).
    pub slice: usize,
    pub alloc_counts: [usize; 2],
    pub under_faults: bool,
    pub default_retry: bool,
    pub in_flight: usize,
    pub import_cost: bool,
}

/// The options, or `None` after `--help`.
pub fn parse_args(args: impl Iterator<Item = String>) -> Res<Option<Options>> {
    let mut options = Options {
        runs: 3,
        sizes: Sizes {
            codes: 100_000,
            per_call: 100,
            qrs: 10_000,
        },
        w1: true,
        w2: true,
        variants: Variant::ALL.to_vec(),
        alloc: true,
        deposit_all: None,
        deposit_all_mode: DepositAllMode::Http,
        latency_ms: 0,
        slice: 0,
        alloc_counts: [1_000, 10_000],
        under_faults: false,
        default_retry: false,
        in_flight: 16,
        import_cost: false,
    };
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--quick" => {
                options.runs = 1;
                options.sizes.codes = 10_000;
                options.sizes.qrs = 1_000;
                options.alloc_counts = [100, 1_000];
            }
            "--runs" => options.runs = value()?.parse::<usize>()?.max(1),
            "--only" => match value()?.as_str() {
                "w1" => options.w2 = false,
                "w2" => options.w1 = false,
                other => return Err(format!("--only takes w1 or w2, not {other:?}").into()),
            },
            "--clients" => {
                let list = value()?;
                let mut variants = Vec::new();
                for name in list.split(',') {
                    let variant = Variant::ALL
                        .into_iter()
                        .find(|v| v.name() == name)
                        .ok_or(format!("unknown client {name:?}"))?;
                    variants.push(variant);
                }
                options.variants = variants;
            }
            "--no-alloc" => options.alloc = false,
            "--slice" => options.slice = value()?.parse()?,
            "--latency-ms" => options.latency_ms = value()?.parse()?,
            "--deposit-all" => options.deposit_all = Some(value()?.parse()?),
            "--in-process" => options.deposit_all_mode = DepositAllMode::InProcess,
            "--async" => options.deposit_all_mode = DepositAllMode::Async,
            "--under-faults" => options.under_faults = true,
            "--default-retry" => options.default_retry = true,
            "--in-flight" => options.in_flight = value()?.parse::<usize>()?.max(1),
            "--import-cost" => options.import_cost = true,
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    Ok(Some(options))
}
