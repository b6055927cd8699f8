//! The sandbox pushes `user_get_card` events end to end: served over HTTP on loopback,
//! told at runtime (admin route) where to push, it POSTs each claim to a card-push axum
//! `PushService` on another loopback socket, in plain and in safe mode; the merchant's
//! handler sees the typed event, a redelivery of the same push is skipped, failed tries
//! are retried and recorded.

use card_model::event::{Event, UserGetCard};
use card_push::axum::PushService;
use card_push::{EncodingAesKey, Push, PushConfig, Token};
use card_sandbox::{CardSpec, Claim, PushOutcome, PushTarget, Sandbox, ServerHandle, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "push-test-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// How long a test waits for something before it fails (a bound, not an assertion).
const PATIENCE: Duration = Duration::from_secs(30);

/// A merchant's push receiver on loopback: a PushService whose handler forwards each new
/// event to a channel.
struct Receiver {
    url: String,
    events: mpsc::Receiver<Event>,
    _runtime: tokio::runtime::Runtime,
}

fn receiver(config: PushConfig) -> Receiver {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let (tx, events) = mpsc::channel();
    let service = PushService::new(config, move |push: Push| {
        let tx = tx.clone();
        async move { tx.send(push.into_event()).map_err(|_| "test ended") }
    });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}/wechat", listener.local_addr().expect("addr"));
    runtime.spawn(async move { axum::serve(listener, service.router("/wechat")).await });
    Receiver {
        url,
        events,
        _runtime: runtime,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(server: &ServerHandle, path: &str, body: &Value) -> (u16, Option<String>, String) {
    let mut response = agent()
        .post(format!("{}{path}", server.base_url()))
        .send(body.to_string())
        .expect("an answer");
    let push_id = response
        .headers()
        .get("x-sandbox-push-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    (status, push_id, text)
}

fn get(server: &ServerHandle, path: &str) -> Value {
    let text = agent()
        .get(format!("{}{path}", server.base_url()))
        .call()
        .expect("an answer")
        .body_mut()
        .read_to_string()
        .expect("a body");
    serde_json::from_str(&text).expect("JSON")
}

/// Waits until push `id` is no longer pending with at least `tries` tries.
fn settled(sandbox: &Sandbox, id: u64, tries: usize) -> card_sandbox::PushRecord {
    let start = Instant::now();
    loop {
        let record = sandbox.push_record(id).expect("the push is recorded");
        if record.outcome != PushOutcome::Pending && record.attempts.len() >= tries {
            return record;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "push {id} never settled: {record:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn claim(sandbox: &Sandbox, server: &ServerHandle, card_id: &str, code: &str) -> u64 {
    let (status, push_id, xml) = post(
        server,
        "/sandbox/events/user_get_card",
        &json!({"card_id": card_id, "code": code, "outer_id": 7, "openid": "oUser1"}),
    );
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("user_get_card"));
    let id = push_id
        .expect("a push id header")
        .parse()
        .expect("a number");
    assert!(sandbox.push_record(id).is_some());
    id
}

fn expect_claim(receiver: &Receiver, card_id: &str, code: &str) {
    let event = receiver
        .events
        .recv_timeout(PATIENCE)
        .expect("the handler saw the push");
    let Event::UserGetCard(UserGetCard {
        card_id: got_card,
        user_card_code,
        outer_id,
        from_user_name,
        ..
    }) = event
    else {
        panic!("not a user_get_card event: {event:?}");
    };
    assert_eq!(got_card, card_id);
    assert_eq!(user_card_code.as_deref(), Some(code));
    assert_eq!(outer_id, Some(7));
    assert_eq!(from_user_name, "oUser1");
}

/// Plain or safe: set the target at runtime, push two claims, redeliver the first.
fn end_to_end(receiver_config: PushConfig, target: &Value) {
    let receiver = receiver(receiver_config);
    let sandbox = Sandbox::new();
    let card_id = sandbox.create_card(CardSpec::new()).expect("a card");
    let server = serve(sandbox.clone(), "127.0.0.1:0").expect("serve");

    let mut target = target.clone();
    target["url"] = receiver.url.clone().into();
    target["retry_pause_ms"] = 0.into();
    let (status, _, answer) = post(&server, "/sandbox/push_target", &target);
    assert_eq!(status, 200, "{answer}");
    // The answer and the GET show the target, never the Token or the key.
    for text in [answer, get(&server, "/sandbox/push_target").to_string()] {
        assert!(text.contains(&receiver.url), "{text}");
        assert!(!text.contains(TOKEN) && !text.contains(AES_KEY), "{text}");
    }

    let first = claim(&sandbox, &server, &card_id, "100000000001");
    let record = settled(&sandbox, first, 1);
    assert_eq!(record.outcome, PushOutcome::Delivered { status: 200 });
    assert_eq!(record.attempts.len(), 1);
    expect_claim(&receiver, &card_id, "100000000001");

    // WeChat's retry of the same push: answered, not handed to the handler again.
    let (status, _, answer) = post(&server, "/sandbox/pushes/redeliver", &json!({"id": first}));
    assert_eq!(status, 200, "{answer}");
    let record = settled(&sandbox, first, 2);
    assert_eq!(record.outcome, PushOutcome::Delivered { status: 200 });
    assert_eq!(record.attempts.len(), 2);
    assert!(
        receiver.events.try_recv().is_err(),
        "a duplicate reached the handler"
    );

    // The next claim arrives, and is the next thing the handler saw.
    let second = claim(&sandbox, &server, &card_id, "100000000002");
    settled(&sandbox, second, 1);
    expect_claim(&receiver, &card_id, "100000000002");

    let counters = get(&server, "/sandbox/counters");
    assert_eq!(counters["pushes"]["delivered"], 2, "{counters}");
    assert_eq!(counters["pushes"]["attempts"], 3, "{counters}");
    let pushes = get(&server, "/sandbox/pushes");
    assert_eq!(pushes["pushes"][0]["outcome"], "delivered", "{pushes}");
    assert_eq!(
        pushes["pushes"][0]["attempts"][1]["status"], 200,
        "{pushes}"
    );

    // Cleared: claims are no longer pushed.
    let text = agent()
        .delete(format!("{}/sandbox/push_target", server.base_url()))
        .call()
        .expect("an answer")
        .body_mut()
        .read_to_string()
        .expect("a body");
    assert!(text.contains("\"push_target\":null"), "{text}");
    let (_, push_id, _) = post(
        &server,
        "/sandbox/events/user_get_card",
        &json!({"card_id": card_id, "code": "3"}),
    );
    assert_eq!(push_id, None);
    server.shutdown();
}

#[test]
fn plain_mode_pushes_arrive_end_to_end() {
    end_to_end(
        PushConfig::plain(Token::new(TOKEN).unwrap()),
        &json!({"token": TOKEN}),
    );
}

#[test]
fn safe_mode_pushes_arrive_end_to_end() {
    let config = PushConfig::safe(
        Token::new(TOKEN).unwrap(),
        EncodingAesKey::new(AES_KEY).unwrap(),
        Sandbox::DEFAULT_APPID,
    )
    .unwrap()
    .with_max_age(Duration::from_secs(300));
    end_to_end(
        config,
        &json!({"token": TOKEN, "mode": "safe", "aes_key": AES_KEY}),
    );
}

#[test]
fn a_receiver_with_another_key_refuses_and_the_sandbox_records_it() {
    // The receiver expects another AppID: every try answers 400, three tries, failed.
    let other = PushConfig::safe(
        Token::new(TOKEN).unwrap(),
        EncodingAesKey::new(AES_KEY).unwrap(),
        "wxSomeoneElse",
    )
    .unwrap();
    let receiver = receiver(other);
    let sender = PushConfig::safe(
        Token::new(TOKEN).unwrap(),
        EncodingAesKey::new(AES_KEY).unwrap(),
        Sandbox::DEFAULT_APPID,
    )
    .unwrap();
    let target = PushTarget::new(&receiver.url, sender)
        .unwrap()
        .with_retry_pause(Duration::ZERO);
    let sandbox = Sandbox::builder().push_target(target).build();
    let card_id = sandbox.create_card(CardSpec::new()).unwrap();
    let record = sandbox
        .push_claim(&Claim::new(&card_id, "1"))
        .expect("a record");
    assert_eq!(record.attempts.len(), 3);
    assert!(record.attempts.iter().all(|a| a.status == Some(400)));
    let PushOutcome::Failed { reason } = &record.outcome else {
        panic!("{record:?}");
    };
    assert!(reason.contains("HTTP 400"), "{reason}");
    assert!(receiver.events.try_recv().is_err());
}

#[test]
fn a_failed_try_is_retried_with_the_same_request() {
    // A receiver that answers 503 twice, then hands the push to a real PushService.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = PushConfig::plain(Token::new(TOKEN).unwrap());
    let (tx, events) = mpsc::channel();
    let service = PushService::new(config.clone(), move |push: Push| {
        let tx = tx.clone();
        async move { tx.send(push.into_event()).map_err(|_| "test ended") }
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&seen);
    let flaky = axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let counted = Arc::clone(&counted);
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                next.run(request).await
            }
        },
    );
    use axum::response::IntoResponse;
    let router = service.router("/wechat").layer(flaky);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!(
        "http://{}/wechat?from=sandbox",
        listener.local_addr().unwrap()
    );
    runtime.spawn(async move { axum::serve(listener, router).await });

    let target = PushTarget::new(&url, config)
        .unwrap()
        .with_retry_pause(Duration::ZERO);
    let sandbox = Sandbox::builder().push_target(target).build();
    let card_id = sandbox.create_card(CardSpec::new()).unwrap();
    let record = sandbox.push_claim(&Claim::new(&card_id, "42")).unwrap();
    assert_eq!(record.outcome, PushOutcome::Delivered { status: 200 });
    let statuses: Vec<_> = record.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    let Event::UserGetCard(claim) = events.recv_timeout(PATIENCE).unwrap() else {
        panic!("not a claim");
    };
    assert_eq!(claim.user_card_code.as_deref(), Some("42"));
}

#[test]
fn the_in_process_transport_records_pushes_as_not_sent() {
    use card_transport::BlockingTransport;
    let target = PushTarget::new(
        "http://127.0.0.1:9/wechat",
        PushConfig::plain(Token::new(TOKEN).unwrap()),
    )
    .unwrap();
    let sandbox = Sandbox::builder().push_target(target).build();
    let card_id = sandbox.create_card(CardSpec::new()).unwrap();
    let request = http::Request::post("http://sandbox/sandbox/events/user_get_card")
        .body(
            json!({"card_id": card_id, "code": "1"})
                .to_string()
                .into_bytes(),
        )
        .unwrap();
    let response = sandbox.send(request).unwrap();
    assert_eq!(response.status(), 200);
    let pushes = sandbox.pushes();
    assert_eq!(pushes.len(), 1);
    assert!(
        matches!(&pushes[0].outcome, PushOutcome::NotSent { reason } if reason.contains("push_claim")),
        "{pushes:?}"
    );
    assert!(pushes[0].attempts.is_empty());
}

#[test]
fn bad_targets_are_refused_without_echoing_secrets() {
    let sandbox = Sandbox::new();
    let server = serve(sandbox.clone(), "127.0.0.1:0").unwrap();
    for (body, why) in [
        (
            json!({"url": "https://example.invalid/x", "token": TOKEN}),
            "http://",
        ),
        (json!({"url": "http://127.0.0.1:1/x"}), "token"),
        (
            json!({"url": "http://127.0.0.1:1/x", "token": TOKEN, "mode": "safe"}),
            "aes_key",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "token": TOKEN, "aes_key": "short-secret-key"}),
            "aes_key",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "token": TOKEN, "mode": "loud"}),
            "mode",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "token": TOKEN, "attempts": 0}),
            "attempts",
        ),
    ] {
        let (status, _, answer) = post(&server, "/sandbox/push_target", &body);
        assert_eq!(status, 200, "{answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        // 41011 for a missing field, 40097 for a bad one.
        assert!(
            answer["errcode"] == 40097 || answer["errcode"] == 41011,
            "{answer}"
        );
        let msg = answer["errmsg"].as_str().unwrap();
        assert!(msg.contains(why), "{msg}");
        assert!(
            !msg.contains(TOKEN) && !msg.contains("short-secret-key"),
            "{msg}"
        );
    }
    assert!(sandbox.push_target().is_none());
    let (_, _, answer) = post(&server, "/sandbox/pushes/redeliver", &json!({"id": 99}));
    assert!(answer.contains("no push with id 99"), "{answer}");
    server.shutdown();
}

