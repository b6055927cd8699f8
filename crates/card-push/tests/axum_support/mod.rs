//! The axum test binaries' shared server and client helpers.

use card_model::event::{Event, UserGetCard};
use card_push::axum::PushService;
use card_push::testing::PushRequest;
use card_push::{Push, PushConfig};
use tokio::sync::mpsc;

/// Serves `service` at `/wechat` on an ephemeral loopback port; the URL of the path.
pub async fn serve(service: PushService) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, service.router("/wechat"))
            .await
            .unwrap();
    });
    format!("http://{addr}/wechat")
}

/// A service whose function reports each event's card on a channel.
pub fn recording(config: PushConfig) -> (PushService, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let service = PushService::new(config, move |push: Push| {
        let tx = tx.clone();
        async move {
            tx.send(push.into_event()).map_err(|_| "receiver gone")?;
            Ok::<(), &'static str>(())
        }
    });
    (service, rx)
}

/// How long a test waits for an answer or a handled push before it fails (rather than
/// hangs when the endpoint never answers).
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn post(url: &str, request: &PushRequest) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}?{}", request.query_string()))
        .body(request.body().to_owned())
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub fn claim(card: &str, code: &str) -> UserGetCard {
    let mut c = UserGetCard::new("gh_1", "oSameUser", 1_700_000_000, card);
    c.user_card_code = Some(code.to_owned());
    c
}
