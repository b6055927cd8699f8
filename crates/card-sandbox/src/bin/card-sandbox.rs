//! Serves the card sandbox over HTTP/1.1 on a loopback port.
//!
//! `cargo run -p card-sandbox -- --port 18080`, then point any client at
//! `http://127.0.0.1:18080` with the printed AppID and AppSecret.

use card_model::AppSecret;
use card_sandbox::{CardSpec, FaultConfig, Sandbox, serve};
use std::time::Duration;

const USAGE: &str = "\
card-sandbox: an offline stand-in for WeChat's card-distribution API, over HTTP on loopback.

USAGE: card-sandbox [OPTIONS]

OPTIONS:
  --port N                   port on 127.0.0.1 (default 18080; 0 picks a free one)
  --appid ID                 AppID the token endpoint accepts
  --secret SECRET            AppSecret the token endpoint accepts
  --token-grace SECS         validity of a superseded token (default 300)
  --seed N                   seed of the fault PRNG (default 0)
  --expire-token-every N     every N-th API call answers 42001 and kills its token
  --busy-one-in N            answer -1 on about 1 call in N
  --rate-limited-one-in N    answer 45009 on about 1 call in N
  --drop-one-in N            drop the connection before processing on about 1 call in N
  --latency-ms N             add N ms to every API call
  --demo-cards               create a plain card and a deposit-mode card at start
  -h, --help                 this text

Admin routes: POST /sandbox/cards, POST /sandbox/clock, POST /sandbox/events/user_get_card,
GET /sandbox/state (see the card-sandbox crate docs).";

fn main() {
    if let Err(e) = run() {
        eprintln!("card-sandbox: {e}\n\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 18080;
    let mut builder = Sandbox::builder();
    let mut faults = FaultConfig::seeded(0);
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--port" => port = value()?.parse()?,
            "--appid" => builder = builder.appid(value()?),
            "--secret" => builder = builder.secret(AppSecret::new(value()?)),
            "--token-grace" => builder = builder.token_grace(value()?.parse()?),
            "--seed" => faults.seed = value()?.parse()?,
            "--expire-token-every" => faults = faults.expire_token_every(value()?.parse()?),
            "--busy-one-in" => faults = faults.system_busy(FaultConfig::one_in(value()?.parse()?)),
            "--rate-limited-one-in" => {
                faults = faults.rate_limited(FaultConfig::one_in(value()?.parse()?));
            }
            "--drop-one-in" => {
                faults = faults.drop_before_effect(FaultConfig::one_in(value()?.parse()?));
            }
            "--latency-ms" => {
                faults = faults.latency(Duration::from_millis(value()?.parse()?), Duration::ZERO);
            }
            "--demo-cards" => demo = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let sandbox = builder.faults(faults).build();
    let server = serve(sandbox.clone(), ("127.0.0.1", port))?;
    println!("card-sandbox listening on {}", server.base_url());
    println!("appid  {}", sandbox.appid());
    // The default secret is a published test value, so printing it is the point; a secret
    // given with --secret is not echoed.
    if sandbox.secret().expose() == Sandbox::DEFAULT_SECRET {
        println!("secret {}", Sandbox::DEFAULT_SECRET);
    } else {
        println!("secret (as given with --secret)");
    }
    if demo {
        let plain = sandbox.create_card(CardSpec::new())?;
        let deposit = sandbox.create_card(CardSpec::deposit_mode())?;
        println!("card   {plain} (non-custom-code, stock 100)");
        println!("card   {deposit} (custom code, deposit mode, stock 0)");
    }
    loop {
        std::thread::park();
    }
}
