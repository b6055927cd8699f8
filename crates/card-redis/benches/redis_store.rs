//! What the Redis token store costs (issue 14), against a real redis-server and the
//! sandbox over loopback HTTP:
//!
//! * **W2 through a client on each store**: 10,000 `QR_CARD` creations, blocking (one
//!   call at a time) and async (16 tasks), on the memory store, on the Redis store
//!   (local copy vouched for 1 s, the default) and on the Redis store asking Redis on
//!   every read (`revalidate_after(0)`); interleaved rounds, medians, ratio to memory.
//! * **One refresh across N processes** (N = 1, 2, 4, 8): N child processes (this
//!   binary again), each with its own client and store; the sandbox kills the token, all
//!   N call at once; per round, the time until the last of them is answered, next to
//!   the same with a valid token, and the token fetches per refresh (must be 1).
//!
//! ```sh
//! cargo bench -p card-redis --features async --bench redis_store            # full
//! cargo bench -p card-redis --features async --bench redis_store -- --quick # 1 round, 2,000 QRs
//! ```
//!
//! Uses `redis-server` from `PATH` on a free loopback port (or `WXCARD_BENCH_REDIS_URL`).

use card_api::{AsyncClient, Client, RetryPolicy};
use card_model::AppSecret;
use card_model::qrcode::{CreateQrCode, QrCard};
use card_redis::{AsyncRedisTokenStore, RedisConfig, RedisTokenStore};
use card_sandbox::{CardSpec, Fault, Sandbox};
use redis::Commands;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const APPID: &str = "wxbench0000000001";
const SECRET: &str = "bench-secret";

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child-refresh") {
        return child_refresh();
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, qrs, refresh_rounds) = if quick {
        (1, 2_000, 5)
    } else {
        (9, 10_000, 20)
    };

    let _own_redis;
    let url = match std::env::var("WXCARD_BENCH_REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let (child, url) = start_redis()?;
            _own_redis = KillOnDrop(child);
            url
        }
    };
    println!("redis at {url}; {} CPUs", num_cpus());
    store_reads(&url)?;
    w2(&url, rounds, qrs)?;
    for n in [1usize, 2, 4, 8] {
        refresh_across(&url, n, refresh_rounds)?;
    }
    Ok(())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn start_redis() -> Res<(Child, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .spawn()?;
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str())?;
    for _ in 0..200 {
        if let Ok(mut c) = client.get_connection() {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return Ok((child, url));
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("redis-server did not start".into())
}

fn sandbox() -> Res<(Sandbox, card_sandbox::ServerHandle, String, String)> {
    let sandbox = Sandbox::builder()
        .appid(APPID)
        .secret(AppSecret::new(SECRET))
        .build();
    let card = sandbox.create_card(CardSpec::new().quantity(100_000_000))?;
    let server = card_sandbox::serve(sandbox.clone(), "127.0.0.1:0")?;
    let base = format!("http://{}", server.local_addr());
    Ok((sandbox, server, base, card))
}

fn builder<C>(base: &str) -> card_api::ClientBuilder<C> {
    card_api::ClientBuilder::new()
        .app_credentials(APPID, AppSecret::new(SECRET))
        .base_url(base)
        .retry(RetryPolicy::new().max_attempts(3))
        .refresh_lease(Duration::from_secs(10), Duration::from_millis(5))
}

fn qr(card: &str) -> CreateQrCode {
    CreateQrCode::card(QrCard::new(card))
}

#[derive(Clone, Copy, PartialEq)]
enum Store {
    Memory,
    Redis,
    RedisEveryRead,
}

impl Store {
    const ALL: [Store; 3] = [Store::Memory, Store::Redis, Store::RedisEveryRead];

    fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis (local copy, 1 s)",
            Store::RedisEveryRead => "redis (every read)",
        }
    }

    fn config(self, url: &str, prefix: &str) -> Res<RedisConfig> {
        let config = RedisConfig::new(url)?.prefix(prefix);
        Ok(match self {
            Store::RedisEveryRead => config.revalidate_after(Duration::ZERO),
            _ => config,
        })
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn w2(url: &str, rounds: usize, qrs: usize) -> Res<()> {
    let (_sandbox, _server, base, card) = sandbox()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let prefix = format!("bench:{}:", std::process::id());
    let mut blocking = Vec::new();
    let mut asynchronous = Vec::new();
    for store in Store::ALL {
        let b = builder::<Client>(&base);
        let client = match store {
            Store::Memory => b.build()?,
            _ => b
                .token_store(RedisTokenStore::new(&store.config(url, &prefix)?))
                .build()?,
        };
        blocking.push(client);
        let b = builder::<AsyncClient>(&base);
        let client: AsyncClient = rt.block_on(async {
            Ok::<_, Box<dyn std::error::Error>>(match store {
                Store::Memory => b.build()?,
                _ => b
                    .token_store(AsyncRedisTokenStore::new(&store.config(url, &prefix)?)?)
                    .build()?,
            })
        })?;
        asynchronous.push(client);
    }
    // Warm-up: tokens fetched, connections open.
    for (b, a) in blocking.iter().zip(&asynchronous) {
        for _ in 0..64 {
            b.create_qr_code(&qr(&card))?;
            rt.block_on(a.create_qr_code(&qr(&card)))?;
        }
    }
    let n = Store::ALL.len();
    let (mut rates_blocking, mut rates_async) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    let (mut cpu_blocking, mut cpu_async) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    for round in 0..rounds {
        // A different store goes first each round: the machine's drift hits all alike.
        for k in 0..n {
            let i = (round + k) % n;
            let store = Store::ALL[i];
            let (start, cpu) = (Instant::now(), cpu_micros());
            for _ in 0..qrs {
                blocking[i].create_qr_code(&qr(&card))?;
            }
            let rate = qrs as f64 / start.elapsed().as_secs_f64();
            rates_blocking[i].push(rate);
            cpu_blocking[i].push((cpu_micros() - cpu) / qrs as f64);

            let client = asynchronous[i].clone();
            let card2 = card.clone();
            let per_task = qrs / 16;
            let (start, cpu) = (Instant::now(), cpu_micros());
            rt.block_on(async move {
                let tasks: Vec<_> = (0..16)
                    .map(|_| {
                        let (client, card) = (client.clone(), card2.clone());
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                client.create_qr_code(&qr(&card)).await?;
                            }
                            Ok::<_, card_api::Error>(())
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await??;
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
            let rate_async = (per_task * 16) as f64 / start.elapsed().as_secs_f64();
            rates_async[i].push(rate_async);
            cpu_async[i].push((cpu_micros() - cpu) / (per_task * 16) as f64);
            println!(
                "run {round} W2 {:<24} blocking {rate:>8.0} req/s   async16 {rate_async:>8.0} req/s",
                store.name()
            );
        }
    }
    let paired = |rates: &[Vec<f64>], i: usize| {
        median(rates[i].iter().zip(&rates[0]).map(|(r, m)| r / m).collect())
    };
    println!(
        "\nW2, {qrs} QR creations, medians of {rounds} runs (ratios: medians of per-round ratios \
         to memory; CPU: this process, sandbox server included, per call):"
    );
    println!(
        "| store | blocking req/s | vs memory | CPU µs/call | async16 req/s | vs memory | CPU µs/call |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, store) in Store::ALL.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.3} | {:.1} | {:.0} | {:.3} | {:.1} |",
            store.name(),
            median(rates_blocking[i].clone()),
            paired(&rates_blocking, i),
            median(cpu_blocking[i].clone()),
            median(rates_async[i].clone()),
            paired(&rates_async, i),
            median(cpu_async[i].clone()),
        );
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, in microseconds (Linux; 0 elsewhere).
fn cpu_micros() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // After the command name in parentheses: field 14 (utime) and 15 (stime), in ticks.
    let Some(rest) = stat.rfind(')').map(|at| &stat[at + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()
    });
    ticks * 10_000.0 // 100 ticks per second
}

/// What one `get` costs a client on each store, in nanoseconds: the work every call
/// does on top of its HTTP request.
fn store_reads(url: &str) -> Res<()> {
    use card_api::{MemoryTokenStore, StoredSecret, TokenStore};
    const READS: u32 = 1_000_000;
    const KEY: &str = "wxcard:access_token:wxbench0000000001";
    let prefix = format!("bench-reads:{}:", std::process::id());
    let until = card_api::Clock::unix_millis(&card_api::SystemClock) + 3_600_000;
    let stores: Vec<(&str, Box<dyn TokenStore>)> = vec![
        ("memory", Box::new(MemoryTokenStore::new())),
        (
            "redis (local copy, 1 s)",
            Box::new(RedisTokenStore::new(&Store::Redis.config(url, &prefix)?)),
        ),
    ];
    for (name, store) in &stores {
        let _ = store.compare_and_set(KEY, None, StoredSecret::new("TOKEN", until))?;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..READS {
                std::hint::black_box(store.get(std::hint::black_box(KEY))?);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / f64::from(READS));
        }
        println!("store get, {name}: {best:.0} ns (best of 5 x {READS})");
    }
    // The async store, awaited as the async client awaits it (a boxed future per read).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use card_api::AsyncTokenStore;
        let store: Box<dyn AsyncTokenStore> = Box::new(AsyncRedisTokenStore::new(
            &Store::Redis.config(url, &format!("{prefix}async:"))?,
        )?);
        let _ = store
            .compare_and_set(KEY, None, StoredSecret::new("TOKEN", until))
            .await?;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..READS {
                std::hint::black_box(store.get(std::hint::black_box(KEY)).await?);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / f64::from(READS));
        }
        println!("store get, async redis (local copy, 1 s): {best:.0} ns (best of 5 x {READS})");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// One child of [`refresh_across`]: a client of its own; for each round, waits for the
/// round's gate in Redis, makes one call, and reports the call's time in microseconds.
fn child_refresh() -> Res<()> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("no {name}"));
    let (url, prefix, base, card) = (var("URL")?, var("PREFIX")?, var("BASE")?, var("CARD")?);
    let rounds: usize = var("ROUNDS")?.parse()?;
    let config = RedisConfig::new(&url)?.prefix(prefix.as_str());
    let client = builder::<Client>(&base)
        .token_store(RedisTokenStore::new(&config))
        .build()?;
    client.create_qr_code(&qr(&card))?; // token and connections ready
    let mut gate = redis::Client::open(url.as_str())?.get_connection()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for round in 0..rounds {
        let key = format!("{prefix}gate:{round}");
        while !gate.exists::<_, bool>(&key)? {
            std::thread::sleep(Duration::from_micros(200));
        }
        let start = Instant::now();
        client.create_qr_code(&qr(&card))?;
        writeln!(out, "{round} {}", start.elapsed().as_micros())?;
        out.flush()?;
    }
    Ok(())
}

/// The cost of one refresh across `n` processes (see the file's documentation).
fn refresh_across(url: &str, n: usize, rounds: usize) -> Res<()> {
    let (sandbox, _server, base, card) = sandbox()?;
    let prefix = format!("bench-refresh:{}:{n}:", std::process::id());
    let exe = std::env::current_exe()?;
    let mut children: Vec<(KillOnDrop, BufReader<std::process::ChildStdout>)> = Vec::new();
    for _ in 0..n {
        let mut child = Command::new(&exe)
            .arg("--child-refresh")
            .env("URL", url)
            .env("PREFIX", &prefix)
            .env("BASE", &base)
            .env("CARD", &card)
            .env("ROUNDS", (2 * rounds).to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        children.push((KillOnDrop(child), stdout));
    }
    let mut line = String::new();
    for (_, out) in &mut children {
        line.clear();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("a child said {line:?}").into());
        }
    }
    let mut conn = redis::Client::open(url)?.get_connection()?;
    let (mut normal, mut refresh) = (Vec::new(), Vec::new());
    let mut fetches = Vec::new();
    for round in 0..2 * rounds {
        let kill = round % 2 == 1;
        let issued = sandbox.stats().tokens_issued;
        if kill {
            sandbox.push_fault(Fault::ExpireToken);
        }
        let () = conn.set_ex(format!("{prefix}gate:{round}"), 1, 600)?;
        let mut slowest = 0u64;
        for (_, out) in &mut children {
            line.clear();
            out.read_line(&mut line)?;
            let micros: u64 = line
                .split_whitespace()
                .nth(1)
                .ok_or_else(|| format!("a child said {line:?}"))?
                .parse()?;
            slowest = slowest.max(micros);
        }
        if kill {
            refresh.push(slowest as f64);
            fetches.push(sandbox.stats().tokens_issued - issued);
        } else {
            normal.push(slowest as f64);
        }
    }
    let (normal, refresh) = (median(normal), median(refresh));
    println!(
        "refresh across {n} processes: last answer {:.2} ms after the gate with a valid token, \
         {:.2} ms when the token had died (+{:.2} ms); token fetches per refresh: {:?}",
        normal / 1000.0,
        refresh / 1000.0,
        (refresh - normal) / 1000.0,
        fetches
    );
    Ok(())
}
