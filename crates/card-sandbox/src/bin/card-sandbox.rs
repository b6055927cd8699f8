//! Serves the card sandbox over HTTP/1.1 on a loopback port.
//!
//! `cargo run -p card-sandbox -- --port 18080`, then point any client at
//! `http://127.0.0.1:18080` with the printed AppID and AppSecret. `--port 0 --port-file F`
//! picks a free port and writes it to `F`; SIGTERM or Ctrl-C stops the server cleanly.
//! The admin routes (`/sandbox/...`) are described in the crate's README. The flags are
//! [`card_sandbox::ServeArgs`], the same as `wxcard sandbox serve`'s.

use card_sandbox::ServeArgs;
use clap::Parser;

/// card-sandbox: an offline stand-in for WeChat's card-distribution API, over HTTP on
/// loopback.
#[derive(Parser)]
#[command(
    version,
    after_help = "Admin routes: /sandbox/reset, /sandbox/cards, /sandbox/faults, \
/sandbox/counters, /sandbox/sends, /sandbox/clock, /sandbox/events/user_get_card, \
/sandbox/state, /sandbox/push_target, /sandbox/pushes, /sandbox/pushes/redeliver (see the \
card-sandbox README)."
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.serve.run() {
        eprintln!("card-sandbox: {e}");
        let code = match e {
            card_sandbox::ServeError::Usage(_) => 2,
            _ => 1,
        };
        std::process::exit(code);
    }
}
