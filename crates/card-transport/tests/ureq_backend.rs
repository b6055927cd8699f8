//! The blocking backend (ureq) against wiremock and hand-written loopback servers.
//!
//! wiremock needs a tokio runtime: each test runs the server on a multi-threaded runtime
//! and calls the blocking transport from `spawn_blocking`.
#![cfg(feature = "blocking")]

mod common;

use std::time::Duration;

use card_transport::{BlockingTransport, TransportConfig, TransportErrorKind, UreqTransport};
use common::{
    FullListener, chunked_response, closed_port, raw_server, request, tls_alert_server,
    truncated_response,
};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn transport(max_response_bytes: u64, timeout: Duration) -> UreqTransport {
    UreqTransport::new(TransportConfig {
        connect_timeout: Duration::from_secs(5),
        timeout,
        max_response_bytes,
    })
}

/// Runs `f` off the runtime's worker threads, so the mock server keeps serving.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn method_path_query_and_body_arrive_intact_and_chinese_survives_both_ways() {
    let server = MockServer::start().await;
    let sent = json!({"card_id": "pFS7Fjg8kV1I", "title": "会员卡 ✓", "quantity": 3});
    Mock::given(method("POST"))
        .and(path("/card/qrcode/create"))
        .and(query_param("access_token", "TOKEN-1"))
        .and(query_param("lang", "zh_CN"))
        .and(header("content-type", "application/json"))
        .and(body_json(&sent))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"errcode":0,"errmsg":"成功"}"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let url = format!(
        "{}/card/qrcode/create?access_token=TOKEN-1&lang=zh_CN",
        server.uri()
    );
    let body = serde_json::to_vec(&sent).unwrap();
    let t = transport(1 << 20, Duration::from_secs(10));
    let response = blocking(move || t.send(request("POST", &url, body)))
        .await
        .expect("response");

    assert_eq!(response.status(), 200);
    assert_eq!(
        std::str::from_utf8(response.body()).unwrap(),
        r#"{"errcode":0,"errmsg":"成功"}"#
    );
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    // The raw bytes that arrived are the bytes sent (Chinese as raw UTF-8).
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, serde_json::to_vec(&sent).unwrap());
    assert_eq!(
        received[0].url.query(),
        Some("access_token=TOKEN-1&lang=zh_CN")
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_without_body_arrives_as_get() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .and(query_param("type", "wx_card"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/cgi-bin/ticket/getticket?type=wx_card", server.uri());
    let t = transport(1 << 20, Duration::from_secs(10));
    let response = blocking(move || t.send(request("GET", &url, Vec::new())))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let received = server.received_requests().await.unwrap();
    assert!(received[0].body.is_empty());
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_and_server_errors_come_back_as_responses() {
    let server = MockServer::start().await;
    Mock::given(path("/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("没有 not found"))
        .mount(&server)
        .await;
    Mock::given(path("/proxy"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;

    let base = server.uri();
    let t = transport(1 << 20, Duration::from_secs(10));
    let (r404, r502, r302) = blocking(move || {
        (
            t.send(request("POST", &format!("{base}/missing"), "{}")),
            t.send(request("POST", &format!("{base}/proxy"), "{}")),
            t.send(request("GET", &format!("{base}/moved"), Vec::new())),
        )
    })
    .await;

    let r404 = r404.expect("404 is a response");
    assert_eq!(r404.status(), 404);
    assert_eq!(std::str::from_utf8(r404.body()).unwrap(), "没有 not found");
    let r502 = r502.expect("502 is a response");
    assert_eq!(r502.status(), 502);
    assert_eq!(r502.body(), b"Bad Gateway");
    // Redirects are not followed.
    let r302 = r302.expect("302 is a response");
    assert_eq!(r302.status(), 302);
    assert_eq!(r302.headers().get("location").unwrap(), "/elsewhere");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_server_gives_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let url = format!("{}/slow", server.uri());
    let t = transport(1 << 20, Duration::from_millis(200));
    let error = blocking(move || t.send(request("POST", &url, "{}")))
        .await
        .expect_err("timeout");
    assert_eq!(error.kind(), TransportErrorKind::Timeout);
    assert!(error.maybe_sent());
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_connection_gives_connect() {
    let url = format!(
        "http://127.0.0.1:{}/card/get?access_token=SECRET-T",
        closed_port()
    );
    let t = transport(1 << 20, Duration::from_secs(5));
    let error = blocking(move || t.send(request("POST", &url, "{}")))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

#[cfg_attr(
    not(target_os = "linux"),
    ignore = "relies on Linux dropping SYNs to a full accept queue"
)]
#[test]
fn connect_timeout_gives_connect() {
    // A listener whose accept queue is full: the SYN is dropped, the connect hangs.
    let listener = FullListener::new();
    let t = UreqTransport::new(TransportConfig {
        connect_timeout: Duration::from_millis(200),
        timeout: Duration::from_secs(30),
        max_response_bytes: 1000,
    });
    let error = t
        .send(request(
            "POST",
            &format!("http://{}/card/get?access_token=SECRET-T", listener.addr()),
            "{}",
        ))
        .expect_err("connect timeout");
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error:?}");
    assert!(!error.maybe_sent());
    // It is the connect timeout that fired, not a refusal.
    let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<ureq::Error>());
    assert!(
        matches!(source, Some(ureq::Error::Timeout(ureq::Timeout::Connect))),
        "{error:?}"
    );
    assert_no_secret(&error);
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_limit_gives_too_large_with_content_length() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 2000]))
        .mount(&server)
        .await;
    Mock::given(path("/exact"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 1000]))
        .mount(&server)
        .await;
    let base = server.uri();
    let t = transport(1000, Duration::from_secs(10));
    let (big, exact) = blocking(move || {
        (
            t.send(request("GET", &format!("{base}/big"), Vec::new())),
            t.send(request("GET", &format!("{base}/exact"), Vec::new())),
        )
    })
    .await;
    assert_eq!(
        big.expect_err("too large").kind(),
        TransportErrorKind::TooLarge
    );
    assert_eq!(exact.expect("at the limit is fine").body().len(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_limit_gives_too_large_when_chunked() {
    let addr = raw_server(chunked_response(10, 500));
    let t = transport(1000, Duration::from_secs(10));
    let error = blocking(move || {
        t.send(request(
            "GET",
            &format!("http://{addr}/chunked"),
            Vec::new(),
        ))
    })
    .await
    .expect_err("too large");
    assert_eq!(error.kind(), TransportErrorKind::TooLarge);
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_body_within_the_limit_is_read_whole() {
    let addr = raw_server(chunked_response(3, 100));
    let t = transport(1000, Duration::from_secs(10));
    let response = blocking(move || {
        t.send(request(
            "GET",
            &format!("http://{addr}/chunked"),
            Vec::new(),
        ))
    })
    .await
    .expect("response");
    assert_eq!(response.body(), &vec![b'x'; 300]);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_cut_mid_body_gives_io() {
    let addr = raw_server(truncated_response());
    let t = transport(1000, Duration::from_secs(10));
    let error = blocking(move || t.send(request("GET", &format!("http://{addr}/cut"), Vec::new())))
        .await
        .expect_err("cut");
    assert_eq!(error.kind(), TransportErrorKind::Io);
    assert!(error.maybe_sent());
}

#[test]
fn refused_tls_handshake_gives_tls() {
    let addr = tls_alert_server();
    let t = transport(1000, Duration::from_secs(10));
    let error = t
        .send(request(
            "GET",
            &format!("https://{addr}/x?access_token=SECRET-T"),
            Vec::new(),
        ))
        .expect_err("tls");
    assert_eq!(error.kind(), TransportErrorKind::Tls, "{error:?}");
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_plain_http_server_fails_and_keeps_maybe_sent() {
    // ureq cannot tell when a garbled TLS stream broke, so it stays on the safe side.
    let server = MockServer::start().await;
    let url = format!(
        "{}/x?access_token=SECRET-T",
        server.uri().replace("http://", "https://")
    );
    let t = transport(1000, Duration::from_secs(10));
    let error = blocking(move || t.send(request("GET", &url, Vec::new())))
        .await
        .expect_err("tls");
    assert_eq!(error.kind(), TransportErrorKind::Io, "{error:?}");
    assert!(error.maybe_sent());
    assert_no_secret(&error);
}

#[test]
fn url_without_host_gives_invalid_url_without_showing_the_query() {
    let t = transport(1000, Duration::from_secs(1));
    let error = t
        .send(request(
            "GET",
            "/card/get?access_token=SECRET-T",
            Vec::new(),
        ))
        .expect_err("invalid");
    assert_eq!(error.kind(), TransportErrorKind::InvalidUrl);
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

#[test]
fn default_and_debug_show_the_config() {
    let t = UreqTransport::default();
    assert_eq!(
        t.config().max_response_bytes,
        TransportConfig::default().max_response_bytes
    );
    assert!(format!("{t:?}").starts_with("UreqTransport"));
}

/// Neither the error nor any of its sources shows the access_token.
fn assert_no_secret(error: &card_transport::TransportError) {
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        texts.push(s.to_string());
        texts.push(format!("{s:?}"));
        source = s.source();
    }
    for text in texts {
        assert!(!text.contains("SECRET-T"), "secret leaked: {text}");
    }
}
