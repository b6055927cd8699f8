//! `wxcard sandbox serve`: the card sandbox as a loopback HTTP server.

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::output::Output;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use wxcard::AppSecret;
use wxcard::push::{EncodingAesKey, PushConfig, Token};
use wxcard::sandbox::{CardSpec, FaultConfig, PushTarget, Sandbox};

/// The sandbox the flags describe.
fn sandbox(args: &ServeArgs) -> Result<Sandbox, CliError> {
    let mut builder = Sandbox::builder();
    if let Some(appid) = &args.accept_appid {
        builder = builder.appid(appid);
    }
    if let Some(path) = &args.accept_secret_file {
        let text =
            crate::target::read_small_file(path).map_err(|e| CliError::io("reading", path, e))?;
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
    if let Some(n) = args.busy_every {
        faults = faults.system_busy_every(n);
    }
    if let Some(n) = args.rate_limited_every {
        faults = faults.rate_limited_every(n);
    }
    let sandbox = builder.faults(faults).build();
    if let Some(target) = push_target(args, &sandbox.appid())? {
        sandbox.set_push_target(Some(target));
    }
    Ok(sandbox)
}

/// The push target the flags describe (none without `--push-url`).
fn push_target(args: &ServeArgs, appid: &str) -> Result<Option<PushTarget>, CliError> {
    let Some(url) = &args.push_url else {
        return Ok(None);
    };
    // The message names the flag, never the value (which is a secret).
    let bad = |what: &str, e: &dyn std::fmt::Display| CliError::Usage(format!("{what}: {e}"));
    let token = args.push_token.as_ref().ok_or_else(|| {
        CliError::Usage("--push-url needs --push-token (or CARD_SANDBOX_PUSH_TOKEN)".to_owned())
    })?;
    let token = Token::new(token.0.as_str()).map_err(|e| bad("--push-token", &e))?;
    let config = match &args.push_aes_key {
        None => PushConfig::plain(token),
        Some(key) => {
            let key = EncodingAesKey::new(&key.0).map_err(|e| bad("--push-aes-key", &e))?;
            PushConfig::safe(token, key, appid).map_err(|e| bad("--push-aes-key", &e))?
        }
    };
    PushTarget::new(url, config)
        .map(Some)
        .map_err(|e| bad("--push-url", &e))
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
                "appid": sandbox.appid(), "secret": secret, "cards": cards,
                "push_url": args.push_url}),
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
            if let Some(url) = &args.push_url {
                let mode = if args.push_aes_key.is_some() {
                    "safe"
                } else {
                    "plain"
                };
                s.push_str(&format!("pushes  {url} ({mode} mode)\n"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, SandboxCommand};
    use clap::Parser as _;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn args(extra: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["wxcard", "sandbox", "serve"].iter().chain(extra))
            .expect("the flags parse");
        match cli.command {
            Command::Sandbox(SandboxCommand::Serve(args)) => args,
            _ => unreachable!("sandbox serve"),
        }
    }

    #[test]
    fn push_flags_make_a_plain_or_safe_target_and_never_show_their_secrets() {
        let none = args(&[]);
        assert!(push_target(&none, "wxAPP").unwrap().is_none());

        let plain = args(&[
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
        ]);
        let target = push_target(&plain, "wxAPP").unwrap().unwrap();
        assert_eq!(target.url(), "http://127.0.0.1:9/wx");
        assert!(target.config().app_id().is_none());

        let safe = args(&[
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
            "--push-aes-key",
            KEY,
        ]);
        let target = push_target(&safe, "wxAPP").unwrap().unwrap();
        assert_eq!(target.config().app_id(), Some("wxAPP"));
        let shown = format!("{safe:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains(KEY),
            "{shown}"
        );

        let no_token = args(&["--push-url", "http://127.0.0.1:9/wx"]);
        let e = push_target(&no_token, "wxAPP").unwrap_err().to_string();
        assert!(e.contains("--push-token"), "{e}");

        let bad_key = "not-a-key-SECRET-9f8e";
        let bad = args(&[
            "--push-url",
            "http://127.0.0.1:9/wx",
            "--push-token",
            "tok-123",
            "--push-aes-key",
            bad_key,
        ]);
        let e = push_target(&bad, "wxAPP").unwrap_err().to_string();
        assert!(e.contains("--push-aes-key") && !e.contains(bad_key), "{e}");
    }
}
