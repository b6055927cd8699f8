//! `Retry-After` on a 429 or 503, on both clients against wiremock on 127.0.0.1: the
//! plan waits what the server asked (seen in its `retrying` event, not on a clock),
//! and gives up with the error when the server asks for more than the policy's
//! longest delay.

use card_api::{Error, RetryPolicy};
use card_model::token::GetCardApiTicket;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxcard_tests::clients::{Flavor, builder, json, token_mock};
use wxcard_tests::{any_client, on_both_clients};

/// The `delay` of every `retrying` event.
#[derive(Default)]
struct Delays(Mutex<Vec<String>>);

struct DelayField<'a>(&'a mut Option<String>, &'a mut bool);

impl tracing::field::Visit for DelayField<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "delay" => *self.0 = Some(format!("{value:?}")),
            "message" => *self.1 |= format!("{value:?}") == "retrying",
            _ => {}
        }
    }
}

impl tracing::Subscriber for Delays {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let (mut delay, mut retrying) = (None, false);
        event.record(&mut DelayField(&mut delay, &mut retrying));
        if let (Some(delay), true) = (delay, retrying) {
            self.0.lock().unwrap().push(delay);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A server whose ticket endpoint answers `status` with `Retry-After: seconds` once,
/// then the ticket; `expected` ticket requests.
async fn server(status: u16, seconds: u64, expected: u64) -> MockServer {
    let server = MockServer::start().await;
    token_mock("TOKEN-ra").expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .respond_with(
            ResponseTemplate::new(status).insert_header("Retry-After", seconds.to_string()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .respond_with(json(
            serde_json::json!({"errcode":0,"errmsg":"ok","ticket":"TICKET-ra","expires_in":7200}),
        ))
        .expect(expected.saturating_sub(1))
        .mount(&server)
        .await;
    server
}

/// Calls the ticket endpoint with `policy`, recording the plan's chosen waits.
async fn call(
    flavor: Flavor,
    server: &MockServer,
    policy: RetryPolicy,
) -> (Result<String, Error>, Vec<String>) {
    let client = any_client!(flavor, builder(server).retry(policy));
    let delays = Arc::new(Delays::default());
    let _guard = tracing::subscriber::set_default(Arc::clone(&delays));
    let result = client
        .call(&GetCardApiTicket)
        .await
        .map(|t| t.ticket.expose().to_owned());
    let seen = delays.0.lock().unwrap().clone();
    (result, seen)
}

fn policy(longest: Duration) -> RetryPolicy {
    RetryPolicy::new()
        .base_delay(Duration::from_millis(1))
        .max_delay(longest)
}

/// 429 with `Retry-After: 1`: retried after 1 s.
async fn retry_after_is_honoured(flavor: Flavor) {
    for status in [429, 503] {
        let server = server(status, 1, 2).await;
        let (result, delays) = call(flavor, &server, policy(Duration::from_secs(2))).await;
        assert_eq!(result.expect("retried").as_str(), "TICKET-ra");
        assert_eq!(delays, ["1s"], "{status}");
        server.verify().await;
    }
}

/// `Retry-After: 3` past a 2 s longest delay: the error at once, one request.
async fn retry_after_past_the_longest_delay_gives_up(flavor: Flavor) {
    for status in [429, 503] {
        let server = server(status, 3, 1).await;
        let (result, delays) = call(flavor, &server, policy(Duration::from_secs(2))).await;
        match result {
            Err(Error::Status { status: got, .. }) => assert_eq!(got, status),
            other => panic!("{other:?}"),
        }
        assert!(delays.is_empty(), "{delays:?}");
        server.verify().await;
    }
}

on_both_clients!(
    retry_after_is_honoured,
    retry_after_past_the_longest_delay_gives_up
);
