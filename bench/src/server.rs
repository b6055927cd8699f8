//! The sandbox server, in a child process (this binary with `--serve-sandbox`), so that
//! the peak RSS printed is the client's alone and not inflated by the codes the sandbox
//! stores.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use card_model::AppSecret;
use card_sandbox::{CardSpec, FaultConfig, Sandbox, serve};

use crate::Res;

/// The sandbox's AppID, for clients that fetch their own tokens.
pub const APPID: &str = "wxbench0000000001";
/// The sandbox's AppSecret (a bench value, not a secret).
pub const SECRET: &str = "bench-app-secret-0123456789abcdef";

/// The fault mix of issue 11 with PRNG `seed`: the access token expires every 50 API
/// calls (42001), about one call in 97 answers -1 and one in 200 answers 45009.
pub fn fault_mix(seed: u64) -> FaultConfig {
    FaultConfig::seeded(seed)
        .expire_token_every(50)
        .system_busy(FaultConfig::one_in(97))
        .rate_limited(FaultConfig::one_in(200))
}

/// `--serve-sandbox N MS [SEED]`: serve a fresh sandbox (every API call delayed by `MS`
/// ms; with `SEED`, under [`fault_mix`]) on 127.0.0.1:0 with `N` deposit-mode cards and
/// one plain card; print `base_url token qr_card card...` on one line; exit when stdin
/// closes (the parent ended).
pub fn serve_sandbox(cards: usize, latency_ms: u64, fault_seed: Option<u64>) -> Res<()> {
    let faults = fault_seed.map_or_else(FaultConfig::default, fault_mix);
    let sandbox = Sandbox::builder()
        .appid(APPID)
        .secret(AppSecret::new(SECRET))
        .faults(faults.latency(
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

/// The sandbox child process and what it printed.
pub struct Remote {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub qr_card: String,
    pub cards: Vec<String>,
}

impl Remote {
    pub fn start(cards: usize, latency_ms: u64) -> Res<Self> {
        Self::start_with(cards, latency_ms, None)
    }

    /// [`Remote::start`], under [`fault_mix`] with `fault_seed` when given.
    pub fn start_with(cards: usize, latency_ms: u64, fault_seed: Option<u64>) -> Res<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--serve-sandbox")
            .arg(cards.to_string())
            .arg(latency_ms.to_string());
        if let Some(seed) = fault_seed {
            command.arg(seed.to_string());
        }
        let mut child = command
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

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// `GET /sandbox/counters`: the server's counters (requests by endpoint, faults,
    /// tokens issued, codes received, stored and duplicate).
    pub fn counters(&self) -> Res<Counters> {
        let transport =
            card_transport::UreqTransport::new(card_transport::TransportConfig::default());
        let request =
            http::Request::get(format!("{}/sandbox/counters", self.base)).body(Vec::new())?;
        let response = card_transport::BlockingTransport::send(&transport, request)?;
        let v: serde_json::Value = serde_json::from_slice(response.body())?;
        let n = |path: &str| {
            v.pointer(path)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        Ok(Counters {
            requests: n("/requests"),
            api_calls: n("/api_calls"),
            errors_answered: n("/errors_answered"),
            token_fetches: n("/requests_by_endpoint/~1cgi-bin~1token"),
            deposit_requests: n("/requests_by_endpoint/~1card~1code~1deposit"),
            check_requests: n("/requests_by_endpoint/~1card~1code~1checkcode"),
            count_requests: n("/requests_by_endpoint/~1card~1code~1getdepositcount"),
            tokens_issued: n("/tokens_issued"),
            token_expired: n("/faults/token_expired"),
            system_busy: n("/faults/system_busy"),
            rate_limited: n("/faults/rate_limited"),
            codes_received: n("/codes_received"),
            codes_stored: n("/codes_stored"),
            codes_duplicate: n("/codes_duplicate"),
        })
    }

    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The sandbox's counters that the benchmark reports (from `GET /sandbox/counters`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Every request (admin routes included).
    pub requests: u64,
    /// Requests that carried an access token.
    pub api_calls: u64,
    /// Answers with a non-zero errcode (42001 to a token already killed included).
    pub errors_answered: u64,
    /// Requests to `/cgi-bin/token`.
    pub token_fetches: u64,
    pub deposit_requests: u64,
    pub check_requests: u64,
    pub count_requests: u64,
    pub tokens_issued: u64,
    /// Tokens killed with 42001.
    pub token_expired: u64,
    /// -1 answers.
    pub system_busy: u64,
    /// 45009 answers.
    pub rate_limited: u64,
    /// Codes in applied deposit calls.
    pub codes_received: u64,
    pub codes_stored: u64,
    /// Codes sent again after the server had stored them.
    pub codes_duplicate: u64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, b: Counters) -> Counters {
        Counters {
            requests: self.requests - b.requests,
            api_calls: self.api_calls - b.api_calls,
            errors_answered: self.errors_answered - b.errors_answered,
            token_fetches: self.token_fetches - b.token_fetches,
            deposit_requests: self.deposit_requests - b.deposit_requests,
            check_requests: self.check_requests - b.check_requests,
            count_requests: self.count_requests - b.count_requests,
            tokens_issued: self.tokens_issued - b.tokens_issued,
            token_expired: self.token_expired - b.token_expired,
            system_busy: self.system_busy - b.system_busy,
            rate_limited: self.rate_limited - b.rate_limited,
            codes_received: self.codes_received - b.codes_received,
            codes_stored: self.codes_stored - b.codes_stored,
            codes_duplicate: self.codes_duplicate - b.codes_duplicate,
        }
    }
}
