//! The async backend (reqwest) against wiremock and hand-written loopback servers: the
//! scenarios shared with the blocking backend (in `backend/mod.rs`), then reqwest's own.
#![cfg(feature = "async")]

mod backend;
mod common;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::{Backend, backend_scenarios};
use card_transport::{
    AsyncTransport, HttpRequest, HttpResponse, ReqwestTransport, TransportConfig, TransportError,
    TransportErrorKind,
};
use common::request;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// [`ReqwestTransport`] as the shared scenarios drive it.
struct Reqwest(ReqwestTransport);

impl Backend for Reqwest {
    fn new(config: TransportConfig) -> Self {
        Self(ReqwestTransport::new(config))
    }

    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        self.0.send(request)
    }

    fn is_connect_timeout(error: &TransportError) -> bool {
        std::error::Error::source(error)
            .and_then(|s| s.downcast_ref::<reqwest::Error>())
            .is_some_and(|e| e.is_connect() && e.is_timeout())
    }
}

backend_scenarios!(
    #[tokio::test]
    Reqwest:
    method_path_query_and_body_arrive_intact_and_chinese_survives_both_ways,
    get_without_body_arrives_as_get,
    client_and_server_errors_come_back_as_responses,
    slow_server_gives_timeout,
    refused_connection_gives_connect,
    #[cfg_attr(
        not(target_os = "linux"),
        ignore = "relies on Linux dropping SYNs to a full accept queue"
    )]
    connect_timeout_gives_connect,
    body_over_the_limit_gives_too_large_with_content_length,
    body_over_the_limit_gives_too_large_when_chunked,
    the_default_limit_is_the_largest_body_accepted_in_every_framing,
    an_endless_body_is_not_read_past_the_limit,
    user_information_in_the_url_becomes_basic_auth,
    answers_to_head_and_bodiless_statuses_keep_the_connection_in_step,
    chunked_body_within_the_limit_is_read_whole,
    connection_cut_mid_body_gives_io,
    refused_tls_handshake_gives_tls,
    url_without_host_gives_invalid_url_without_showing_the_query,
);

#[tokio::test]
async fn tls_to_a_plain_http_server_gives_tls() {
    // reqwest says the failure happened while connecting, so nothing was sent.
    let error = backend::tls_to_a_plain_http_server::<Reqwest>().await;
    assert_eq!(error.kind(), TransportErrorKind::Tls, "{error:?}");
    assert!(!error.maybe_sent());
}

#[tokio::test]
async fn from_client_uses_the_given_client_and_limit() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 20]))
        .mount(&server)
        .await;
    let t = ReqwestTransport::from_client(reqwest::Client::new(), 10);
    let error = t
        .send(request("GET", &format!("{}/big", server.uri()), Vec::new()))
        .await
        .expect_err("too large");
    assert_eq!(error.kind(), TransportErrorKind::TooLarge);
    assert!(format!("{:?}", ReqwestTransport::default()).starts_with("ReqwestTransport"));
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request `200 ok` and
/// records each request line (`METHOD target HTTP/1.1`) as it arrived, byte for byte.
fn recording_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&lines);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let recorded = Arc::clone(&recorded);
            std::thread::spawn(move || serve_recording(stream, &recorded));
        }
    });
    (addr, lines)
}

fn serve_recording(stream: TcpStream, recorded: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        recorded.lock().unwrap().push(line.trim_end().to_owned());
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

#[tokio::test]
async fn a_url_sent_again_arrives_as_it_did_the_first_time() {
    let (addr, lines) = recording_server();
    let t = ReqwestTransport::new(TransportConfig::default());
    // Bytes a URL parser escapes (`'`, raw UTF-8), bytes it leaves (`{}|^` and a
    // backtick, `%2B`, a stray `%zz`), a dot segment, and the same path in another case.
    let query = "access_token=T-1_a.b~c%2B&b={1}|^`&t='&c=会员&e=%zz";
    let urls = [
        format!("http://{addr}/card/x?{query}"),
        format!("http://{addr}/card/skip/../x?{query}"),
        format!("http://{addr}/Card/X?{query}"),
        format!("http://{addr}/card/x?access_token=T-2"),
    ];
    for _ in 0..3 {
        for (url, method) in urls.iter().zip(["POST", "GET", "POST", "GET"]) {
            let body = if method == "POST" {
                b"{}".to_vec()
            } else {
                Vec::new()
            };
            let response = t.send(request(method, url, body)).await.expect(url);
            assert_eq!(response.body(), b"ok");
        }
    }
    let escaped = "access_token=T-1_a.b~c%2B&b={1}|^`&t=%27&c=%E4%BC%9A%E5%91%98&e=%zz";
    let expected = [
        format!("POST /card/x?{escaped} HTTP/1.1"),
        format!("GET /card/x?{escaped} HTTP/1.1"),
        format!("POST /Card/X?{escaped} HTTP/1.1"),
        "GET /card/x?access_token=T-2 HTTP/1.1".to_owned(),
    ];
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 12);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &expected[i % 4], "request {i}");
    }
}

#[tokio::test]
async fn clones_sending_at_once_reach_each_their_own_url() {
    let (addr, lines) = recording_server();
    let t = ReqwestTransport::new(TransportConfig::default());
    let mut tasks = Vec::new();
    for i in 0..32 {
        let t = t.clone();
        let url = format!("http://{addr}/card/{}?access_token=T{}", i % 12, i % 5);
        tasks.push(tokio::spawn(async move {
            t.send(request("POST", &url, b"{}".to_vec()))
                .await
                .expect("response");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut got = lines.lock().unwrap().clone();
    got.sort();
    let mut expected: Vec<String> = (0..32)
        .map(|i| format!("POST /card/{}?access_token=T{} HTTP/1.1", i % 12, i % 5))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}
