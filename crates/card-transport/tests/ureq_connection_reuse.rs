//! The blocking backend over kept-alive connections (the host is looked up only when a
//! connection is opened, and a request's head and body go out in one write): the
//! whole-exchange timeout still fires on a reused connection, the connect timeout on a
//! new one, and bodies of any size arrive whole and in order.
#![cfg(feature = "blocking")]

mod common;

use std::time::Duration;

use card_transport::{BlockingTransport, TransportConfig, TransportErrorKind, UreqTransport};
use common::{FullListener, request};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A server answering `/fast` at once and `/slow` after 2 s.
async fn fast_and_slow() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/fast"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"errcode":0}"#))
        .mount(&server)
        .await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    server
}

fn transport(connect_timeout: Duration, timeout: Duration) -> UreqTransport {
    UreqTransport::new(TransportConfig {
        connect_timeout,
        timeout,
        ..TransportConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_exchange_timeout_fires_on_a_kept_alive_connection() {
    let server = fast_and_slow().await;
    let base = server.uri();
    let t = transport(Duration::from_secs(5), Duration::from_millis(300));
    let outcome = tokio::task::spawn_blocking(move || {
        let fast = || t.send(request("POST", &format!("{base}/fast"), "{}"));
        for _ in 0..5 {
            assert_eq!(fast().expect("fast answer").status(), 200);
        }
        let slow = t.send(request("POST", &format!("{base}/slow"), "{}"));
        // The transport still works afterwards (on a new connection).
        let after = fast().expect("fast answer after the timeout").status();
        (slow, after)
    })
    .await
    .expect("blocking task");
    let error = outcome.0.expect_err("the slow answer times out");
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error:?}");
    assert!(error.maybe_sent());
    assert_eq!(outcome.1, 200);
    assert_eq!(server.received_requests().await.unwrap().len(), 7);
}

#[cfg_attr(
    not(target_os = "linux"),
    ignore = "relies on Linux dropping SYNs to a full accept queue"
)]
#[tokio::test(flavor = "multi_thread")]
async fn the_connect_timeout_fires_for_a_new_connection_after_kept_alive_requests() {
    let server = fast_and_slow().await;
    let base = server.uri();
    let listener = FullListener::new();
    let full = format!("http://{}/card/get?access_token=SECRET-T", listener.addr());
    let t = transport(Duration::from_millis(200), Duration::from_secs(30));
    let error = tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            let answer = t.send(request("POST", &format!("{base}/fast"), "{}"));
            assert_eq!(answer.expect("fast answer").status(), 200);
        }
        t.send(request("POST", &full, "{}"))
    })
    .await
    .expect("blocking task")
    .expect_err("connect timeout");
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error:?}");
    assert!(!error.maybe_sent());
    let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<ureq::Error>());
    assert!(
        matches!(source, Some(ureq::Error::Timeout(ureq::Timeout::Connect))),
        "{error:?}"
    );
    assert!(!format!("{error:?}").contains("SECRET-T"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_smaller_and_larger_than_the_write_buffer_arrive_whole_and_in_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/echo"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"errcode":0}"#))
        .mount(&server)
        .await;
    // ureq writes through a 128 KiB buffer: bodies below, at and far above it.
    let sizes = [
        0,
        10,
        4_000,
        128 * 1024 - 300,
        128 * 1024,
        300_000,
        1_000_000,
    ];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(n, &size)| (0..size).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect())
        .collect();
    let url = format!("{}/echo", server.uri());
    let t = transport(Duration::from_secs(5), Duration::from_secs(30));
    let sent = bodies.clone();
    tokio::task::spawn_blocking(move || {
        for body in sent {
            let answer = t.send(request("POST", &url, body)).expect("answer");
            assert_eq!(answer.status(), 200);
        }
    })
    .await
    .expect("blocking task");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), bodies.len());
    for (got, want) in received.iter().zip(&bodies) {
        assert_eq!(got.body.len(), want.len());
        assert!(
            got.body == *want,
            "a body of {} bytes arrived changed",
            want.len()
        );
    }
}
