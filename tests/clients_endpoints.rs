//! Every endpoint through the named method of both clients, against wiremock on
//! 127.0.0.1: the exact request (method, path, access_token, content type, JSON body)
//! and the typed result. Plus `card_ext` and the mass-send timeout rule.

use card_model::code::{CheckCodes, CodeTally, DepositCodes, GetDepositCount};
use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
use card_model::message::{
    MassSendByTag, MassSendToOpenIds, PreviewCard, SendCustomerServiceCard, WxCard,
};
use card_model::mpnews::GetArticleHtml;
use card_model::qrcode::{CreateQrCode, QrCard};
use card_model::token::GetCardApiTicket;
use card_model::whitelist::SetTestWhitelist;
use card_model::{AccessToken, ApiTicket, CardExt};
use card_transport::TransportConfig;
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer};
use wxcard_tests::clients::{
    AnyClient, Flavor, TOKEN, builder, fast_retry, json as reply, token_mock,
};
use wxcard_tests::{any_client, on_both_clients};

const CARD: &str = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc";

/// A server with the token endpoint (fetched exactly once) and `POST path` expecting
/// exactly `body` with the token, once, answering `response`.
async fn server_for(path_: &str, body: Value, response: Value) -> MockServer {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(path_))
        .and(query_param("access_token", TOKEN))
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(body_json(body))
        .respond_with(reply(response))
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// Calls the named method `$m` on either client.
macro_rules! named {
    ($client:expr, $m:ident, $req:expr) => {
        match &$client {
            AnyClient::Blocking(c) => tokio::task::block_in_place(|| c.$m($req)),
            AnyClient::Async(c) => c.$m($req).await,
        }
    };
}

