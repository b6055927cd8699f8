//! The sandbox server, in a child process (this binary with `--serve-sandbox`), so that
//! the peak RSS printed is the client's alone and not inflated by the codes the sandbox
//! stores.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use card_sandbox::{CardSpec, Sandbox, serve};

use crate::Res;

/// `--serve-sandbox N MS`: serve a fresh sandbox (every API call delayed by `MS` ms) on
/// 127.0.0.1:0 with `N` deposit-mode cards and one plain card; print
/// `base_url token qr_card card...` on one line; exit when stdin closes (the parent
/// ended).
pub fn serve_sandbox(cards: usize, latency_ms: u64) -> Res<()> {
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

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
