//! `wxcard-bench`: the load benchmark of issue 7.
//!
//! Runs W1 (deposit 100,000 codes, count, checkcode them all) and W2 (10,000 `QR_CARD`
//! creations) through the SDK clients and through the bare transports with hand-written
//! bodies (the floor), side by side against the same loopback sandbox, and prints
//! requests/s (medians), SDK/floor ratios, allocations per call and peak RSS.
//!
//! The sandbox HTTP server runs in a child process (this binary with `--serve-sandbox`),
//! so the peak RSS printed is the client's alone and is not inflated by the codes the
//! sandbox stores. See docs/benchmarks.md.

mod alloc;

use card_api::{AsyncClient, Client};
use card_model::AccessToken;
use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};
use card_model::qrcode::{CreateQrCode, QrCard};
use card_sandbox::{CardSpec, Sandbox, serve};
use card_transport::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, ReqwestTransport,
    TransportConfig, UreqTransport,
};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const USAGE: &str = "\
wxcard-bench: load benchmark of the wxcard clients against the bare floor (issue 7)

usage: cargo run --release -p wxcard-bench -- [options]
  --quick              1 run, W1 with 10,000 codes, W2 with 1,000 QRs (for profiling)
  --runs N             timed runs per client (default 3; medians are reported)
  --only w1|w2         run one workload only (e.g. to measure W1's peak RSS alone)
  --clients LIST       comma-separated subset of: sdk-blocking, sdk-async, sdk-async16,
                       floor-ureq, floor-reqwest, floor-reqwest16 (default: all)
  --no-alloc           skip the allocations-per-call measurement
  --latency-ms N       the sandbox delays every API call by N ms (a WeChat-like round
                       trip, to see what concurrency buys when the server is not local)
  --deposit-all N      import N codes with Client::deposit_all (blocking, over HTTP to the
                       sandbox child process) and print the time and the peak RSS
  --in-process         with --deposit-all: use the sandbox as an in-process transport (the
                       peak RSS then includes the sandbox's store of N codes)
  --async              with --deposit-all: AsyncClient::deposit_all over HTTP instead
  -h, --help           this text";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    SdkBlocking,
    SdkAsync,
    SdkAsync16,
    FloorUreq,
    FloorReqwest,
    FloorReqwest16,
}

impl Variant {
    const ALL: [Variant; 6] = [
        Variant::SdkBlocking,
        Variant::FloorUreq,
        Variant::SdkAsync,
        Variant::FloorReqwest,
        Variant::SdkAsync16,
        Variant::FloorReqwest16,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::SdkBlocking => "sdk-blocking",
            Variant::SdkAsync => "sdk-async",
            Variant::SdkAsync16 => "sdk-async16",
            Variant::FloorUreq => "floor-ureq",
            Variant::FloorReqwest => "floor-reqwest",
            Variant::FloorReqwest16 => "floor-reqwest16",
        }
    }

    fn concurrency(self) -> usize {
        match self {
            Variant::SdkAsync16 | Variant::FloorReqwest16 => 16,
            _ => 1,
        }
    }

    /// The floor an SDK variant is compared with.
    fn floor(self) -> Option<Variant> {
        match self {
            Variant::SdkBlocking => Some(Variant::FloorUreq),
            Variant::SdkAsync => Some(Variant::FloorReqwest),
            Variant::SdkAsync16 => Some(Variant::FloorReqwest16),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Sizes {
    codes: usize,
    per_call: usize,
    qrs: usize,
}

struct Options {
    runs: usize,
    sizes: Sizes,
    w1: bool,
    w2: bool,
    variants: Vec<Variant>,
    alloc: bool,
    deposit_all: Option<u64>,
    deposit_all_mode: DepositAllMode,
    latency_ms: u64,
    alloc_counts: [usize; 2],
}

fn parse_args() -> Res<Option<Options>> {
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
        alloc_counts: [1_000, 10_000],
    };
    let mut args = std::env::args().skip(1);
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
            "--latency-ms" => options.latency_ms = value()?.parse()?,
            "--deposit-all" => options.deposit_all = Some(value()?.parse()?),
            "--in-process" => options.deposit_all_mode = DepositAllMode::InProcess,
            "--async" => options.deposit_all_mode = DepositAllMode::Async,
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    Ok(Some(options))
}

// ---------------------------------------------------------------------------------------
// The sandbox server, in a child process.

/// `--serve-sandbox N MS`: serve a fresh sandbox (every API call delayed by `MS` ms) on
/// 127.0.0.1:0 with `N` deposit-mode cards
/// and one plain card; print `base_url token qr_card card...` on one line; exit when
/// stdin closes (the parent ended).
fn serve_sandbox(cards: usize, latency_ms: u64) -> Res<()> {
    let sandbox = Sandbox::builder()
        .faults(card_sandbox::FaultConfig::default().latency(
            std::time::Duration::from_millis(latency_ms),
            std::time::Duration::ZERO,
        ))
        .build();
    let server = serve(sandbox.clone(), "127.0.0.1:0")?;
    let token = sandbox.issue_token();
    let qr_card = sandbox.create_card(CardSpec::new().quantity(1_000_000_000))?;
    let mut line = format!("{} {} {qr_card}", server.base_url(), token.expose());
    for _ in 0..cards {
        line.push(' ');
        line.push_str(&sandbox.create_card(CardSpec::deposit_mode())?);
    }
    println!("{line}");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.shutdown();
    Ok(())
}

struct Remote {
    child: Child,
    base: String,
    token: String,
    qr_card: String,
    cards: Vec<String>,
}

impl Remote {
    fn start(cards: usize, latency_ms: u64) -> Res<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve-sandbox")
            .arg(cards.to_string())
            .arg(latency_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let mut words = line.split_whitespace().map(str::to_owned);
        let base = words.next().ok_or("no base url")?;
        let token = words.next().ok_or("no token")?;
        let qr_card = words.next().ok_or("no card")?;
        let cards = words.collect::<Vec<_>>();
        Ok(Self {
            child,
            base,
            token,
            qr_card,
            cards,
        })
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Codes and the floor's hand-written requests.

fn code(tag: usize, n: usize) -> String {
    format!("{tag:04}{n:08}")
}

fn codes(tag: usize, batch: usize, per: usize) -> Vec<String> {
    (batch * per..(batch + 1) * per)
        .map(|n| code(tag, n))
        .collect()
}

struct Floor {
    base: String,
    token: String,
}

impl Floor {
    fn post(&self, path: &str, body: String) -> Res<HttpRequest> {
        Ok(
            http::Request::post(format!("{}{path}?access_token={}", self.base, self.token))
                .header("content-type", "application/json")
                .body(body.into_bytes())?,
        )
    }

    /// The same input as the SDK path gets (the batch's codes as owned `String`s, as they
    /// would come from a file or a database), written into the body by hand.
    fn codes_body(card: &str, tag: usize, batch: usize, per: usize) -> String {
        let codes = codes(tag, batch, per);
        let mut body = String::with_capacity(40 + card.len() + per * 15);
        let _ = write!(body, r#"{{"card_id":"{card}","code":["#);
        for (i, code) in codes.iter().enumerate() {
            if i != 0 {
                body.push(',');
            }
            body.push('"');
            body.push_str(code);
            body.push('"');
        }
        body.push_str("]}");
        body
    }

    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<HttpRequest> {
        self.post(
            "/card/code/deposit",
            Self::codes_body(card, tag, batch, per),
        )
    }

    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<HttpRequest> {
        self.post(
            "/card/code/checkcode",
            Self::codes_body(card, tag, batch, per),
        )
    }

    fn count(&self, card: &str) -> Res<HttpRequest> {
        self.post(
            "/card/code/getdepositcount",
            format!(r#"{{"card_id":"{card}"}}"#),
        )
    }

    fn qr(&self, card: &str) -> Res<HttpRequest> {
        self.post(
            "/card/qrcode/create",
            format!(
                r#"{{"action_name":"QR_CARD","action_info":{{"card":{{"card_id":"{card}"}}}}}}"#
            ),
        )
    }
}

/// The floor's minimal response check: status 200 and `errcode` 0.
fn ok_body(response: &HttpResponse) -> Res<&str> {
    let body = std::str::from_utf8(response.body())?;
    if response.status() != 200 || !body.contains(r#""errcode":0"#) {
        return Err(format!("unexpected answer {}: {body}", response.status()).into());
    }
    Ok(body)
}

fn field<'a>(body: &'a str, name: &str) -> Res<&'a str> {
    let key = format!("\"{name}\":");
    let start = body.find(&key).ok_or(format!("no {name}"))? + key.len();
    let rest = &body[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).ok_or(format!("bad {name}"))?;
    Ok(&rest[..end])
}

fn floor_deposit_ok(response: &HttpResponse, per: usize) -> Res<()> {
    let succ: usize = field(ok_body(response)?, "succ_code")?.parse()?;
    if succ != per {
        return Err(format!("deposit stored {succ} of {per}").into());
    }
    Ok(())
}

fn floor_check_ok(response: &HttpResponse) -> Res<()> {
    let body = ok_body(response)?;
    if !body.contains(r#""not_exist_code":[]"#) {
        return Err("codes missing".into());
    }
    Ok(())
}

fn floor_count(response: &HttpResponse) -> Res<u64> {
    Ok(field(ok_body(response)?, "count")?.parse()?)
}

fn floor_ticket(response: &HttpResponse) -> Res<String> {
    Ok(field(ok_body(response)?, "ticket")?.to_owned())
}

// ---------------------------------------------------------------------------------------
// The SDK's checks.

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

// ---------------------------------------------------------------------------------------
// One interface over the four ways of calling.

trait BlockingApi {
    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()>;
    fn count(&self, card: &str) -> Res<u64>;
    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()>;
    fn qr(&self, card: &str) -> Res<String>;
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
    fn qr(&self, card: &str) -> Res<String> {
        Ok(self
            .create_qr_code(&CreateQrCode::card(QrCard::new(card)))?
            .ticket)
    }
}

struct FloorBlocking {
    floor: Floor,
    transport: UreqTransport,
}

impl BlockingApi for FloorBlocking {
    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let response = self
            .transport
            .send(self.floor.deposit(card, tag, batch, per)?)?;
        floor_deposit_ok(&response, per)
    }
    fn count(&self, card: &str) -> Res<u64> {
        floor_count(&self.transport.send(self.floor.count(card)?)?)
    }
    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        floor_check_ok(
            &self
                .transport
                .send(self.floor.check(card, tag, batch, per)?)?,
        )
    }
    fn qr(&self, card: &str) -> Res<String> {
        floor_ticket(&self.transport.send(self.floor.qr(card)?)?)
    }
}

trait AsyncApi: Send + Sync + 'static {
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
    fn qr(&self, card: &str) -> impl Future<Output = Res<String>> + Send;
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
    async fn qr(&self, card: &str) -> Res<String> {
        let request = CreateQrCode::card(QrCard::new(card));
        Ok(self.create_qr_code(&request).await?.ticket)
    }
}

struct FloorAsync {
    floor: Floor,
    transport: ReqwestTransport,
}

impl AsyncApi for FloorAsync {
    async fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let request = self.floor.deposit(card, tag, batch, per)?;
        floor_deposit_ok(&self.transport.send(request).await?, per)
    }
    async fn count(&self, card: &str) -> Res<u64> {
        let request = self.floor.count(card)?;
        floor_count(&self.transport.send(request).await?)
    }
    async fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let request = self.floor.check(card, tag, batch, per)?;
        floor_check_ok(&self.transport.send(request).await?)
    }
    async fn qr(&self, card: &str) -> Res<String> {
        let request = self.floor.qr(card)?;
        floor_ticket(&self.transport.send(request).await?)
    }
}

