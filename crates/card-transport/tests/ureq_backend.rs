//! The blocking backend (ureq) against wiremock and hand-written loopback servers: the
//! scenarios shared with the async backend (in `backend/mod.rs`), then ureq's own.
//!
//! wiremock needs a tokio runtime: each test runs the server on a multi-threaded runtime
//! and calls the blocking transport from `spawn_blocking`.
#![cfg(feature = "blocking")]

mod backend;
mod common;

use std::future::Future;

use backend::{Backend, backend_scenarios};
use card_transport::{
    BlockingTransport, HttpRequest, HttpResponse, TransportConfig, TransportError,
    TransportErrorKind, UreqTransport,
};

/// [`UreqTransport`] as the shared scenarios drive it.
struct Ureq(UreqTransport);

impl Backend for Ureq {
    fn new(config: TransportConfig) -> Self {
        Self(UreqTransport::new(config))
    }

    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        let transport = self.0.clone();
        async move {
            tokio::task::spawn_blocking(move || transport.send(request))
                .await
                .expect("blocking task")
        }
    }

    fn is_connect_timeout(error: &TransportError) -> bool {
        let source = std::error::Error::source(error).and_then(|s| s.downcast_ref::<ureq::Error>());
        matches!(source, Some(ureq::Error::Timeout(ureq::Timeout::Connect)))
    }
}

backend_scenarios!(
    #[tokio::test(flavor = "multi_thread")]
    Ureq:
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

#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_plain_http_server_fails_and_keeps_maybe_sent() {
    // ureq cannot tell when a garbled TLS stream broke, so it stays on the safe side.
    let error = backend::tls_to_a_plain_http_server::<Ureq>().await;
    assert_eq!(error.kind(), TransportErrorKind::Io, "{error:?}");
    assert!(error.maybe_sent());
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
