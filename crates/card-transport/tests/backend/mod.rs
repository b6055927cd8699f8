//! The scenarios every backend must pass, written once against [`Backend`] and run by
//! each backend's test file through [`backend_scenarios!`]: wiremock and hand-written
//! loopback servers, and the outcome each one must give.
//!
//! A scenario fn that is not listed in the macro is unused, which clippy (`-D warnings`)
//! rejects: every scenario runs for every backend.

use std::future::Future;
use std::time::Duration;

use card_transport::{
    HttpRequest, HttpResponse, TransportConfig, TransportError, TransportErrorKind,
};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{
    Framing, FullListener, chunked_response, closed_port, endless_server, framed_response,
    raw_server, request, tls_alert_server, truncated_response,
};

/// A transport under test, as the scenarios drive it.
pub trait Backend: Sized {
    /// A transport configured by `config`.
    fn new(config: TransportConfig) -> Self;

    /// Sends `request` (a blocking backend off the runtime's worker threads, so the mock
    /// server keeps serving).
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>>;

    /// Whether `error`'s source says that the connect timeout fired (rather than, say, a
    /// refusal).
    fn is_connect_timeout(error: &TransportError) -> bool;
}

/// Runs each scenario below as a test of the backend `$backend`, under the test
/// attribute given first (the runtime flavour); attributes written before a scenario's
/// name go on its test only.
macro_rules! backend_scenarios {
    (#[$test:meta] $backend:ty: $($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {
        $(
            #[$test]
            $(#[$attr])*
            async fn $scenario() {
                backend::$scenario::<$backend>().await;
            }
        )+
    };
}
pub(crate) use backend_scenarios;

/// A transport with a 5 s connect timeout, `timeout` overall and `max_response_bytes`.
fn transport<B: Backend>(max_response_bytes: u64, timeout: Duration) -> B {
    B::new(TransportConfig {
        connect_timeout: Duration::from_secs(5),
        timeout,
        max_response_bytes,
    })
}

pub async fn method_path_query_and_body_arrive_intact_and_chinese_survives_both_ways<B: Backend>() {
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
    let response = transport::<B>(1 << 20, Duration::from_secs(10))
        .send(request("POST", &url, body))
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

pub async fn get_without_body_arrives_as_get<B: Backend>() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .and(query_param("type", "wx_card"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/cgi-bin/ticket/getticket?type=wx_card", server.uri());
    let response = transport::<B>(1 << 20, Duration::from_secs(10))
        .send(request("GET", &url, Vec::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let received = server.received_requests().await.unwrap();
    assert!(received[0].body.is_empty());
    server.verify().await;
}

pub async fn client_and_server_errors_come_back_as_responses<B: Backend>() {
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
    let t = transport::<B>(1 << 20, Duration::from_secs(10));
    let r404 = t
        .send(request("POST", &format!("{base}/missing"), "{}"))
        .await
        .expect("404 is a response");
    assert_eq!(r404.status(), 404);
    assert_eq!(std::str::from_utf8(r404.body()).unwrap(), "没有 not found");
    let r502 = t
        .send(request("POST", &format!("{base}/proxy"), "{}"))
        .await
        .expect("502 is a response");
    assert_eq!(r502.status(), 502);
    assert_eq!(r502.body(), b"Bad Gateway");
    // Redirects are not followed.
    let r302 = t
        .send(request("GET", &format!("{base}/moved"), Vec::new()))
        .await
        .expect("302 is a response");
    assert_eq!(r302.status(), 302);
    assert_eq!(r302.headers().get("location").unwrap(), "/elsewhere");
}

pub async fn slow_server_gives_timeout<B: Backend>() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let error = transport::<B>(1 << 20, Duration::from_millis(200))
        .send(request("POST", &format!("{}/slow", server.uri()), "{}"))
        .await
        .expect_err("timeout");
    assert_eq!(error.kind(), TransportErrorKind::Timeout);
    assert!(error.maybe_sent());
}

pub async fn refused_connection_gives_connect<B: Backend>() {
    let url = format!(
        "http://127.0.0.1:{}/card/get?access_token=SECRET-T",
        closed_port()
    );
    let error = transport::<B>(1 << 20, Duration::from_secs(5))
        .send(request("POST", &url, "{}"))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

pub async fn connect_timeout_gives_connect<B: Backend>() {
    // A listener whose accept queue is full: the SYN is dropped, the connect hangs.
    let listener = FullListener::new();
    let t = B::new(TransportConfig {
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
        .await
        .expect_err("connect timeout");
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error:?}");
    assert!(!error.maybe_sent());
    // It is the connect timeout that fired, not a refusal.
    assert!(B::is_connect_timeout(&error), "{error:?}");
    assert_no_secret(&error);
}

pub async fn body_over_the_limit_gives_too_large_with_content_length<B: Backend>() {
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
    let t = transport::<B>(1000, Duration::from_secs(10));
    let big = t
        .send(request("GET", &format!("{base}/big"), Vec::new()))
        .await;
    assert_eq!(
        big.expect_err("too large").kind(),
        TransportErrorKind::TooLarge
    );
    let exact = t
        .send(request("GET", &format!("{base}/exact"), Vec::new()))
        .await;
    assert_eq!(exact.expect("at the limit is fine").body().len(), 1000);
}

pub async fn body_over_the_limit_gives_too_large_when_chunked<B: Backend>() {
    let addr = raw_server(chunked_response(10, 500));
    let error = transport::<B>(1000, Duration::from_secs(10))
        .send(request(
            "GET",
            &format!("http://{addr}/chunked"),
            Vec::new(),
        ))
        .await
        .expect_err("too large");
    assert_eq!(error.kind(), TransportErrorKind::TooLarge);
}

pub async fn the_default_limit_is_the_largest_body_accepted_in_every_framing<B: Backend>() {
    let limit = usize::try_from(card_transport::DEFAULT_MAX_RESPONSE_BYTES).expect("fits");
    assert_eq!(
        TransportConfig::default().max_response_bytes,
        card_transport::DEFAULT_MAX_RESPONSE_BYTES
    );
    let t = B::new(TransportConfig::default());
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        for len in [limit - 1, limit, limit + 1] {
            let addr = raw_server(framed_response(len, framing));
            let result = t
                .send(request("GET", &format!("http://{addr}/big"), Vec::new()))
                .await;
            if len <= limit {
                let response = result.unwrap_or_else(|e| panic!("{framing:?} {len}: {e:?}"));
                assert_eq!(response.body().len(), len, "{framing:?}");
            } else {
                let error = result.expect_err("one byte over the limit");
                assert_eq!(error.kind(), TransportErrorKind::TooLarge, "{framing:?}");
            }
        }
    }
}

pub async fn an_endless_body_is_not_read_past_the_limit<B: Backend>() {
    const OFFERED: usize = 256 * 1024 * 1024;
    let (addr, written) = endless_server(OFFERED);
    let error = B::new(TransportConfig::default())
        .send(request(
            "GET",
            &format!("http://{addr}/endless"),
            Vec::new(),
        ))
        .await
        .expect_err("too large");
    assert_eq!(error.kind(), TransportErrorKind::TooLarge);
    // The client hung up after the limit: the server could write only what the
    // socket buffers held, not the 256 MiB it offered.
    let written = tokio::task::spawn_blocking(move || written.recv().expect("server done"))
        .await
        .expect("join");
    assert!(written < OFFERED / 4, "the server wrote {written} bytes");
}

pub async fn user_information_in_the_url_becomes_basic_auth<B: Backend>() {
    let server = MockServer::start().await;
    // "gw:p@ss:w" percent-decoded from the URL
    Mock::given(path("/x"))
        .and(header("authorization", "Basic Z3c6cEBzczp3"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(2)
        .mount(&server)
        .await;
    let base = server.uri().replace("http://", "http://gw:p%40ss%3Aw@");
    let t = transport::<B>(1000, Duration::from_secs(10));
    for method in ["GET", "POST"] {
        let response = t
            .send(request(method, &format!("{base}/x?q=1"), b"{}".to_vec()))
            .await
            .expect("response");
        assert_eq!(response.status(), 200, "{method}");
    }
}

pub async fn answers_to_head_and_bodiless_statuses_keep_the_connection_in_step<B: Backend>() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .mount(&server)
        .await;
    Mock::given(path("/none"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/g"))
        .respond_with(ResponseTemplate::new(200).set_body_string("world"))
        .mount(&server)
        .await;
    let base = server.uri();
    let t = transport::<B>(1000, Duration::from_secs(10));
    // one pooled connection: each answer must end where the next one starts
    for _ in 0..3 {
        let head = t
            .send(request("HEAD", &format!("{base}/h"), Vec::new()))
            .await
            .expect("HEAD");
        assert_eq!(head.status(), 200);
        assert!(head.body().is_empty());
        let none = t
            .send(request("POST", &format!("{base}/none"), b"{}".to_vec()))
            .await
            .expect("204");
        assert_eq!(none.status(), 204);
        assert!(none.body().is_empty());
        let get = t
            .send(request("GET", &format!("{base}/g"), Vec::new()))
            .await
            .expect("GET");
        assert_eq!(get.body(), b"world");
    }
}

pub async fn chunked_body_within_the_limit_is_read_whole<B: Backend>() {
    let addr = raw_server(chunked_response(3, 100));
    let response = transport::<B>(1000, Duration::from_secs(10))
        .send(request(
            "GET",
            &format!("http://{addr}/chunked"),
            Vec::new(),
        ))
        .await
        .expect("response");
    assert_eq!(response.body(), &vec![b'x'; 300]);
}

pub async fn connection_cut_mid_body_gives_io<B: Backend>() {
    let addr = raw_server(truncated_response());
    let error = transport::<B>(1000, Duration::from_secs(10))
        .send(request("GET", &format!("http://{addr}/cut"), Vec::new()))
        .await
        .expect_err("cut");
    assert_eq!(error.kind(), TransportErrorKind::Io);
    assert!(error.maybe_sent());
}

pub async fn refused_tls_handshake_gives_tls<B: Backend>() {
    let addr = tls_alert_server();
    let error = transport::<B>(1000, Duration::from_secs(10))
        .send(request(
            "GET",
            &format!("https://{addr}/x?access_token=SECRET-T"),
            Vec::new(),
        ))
        .await
        .expect_err("tls");
    assert_eq!(error.kind(), TransportErrorKind::Tls, "{error:?}");
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

pub async fn url_without_host_gives_invalid_url_without_showing_the_query<B: Backend>() {
    let error = transport::<B>(1000, Duration::from_secs(1))
        .send(request(
            "GET",
            "/card/get?access_token=SECRET-T",
            Vec::new(),
        ))
        .await
        .expect_err("invalid");
    assert_eq!(error.kind(), TransportErrorKind::InvalidUrl);
    assert!(!error.maybe_sent());
    assert_no_secret(&error);
}

/// An https URL (carrying `SECRET-T` as access_token) to a plain-HTTP wiremock server;
/// each backend asserts what its failure is.
pub async fn tls_to_a_plain_http_server<B: Backend>() -> TransportError {
    let server = MockServer::start().await;
    let url = format!(
        "{}/x?access_token=SECRET-T",
        server.uri().replace("http://", "https://")
    );
    let error = transport::<B>(1000, Duration::from_secs(10))
        .send(request("GET", &url, Vec::new()))
        .await
        .expect_err("tls");
    assert_no_secret(&error);
    error
}

/// Neither the error nor any of its sources shows the access_token.
pub fn assert_no_secret(error: &TransportError) {
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