// ---------------------------------------------------------------------------------------
// The workloads.

/// Runs `f(0..count)` with `concurrency` calls in flight (spawned tasks when > 1).
async fn drive<F, Fut, T>(count: usize, concurrency: usize, f: F) -> Res<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<T>> + Send,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(count);
    if concurrency <= 1 {
        for i in 0..count {
            out.push(f(i).await?);
        }
        return Ok(out);
    }
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

fn w1_blocking(api: &impl BlockingApi, card: &str, tag: usize, sizes: Sizes) -> Res<usize> {
    let batches = sizes.codes / sizes.per_call;
    for batch in 0..batches {
        api.deposit(card, tag, batch, sizes.per_call)?;
    }
    let count = api.count(card)?;
    if count != sizes.codes as u64 {
        return Err(format!("count {count}, expected {}", sizes.codes).into());
    }
    for batch in 0..batches {
        api.check(card, tag, batch, sizes.per_call)?;
    }
    Ok(2 * batches + 1)
}

async fn w1_async<A: AsyncApi>(
    api: Arc<A>,
    concurrency: usize,
    card: Arc<str>,
    tag: usize,
    sizes: Sizes,
) -> Res<usize> {
    let batches = sizes.codes / sizes.per_call;
    let per = sizes.per_call;
    {
        let (api, card) = (Arc::clone(&api), Arc::clone(&card));
        drive(batches, concurrency, move |batch| {
            let (api, card) = (Arc::clone(&api), Arc::clone(&card));
            async move { api.deposit(&card, tag, batch, per).await }
        })
        .await?;
    }
    let count = api.count(&card).await?;
    if count != sizes.codes as u64 {
        return Err(format!("count {count}, expected {}", sizes.codes).into());
    }
    drive(batches, concurrency, move |batch| {
        let (api, card) = (Arc::clone(&api), Arc::clone(&card));
        async move { api.check(&card, tag, batch, per).await }
    })
    .await?;
    Ok(2 * batches + 1)
}