/// Kills the spawned binary when the test ends, however it ends.
struct Child(std::process::Child, std::path::PathBuf);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn the_binary_pushes_in_safe_mode_with_its_push_options() {
    let config = PushConfig::safe(
        Token::new(TOKEN).unwrap(),
        EncodingAesKey::new(AES_KEY).unwrap(),
        "wx2c2769f8efd9abc2",
    )
    .unwrap();
    let receiver = receiver(config);
    let port_file =
        std::env::temp_dir().join(format!("card-sandbox-push-port-{}", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    // The Token from the environment, the key as a flag.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_card-sandbox"))
        .args([
            "--port",
            "0",
            "--appid",
            "wx2c2769f8efd9abc2",
            "--port-file",
        ])
        .arg(&port_file)
        .args(["--push-url", &receiver.url, "--push-aes-key", AES_KEY])
        .env("CARD_SANDBOX_PUSH_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn card-sandbox");
    let mut child = Child(child, port_file.clone());
    let start = Instant::now();
    let port: u16 = loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break port;
        }
        assert!(child.0.try_wait().unwrap().is_none(), "card-sandbox exited");
        assert!(start.elapsed() < PATIENCE, "no port file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let base = format!("http://127.0.0.1:{port}");
    let send = |path: &str, body: Value| -> Value {
        let text = agent()
            .post(format!("{base}{path}"))
            .send(body.to_string())
            .expect("an answer")
            .body_mut()
            .read_to_string()
            .expect("a body");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    let card_id = send("/sandbox/cards", json!({}))["card_id"]
        .as_str()
        .expect("a card id")
        .to_owned();
    let target = agent()
        .get(format!("{base}/sandbox/push_target"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(target.contains("\"mode\":\"safe\""), "{target}");
    assert!(
        !target.contains(TOKEN) && !target.contains(AES_KEY),
        "{target}"
    );
    send(
        "/sandbox/events/user_get_card",
        json!({"card_id": card_id, "code": "100000000009", "outer_id": 7, "openid": "oUser1"}),
    );
    expect_claim(&receiver, &card_id, "100000000009");
    // The delivery is recorded once the receiver's answer is read.
    let start = Instant::now();
    loop {
        let text = agent()
            .get(format!("{base}/sandbox/pushes"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        if text.contains("\"outcome\":\"delivered\"") {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "never delivered: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The start-up lines name the target, never the secrets.
    child.0.kill().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(out.contains("(safe mode)"), "{out}");
    assert!(!out.contains(TOKEN) && !out.contains(AES_KEY), "{out}");
}
