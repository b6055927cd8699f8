//! The sandbox over HTTP/1.1 on loopback: ureq as a real client, and a raw TcpStream for
//! the edges (keep-alive, pipelining, limits, dropped connections).
#![cfg(feature = "server")]

mod common;

use card_sandbox::{CardSpec, Fault, Sandbox, ServerConfig, serve, serve_with};
use card_transport::{TransportErrorKind, UreqTransport};
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn ureq_api(sb: &Sandbox, base: &str) -> Api<UreqTransport> {
    let token = sb.issue_token();
    Api::new(UreqTransport::default(), base, token.expose())
}

#[test]
fn a_real_client_runs_the_flow_over_loopback() {
    let sb = sandbox();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    assert!(server.port() > 0);
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    let plain = Api::new(UreqTransport::default(), &server.base_url(), "");

    let v = plain.get(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
        Sandbox::DEFAULT_APPID,
        Sandbox::DEFAULT_SECRET
    ));
    let token = v["access_token"].as_str().unwrap();
    let api = Api::new(UreqTransport::default(), &server.base_url(), token);

    let r = plain.raw("POST", "/sandbox/cards", r#"{"use_custom_code":true,"get_custom_code_mode":"GET_CUSTOM_CODE_MODE_DEPOSIT","quantity":0}"#).unwrap();
    let card = serde_json::from_slice::<Value>(r.body()).unwrap()["card_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for chunk in 0..5 {
        let v = api.post(
            "/card/code/deposit",
            &deposit_body(&card, &codes(chunk * 100, 100)),
        );
        expect_code(&v, 0);
    }
    let v = api.post(
        "/card/code/getdepositcount",
        &json!({"card_id": card}).to_string(),
    );
    assert_eq!(v["count"], 500);
    let v = api.post(
        "/card/code/checkcode",
        &json!({"card_id": card, "code": ["C0000000", "nope"]}).to_string(),
    );
    assert_eq!(v["not_exist_code"], json!(["nope"]));
    let v = api.post("/card/code/deposit", &deposit_body(&card, &codes(0, 101)));
    expect_code(&v, 40109);
    let v = api.post(
        "/card/qrcode/create",
        &json!({"action_name": "QR_CARD", "action_info": {"card": {"card_id": card}}}).to_string(),
    );
    expect_code(&v, 0);
    // Non-ASCII travels raw.
    let plain_card = sb.create_card(CardSpec::new()).unwrap();
    let v = api.post(
        "/card/landingpage/create",
        &json!({"banner": "b", "page_title": "惠城优惠大派送", "can_share": false,
                "scene": "SCENE_H5", "card_list": [{"card_id": plain_card, "thumb_url": "t"}]})
        .to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(sb.landing_pages()[0].page_title, "惠城优惠大派送");
    let r = api.raw("GET", "/nothing/here", "").unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(sb.deposited_count(&card), Some(500));
    server.shutdown();
}

#[test]
fn dropped_connection_is_a_transport_error_and_after_effect_applies() {
    let sb = sandbox();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let api = ureq_api(&sb, &server.base_url());
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let path = format!("/card/code/deposit?access_token={}", api.token);
    sb.push_fault(Fault::DropBeforeEffect);
    let e = api
        .raw("POST", &path, deposit_body(&card, &codes(0, 5)))
        .unwrap_err();
    assert!(
        matches!(e.kind(), TransportErrorKind::Io | TransportErrorKind::Other),
        "{e:?}"
    );
    assert_eq!(sb.deposited_count(&card), Some(0));
    sb.push_fault(Fault::DropAfterEffect);
    assert!(
        api.raw("POST", &path, deposit_body(&card, &codes(0, 5)))
            .is_err()
    );
    assert_eq!(sb.deposited_count(&card), Some(5));
    let v = api.post("/card/code/deposit", &deposit_body(&card, &codes(0, 5)));
    assert_eq!(v["duplicate_code"], 5);
}

/// A response: status, lower-cased headers, body.
type Response = (u16, Vec<(String, String)>, String);

/// Reads one response: status line, headers, and a Content-Length body.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(": ")?;
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse().ok()?;
        }
        headers.push((k.to_ascii_lowercase(), v.to_owned()));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((status, headers, String::from_utf8(body).ok()?))
}

fn connect(server: &card_sandbox::ServerHandle) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

