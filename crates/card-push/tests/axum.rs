//! The axum endpoint over real loopback sockets, driven by a real HTTP client.

mod axum_support;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum_support::*;
use card_model::event::Event;
use card_push::Push;
use card_push::axum::PushService;
use card_push::testing::{PushRequest, verification_query};
use common::*;
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn verification_answers_echostr_only_when_signed() {
    let config = safe();
    let (service, _rx) = recording(config.clone());
    let url = serve(service).await;
    let client = reqwest::Client::new();
    let q = verification_query(&config, 1_700_000_000, "n", "echo 1");
    let r = client.get(format!("{url}?{q}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "echo 1");
    let bad = q.replace("signature=", "signature=0");
    let r = client.get(format!("{url}?{bad}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.text().await.unwrap(), "");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn cards_taken_in_the_same_second_all_arrive_and_repeats_do_not() {
    for config in [plain(), safe(), compatible()] {
        let (service, mut rx) = recording(config.clone());
        let url = serve(service).await;
        let claims = [claim("p1", "111"), claim("p2", "222"), claim("p3", "333")];
        let requests: Vec<PushRequest> = claims
            .iter()
            .map(|c| PushRequest::for_claim(&config, c).unwrap())
            .collect();
        for r in &requests {
            assert_eq!(post(&url, r).await, (200, "success".to_owned()));
        }
        // WeChat's retry of the first: the same request again, and the same push signed
        // with another nonce (as a retry may be).
        assert_eq!(post(&url, &requests[0]).await, (200, "success".to_owned()));
        let resigned = PushRequest::for_claim(&config, &claims[0]).unwrap();
        assert_eq!(post(&url, &resigned).await, (200, "success".to_owned()));
        let mut got = Vec::new();
        while let Ok(event) = rx.try_recv() {
            got.push(event);
        }
        let want: Vec<Event> = claims.iter().cloned().map(Event::from).collect();
        assert_eq!(got, want, "{:?}", config.mode());
    }
}

#[tokio::test]
async fn refusals_have_their_status_and_no_detail() {
    let config = safe().with_max_body_bytes(2048);
    let (service, mut rx) = recording(config.clone());
    let url = serve(service).await;
    let good = PushRequest::for_claim(&config, &claim("p1", "1")).unwrap();
    // Wrong signature: 401, empty body.
    let forged = good
        .query_string()
        .replace("msg_signature=", "msg_signature=f");
    let r = reqwest::Client::new()
        .post(format!("{url}?{forged}"))
        .body(good.body().to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.text().await.unwrap(), "");
    // Over-size: 413.
    let big = "<xml>".to_owned() + &" ".repeat(4096) + "</xml>";
    let r = reqwest::Client::new()
        .post(format!("{url}?{}", good.query_string()))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Undecryptable (signed, but the padding is wrong): 400.
    let mut plaintext = vec![0u8; 64];
    *plaintext.last_mut().unwrap() = 0;
    let (q, b) = signed_envelope(&encrypt_raw(KEY, &plaintext));
    let r = reqwest::Client::new()
        .post(format!("{url}?{q}"))
        .body(b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.text().await.unwrap(), "");
    assert!(
        rx.try_recv().is_err(),
        "no refused push reaches the function"
    );
    assert_eq!(post(&url, &good).await, (200, "success".to_owned()));
    assert!(rx.try_recv().is_ok());
}

#[tokio::test]
async fn a_slow_function_still_gets_a_reply_and_runs_to_the_end() {
    let config = safe();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let service = PushService::new(config.clone(), move |push: Push| {
        let release = release_rx.lock().unwrap().take();
        let done = done_tx.clone();
        async move {
            if let Some(release) = release {
                // Blocked until the test says so.
                let _ = release.await;
            }
            let Event::UserGetCard(c) = push.into_event() else {
                return Err("not a claim".into());
            };
            done.send(c.card_id).map_err(|_| "receiver gone")?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
    })
    .with_reply_within(Duration::from_millis(200));
    let url = serve(service).await;
    let r = PushRequest::for_claim(&config, &claim("pSlow", "1")).unwrap();
    // The reply arrives while the function is still blocked on the signal.
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    assert!(
        done_rx.try_recv().is_err(),
        "the function has not finished yet"
    );
    // A retry meanwhile is a duplicate: not run again.
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    release_tx.send(()).unwrap();
    assert_eq!(done_rx.recv().await.as_deref(), Some("pSlow"));
    assert!(done_rx.try_recv().is_err());
}

#[tokio::test]
async fn a_failed_function_is_retried() {
    let config = plain();
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let service = PushService::new(config.clone(), move |_push: Push| {
        let counter = counter.clone();
        async move {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n == 1 {
                return Err("database down");
            }
            Ok(())
        }
    });
    let url = serve(service).await;
    let r = PushRequest::for_claim(&config, &claim("p1", "1")).unwrap();
    assert_eq!(post(&url, &r).await.0, 500);
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_panicking_function_is_answered_500_and_retried() {
    let config = plain();
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let service = PushService::new(config.clone(), move |_push: Push| {
        let first = {
            let mut n = counter.lock().unwrap();
            *n += 1;
            *n == 1
        };
        async move {
            assert!(!first, "the handler's first run fails hard");
            Ok::<(), std::io::Error>(())
        }
    });
    let url = serve(service).await;
    let r = PushRequest::for_claim(&config, &claim("p1", "1")).unwrap();
    assert_eq!(post(&url, &r).await.0, 500);
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    assert_eq!(*calls.lock().unwrap(), 2);
}