async fn create_qr_code(flavor: Flavor) {
    let server = server_for(
        "/card/qrcode/create",
        json!({"action_name":"QR_CARD","expire_seconds":1800,
               "action_info":{"card":{"card_id":CARD,"code":"198374613512","outer_id":1}}}),
        json!({"errcode":0,"errmsg":"ok","ticket":"gQHB8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0JIV3lhX3psZmlvSDZmWGVMMTZvAAIEsNnKVQMEIAMAAA==",
               "expire_seconds":"1800","url":"http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o",
               "show_qrcode_url":"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=x"}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req =
        CreateQrCode::card(QrCard::new(CARD).code("198374613512").outer_id(1)).expire_seconds(1800);
    let t = named!(client, create_qr_code, &req).unwrap();
    assert!(t.ticket.starts_with("gQHB8Do"));
    assert_eq!(t.expire_seconds, Some(1800));
    assert_eq!(t.url, "http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o");
    server.verify().await;
}

async fn create_landing_page(flavor: Flavor) {
    let server = server_for(
        "/card/landingpage/create",
        json!({"banner":"http://mmbiz.qpic.cn/banner.jpg","page_title":"惠城优惠大派送",
               "can_share":true,"scene":"SCENE_NEAR_BY",
               "card_list":[{"card_id":CARD,"thumb_url":"http://mmbiz.qpic.cn/thumb.jpg"}]}),
        json!({"errcode":0,"errmsg":"ok","url":"www.test.url","page_id":1}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = CreateLandingPage::new(
        "http://mmbiz.qpic.cn/banner.jpg",
        "惠城优惠大派送",
        LandingScene::NearBy,
        vec![LandingCard::new(CARD, "http://mmbiz.qpic.cn/thumb.jpg")],
    );
    let page = named!(client, create_landing_page, &req).unwrap();
    assert_eq!((page.url.as_str(), page.page_id), ("www.test.url", 1));
    server.verify().await;
}

async fn deposit_codes(flavor: Flavor) {
    let server = server_for(
        "/card/code/deposit",
        json!({"card_id":CARD,"code":["11111","22222","33333"]}),
        json!({"errcode":0,"errmsg":"ok","succ_code":2,"duplicate_code":["11111"]}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = DepositCodes::new(CARD, vec!["11111".into(), "22222".into(), "33333".into()]);
    let r = named!(client, deposit_codes, &req).unwrap();
    assert_eq!(r.deposited, Some(CodeTally::Count(2)));
    assert_eq!(r.duplicates, Some(CodeTally::Codes(vec!["11111".into()])));
    assert_eq!(r.failed, None);
    server.verify().await;
}

async fn get_deposit_count(flavor: Flavor) {
    let server = server_for(
        "/card/code/getdepositcount",
        json!({"card_id":CARD}),
        json!({"errcode":0,"errmsg":"ok","count":123}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let r = named!(client, get_deposit_count, &GetDepositCount::new(CARD)).unwrap();
    assert_eq!(r.count, 123);
    server.verify().await;
}

async fn check_codes(flavor: Flavor) {
    let server = server_for(
        "/card/code/checkcode",
        json!({"card_id":CARD,"code":["11111","22222","33333"]}),
        json!({"errcode":0,"errmsg":"ok","exist_code":["11111","22222"],"not_exist_code":["33333"]}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = CheckCodes::new(CARD, vec!["11111".into(), "22222".into(), "33333".into()]);
    let r = named!(client, check_codes, &req).unwrap();
    assert_eq!(r.existing, ["11111", "22222"]);
    assert_eq!(r.missing, ["33333"]);
    server.verify().await;
}

async fn get_article_html(flavor: Flavor) {
    let html = "<iframe class=\"res_iframe card_iframe js_editor_card\" data-src=\"http://mp.weixin.qq.com/bizmall/appmsgcard?action=show\"></iframe>";
    let server = server_for(
        "/card/mpnews/gethtml",
        json!({"card_id":CARD}),
        json!({"errcode":0,"errmsg":"ok","content":html}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let r = named!(client, get_article_html, &GetArticleHtml::new(CARD)).unwrap();
    assert_eq!(r.content, html);
    server.verify().await;
}

async fn set_test_whitelist(flavor: Flavor) {
    let server = server_for(
        "/card/testwhitelist/set",
        json!({"openid":["o1Pj9jmZvwSyyyyyyBa4aULW2mA","o1Pj9jmZvxxxxxxxxxULW2mA"],"username":["afdvvf","abcd"]}),
        json!({"errcode":0,"errmsg":"ok"}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = SetTestWhitelist::new(
        vec![
            "o1Pj9jmZvwSyyyyyyBa4aULW2mA".into(),
            "o1Pj9jmZvxxxxxxxxxULW2mA".into(),
        ],
        vec!["afdvvf".into(), "abcd".into()],
    );
    named!(client, set_test_whitelist, &req).unwrap();
    server.verify().await;
}

async fn mass_send_by_tag(flavor: Flavor) {
    let server = server_for(
        "/cgi-bin/message/mass/sendall",
        json!({"filter":{"is_to_all":false,"tag_id":2},"wxcard":{"card_id":CARD},
               "msgtype":"wxcard","clientmsgid":"spring-1"}),
        json!({"errcode":0,"errmsg":"send job submission success","msg_id":34182,"msg_data_id":206227730}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = MassSendByTag::to_tag(2, WxCard::new(CARD)).clientmsgid("spring-1");
    let r = named!(client, mass_send_by_tag, &req).unwrap();
    assert_eq!((r.msg_id, r.msg_data_id), (34182, Some(206227730)));
    server.verify().await;
}

async fn mass_send_to_openids(flavor: Flavor) {
    let server = server_for(
        "/cgi-bin/message/mass/send",
        json!({"touser":["OPENID1","OPENID2"],"wxcard":{"card_id":CARD},"msgtype":"wxcard"}),
        json!({"errcode":0,"errmsg":"send job submission success","msg_id":"34182"}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = MassSendToOpenIds::new(vec!["OPENID1".into(), "OPENID2".into()], WxCard::new(CARD));
    let r = named!(client, mass_send_to_openids, &req).unwrap();
    assert_eq!((r.msg_id, r.msg_data_id), (34182, None));
    server.verify().await;
}

async fn preview_card(flavor: Flavor) {
    let server = server_for(
        "/cgi-bin/message/mass/preview",
        json!({"touser":"OPENID","wxcard":{"card_id":CARD},"msgtype":"wxcard"}),
        json!({"errcode":0,"errmsg":"preview success","msg_id":34182}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = PreviewCard::to_openid("OPENID", WxCard::new(CARD));
    let r = named!(client, preview_card, &req).unwrap();
    assert_eq!(r.msg_id, Some(34182));
    server.verify().await;
}

async fn send_customer_service_card(flavor: Flavor) {
    let server = server_for(
        "/cgi-bin/message/custom/send",
        json!({"touser":"OPENID","msgtype":"wxcard","wxcard":{"card_id":CARD},
               "customservice":{"kf_account":"test1@kftest"}}),
        json!({"errcode":0,"errmsg":"ok"}),
    )
    .await;
    let client = any_client!(flavor, builder(&server));
    let req = SendCustomerServiceCard::new("OPENID", WxCard::new(CARD)).kf_account("test1@kftest");
    named!(client, send_customer_service_card, &req).unwrap();
    server.verify().await;
}

async fn get_card_api_ticket(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .and(query_param("access_token", TOKEN))
        .and(query_param("type", "wx_card"))
        .respond_with(reply(json!({"errcode":0,"errmsg":"ok",
            "ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA","expires_in":7200})))
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(flavor, builder(&server));
    let r = named!(client, get_card_api_ticket, &GetCardApiTicket).unwrap();
    assert_eq!(r.ticket.expose(), "bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA");
    assert_eq!(r.expires_in, 7200);
    server.verify().await;
}

/// `card_ext`: the ticket is fetched once and cached; each card_ext has its own nonce
/// and verifies against the ticket.
async fn card_ext(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/ticket/getticket"))
        .and(query_param("type", "wx_card"))
        .respond_with(reply(
            json!({"errcode":0,"errmsg":"ok","ticket":"TICKET-1","expires_in":7200}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(flavor, builder(&server));
    let sign = |code: Option<&'static str>| {
        let client = client.clone();
        async move {
            match &client {
                AnyClient::Blocking(c) => {
                    tokio::task::block_in_place(|| c.card_ext(CARD, code, Some("OPENID")))
                }
                AnyClient::Async(c) => c.card_ext(CARD, code, Some("OPENID")).await,
            }
        }
    };
    let a: CardExt = sign(Some("1434008071")).await.unwrap();
    let b: CardExt = sign(None).await.unwrap();
    let ticket = ApiTicket::new("TICKET-1");
    assert!(a.verify(CARD, &ticket) && b.verify(CARD, &ticket));
    assert_eq!((a.code(), a.openid()), (Some("1434008071"), Some("OPENID")));
    assert_ne!(a.nonce_str(), b.nonce_str());
    server.verify().await;
}

/// A mass send that times out is not repeated (nor sent to the failover host), even
/// with retries on. The token is given, so the short timeout meets the send alone.
async fn mass_send_timeout_is_not_repeated(flavor: Flavor) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/mass/sendall"))
        .respond_with(
            reply(json!({"errcode":0,"errmsg":"send job submission success","msg_id":1}))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(
        flavor,
        builder(&server)
            .access_token(AccessToken::new(TOKEN))
            .failover([server.uri()])
            .retry(fast_retry().max_attempts(3))
            .transport_config(TransportConfig {
                timeout: Duration::from_millis(300),
                ..TransportConfig::default()
            }),
    );
    let e = named!(
        client,
        mass_send_by_tag,
        &MassSendByTag::to_all(WxCard::new(CARD))
    )
    .unwrap_err();
    assert!(e.is_timeout() && e.maybe_sent(), "{e:?}");
    server.verify().await;
}

/// The same send with a `clientmsgid` is repeatable: WeChat drops a duplicate.
async fn mass_send_with_clientmsgid_is_retried(flavor: Flavor) {
    let server = MockServer::start().await;
    token_mock(TOKEN).expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/mass/send"))
        .and(body_json(json!({"touser":["O1","O2"],"wxcard":{"card_id":CARD},"msgtype":"wxcard","clientmsgid":"id-7"})))
        .respond_with(reply(json!({"errcode":-1,"errmsg":"system error"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/mass/send"))
        .respond_with(reply(
            json!({"errcode":0,"errmsg":"send job submission success","msg_id":9}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = any_client!(flavor, builder(&server).retry(fast_retry()));
    let req = MassSendToOpenIds::new(vec!["O1".into(), "O2".into()], WxCard::new(CARD))
        .clientmsgid("id-7");
    assert_eq!(
        named!(client, mass_send_to_openids, &req).unwrap().msg_id,
        9
    );
    server.verify().await;
}

/// An invalid request is refused before anything is sent (no token fetch either).
async fn invalid_request_sends_nothing(flavor: Flavor) {
    let server = MockServer::start().await;
    let client = any_client!(flavor, builder(&server));
    let too_many: Vec<String> = (0..101).map(|i| format!("code{i}")).collect();
    let e = named!(client, deposit_codes, &DepositCodes::new(CARD, too_many)).unwrap_err();
    assert!(
        matches!(e, card_api::Error::Validation(_)) && !e.maybe_sent(),
        "{e:?}"
    );
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

on_both_clients!(
    create_qr_code,
    create_landing_page,
    deposit_codes,
    get_deposit_count,
    check_codes,
    get_article_html,
    set_test_whitelist,
    mass_send_by_tag,
    mass_send_to_openids,
    preview_card,
    send_customer_service_card,
    get_card_api_ticket,
    card_ext,
    mass_send_timeout_is_not_repeated,
    mass_send_with_clientmsgid_is_retried,
    invalid_request_sends_nothing,
);
