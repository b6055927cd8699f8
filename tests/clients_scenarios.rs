//! Token, retry, failover and timeout scenarios, each run on both clients against
//! wiremock on 127.0.0.1. Counts are asserted at the mock server (`expect`); no test
//! asserts a duration.

use card_api::{AsyncClient, Client, Error, RetryPolicy};
use card_model::token::GetCardApiTicket;
use card_model::{AccessToken, ErrCode};
use card_transport::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, ReqwestTransport,
    TransportConfig, TransportError, UreqTransport,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};
use wxcard_tests::clients::{
    APPID, AnyClient, Flavor, SECRET, TOKEN, TOKEN2, builder, dead_base_url, json, token_mock,
    token_request,
};
use wxcard_tests::{any_client, on_both_clients};

/// The client of `$flavor`, built from `$builder` (a `ClientBuilder<C>` expression), on
/// a real transport that records each attempt in `$attempts`.
macro_rules! recorded_client {
    ($attempts:expr, $flavor:expr, $builder:expr $(,)?) => {
        match $flavor {
            Flavor::Blocking => $attempts.blocking($builder),
            Flavor::Async => $attempts.asynchronous($builder),
        }
    };
}

fn ticket_mock(token: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .and(query_param("access_token", token))
        .and(query_param("type", "wx_card"))
}

fn ticket_ok() -> ResponseTemplate {
    json(serde_json::json!({"errcode":0,"errmsg":"ok","ticket":"TICKET-x","expires_in":7200}))
}

