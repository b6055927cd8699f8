//! A push receiver on loopback, in safe mode.
//!
//! Run alone, it starts the server on an ephemeral loopback port, sends itself a signed
//! and encrypted `user_get_card` push (and a retry of it), prints what the handler saw,
//! and exits:
//!
//! ```text
//! cargo run -p card-push --features axum --example receive_pushes
//! ```
//!
//! With `--serve ADDR` (a loopback address such as `127.0.0.1:8080`) it keeps serving,
//! so that a sandbox can push to `http://ADDR/wechat` with the same Token, key and AppID:
//!
//! ```text
//! cargo run -p card-push --features axum --example receive_pushes -- --serve 127.0.0.1:8080
//! # in another terminal: the sandbox, pushing to it in safe mode
//! cargo run -p card-sandbox -- --port 18080 --appid wx2c2769f8efd9abc2 \
//!     --push-url http://127.0.0.1:8080/wechat --push-token example-token \
//!     --push-aes-key abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
//! curl -s -X POST localhost:18080/sandbox/cards -d '{}'      # answers a card_id
//! curl -s -X POST localhost:18080/sandbox/events/user_get_card \
//!     -d '{"card_id": "CARD_ID", "code": "226009850808", "outer_id": 7}'
//! curl -s localhost:18080/sandbox/pushes                     # delivered, HTTP 200
//! curl -s -X POST localhost:18080/sandbox/pushes/redeliver -d '{"id": 1}'   # skipped as a duplicate
//! ```

use std::time::Duration;

use card_model::event::{Event, UserGetCard};
use card_push::axum::PushService;
use card_push::testing::PushRequest;
use card_push::{EncodingAesKey, Push, PushConfig, Token};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = PushConfig::safe(
        Token::new("example-token")?,
        EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
        "wx2c2769f8efd9abc2",
    )?
    .with_max_age(Duration::from_secs(300));

    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<String>();
    let service = PushService::new(config.clone(), move |push: Push| {
        let seen = seen_tx.clone();
        async move {
            let line = match push.event() {
                Event::UserGetCard(claim) => format!(
                    "user_get_card: {} took card {} (code {}, outer_id {})",
                    claim.from_user_name,
                    claim.card_id,
                    claim.user_card_code.as_deref().unwrap_or("-"),
                    claim
                        .outer_id
                        .map_or_else(|| "-".to_owned(), |o| o.to_string()),
                ),
                other => format!(
                    "{} {}",
                    other.msg_type(),
                    other.event_type().unwrap_or_default()
                ),
            };
            println!("handler: {line}");
            seen.send(line).map_err(|_| "nobody listens")?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
    });

    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(addr)) = (args.next(), args.next()) {
        if flag == "--serve" {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("serving pushes at http://{}/wechat", listener.local_addr()?);
            axum::serve(listener, service.router("/wechat")).await?;
            return Ok(());
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/wechat", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, service.router("/wechat")).await });
    println!("serving pushes at {url}");

    // What WeChat sends when a user takes a card from a QR code with outer_id 7.
    let mut claim = UserGetCard::new(
        "gh_fc0a06a20993",
        "oZI8Fj040-be6rlDohc6gkoPOQTQ",
        1_472_551_036,
        "pZI8Fjwsy5fVPRBeD78J4RmqVvBc",
    );
    claim.user_card_code = Some("226009850808".to_owned());
    claim.outer_id = Some(7);
    let request = PushRequest::for_claim(&config, &claim)?;
    let client = reqwest::Client::new();
    for attempt in ["push", "retry"] {
        let response = client
            .post(format!("{url}?{}", request.query_string()))
            .body(request.body().to_owned())
            .send()
            .await?;
        println!(
            "{attempt}: HTTP {} {:?}",
            response.status().as_u16(),
            response.text().await?
        );
    }
    let line = seen_rx.recv().await.ok_or("the handler never ran")?;
    println!("handled once: {line}");
    Ok(())
}
