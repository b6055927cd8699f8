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

/// A server answering `/fast` at once and `/slow` after 20 s.
async fn fast_and_slow() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/fast"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"errcode":0}"#))
        .mount(&server)
        .await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)))
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
    let t = transport(Duration::from_secs(5), Duration::from_secs(2));
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

/// A loopback server whose first answer (a large body) comes with a whole second answer
/// nobody asked for, in the same write; every later request gets `fresh`.
fn server_with_an_unasked_answer(body_len: usize) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            loop {
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                if line != "\r\n" {
                    break;
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let mut answer = Vec::new();
                if first {
                    first = false;
                    answer.extend_from_slice(
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n").as_bytes(),
                    );
                    answer.resize(answer.len() + body_len, b'x');
                    answer.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
                } else {
                    answer.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
                }
                if writer.write_all(&answer).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

#[test]
fn an_answer_nobody_asked_for_is_never_taken_for_the_next_one() {
    // Whatever the size of the first body, the bytes after it must not be read as the
    // answer to the next request on that connection. (Today the first exchange fails:
    // the masking link follows the unasked answer too, and its body does not add up.)
    for body_len in [2, 1_000, 65_500, 70_000, 131_000, 200_000, 262_100, 300_000] {
        let addr = server_with_an_unasked_answer(body_len);
        let t = transport(Duration::from_secs(5), Duration::from_secs(10));
        let url = format!("http://{addr}/x");
        // The first answer may fail (the server broke the protocol), but it is never
        // another body than its own.
        let first = t.send(request("POST", &url, "{}"));
        if let Ok(first) = &first {
            assert_eq!(first.body().len(), body_len);
        }
        // Give the unasked bytes time to arrive however they were split.
        std::thread::sleep(Duration::from_millis(20));
        let second = t.send(request("POST", &url, "{}"));
        let body = second.map(|r| String::from_utf8_lossy(r.body()).into_owned());
        assert!(
            !matches!(body.as_deref(), Ok(b) if b != "fresh"),
            "first body of {body_len} bytes: the next answer was {body:?}"
        );
    }
}
