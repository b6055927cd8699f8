//! The async backend (reqwest) against wiremock and hand-written loopback servers: the
//! scenarios shared with the blocking backend (in `backend/mod.rs`), then reqwest's own.
#![cfg(feature = "async")]

mod backend;
mod common;

use std::future::Future;

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
