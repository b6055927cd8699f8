//! `wxcard sandbox serve`: the card sandbox as a loopback HTTP server.

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::output::Output;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use wxcard::AppSecret;
use wxcard::sandbox::{CardSpec, FaultConfig, Sandbox};

/// The sandbox the flags describe.
fn sandbox(args: &ServeArgs) -> Result<Sandbox, CliError> {
    let mut builder = Sandbox::builder();
    if let Some(appid) = &args.accept_appid {
        builder = builder.appid(appid);
    }
    if let Some(path) = &args.accept_secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io("reading", path, e))?;
        if text.trim().is_empty() {
            return Err(CliError::Usage(format!("{} is empty", path.display())));
        }
        builder = builder.secret(AppSecret::new(text.trim()));
    }
    let mut faults = FaultConfig::seeded(args.seed);
    if let Some(n) = args.busy_one_in {
        faults = faults.system_busy(FaultConfig::one_in(n));
    }
    if let Some(n) = args.rate_limited_one_in {
        faults = faults.rate_limited(FaultConfig::one_in(n));
    }
    if let Some(n) = args.drop_one_in {
        faults = faults.drop_before_effect(FaultConfig::one_in(n));
    }
    if let Some(n) = args.expire_token_every {
        faults = faults.expire_token_every(n);
    }
    if let Some(ms) = args.latency_ms {
        faults = faults.latency(Duration::from_millis(ms), Duration::ZERO);
    }
    Ok(builder.faults(faults).build())
}

/// Serves until the process is killed.
pub fn serve(args: &ServeArgs, out: &Output) -> Result<i32, CliError> {
    let sandbox = sandbox(args)?;
    let mut cards = Vec::new();
    for id in &args.cards {
        let id = sandbox
            .create_card(CardSpec::deposit_mode().card_id(id))
            .map_err(|e| CliError::Input(format!("--card {id:?}: {e}")))?;
        cards.push(json!({"card_id": id, "kind": "deposit mode"}));
    }
    if args.demo_cards {
        let plain = sandbox
            .create_card(CardSpec::new())
            .map_err(|e| CliError::Local(e.to_string()))?;
        let deposit = sandbox
            .create_card(CardSpec::deposit_mode())
            .map_err(|e| CliError::Local(e.to_string()))?;
        cards.push(json!({"card_id": plain, "kind": "plain, stock 100"}));
        cards.push(json!({"card_id": deposit, "kind": "deposit mode"}));
    }
    let server =
        wxcard::sandbox::serve(sandbox.clone(), ("127.0.0.1", args.port)).map_err(|e| {
            CliError::io(
                "listening on",
                Path::new(&format!("127.0.0.1:{}", args.port)),
                e,
            )
        })?;
    // The default secret is a published test value; a secret read from a file is not
    // echoed.
    let secret = if sandbox.secret().expose() == Sandbox::DEFAULT_SECRET {
        Sandbox::DEFAULT_SECRET
    } else {
        "(as read from --accept-secret-file)"
    };
    out.print(
        &json!({"base_url": server.base_url(), "port": server.port(),
                "appid": sandbox.appid(), "secret": secret, "cards": cards}),
        || {
            let mut s = format!(
                "card sandbox listening on {}\nappid   {}\nsecret  {secret}\n",
                server.base_url(),
                sandbox.appid()
            );
            for c in &cards {
                s.push_str(&format!(
                    "card    {} ({})\n",
                    c["card_id"].as_str().unwrap_or(""),
                    c["kind"].as_str().unwrap_or("")
                ));
            }
            s.push_str("Ctrl-C stops it.\n");
            s
        },
    );
    if let Some(path) = &args.port_file {
        // Written whole, then renamed: a reader never sees a partial port.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", server.port()))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| CliError::io("writing the port file", path, e))?;
    }
    loop {
        std::thread::park();
    }
}
