//! Receiving a push: checks the signature WeChat puts in the callback URL's query, then
//! parses the `user_get_card` event in the body. The push comes from the in-process
//! sandbox, as WeChat would send it when a user claims a card:
//!
//! ```text
//! cargo run -p wxcard --features sandbox --example parse_push
//! ```
//!
//! In a web server, run the same two steps in the handler of your callback URL, then
//! answer `success` (or an empty body) so that WeChat stops retrying.

use wxcard::sandbox::{CardSpec, Claim, Sandbox};
use wxcard::{Event, callback_signature, parse_event, verify_callback_signature};

/// The Token configured for the callback URL in the MP console.
const CALLBACK_TOKEN: &str = "callback-token";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::new();
    let card_id = sandbox.create_card(CardSpec::new())?;

    // What arrives: a query with timestamp, nonce and signature, and an XML body.
    let (timestamp, nonce) = ("1714036504", "1514711492");
    let signature = callback_signature(CALLBACK_TOKEN, timestamp, nonce);
    let body = sandbox.user_get_card_event(
        &Claim::new(&card_id, "SPRING000001")
            .openid("oUserWhoScanned00000000000000")
            .outer_str("spring-poster"),
    )?;

    // 1. Only WeChat knows the Token: refuse a push whose signature does not match.
    if !verify_callback_signature(CALLBACK_TOKEN, timestamp, nonce, &signature) {
        return Err("not from WeChat".into());
    }

    // 2. Parse the event (bounded in size and depth; never panics on bad input).
    match parse_event(body.as_bytes())? {
        Event::UserGetCard(claim) => {
            println!("user_get_card");
            println!("  user     {}", claim.from_user_name);
            println!("  card     {}", claim.card_id);
            println!(
                "  code     {}",
                claim.user_card_code.as_deref().unwrap_or("-")
            );
            println!("  channel  {}", claim.outer_str.as_deref().unwrap_or("-"));
            println!("  at       {}", claim.create_time);
        }
        other => println!("another event: {other:?}"),
    }
    Ok(())
}
