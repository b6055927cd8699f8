//! The async client over a closure transport: single-flight refresh and a shared
//! failure, counted at the transport.
#![cfg(feature = "async")]

use card_api::{AsyncClient, ManualClock};
use card_model::AppSecret;
use card_model::token::GetCardApiTicket;
use card_transport::{HttpRequest, HttpResponse, async_fn};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A client whose token endpoint answers `token_body` slowly and counts its calls; the
/// ticket endpoint always succeeds.
fn client(
    token_body: &'static str,
    fetches: &Arc<AtomicUsize>,
    clock: Arc<ManualClock>,
) -> AsyncClient {
    let fetches = Arc::clone(fetches);
    let transport = async_fn(move |req: HttpRequest| {
        let fetches = Arc::clone(&fetches);
        async move {
            let body = if req.uri().path() == "/cgi-bin/token" {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                token_body
            } else {
                r#"{"errcode":0,"ticket":"TICKET","expires_in":7200}"#
            };
            Ok(HttpResponse::new(body.as_bytes().to_vec()))
        }
    });
    AsyncClient::builder()
        .base_url("http://127.0.0.1:9")
        .app_credentials("wxAPP", AppSecret::new("SECRET"))
        .clock(clock)
        .transport(transport)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_fetch_once_and_refetch_after_expiry() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let client = client(
        r#"{"access_token":"T","expires_in":7200}"#,
        &fetches,
        clock.clone(),
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call(&GetCardApiTicket).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(7200));
    client.call(&GetCardApiTicket).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_queued_behind_a_failed_refresh_share_its_error() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let client = client(
        r#"{"errcode":40013,"errmsg":"invalid appid"}"#,
        &fetches,
        clock,
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call(&GetCardApiTicket).await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert_eq!(e.errcode(), Some(card_model::ErrCode::InvalidAppId));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}