/// A server where the first token (TOKEN) works for one ticket call, then answers
/// 42001; the second token (TOKEN2) then serves `later_tickets` ticket calls. Each token
/// is fetched exactly once.
async fn token_expiry_server(later_tickets: u64) -> MockServer {
    let server = MockServer::start().await;
    token_mock(TOKEN)
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock(TOKEN2).expect(1).mount(&server).await;
    ticket_mock(TOKEN)
        .respond_with(ticket_ok())
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    ticket_mock(TOKEN)
        .respond_with(json(
            serde_json::json!({"errcode":42001,"errmsg":"access_token expired"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    ticket_mock(TOKEN2)
        .respond_with(ticket_ok())
        .expect(later_tickets)
        .mount(&server)
        .await;
    server
}

/// 42001 mid-run: one refresh, one repeat, success.
async fn token_expires_mid_run(flavor: Flavor) {
    let server = token_expiry_server(1).await;

    let client = any_client!(flavor, builder(&server));
    // first call: token fetched, call succeeds
    client.call(&GetCardApiTicket).await.expect("first call");
    // second call: the cached token has expired at WeChat's end
    let r = client.call(&GetCardApiTicket).await.expect("after refresh");
    assert_eq!(r.ticket.expose(), "TICKET-x");
    server.verify().await;
}

/// 40001 twice: exactly one refresh, then the error.
async fn token_error_twice_is_returned(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN)
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock(TOKEN2).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .respond_with(json(
            serde_json::json!({"errcode":40001,"errmsg":"invalid credential"}),
        ))
        .expect(2)
        .mount(&server)
        .await;

    let client = any_client!(flavor, builder(&server));
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert!(e.is_token_error(), "{e:?}");
    assert_eq!(e.errcode(), Some(ErrCode::InvalidCredential));
    server.verify().await;
}

/// -1, -1, success: three attempts.
async fn system_busy_twice_then_success(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    ticket_mock(TOKEN)
        .respond_with(json(
            serde_json::json!({"errcode":-1,"errmsg":"system error"}),
        ))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    ticket_mock(TOKEN)
        .respond_with(ticket_ok())
        .expect(1)
        .mount(&server)
        .await;

    let client = any_client!(flavor, builder(&server));
    client
        .call(&GetCardApiTicket)
        .await
        .expect("third attempt succeeds");
    server.verify().await;
}

/// Retries off: -1 is returned after one attempt.
async fn retries_off_sends_once(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    ticket_mock(TOKEN)
        .respond_with(json(
            serde_json::json!({"errcode":-1,"errmsg":"system error"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(flavor, builder(&server).retry(RetryPolicy::disabled()));
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert_eq!(e.errcode(), Some(ErrCode::SystemBusy));
    assert!(e.is_retryable());
    server.verify().await;
}

/// A dead first host: the token fetch and the call both fail over to the next.
async fn dead_first_host_fails_over(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    ticket_mock(TOKEN)
        .respond_with(ticket_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(
        flavor,
        builder(&server)
            .base_url(dead_base_url())
            .failover([server.uri()])
            .retry(RetryPolicy::disabled()),
    );
    client
        .call(&GetCardApiTicket)
        .await
        .expect("served by the second host");
    server.verify().await;
}

/// A server slower than the timeout: a timeout error (the ticket call is repeatable,
/// so with two attempts it is sent twice).
async fn slow_server_times_out(flavor: Flavor) {
    let server = MockServer::start().await;
    ticket_mock("FIXED")
        .respond_with(ticket_ok().set_delay(Duration::from_secs(3)))
        .expect(2)
        .mount(&server)
        .await;
    let client = any_client!(
        flavor,
        builder(&server)
            .access_token(AccessToken::new("FIXED"))
            .retry(wxcard_tests::clients::fast_retry().max_attempts(2))
            .transport_config(TransportConfig {
                timeout: Duration::from_millis(300),
                ..TransportConfig::default()
            }),
    );
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(e.maybe_sent());
    server.verify().await;
}

/// The tokens, the secret and the ticket never show in Debug or Display of the client,
/// its config or its errors.
async fn debug_shows_no_secret(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).up_to_n_times(1).mount(&server).await;
    // the second token fetch answers an undecodable body that holds a token
    Mock::given(method("GET"))
        .and(path("/cgi-bin/token"))
        .respond_with(json(
            serde_json::json!({"access_token": TOKEN2, "expires_in": "soon"}),
        ))
        .mount(&server)
        .await;
    ticket_mock(TOKEN)
        .respond_with(json(
            serde_json::json!({"errcode":40014,"errmsg":"invalid access_token"}),
        ))
        .mount(&server)
        .await;
    let client = any_client!(flavor, builder(&server));
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    let timeout = any_client!(
        flavor,
        builder(&server)
            .base_url(dead_base_url())
            .retry(RetryPolicy::disabled()),
    )
    .call(&GetCardApiTicket)
    .await
    .unwrap_err();
    assert!(!timeout.maybe_sent());

    let shown = format!(
        "{} | {e:?} | {e:#?} | {e} | {timeout:?} | {timeout}",
        client.debug()
    );
    for secret in [SECRET, TOKEN, TOKEN2, "TICKET-x"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains(APPID), "the appid is not a secret: {shown}");
}

/// The port of every request a client hands its transport, in order; the requests go
/// on to the real transport (ureq or reqwest), so a dead port really refuses them.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<Option<u16>>>>);

impl Attempts {
    fn record(&self, request: &HttpRequest) {
        let port = request.uri().port_u16();
        self.0.lock().unwrap().push(port);
    }

    /// Requests sent to `base` (`http://127.0.0.1:PORT`).
    fn to(&self, base: &str) -> usize {
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok());
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == port)
            .count()
    }

    fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The blocking client on a real transport that records each attempt.
    fn blocking(&self, builder: card_api::ClientBuilder<Client>) -> AnyClient {
        let attempts = self.clone();
        let inner = UreqTransport::new(TransportConfig::default());
        let transport = move |request: HttpRequest| -> Result<HttpResponse, TransportError> {
            attempts.record(&request);
            inner.send(request)
        };
        AnyClient::Blocking(
            builder
                .transport(transport)
                .build()
                .expect("blocking client"),
        )
    }

    /// The async client on a real transport that records each attempt.
    fn asynchronous(&self, builder: card_api::AsyncClientBuilder) -> AnyClient {
        let attempts = self.clone();
        let inner = Arc::new(ReqwestTransport::new(TransportConfig::default()));
        let transport = card_transport::async_fn(move |request: HttpRequest| {
            attempts.record(&request);
            let inner = Arc::clone(&inner);
            async move { inner.send(request).await }
        });
        AnyClient::Async(builder.transport(transport).build().expect("async client"))
    }
}

/// Sticky failover: the first call finds the primary dead and is answered by the
/// backup (a WeChat error is an answer too); every later call goes straight to the
/// backup, without trying the primary again.
async fn sticky_failover_skips_a_dead_primary(flavor: Flavor) {
    let server = MockServer::start().await;
    ticket_mock("FIXED")
        .respond_with(json(
            serde_json::json!({"errcode":-1,"errmsg":"system error"}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    ticket_mock("FIXED")
        .respond_with(ticket_ok())
        .expect(3)
        .mount(&server)
        .await;
    let dead = dead_base_url();
    let attempts = Attempts::default();
    let client = recorded_client!(
        attempts,
        flavor,
        builder(&server)
            .access_token(AccessToken::new("FIXED"))
            .base_url(dead.clone())
            .failover([server.uri()])
            .retry(RetryPolicy::disabled()),
    );
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert_eq!(e.errcode(), Some(ErrCode::SystemBusy), "{e:?}");
    assert_eq!((attempts.to(&dead), attempts.to(&server.uri())), (1, 1));
    for _ in 0..3 {
        client
            .call(&GetCardApiTicket)
            .await
            .expect("served by the backup");
    }
    assert_eq!(attempts.to(&dead), 1, "a later call tried the dead primary");
    assert_eq!((attempts.to(&server.uri()), attempts.total()), (4, 5));
    server.verify().await;
}

/// With app credentials: the first call's token fetch fails over, and the call itself
/// then starts at the backup; later calls (and a token refresh) go straight to it.
async fn sticky_failover_covers_token_fetches(flavor: Flavor) {
    let server = token_expiry_server(2).await;
    let dead = dead_base_url();
    let attempts = Attempts::default();
    let client = recorded_client!(
        attempts,
        flavor,
        builder(&server)
            .base_url(dead.clone())
            .failover([server.uri()])
            .retry(RetryPolicy::disabled()),
    );
    client.call(&GetCardApiTicket).await.expect("first call");
    let dead_after_first = attempts.to(&dead);
    // the token fetch found the primary dead; the call then started at the backup
    assert_eq!(
        dead_after_first, 1,
        "the first call tried the dead primary again"
    );
    // the second call refreshes the token (42001) and repeats: all on the backup
    client.call(&GetCardApiTicket).await.expect("after refresh");
    client.call(&GetCardApiTicket).await.expect("third call");
    assert_eq!(attempts.to(&dead), dead_after_first);
    // tokens: 2, tickets: 1 + 2 + 1
    assert_eq!(attempts.to(&server.uri()), 6);
    server.verify().await;
}

/// Clones share the preference: a call on a clone, and concurrent calls on clones,
/// start at the backup that answered a call on the original.
async fn clones_share_the_failover_preference(flavor: Flavor) {
    let server = MockServer::start().await;
    ticket_mock("FIXED")
        .respond_with(ticket_ok())
        .expect(10)
        .mount(&server)
        .await;
    let dead = dead_base_url();
    let attempts = Attempts::default();
    fn setup<C>(server: &MockServer, dead: &str) -> card_api::ClientBuilder<C> {
        builder(server)
            .access_token(AccessToken::new("FIXED"))
            .base_url(dead)
            .failover([server.uri()])
            .retry(RetryPolicy::disabled())
    }
    let client = recorded_client!(attempts, flavor, setup(&server, &dead));
    client.call(&GetCardApiTicket).await.expect("fails over");
    assert_eq!(attempts.to(&dead), 1);
    let clone = client.clone();
    clone.call(&GetCardApiTicket).await.expect("clone");
    let calls = (0..7).map(|_| {
        let clone = client.clone();
        async move { clone.call(&GetCardApiTicket).await }
    });
    for result in futures_util::future::join_all(calls).await {
        result.expect("concurrent call on a clone");
    }
    assert_eq!(attempts.to(&dead), 1, "a clone tried the dead primary");
    // a separately built client has its own preference: it starts at the primary
    let other = recorded_client!(attempts, flavor, setup(&server, &dead));
    other.call(&GetCardApiTicket).await.expect("fails over");
    assert_eq!(attempts.to(&dead), 2);
    assert_eq!(attempts.to(&server.uri()), 10);
    server.verify().await;
}

on_both_clients!(
    token_expires_mid_run,
    token_error_twice_is_returned,
    system_busy_twice_then_success,
    retries_off_sends_once,
    dead_first_host_fails_over,
    slow_server_times_out,
    debug_shows_no_secret,
    sticky_failover_skips_a_dead_primary,
    sticky_failover_covers_token_fetches,
    clones_share_the_failover_preference,
);

/// A server whose (slow) token endpoint must be called exactly once, and whose ticket
/// endpoint must be called `calls` times.
async fn one_token_for(calls: u64) -> MockServer {
    let server = MockServer::start().await;
    token_request()
        .respond_with(
            json(serde_json::json!({"access_token": TOKEN, "expires_in": 7200}))
                .set_delay(Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&server)
        .await;
    ticket_mock(TOKEN)
        .respond_with(ticket_ok())
        .expect(calls)
        .mount(&server)
        .await;
    server
}

/// 100 concurrent async calls on an empty cache: one token fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_async_calls_fetch_one_token() {
    let server = one_token_for(100).await;
    let client = builder::<AsyncClient>(&server).build().unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call(&GetCardApiTicket).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("call");
    }
    server.verify().await;
}

/// 8 threads on the blocking client, empty cache: one token fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_threads_fetch_one_token() {
    let server = one_token_for(8).await;
    let client = builder::<Client>(&server).build().unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                client.call(&GetCardApiTicket)
            })
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().unwrap().expect("call");
        }
    })
    .await
    .unwrap();
    server.verify().await;
}
