//! The test transports: replay and static responder. No feature needed.

use std::error::Error as _;

use card_transport::test_util::{
    Exchange, ExpectedRequest, ReplayMismatch, ReplayTransport, StaticResponder, bytes_response,
    json_response,
};
use card_transport::{BlockingTransport, HttpRequest, TransportErrorKind};
use serde_json::json;

const BASE: &str = "https://api.weixin.qq.com";

fn post(path_and_query: &str, body: &str) -> HttpRequest {
    http::Request::post(format!("{BASE}{path_and_query}"))
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn get(path_and_query: &str) -> HttpRequest {
    http::Request::get(format!("{BASE}{path_and_query}"))
        .body(Vec::new())
        .unwrap()
}

/// The mismatch message carried by a failed send.
fn mismatch_of(
    result: Result<card_transport::HttpResponse, card_transport::TransportError>,
) -> String {
    let error = result.expect_err("a mismatch");
    assert_eq!(error.kind(), TransportErrorKind::Other);
    error
        .source()
        .and_then(|s| s.downcast_ref::<ReplayMismatch>())
        .expect("source is a ReplayMismatch")
        .message()
        .to_owned()
}

#[test]
fn a_matching_sequence_is_answered_in_order() {
    let replay = ReplayTransport::new([
        Exchange::new(
            ExpectedRequest::get("/cgi-bin/token")
                .query("grant_type", "client_credential")
                .query("appid", "wx1")
                .query_present("secret"),
            json_response(200, r#"{"access_token":"T","expires_in":7200}"#),
        ),
        Exchange::new(
            ExpectedRequest::post("/card/code/get?access_token=T")
                .header("content-type", "application/json")
                .json_body(json!({"code": "12312313", "card_id": "pFS7"})),
            json_response(200, r#"{"errcode":0,"errmsg":"ok"}"#),
        ),
        Exchange::error(
            ExpectedRequest::post("/card/code/consume")
                .any_query()
                .any_body(),
            TransportErrorKind::Timeout,
        ),
    ]);

    let first = replay
        .send(get(
            "/cgi-bin/token?appid=wx1&secret=S&grant_type=client_credential",
        ))
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.body(), br#"{"access_token":"T","expires_in":7200}"#);
    assert_eq!(
        first.headers()["content-type"],
        "application/json; charset=utf-8"
    );

    let second = replay
        .send(post(
            "/card/code/get?access_token=T",
            r#"{"card_id":"pFS7","code":"12312313"}"#,
        ))
        .unwrap();
    assert_eq!(second.body(), br#"{"errcode":0,"errmsg":"ok"}"#);
    assert_eq!(replay.remaining(), 1);

    let third = replay
        .send(post("/card/code/consume?access_token=T", "anything"))
        .expect_err("canned error");
    assert_eq!(third.kind(), TransportErrorKind::Timeout);

    assert_eq!(replay.requests().len(), 3);
    assert!(replay.mismatches().is_empty());
    replay.finish().unwrap();
    replay.assert_done();
}

#[test]
fn a_body_mismatch_names_the_field_and_is_recorded() {
    let replay = ReplayTransport::new([
        Exchange::new(
            ExpectedRequest::post("/card/qrcode/create").query("access_token", "T").json_body(
                json!({"action_name": "QR_CARD", "action_info": {"card": {"card_id": "p1", "code": "1"}}}),
            ),
            json_response(200, "{}"),
        ),
        Exchange::new(ExpectedRequest::get("/later"), json_response(200, "{}")),
    ]);

    let message = mismatch_of(replay.send(post(
        "/card/qrcode/create?access_token=T",
        r#"{"action_name":"QR_CARD","action_info":{"card":{"card_id":"p1","code":"2"}}}"#,
    )));
    assert_eq!(
        message,
        r#"request 1 (POST /card/qrcode/create): body.action_info.card.code: expected "1", got "2""#
    );
    // The expectation stays at the head: a corrected request still matches it.
    assert_eq!(replay.remaining(), 2);
    replay
        .send(post(
            "/card/qrcode/create?access_token=T",
            r#"{"action_info":{"card":{"code":"1","card_id":"p1"}},"action_name":"QR_CARD"}"#,
        ))
        .unwrap();

    let error = replay
        .finish()
        .expect_err("a mismatch and an unmet expectation");
    assert_eq!(error.mismatches(), std::slice::from_ref(&message));
    assert_eq!(error.unmet(), ["GET /later"]);
    let text = error.to_string();
    assert!(text.contains(&message), "{text}");
    assert!(text.contains("GET /later"), "{text}");
}

#[test]
fn method_path_query_header_and_extra_request_mismatches() {
    let expected = || {
        ExpectedRequest::post("/card/get")
            .query("access_token", "SECRET-TOKEN")
            .query("lang", "zh_CN")
            .header("content-type", "application/json")
            .json_body(json!({"card_id": "p1"}))
    };
    let replay = ReplayTransport::new([Exchange::new(expected(), json_response(200, "{}"))]);
    let ok_body = r#"{"card_id":"p1"}"#;

    let m = mismatch_of(replay.send(get("/card/get?access_token=SECRET-TOKEN&lang=zh_CN")));
    assert_eq!(
        m,
        "request 1 (GET /card/get): method: expected POST, got GET"
    );

    let m = mismatch_of(replay.send(post(
        "/card/got?access_token=SECRET-TOKEN&lang=zh_CN",
        ok_body,
    )));
    assert_eq!(
        m,
        r#"request 2 (POST /card/got): path: expected "/card/get", got "/card/got""#
    );

    let m = mismatch_of(replay.send(post("/card/get?access_token=SECRET-TOKEN&lang=en", ok_body)));
    assert_eq!(
        m,
        r#"request 3 (POST /card/get): query lang: expected "zh_CN", got "en""#
    );

    let m = mismatch_of(replay.send(post("/card/get?access_token=SECRET-TOKEN", ok_body)));
    assert_eq!(
        m,
        r#"request 4 (POST /card/get): query lang: missing (expected "zh_CN")"#
    );

    let m = mismatch_of(replay.send(post(
        "/card/get?access_token=SECRET-TOKEN&lang=zh_CN&debug=1",
        ok_body,
    )));
    assert_eq!(
        m,
        r#"request 5 (POST /card/get): query debug: unexpected parameter (got "1")"#
    );

    let no_header = http::Request::post(format!(
        "{BASE}/card/get?access_token=SECRET-TOKEN&lang=zh_CN"
    ))
    .body(ok_body.as_bytes().to_vec())
    .unwrap();
    let m = mismatch_of(replay.send(no_header));
    assert_eq!(
        m,
        r#"request 6 (POST /card/get): header content-type: missing (expected "application/json")"#
    );

    let m = mismatch_of(replay.send(post(
        "/card/get?access_token=SECRET-TOKEN&lang=zh_CN",
        "not json",
    )));
    assert!(
        m.starts_with("request 7 (POST /card/get): body: expected JSON"),
        "{m}"
    );

    // The right request finally matches; one more is unexpected.
    replay
        .send(post(
            "/card/get?lang=zh_CN&access_token=SECRET-TOKEN",
            ok_body,
        ))
        .unwrap();
    let m = mismatch_of(replay.send(get("/card/get")));
    assert_eq!(
        m,
        "request 9 (GET /card/get): no more requests were expected"
    );
    assert_eq!(replay.mismatches().len(), 8);
}

#[test]
fn secret_query_values_are_never_printed() {
    let replay = ReplayTransport::new([Exchange::new(
        ExpectedRequest::get("/cgi-bin/token")
            .query("access_token", "EXPECTED-SECRET")
            .query("secret", "APP-SECRET"),
        json_response(200, "{}"),
    )]);
    let m = mismatch_of(replay.send(get(
        "/cgi-bin/token?access_token=ACTUAL-SECRET&secret=APP-SECRET",
    )));
    assert_eq!(
        m,
        "request 1 (GET /cgi-bin/token): query access_token: value differs (not shown: secret)"
    );
    let m = mismatch_of(replay.send(get("/cgi-bin/token?secret=APP-SECRET")));
    assert_eq!(
        m,
        "request 2 (GET /cgi-bin/token): query access_token: missing"
    );
    let m = mismatch_of(replay.send(get(
        "/cgi-bin/token?access_token=EXPECTED-SECRET&secret=APP-SECRET&api_ticket=TICKET-X",
    )));
    assert_eq!(
        m,
        "request 3 (GET /cgi-bin/token): query api_ticket: unexpected parameter"
    );

    let everything = format!(
        "{:?} {:?} {}",
        replay,
        replay.mismatches(),
        replay.finish().unwrap_err()
    );
    for secret in ["EXPECTED-SECRET", "ACTUAL-SECRET", "APP-SECRET", "TICKET-X"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    let debug = format!(
        "{:?}",
        ExpectedRequest::post("/x?access_token=HIDDEN&a=1")
            .json_body(json!({"appid": "wx1", "secret": "HIDDEN-TOO"}))
    );
    assert!(
        !debug.contains("HIDDEN") && debug.contains("a=1") && debug.contains("wx1"),
        "{debug}"
    );
}

#[test]
fn query_order_and_encoding_do_not_matter() {
    let replay = ReplayTransport::new([Exchange::new(
        ExpectedRequest::get("/search")
            .query("b", "2")
            .query("a", "1")
            .query("name", "会员 卡")
            .query("a", "0"),
        bytes_response(204, ""),
    )]);
    let response = replay
        .send(get("/search?a=0&name=%E4%BC%9A%E5%91%98+%E5%8D%A1&a=1&b=2"))
        .unwrap();
    assert_eq!(response.status(), 204);
    replay.assert_done();
}

#[test]
fn json_bodies_compare_by_meaning() {
    let replay = ReplayTransport::new([
        Exchange::new(
            ExpectedRequest::post("/a")
                .json_body(json!({"x": 1, "y": [true, null], "z": {"k": "值"}})),
            json_response(200, "{}"),
        ),
        // `body` with JSON text compares as JSON too.
        Exchange::new(
            ExpectedRequest::post("/b").body(r#"{"list": [1, 2], "n": 1.0}"#),
            json_response(200, "{}"),
        ),
        // Not JSON: byte for byte.
        Exchange::new(
            ExpectedRequest::post("/c").body("a=1&b=2"),
            json_response(200, "{}"),
        ),
    ]);
    replay
        .send(post(
            "/a",
            "{\n  \"z\" : { \"k\" : \"值\" },\n  \"y\": [true,null], \"x\": 1.0\n}",
        ))
        .unwrap();
    replay.send(post("/b", r#"{"n":1,"list":[1,2]}"#)).unwrap();
    let m = mismatch_of(replay.send(post("/c", "a=1&b=3")));
    assert_eq!(
        m,
        r#"request 3 (POST /c): body: differs at byte 6: expected 7 bytes "a=1&b=2", got 7 bytes "a=1&b=3""#
    );
    replay.send(post("/c", "a=1&b=2")).unwrap();
    assert_eq!(replay.mismatches().len(), 1);
}

#[test]
fn default_expectation_is_an_empty_body() {
    let replay = ReplayTransport::new([Exchange::new(
        ExpectedRequest::get("/x"),
        json_response(200, "{}"),
    )]);
    let request = http::Request::get(format!("{BASE}/x"))
        .body(b"{}".to_vec())
        .unwrap();
    let m = mismatch_of(replay.send(request));
    assert_eq!(
        m,
        r#"request 1 (GET /x): body: expected none, got 2 bytes "{}""#
    );
}

#[test]
fn unmet_expectations_are_detected_at_the_end() {
    let replay = ReplayTransport::new([
        Exchange::new(ExpectedRequest::get("/one"), json_response(200, "{}")),
        Exchange::new(
            ExpectedRequest::post("/two").any_body(),
            json_response(200, "{}"),
        ),
    ]);
    replay.send(get("/one")).unwrap();
    let error = replay.finish().expect_err("unmet");
    assert_eq!(error.unmet(), ["POST /two"]);
    assert!(error.mismatches().is_empty());
    let panic = std::panic::catch_unwind(|| replay.assert_done()).expect_err("panics");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("1 expected request(s) never arrived") && text.contains("POST /two"),
        "{text}"
    );
}

#[test]
fn clones_share_state_and_push_appends() {
    let replay = ReplayTransport::default();
    let handed_out = replay.clone();
    replay.push(Exchange::new(
        ExpectedRequest::get("/x"),
        json_response(200, "{}"),
    ));
    handed_out.send(get("/x")).unwrap();
    replay.assert_done();
    // Works behind a trait object too.
    let dyn_transport: std::sync::Arc<dyn BlockingTransport> = std::sync::Arc::new(replay.clone());
    replay.push(Exchange::new(
        ExpectedRequest::get("/y"),
        json_response(200, "{}"),
    ));
    dyn_transport.send(get("/y")).unwrap();
    replay.assert_done();
}

#[tokio::test]
async fn replay_and_static_responder_are_async_transports_too() {
    use card_transport::AsyncTransport;
    let replay = ReplayTransport::new([Exchange::new(
        ExpectedRequest::post("/card/x").json_body(json!({"a": "中文"})),
        json_response(200, r#"{"errcode":0}"#),
    )]);
    let transport: std::sync::Arc<dyn AsyncTransport> = std::sync::Arc::new(replay.clone());
    let response = transport
        .send(post("/card/x", r#"{"a":"中文"}"#))
        .await
        .unwrap();
    assert_eq!(response.body(), br#"{"errcode":0}"#);
    let error = transport
        .send(post("/card/x", "{}"))
        .await
        .expect_err("unexpected");
    assert_eq!(error.kind(), TransportErrorKind::Other);
    assert_eq!(replay.mismatches().len(), 1);

    let responder = StaticResponder::new(json_response(503, "busy"));
    let a = AsyncTransport::send(&responder, get("/1")).await.unwrap();
    let b = BlockingTransport::send(&responder, get("/2")).unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (503, 503));
    assert_eq!(responder.requests_seen(), 2);
}
