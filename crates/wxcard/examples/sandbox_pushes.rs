//! The whole push loop on one machine: the sandbox, served over HTTP on loopback, pushes
//! each claim (signed and encrypted, in safe mode) to your axum push receiver, which
//! verifies, decrypts and de-duplicates it before your function sees the typed event.
//!
//! ```text
//! cargo run -p wxcard --features sandbox,push-axum --example sandbox_pushes
//! ```
//!
//! The same with the sandbox binary and any receiver of yours (for example
//! `cargo run -p card-push --features axum --example receive_pushes -- --serve 127.0.0.1:8080`):
//!
//! ```text
//! cargo run -p card-sandbox -- --port 18080 --appid wx2c2769f8efd9abc2 \
//!     --push-url http://127.0.0.1:8080/wechat --push-token example-token \
//!     --push-aes-key abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
//! curl -s -X POST localhost:18080/sandbox/cards -d '{}'
//! curl -s -X POST localhost:18080/sandbox/events/user_get_card -d '{"card_id": "…", "code": "1234", "outer_id": 7}'
//! curl -s localhost:18080/sandbox/pushes
//! ```

use std::time::Duration;

use wxcard::Event;
use wxcard::push::axum::PushService;
use wxcard::push::{EncodingAesKey, Push, PushConfig, Token};
use wxcard::sandbox::{CardSpec, Claim, PushOutcome, PushTarget, Sandbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Your callback configuration, as set in the WeChat admin console.
    let config = || -> Result<PushConfig, Box<dyn std::error::Error>> {
        Ok(PushConfig::safe(
            Token::new("example-token")?,
            EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
            Sandbox::DEFAULT_APPID,
        )?
        .with_max_age(Duration::from_secs(300)))
    };

    // Your receiver: a PushService mounted at /wechat on a loopback port.
    let runtime = tokio::runtime::Runtime::new()?;
    let service = PushService::new(config()?, |push: Push| async move {
        if let Event::UserGetCard(claim) = push.event() {
            println!(
                "handler: {} took card {} (code {}, outer_id {})",
                claim.from_user_name,
                claim.card_id,
                claim.user_card_code.as_deref().unwrap_or("-"),
                claim.outer_id.unwrap_or_default(),
            );
        }
        Ok::<(), std::convert::Infallible>(())
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/wechat", listener.local_addr()?);
    runtime.spawn(async move { axum::serve(listener, service.router("/wechat")).await });
    println!("receiver at {url}");

    // The sandbox pushes there.
    let sandbox = Sandbox::builder()
        .push_target(PushTarget::new(&url, config()?)?)
        .build();
    let card_id = sandbox.create_card(CardSpec::new())?;
    let record = sandbox.push_claim(&Claim::new(&card_id, "SPRING000001").outer_id(7))?;
    println!(
        "push {}: {:?} after {} try(s)",
        record.id,
        record.outcome,
        record.attempts.len()
    );
    if !matches!(record.outcome, PushOutcome::Delivered { .. }) {
        return Err("the push was not delivered".into());
    }
    Ok(())
}
