//! What the axum endpoint logs, over real loopback sockets: never a secret or a
//! push's content. Alone in its binary so that its subscriber sees every event.

mod axum_support;
mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum_support::*;
use card_push::crypto;
use card_push::testing::PushRequest;
use common::*;

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_never_hold_secrets_or_content() {
    // A process-wide subscriber, and this test alone in its binary: tracing caches
    // each call site's interest globally, and a thread-local subscriber misses call
    // sites that another test's thread reached first while it was the only one.
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let config = safe().with_previous_key(key(OTHER_KEY));
    let (service, mut rx) = recording(config.clone());
    let url = serve(service).await;
    let mut c = claim("pSecretCard", "CODE-9876");
    c.outer_str = Some("channel-xyz".to_owned());
    let r = PushRequest::for_claim(&config, &c).unwrap();
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    assert_eq!(post(&url, &r).await, (200, "success".to_owned()));
    let bad = r
        .query_string()
        .replace("msg_signature=", "msg_signature=a");
    let _ = reqwest::Client::new()
        .post(format!("{url}?{bad}"))
        .body(r.body().to_owned())
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    let wrong_app = crypto::encrypt(&key(KEY), &[0; 16], c.to_xml().as_bytes(), "wxOther");
    let (q, b) = signed_envelope(&wrong_app);
    let _ = reqwest::Client::new()
        .post(format!("{url}?{q}"))
        .body(b)
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    let handled = tokio::time::timeout(PATIENCE, rx.recv()).await;
    assert!(
        matches!(handled, Ok(Some(_))),
        "the push reached its function"
    );
    let mut out = Vec::new();
    out.write_all(&sink.0.lock().unwrap()).unwrap();
    let logs = String::from_utf8(out).unwrap();
    assert!(logs.contains("push received"), "{logs}");
    assert!(logs.contains("duplicate push skipped"), "{logs}");
    assert!(logs.contains("push refused"), "{logs}");
    for secret in [
        TOKEN,
        KEY,
        OTHER_KEY,
        "oSameUser",
        "pSecretCard",
        "CODE-9876",
        "channel-xyz",
    ] {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
    }
}