#[test]
fn keep_alive_pipelining_and_split_writes() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let token = sb.issue_token();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let (mut stream, mut reader) = connect(&server);
    let body = json!({"card_id": card}).to_string();
    let request = format!(
        "POST /card/mpnews/gethtml?access_token={} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        token.expose(),
        body.len()
    );
    // Two pipelined requests in one write, then one split into many small writes.
    stream
        .write_all(format!("{request}{request}").as_bytes())
        .unwrap();
    for _ in 0..2 {
        let (status, headers, body) = read_response(&mut reader).unwrap();
        assert_eq!(status, 200);
        // HTTP/1.1 keeps the connection open unless told otherwise.
        assert!(
            !headers.iter().any(|(k, _)| k == "connection"),
            "{headers:?}"
        );
        assert!(headers.contains(&(
            "content-type".into(),
            "application/json; charset=utf-8".into()
        )));
        expect_code(&serde_json::from_str(&body).unwrap(), 0);
    }
    for piece in request.as_bytes().chunks(7) {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
    }
    let (status, _, body) = read_response(&mut reader).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("iframe"));
    // Connection: close ends the connection after the answer.
    stream
        .write_all(b"GET /sandbox/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, headers, _) = read_response(&mut reader).unwrap();
    assert_eq!(status, 200);
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(read_response(&mut reader).is_none());
}

#[test]
fn expect_continue_and_http_1_0() {
    let sb = sandbox();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"POST /sandbox/cards HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    reader.read_line(&mut line).unwrap();
    stream.write_all(b"{}").unwrap();
    let (status, _, body) = read_response(&mut reader).unwrap();
    assert_eq!(status, 200);
    expect_code(&serde_json::from_str(&body).unwrap(), 0);

    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"GET /sandbox/state HTTP/1.0\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut reader).unwrap();
    assert_eq!(status, 200);
    assert!(read_response(&mut reader).is_none(), "HTTP/1.0 closes");
}

#[test]
fn limits_and_malformed_requests() {
    let sb = sandbox();
    let config = ServerConfig::default()
        .max_header_bytes(1024)
        .max_body_bytes(64);
    let server = serve_with(sb.clone(), "127.0.0.1:0", config).unwrap();
    // (request, status, whether the body is the sandbox's JSON envelope). hyper answers
    // malformed heads itself, with an empty body.
    let cases: Vec<(Vec<u8>, u16, bool)> = vec![
        (
            b"POST /sandbox/cards HTTP/1.1\r\nContent-Length: 65\r\n\r\n".to_vec(),
            413,
            true,
        ),
        (
            format!(
                "POST /sandbox/cards HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n{}\r\n0\r\n\r\n",
                "x".repeat(65)
            )
            .into_bytes(),
            413,
            true,
        ),
        (
            format!(
                "GET /sandbox/state HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(2000)
            )
            .into_bytes(),
            431,
            false,
        ),
        (
            format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)).into_bytes(),
            431,
            false,
        ),
        (b"GET /sandbox/state HTTP/3\r\n\r\n".to_vec(), 400, false),
        (b"BLAH\r\n\r\n".to_vec(), 400, false),
        (
            b"GET /sandbox/state HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
            false,
        ),
        (b"GET /a b HTTP/1.1\r\n\r\n".to_vec(), 400, false),
        (b"GET http://[::1 HTTP/1.1\r\n\r\n".to_vec(), 400, false),
    ];
    for (raw, expected, json) in cases {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(&raw).unwrap();
        let (status, _, body) = read_response(&mut reader).expect("an answer");
        assert_eq!(
            status,
            expected,
            "{}",
            String::from_utf8_lossy(&raw[..40.min(raw.len())])
        );
        if json {
            expect_code(&serde_json::from_str(&body).unwrap(), i64::from(expected));
        }
        assert!(
            read_response(&mut reader).is_none(),
            "closed after a refusal"
        );
    }
    // A chunked body within the limit is read like any other.
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"POST /sandbox/cards HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_response(&mut reader).unwrap();
    assert_eq!(status, 200);
    expect_code(&serde_json::from_str(&body).unwrap(), 0);
    // A client that hangs up mid-body harms nothing.
    let (mut stream, _) = connect(&server);
    stream
        .write_all(b"POST /sandbox/cards HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
        .unwrap();
    drop(stream);
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"GET /sandbox/state HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().0, 200);
}

