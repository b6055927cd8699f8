//! Receiving a push: what the handler of your callback URL does with one request from
//! WeChat in safe (encrypted) mode, the mode most accounts run in. The push comes from the
//! in-process sandbox, as WeChat would send it when a user claims a card:
//!
//! ```text
//! cargo run -p wxcard --features sandbox --example parse_push
//! ```
//!
//! `PushConfig::open` checks the signature, decrypts, checks the AppID and parses the
//! event; a de-duplication store skips WeChat's retries of a push already handled; the
//! answer `success` stops the retries. (In an axum server, the `push-axum` feature's
//! `PushService` does all of this for you.)

use wxcard::Event;
use wxcard::push::testing::PushRequest;
use wxcard::push::{
    DEFAULT_DEDUP_TTL, DedupStore, EncodingAesKey, MemoryDedupStore, PushConfig, PushQuery,
    SUCCESS, Token,
};
use wxcard::sandbox::{CardSpec, Claim, Sandbox};

/// The callback settings of the MP console (Token, EncodingAESKey) and the AppID.
const CALLBACK_TOKEN: &str = "callback-token";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::new();
    let config = PushConfig::safe(
        Token::new(CALLBACK_TOKEN)?,
        EncodingAesKey::new(ENCODING_AES_KEY)?,
        sandbox.appid(),
    )?;
    let seen = MemoryDedupStore::default();

    // What arrives, as WeChat sends it: a query (timestamp, nonce, msg_signature) and an
    // encrypted XML body.
    let card_id = sandbox.create_card(CardSpec::new())?;
    let event = sandbox.user_get_card_event(
        &Claim::new(&card_id, "SPRING000001")
            .openid("oUserWhoScanned00000000000000")
            .outer_str("spring-poster"),
    )?;
    let request = PushRequest::for_xml(&config, &event)?;

    // WeChat retries a push it got no answer to within 5 s: deliver this one twice.
    for delivery in 1..=2 {
        println!("delivery {delivery}");
        let answer = handle(&config, &seen, &request)?;
        println!("  answered {answer:?}");
    }
    Ok(())
}

/// The callback URL's handler: open the push, skip a retry, act on the event, answer.
fn handle(
    config: &PushConfig,
    seen: &MemoryDedupStore,
    request: &PushRequest,
) -> Result<&'static str, Box<dyn std::error::Error>> {
    let query = PushQuery::parse(request.query_string())?;
    // Refused (a typed error, answered 401/400 by a web server) unless it is from WeChat.
    let push = config.open(&query, request.body().as_bytes())?;
    if !seen.first_seen(push.dedup_key(), DEFAULT_DEDUP_TTL)? {
        println!("  a retry of a push already handled: skipped");
        return Ok(SUCCESS);
    }
    match push.event() {
        Event::UserGetCard(claim) => {
            println!("  user_get_card");
            println!("    user     {}", claim.from_user_name);
            println!("    card     {}", claim.card_id);
            println!(
                "    code     {}",
                claim.user_card_code.as_deref().unwrap_or("-")
            );
            println!("    channel  {}", claim.outer_str.as_deref().unwrap_or("-"));
            println!("    at       {}", claim.create_time);
        }
        other => println!("  another event: {other:?}"),
    }
    Ok(SUCCESS)
}
