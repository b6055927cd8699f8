//! Answers that WeChat, proxies and load balancers really send, fed to both clients by a
//! loopback responder with canned raw bytes: a byte order mark, bodies at the response
//! limit, an error page of invalid bytes, a GBK `errmsg`, a gateway page that echoes the
//! access token, credential answers that do not decode, and a base URL with a password.

use std::net::SocketAddr;

use card_api::{ClientBuilder, Error};
use card_model::AppSecret;
use card_model::code::GetDepositCount;
use card_model::mpnews::GetArticleHtml;
use card_model::token::{GetAccessToken, GetCardApiTicket};
use card_transport::{DEFAULT_MAX_RESPONSE_BYTES, TransportErrorKind};
use wxcard_tests::canned::{self, Seen};
use wxcard_tests::clients::{APPID, AnyClient, Flavor, SECRET, TOKEN, fast_retry};
use wxcard_tests::{any_client, on_both_clients};

/// "系统繁忙" in GBK, which is not UTF-8.
const GBK: &[u8] = b"\xCF\xB5\xCD\xB3\xB7\xB1\xC3\xA6";
const TICKET: &str = "TICKET-never-printed-8d2f";

/// The one place clients are built: against a responder that hands out [`TOKEN`] and
/// answers every other call with `answer(seen)`.
fn client(flavor: Flavor, answer: fn(&Seen) -> Vec<u8>) -> AnyClient {
    let addr = canned::serve(move |seen: &Seen| {
        if seen.path == "/cgi-bin/token" {
            canned::ok(format!(r#"{{"access_token":"{TOKEN}","expires_in":7200}}"#).as_bytes())
        } else {
            answer(seen)
        }
    });
    any_client!(flavor, builder(&format!("http://{addr}")))
}

fn builder<C>(base_url: &str) -> ClientBuilder<C> {
    ClientBuilder::new()
        .base_url(base_url)
        .app_credentials(APPID, AppSecret::new(SECRET))
        .retry(fast_retry())
}

fn shown(error: &Error) -> String {
    format!("{error:?} {error}")
}

async fn a_byte_order_mark_before_the_json_is_accepted(flavor: Flavor) {
    let client = client(flavor, |_| {
        canned::ok(b"\xEF\xBB\xBF{\"errcode\":0,\"errmsg\":\"ok\",\"count\":5}")
    });
    let count = client
        .call(&GetDepositCount::new("pCard"))
        .await
        .expect("count");
    assert_eq!(count.count, 5);
}

/// A `gethtml` answer of exactly `len` bytes, `len` taken from the card id.
fn sized_answer(seen: &Seen) -> Vec<u8> {
    let request: serde_json::Value = serde_json::from_slice(&seen.body).expect("JSON");
    let len: usize = request["card_id"]
        .as_str()
        .and_then(|id| id.strip_prefix('n'))
        .and_then(|n| n.parse().ok())
        .expect("card id n<len>");
    let head = br#"{"errcode":0,"errmsg":"ok","content":""#;
    let mut body = head.to_vec();
    body.resize(len - 2, b'a');
    body.extend_from_slice(b"\"}");
    canned::ok(&body)
}

async fn the_default_limit_is_the_largest_answer_accepted(flavor: Flavor) {
    let client = client(flavor, sized_answer);
    let limit = usize::try_from(DEFAULT_MAX_RESPONSE_BYTES).expect("fits");
    for len in [limit - 1, limit] {
        let html = client
            .call(&GetArticleHtml::new(format!("n{len}")))
            .await
            .unwrap_or_else(|e| panic!("{len} bytes: {e:?}"));
        assert!(html.content.len() > limit - 100);
    }
    let error = client
        .call(&GetArticleHtml::new(format!("n{}", limit + 1)))
        .await
        .expect_err("one byte over the limit");
    assert!(
        matches!(&error, Error::Transport { source, .. } if source.kind() == TransportErrorKind::TooLarge),
        "{error:?}"
    );
}

async fn an_error_page_of_invalid_bytes_is_kept_bounded_and_marked_cut(flavor: Flavor) {
    let client = client(flavor, |_| canned::answer("403 Forbidden", &[0xFF; 4095]));
    let error = client
        .call(&GetDepositCount::new("pCard"))
        .await
        .expect_err("403");
    let Error::Status { status, body } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(status.as_u16(), 403);
    assert!(
        body.text().len() <= card_api::MAX_KEPT_BODY,
        "{}",
        body.text().len()
    );
    assert!(body.text().chars().all(|c| c == '\u{FFFD}'));
    assert_eq!(body.total_len(), 4095);
    assert!(body.is_truncated());
}

async fn a_gbk_errmsg_does_not_hide_the_errcode(flavor: Flavor) {
    let client = client(flavor, |_| {
        canned::ok(&[&br#"{"errcode":40056,"errmsg":""#[..], GBK, b"\"}"].concat())
    });
    let error = client
        .call(&GetDepositCount::new("pCard"))
        .await
        .expect_err("40056");
    let Error::WeChat(wechat) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(wechat.code.as_i64(), 40056);
    assert_eq!(wechat.errmsg, String::from_utf8_lossy(GBK));
}

async fn a_gateway_page_that_echoes_the_token_is_scrubbed(flavor: Flavor) {
    let client = client(flavor, |seen| {
        let page = format!(
            "<h1>403</h1><p>{} {}?{}</p>",
            seen.method, seen.path, seen.query
        );
        canned::answer("403 Forbidden", page.as_bytes())
    });
    let error = client
        .call(&GetDepositCount::new("pCard"))
        .await
        .expect_err("403");
    let Error::Status { body, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        body.text(),
        "<h1>403</h1><p>POST /card/code/getdepositcount?access_token=[redacted]</p>"
    );
    assert!(!shown(&error).contains(TOKEN), "{error:?}");
}

async fn credential_answers_that_do_not_decode_keep_no_secret(flavor: Flavor) {
    let client = client(flavor, |seen| match seen.path.as_str() {
        "/cgi-bin/ticket/getticket" => canned::ok(
            format!(r#"{{"errcode":0,"errmsg":"ok","ticket":"{TICKET}","expires_in":"{TICKET}"}}"#)
                .as_bytes(),
        ),
        _ => canned::answer("404 Not Found", b""),
    });
    // the generic call of the token endpoint: an answer whose expires_in echoes the token
    let token_client = {
        let addr = canned::serve(|_: &Seen| {
            canned::ok(format!(r#"{{"access_token":"{TOKEN}","expires_in":"{TOKEN}"}}"#).as_bytes())
        });
        any_client!(flavor, builder(&format!("http://{addr}")))
    };
    let error = token_client
        .call(&GetAccessToken::new(APPID, AppSecret::new(SECRET)))
        .await
        .expect_err("undecodable");
    assert!(
        matches!(&error, Error::Decode { body, .. } if body.text().is_empty() && body.is_truncated()),
        "{error:?}"
    );
    assert!(!shown(&error).contains(TOKEN), "{}", shown(&error));
    assert!(!shown(&error).contains(SECRET), "{}", shown(&error));

    // a gateway page that echoes the token request, app secret and all
    let echo_client = {
        let addr = canned::serve(|seen: &Seen| {
            canned::answer(
                "403 Forbidden",
                format!("<p>denied: {}?{}</p>", seen.path, seen.query).as_bytes(),
            )
        });
        any_client!(flavor, builder(&format!("http://{addr}")))
    };
    let error = echo_client
        .call(&GetAccessToken::new(APPID, AppSecret::new(SECRET)))
        .await
        .expect_err("403");
    assert!(
        matches!(&error, Error::Status { body, .. } if body.text().is_empty() && body.is_truncated()),
        "{error:?}"
    );
    assert!(!shown(&error).contains(SECRET), "{}", shown(&error));

    let error = client
        .call(&GetCardApiTicket)
        .await
        .expect_err("undecodable");
    assert!(
        matches!(&error, Error::Decode { body, .. } if body.text().is_empty()),
        "{error:?}"
    );
    assert!(!shown(&error).contains(TICKET), "{}", shown(&error));
}

async fn a_password_in_the_base_url_is_not_printed(flavor: Flavor) {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let client = any_client!(flavor, builder(&format!("http://gw:Pa55-w0rd@{addr}")));
    let debug = client.debug();
    assert!(!debug.contains("Pa55-w0rd"), "{debug}");
    assert!(debug.contains("gw:[redacted]@"), "{debug}");
}

on_both_clients!(
    a_byte_order_mark_before_the_json_is_accepted,
    the_default_limit_is_the_largest_answer_accepted,
    an_error_page_of_invalid_bytes_is_kept_bounded_and_marked_cut,
    a_gbk_errmsg_does_not_hide_the_errcode,
    a_gateway_page_that_echoes_the_token_is_scrubbed,
    credential_answers_that_do_not_decode_keep_no_secret,
    a_password_in_the_base_url_is_not_printed,
);