#[test]
fn shutdown_closes_connections_and_frees_the_port() {
    let sb = sandbox();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"GET /sandbox/state HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().0, 200);
    server.shutdown();
    assert!(
        read_response(&mut reader).is_none(),
        "open connection closed"
    );
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
    // Dropping a handle shuts down too.
    let server = serve(sb, "127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn many_clients_at_once_share_one_state() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let token = sb.issue_token().expose().to_owned();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let base = server.base_url();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (base, card, token) = (base.clone(), card.clone(), token.clone());
            std::thread::spawn(move || {
                let api = Api::new(UreqTransport::default(), &base, &token);
                for chunk in 0..5 {
                    let batch = codes((t * 5 + chunk) * 100, 100);
                    expect_code(
                        &api.post("/card/code/deposit", &deposit_body(&card, &batch)),
                        0,
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(sb.deposited_count(&card), Some(4000));
}

#[test]
fn head_answers_carry_no_body_and_keep_the_framing() {
    let sb = sandbox();
    let server = serve(sb.clone(), "127.0.0.1:0").unwrap();
    let (mut stream, mut reader) = connect(&server);
    // HEAD, then GET on the same connection: the GET's answer must parse cleanly, which
    // it would not if the HEAD answer had carried a body.
    stream
        .write_all(b"HEAD /sandbox/state HTTP/1.1\r\nHost: x\r\n\r\nGET /sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
    }
    let (status, _, body) = read_response(&mut reader).expect("the GET answer");
    assert_eq!(status, 200);
    expect_code(&serde_json::from_str(&body).unwrap(), 0);
    // HEAD on a POST endpoint: the 43002 answer has no body either.
    stream
        .write_all(b"HEAD /card/code/deposit HTTP/1.1\r\nHost: x\r\n\r\nGET /sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
    }
    assert_eq!(read_response(&mut reader).expect("the GET answer").0, 200);
}

/// Opens `n` connections that each start a request head and stop mid-way, as a client
/// dripping one byte at a time does.
fn drippers(server: &card_sandbox::ServerHandle, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(b"G").unwrap();
        streams.push(s);
    }
    // A few more bytes each, one at a time.
    for byte in b"ET /sa" {
        for s in &mut streams {
            s.write_all(&[*byte]).unwrap();
        }
    }
    streams
}

#[test]
fn slow_drip_clients_do_not_lock_others_out() {
    let sb = sandbox();
    // A deadline far beyond the test's needs: here the drippers must stay connected.
    let config = ServerConfig::default().request_timeout(std::time::Duration::from_secs(120));
    let server = serve_with(sb.clone(), "127.0.0.1:0", config).unwrap();
    let mut slow = drippers(&server, 256);
    // While all 256 are connected and mid-head, a normal client is served, repeatedly.
    for _ in 0..3 {
        let (mut stream, mut reader) = connect(&server);
        stream
            .write_all(b"GET /sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, _, body) = read_response(&mut reader).expect("served");
        assert_eq!(status, 200);
        expect_code(&serde_json::from_str(&body).unwrap(), 0);
    }
    // The drippers were still connected all along: each finishes its request now and is
    // answered on the same connection.
    for s in &mut slow {
        s.write_all(b"ndbox/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    for s in slow {
        let mut reader = BufReader::new(s);
        assert_eq!(read_response(&mut reader).expect("answered").0, 200);
    }
}

#[test]
fn a_request_head_past_its_deadline_is_cut_off() {
    let sb = sandbox();
    let config = ServerConfig::default().request_timeout(std::time::Duration::from_secs(2));
    let server = serve_with(sb.clone(), "127.0.0.1:0", config).unwrap();
    let (mut stream, mut reader) = connect(&server);
    // A guard so a broken server fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream.write_all(b"GET /sandbox/st").unwrap();
    // The server closes the connection (with or without an answer) instead of waiting.
    let mut rest = Vec::new();
    let closed = reader.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "closed by the server, not by the guard: {closed:?}"
    );
    // The body has its own deadline: a declared body that never comes gets 408.
    let (mut stream, mut reader) = connect(&server);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"POST /sandbox/cards HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        .unwrap();
    let (status, _, body) = read_response(&mut reader).expect("an answer");
    assert_eq!(status, 408);
    expect_code(&serde_json::from_str(&body).unwrap(), 408);
    assert!(read_response(&mut reader).is_none());
}

#[test]
fn connections_past_the_cap_get_503() {
    let sb = sandbox();
    let config = ServerConfig::default().max_connections(2);
    let server = serve_with(sb.clone(), "127.0.0.1:0", config).unwrap();
    let request = b"GET /sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(request).unwrap();
        assert_eq!(read_response(&mut reader).unwrap().0, 200);
        held.push((stream, reader));
    }
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(request).unwrap();
    let (status, _, body) = read_response(&mut reader).expect("an answer");
    assert_eq!(status, 503);
    expect_code(&serde_json::from_str(&body).unwrap(), 503);
    assert!(read_response(&mut reader).is_none(), "closed after the 503");
    // The held connections are still served.
    for (stream, reader) in &mut held {
        stream.write_all(request).unwrap();
        assert_eq!(read_response(reader).unwrap().0, 200);
    }
    // Once one closes, a new connection is served again (the slot frees as soon as the
    // server notices; a bounded number of tries).
    drop(held.pop());
    let served = (0..200).any(|_| {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(request).unwrap();
        let status = read_response(&mut reader).map(|r| r.0);
        if status != Some(200) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        status == Some(200)
    });
    assert!(served);
}
