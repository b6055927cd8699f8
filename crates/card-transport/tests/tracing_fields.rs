//! The backends trace method and path, never the query string (the access_token rides
//! there). A small capturing subscriber records every field of every span and event.
#![cfg(any(feature = "blocking", feature = "async"))]

mod common;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{closed_port, request};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Fields(&mut self.0.lock().unwrap()));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn check(&self) {
        let lines = self.0.lock().unwrap().clone();
        assert!(
            lines.iter().any(|l| l == "path=/card/code/get"),
            "path traced: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l == "method=POST"),
            "method traced: {lines:?}"
        );
        for line in &lines {
            assert!(
                !line.contains("SECRET-T"),
                "query leaked into tracing: {line}"
            );
            assert!(
                !line.contains("access_token"),
                "query leaked into tracing: {line}"
            );
        }
    }
}

async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/card/code/get"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    server
}

#[cfg(feature = "blocking")]
#[tokio::test(flavor = "multi_thread")]
async fn ureq_traces_method_and_path_only() {
    use card_transport::{BlockingTransport, TransportConfig, UreqTransport};
    let server = server().await;
    let ok = format!("{}/card/code/get?access_token=SECRET-T", server.uri());
    let refused = format!(
        "http://127.0.0.1:{}/card/code/get?access_token=SECRET-T",
        closed_port()
    );
    let capture = Capture::default();
    let sub = capture.clone();
    tokio::task::spawn_blocking(move || {
        tracing::subscriber::with_default(sub, || {
            let t = UreqTransport::new(TransportConfig {
                timeout: Duration::from_secs(10),
                ..TransportConfig::default()
            });
            t.send(request("POST", &ok, "{}")).expect("response");
            t.send(request("POST", &refused, "{}"))
                .expect_err("refused");
        })
    })
    .await
    .unwrap();
    capture.check();
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "current_thread")]
async fn reqwest_traces_method_and_path_only() {
    use card_transport::{AsyncTransport, ReqwestTransport, TransportConfig};
    let server = server().await;
    let ok = format!("{}/card/code/get?access_token=SECRET-T", server.uri());
    let refused = format!(
        "http://127.0.0.1:{}/card/code/get?access_token=SECRET-T",
        closed_port()
    );
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let t = ReqwestTransport::new(TransportConfig {
        timeout: Duration::from_secs(10),
        ..TransportConfig::default()
    });
    t.send(request("POST", &ok, "{}")).await.expect("response");
    t.send(request("POST", &refused, "{}"))
        .await
        .expect_err("refused");
    capture.check();
}