fn distinct(tickets: Vec<String>, expected: usize) -> Res<usize> {
    let set: HashSet<String> = tickets.into_iter().collect();
    if set.len() != expected {
        return Err(format!("{} distinct tickets of {expected}", set.len()).into());
    }
    Ok(expected)
}

fn w2_blocking(api: &impl BlockingApi, card: &str, qrs: usize) -> Res<usize> {
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

// ---------------------------------------------------------------------------------------

struct Clients {
    sdk_blocking: Client,
    sdk_async: Arc<AsyncClient>,
    floor_ureq: FloorBlocking,
    floor_reqwest: Arc<FloorAsync>,
}

impl Clients {
    fn new(remote: &Remote) -> Res<Self> {
        let token = AccessToken::new(remote.token.clone());
        let sdk_blocking = Client::builder()
            .base_url(remote.base.clone())
            .access_token(token.clone())
            .transport(UreqTransport::new(TransportConfig::default()))
            .build()?;
        let sdk_async = Arc::new(
            AsyncClient::builder()
                .base_url(remote.base.clone())
                .access_token(token)
                .transport(ReqwestTransport::try_new(TransportConfig::default())?)
                .build()?,
        );
        let floor = || Floor {
            base: remote.base.clone(),
            token: remote.token.clone(),
        };
        Ok(Self {
            sdk_blocking,
            sdk_async,
            floor_ureq: FloorBlocking {
                floor: floor(),
                transport: UreqTransport::new(TransportConfig::default()),
            },
            floor_reqwest: Arc::new(FloorAsync {
                floor: floor(),
                transport: ReqwestTransport::try_new(TransportConfig::default())?,
            }),
        })
    }

    fn w1(
        &self,
        rt: &tokio::runtime::Runtime,
        v: Variant,
        card: &str,
        tag: usize,
        sizes: Sizes,
    ) -> Res<usize> {
        let c = v.concurrency();
        match v {
            Variant::SdkBlocking => w1_blocking(&self.sdk_blocking, card, tag, sizes),
            Variant::FloorUreq => w1_blocking(&self.floor_ureq, card, tag, sizes),
            Variant::SdkAsync | Variant::SdkAsync16 => rt.block_on(w1_async(
                Arc::clone(&self.sdk_async),
                c,
                card.into(),
                tag,
                sizes,
            )),
            Variant::FloorReqwest | Variant::FloorReqwest16 => rt.block_on(w1_async(
                Arc::clone(&self.floor_reqwest),
                c,
                card.into(),
                tag,
                sizes,
            )),
        }
    }

    fn w2(&self, rt: &tokio::runtime::Runtime, v: Variant, card: &str, qrs: usize) -> Res<usize> {
        let c = v.concurrency();
        match v {
            Variant::SdkBlocking => w2_blocking(&self.sdk_blocking, card, qrs),
            Variant::FloorUreq => w2_blocking(&self.floor_ureq, card, qrs),
            Variant::SdkAsync | Variant::SdkAsync16 => {
                rt.block_on(w2_async(Arc::clone(&self.sdk_async), c, card.into(), qrs))
            }
            Variant::FloorReqwest | Variant::FloorReqwest16 => rt.block_on(w2_async(
                Arc::clone(&self.floor_reqwest),
                c,
                card.into(),
                qrs,
            )),
        }
    }

    /// Allocations per call of `qr` and of a 100-code `check`, over `n` sequential calls.
    fn allocs_per_call(
        &self,
        rt: &tokio::runtime::Runtime,
        v: Variant,
        qr_card: &str,
        check_card: &str,
        n: usize,
    ) -> Res<(f64, f64)> {
        let measure = |f: &dyn Fn() -> Res<()>| -> Res<f64> {
            let before = alloc::allocations();
            f()?;
            Ok((alloc::allocations() - before) as f64 / n as f64)
        };
        let check_all_missing = |r: card_model::CodeCheck| -> Res<()> {
            if r.missing.len() != 100 {
                return Err("unexpected checkcode answer".into());
            }
            Ok(())
        };
        let (qr, check) = match v {
            Variant::SdkBlocking => {
                let api = &self.sdk_blocking;
                let qr = measure(&|| {
                    for _ in 0..n {
                        api.qr(qr_card)?;
                    }
                    Ok(())
                })?;
                let check = measure(&|| {
                    for batch in 0..n {
                        let req = CheckCodes::new(check_card, codes(9999, batch % 1000, 100));
                        check_all_missing(api.check_codes(&req)?)?;
                    }
                    Ok(())
                })?;
                (qr, check)
            }
            Variant::FloorUreq => {
                let api = &self.floor_ureq;
                let qr = measure(&|| {
                    for _ in 0..n {
                        api.qr(qr_card)?;
                    }
                    Ok(())
                })?;
                let check = measure(&|| {
                    for batch in 0..n {
                        let req = api.floor.check(check_card, 9999, batch % 1000, 100)?;
                        ok_body(&api.transport.send(req)?)?;
                    }
                    Ok(())
                })?;
                (qr, check)
            }
            Variant::SdkAsync => {
                let api = &self.sdk_async;
                let qr = measure(&|| {
                    rt.block_on(async {
                        for _ in 0..n {
                            AsyncApi::qr(api.as_ref(), qr_card).await?;
                        }
                        Ok(())
                    })
                })?;
                let check = measure(&|| {
                    rt.block_on(async {
                        for batch in 0..n {
                            let req = CheckCodes::new(check_card, codes(9999, batch % 1000, 100));
                            check_all_missing(api.check_codes(&req).await?)?;
                        }
                        Ok(())
                    })
                })?;
                (qr, check)
            }
            Variant::FloorReqwest => {
                let api = &self.floor_reqwest;
                let qr = measure(&|| {
                    rt.block_on(async {
                        for _ in 0..n {
                            api.qr(qr_card).await?;
                        }
                        Ok(())
                    })
                })?;
                let check = measure(&|| {
                    rt.block_on(async {
                        for batch in 0..n {
                            let req = api.floor.check(check_card, 9999, batch % 1000, 100)?;
                            ok_body(&api.transport.send(req).await?)?;
                        }
                        Ok(())
                    })
                })?;
                (qr, check)
            }
            _ => return Err("allocations are measured on sequential clients".into()),
        };
        Ok((qr, check))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DepositAllMode {
    Http,
    Async,
    InProcess,
}

/// `--deposit-all N`: one import of `N` distinct codes from an iterator (never collected).
fn deposit_all(n: u64, mode: DepositAllMode) -> Res<()> {
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
                .transport(sandbox.clone())
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

/// CPU time (ns) spent so far by every live thread of process `pid`, from
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution, unlike `/proc/<pid>/stat`).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of this process and of the sandbox child, for CPU per request.
fn cpu_pair(server: u32) -> (u64, u64) {
    (cpu_ns(std::process::id()), cpu_ns(server))
}

/// Microseconds of CPU per request between two [`cpu_pair`] readings.
fn cpu_us_per_request(before: (u64, u64), after: (u64, u64), requests: usize) -> (f64, f64) {
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1000.0 / requests.max(1) as f64;
    (per(after.0, before.0), per(after.1, before.1))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// `a / b` with `digits` decimals, or `-` when a workload did not run.
fn ratio(a: f64, b: f64, digits: usize) -> String {
    let r = a / b;
    if r.is_finite() {
        format!("{r:.digits$}")
    } else {
        "-".into()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn run(options: Options) -> Res<()> {
    if let Some(n) = options.deposit_all {
        return deposit_all(n, options.deposit_all_mode);
    }
    let sizes = options.sizes;
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
         W2 {} QRs; {} CPUs",
        remote.base,
        options.runs,
        sizes.codes,
        sizes.per_call,
        sizes.qrs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Warm-up: connections open, lazy statics initialised.
    for &v in &options.variants {
        clients.w2(&rt, v, &remote.qr_card, 64)?;
    }
    println!("peak RSS after warm-up: {}", mib(peak_rss_kib()));

    let mut w1: Vec<Vec<f64>> = vec![Vec::new(); Variant::ALL.len()];
    let mut w2: Vec<Vec<f64>> = vec![Vec::new(); Variant::ALL.len()];
    // CPU µs per request (client process, server process), W2 only.
    let mut w2_cpu: Vec<Vec<(f64, f64)>> = vec![Vec::new(); Variant::ALL.len()];
    let server = remote.child.id();
    let mut cards = remote.cards.iter();
    for round in 0..options.runs {
        for &v in &options.variants {
            let index = Variant::ALL.iter().position(|x| *x == v).unwrap_or(0);
            if options.w1 {
                let card = cards.next().ok_or("out of cards")?;
                let start = Instant::now();
                let requests = clients.w1(&rt, v, card, round, sizes)?;
                let rate = requests as f64 / start.elapsed().as_secs_f64();
                println!("run {round} W1 {:<16} {rate:>9.0} req/s", v.name());
                w1[index].push(rate);
            }
            if options.w2 {
                let cpu = cpu_pair(server);
                let start = Instant::now();
                let requests = clients.w2(&rt, v, &remote.qr_card, sizes.qrs)?;
                let rate = requests as f64 / start.elapsed().as_secs_f64();
                let (client_us, server_us) = cpu_us_per_request(cpu, cpu_pair(server), requests);
                println!(
                    "run {round} W2 {:<16} {rate:>9.0} req/s   CPU per request: client {client_us:.1} µs, server {server_us:.1} µs",
                    v.name()
                );
                w2[index].push(rate);
                w2_cpu[index].push((client_us, server_us));
            }
        }
    }

    let medians =
        |rates: &[Vec<f64>]| -> Vec<f64> { rates.iter().map(|r| median(&mut r.clone())).collect() };
    let w1m = medians(&w1);
    let w2m = medians(&w2);
    // Median of the per-round ratios: each SDK run is paired with the floor run next to it,
    // which cancels most of the machine's drift between rounds.
    let paired = |rates: &[Vec<f64>], i: usize, f: usize| -> f64 {
        let mut r: Vec<f64> = rates[i].iter().zip(&rates[f]).map(|(a, b)| a / b).collect();
        median(&mut r)
    };
    println!("\nmedians of {} runs (requests/s):", options.runs);
    println!("{:<16} {:>10} {:>10}", "client", "W1", "W2");
    for &v in &options.variants {
        let i = Variant::ALL.iter().position(|x| *x == v).unwrap_or(0);
        println!(
            "{:<16} {:>10} {:>10}",
            v.name(),
            ratio(w1m[i], 1.0, 0),
            ratio(w2m[i], 1.0, 0)
        );
    }
    println!(
        "\nSDK / floor: ratio of medians (median of per-run ratios); target >= 0.90 sequential"
    );
    for &v in &options.variants {
        let Some(floor) = v.floor() else { continue };
        if !options.variants.contains(&floor) {
            continue;
        }
        let i = Variant::ALL.iter().position(|x| *x == v).unwrap_or(0);
        let f = Variant::ALL.iter().position(|x| *x == floor).unwrap_or(0);
        println!(
            "{:<16} / {:<16} W1 {} (paired {})  W2 {} (paired {})",
            v.name(),
            floor.name(),
            ratio(w1m[i], w1m[f], 3),
            ratio(paired(&w1, i, f), 1.0, 3),
            ratio(w2m[i], w2m[f], 3),
            ratio(paired(&w2, i, f), 1.0, 3),
        );
    }
    if options.w2 {
        println!(
            "\nW2 CPU per request, medians (µs; client = this process, server = the sandbox \
             child; the kernel's TCP work is counted on the side that ran it):"
        );
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>22}",
            "client", "client", "server", "total", "CPU-bound max req/s"
        );
        for &v in &options.variants {
            let i = Variant::ALL.iter().position(|x| *x == v).unwrap_or(0);
            let client = median(&mut w2_cpu[i].iter().map(|c| c.0).collect::<Vec<_>>());
            let server = median(&mut w2_cpu[i].iter().map(|c| c.1).collect::<Vec<_>>());
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            println!(
                "{:<16} {client:>8.1} {server:>8.1} {:>8.1} {:>22}",
                v.name(),
                client + server,
                ratio(cores * 1e6, client + server, 0)
            );
        }
    }
    if options.variants.contains(&Variant::SdkAsync)
        && options.variants.contains(&Variant::SdkAsync16)
    {
        let seq = Variant::ALL
            .iter()
            .position(|x| *x == Variant::SdkAsync)
            .unwrap_or(0);
        let par = Variant::ALL
            .iter()
            .position(|x| *x == Variant::SdkAsync16)
            .unwrap_or(0);
        println!(
            "sdk-async16 / sdk-async (target >= 4 on W2): W1 {}x  W2 {}x",
            ratio(w1m[par], w1m[seq], 2),
            ratio(w2m[par], w2m[seq], 2)
        );
    }
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
        "\npeak RSS (VmHWM) of this process: {}",
        mib(peak_rss_kib())
    );
    drop(clients);
    drop(rt);
    remote.stop();
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let result = if args.next().as_deref() == Some("--serve-sandbox") {
        let mut number = || -> Res<u64> {
            Ok(args
                .next()
                .ok_or("--serve-sandbox needs a card count and a latency")?
                .parse()?)
        };
        number().and_then(|cards| {
            let latency = number()?;
            serve_sandbox(usize::try_from(cards)?, latency)
        })
    } else {
        parse_args().and_then(|options| options.map_or(Ok(()), run))
    };
    if let Err(error) = result {
        eprintln!("wxcard-bench: {error}");
        std::process::exit(1);
    }
}
