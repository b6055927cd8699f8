//! Criterion benches of card-model's pure work: request serialization, response parsing,
//! the `user_get_card` event parser and the `card_ext` signature (issue 7).
//!
//! Run: `cargo bench -p card-model --bench model`.

use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};
use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
use card_model::message::{
    MassFilter, MassSendByTag, MassSendToOpenIds, PreviewCard, PreviewRecipient,
    SendCustomerServiceCard, WxCard,
};
use card_model::mpnews::GetArticleHtml;
use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem};
use card_model::whitelist::SetTestWhitelist;
use card_model::{Endpoint, card_signature, decode_response, encode_body, parse_event};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const CARD: &str = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc";

fn codes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{:012}", 100_000_000 + i)).collect()
}

fn encode<E: Endpoint>(c: &mut Criterion, name: &str, endpoint: &E) {
    c.bench_function(&format!("encode/{name}"), |b| {
        b.iter(|| encode_body(black_box(endpoint)))
    });
}

fn decode<E: Endpoint>(c: &mut Criterion, name: &str, body: &str) {
    // Fail loudly at start-up if the sample does not parse: the bench must measure success.
    if let Err(error) = decode_response::<E>(body.as_bytes()) {
        panic!("sample response for {name} does not parse: {error}");
    }
    c.bench_function(&format!("decode/{name}"), |b| {
        b.iter(|| decode_response::<E>(black_box(body.as_bytes())))
    });
}

fn requests(c: &mut Criterion) {
    encode(c, "deposit_100", &DepositCodes::new(CARD, codes(100)));
    encode(c, "getdepositcount", &GetDepositCount::new(CARD));
    encode(c, "checkcode_100", &CheckCodes::new(CARD, codes(100)));
    encode(
        c,
        "qrcode_card",
        &CreateQrCode::card(
            QrCard::new(CARD)
                .code("198374613512")
                .outer_str("12b")
                .is_unique_code(false),
        )
        .expire_seconds(1800),
    );
    encode(
        c,
        "qrcode_multiple_5",
        &CreateQrCode::multiple(
            (0..5)
                .map(|_| QrCardItem::new(CARD).outer_str("12b"))
                .collect(),
        ),
    );
    encode(
        c,
        "landingpage_5",
        &CreateLandingPage::new(
            "http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZ/0",
            "惠城优惠大派送",
            LandingScene::H5,
            (0..5)
                .map(|_| LandingCard::new(CARD, "http://test.digilinx.cn/wxApi/Uploads/test.png"))
                .collect(),
        ),
    );
    encode(c, "gethtml", &GetArticleHtml::new(CARD));
    encode(
        c,
        "testwhitelist",
        &SetTestWhitelist::new(
            vec!["o1Pj9jmZvwSyyyyyyBa4aULW2mA".into()],
            vec!["eddy".into()],
        ),
    );
    encode(
        c,
        "mass_sendall",
        &MassSendByTag::new(MassFilter::tag(2), WxCard::new(CARD)),
    );
    encode(
        c,
        "mass_send_100",
        &MassSendToOpenIds::new(
            (0..100)
                .map(|i| format!("oR5Gjjl_eiZoUpGozMo7dbBJ{i:04}"))
                .collect(),
            WxCard::new(CARD),
        ),
    );
    encode(
        c,
        "mass_preview",
        &PreviewCard::new(
            PreviewRecipient::OpenId("OPENID1234567890".into()),
            WxCard::new(CARD),
        ),
    );
    encode(
        c,
        "custom_send",
        &SendCustomerServiceCard::new("OPENID1234567890", WxCard::new(CARD)),
    );
}

fn responses(c: &mut Criterion) {
    decode::<DepositCodes>(
        c,
        "deposit",
        r#"{"errcode":0,"errmsg":"ok","succ_code":100,"duplicate_code":0,"fail_code":0}"#,
    );
    decode::<GetDepositCount>(
        c,
        "getdepositcount",
        r#"{"errcode":0,"errmsg":"ok","count":123}"#,
    );
    let exist = codes(100)
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(",");
    decode::<CheckCodes>(
        c,
        "checkcode_100",
        &format!(r#"{{"errcode":0,"errmsg":"ok","exist_code":[{exist}],"not_exist_code":[]}}"#),
    );
    decode::<CreateQrCode>(
        c,
        "qrcode",
        r#"{"errcode":0,"errmsg":"ok","ticket":"gQHB8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0JIV3lhX3psZmlvSDZmWGVMMTZvAAIEsNnKVQMEIAMAAA==","expire_seconds":1800,"url":"http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o","show_qrcode_url":"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH98DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0czVzRlSWpsamlyM2plWTNKVktvAAIE6SfgVQMEgDPhAQ%3D%3D"}"#,
    );
    decode::<CreateLandingPage>(
        c,
        "landingpage",
        r#"{"errcode":0,"errmsg":"ok","url":"www.test.url","page_id":1}"#,
    );
    decode::<GetArticleHtml>(
        c,
        "gethtml",
        r#"{"errcode":0,"errmsg":"ok","content":"<iframe class=\"res_iframe card_iframe js_editor_card\" data-src=\"http://mp.weixin.qq.com/bizmall/appmsgcard?action=show&biz=MjM5OTAwODk4MA%3D%3D&cardid=p1Pj9jnXTLf2nF7lccYScFUYqJ0&wechat_card_js=1#wechat_redirect\"></iframe>"}"#,
    );
    decode::<SetTestWhitelist>(c, "testwhitelist", r#"{"errcode":0,"errmsg":"ok"}"#);
    decode::<MassSendByTag>(
        c,
        "mass_sendall",
        r#"{"errcode":0,"errmsg":"send job submission success","msg_id":34182,"msg_data_id":206227730}"#,
    );
    decode::<PreviewCard>(
        c,
        "mass_preview",
        r#"{"errcode":0,"errmsg":"preview success","msg_id":34182}"#,
    );
    // An error answer: the envelope is read and turned into a WeChatError.
    let error = r#"{"errcode":40109,"errmsg":"code count exceed the limit rid: 6567a3c1-1a2b3c4d-5e6f7a8b"}"#;
    assert!(decode_response::<DepositCodes>(error.as_bytes()).is_err());
    c.bench_function("decode/error_envelope", |b| {
        b.iter(|| decode_response::<DepositCodes>(black_box(error.as_bytes())))
    });
}

const USER_GET_CARD: &str = "<xml>\
<ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName>\
<FromUserName><![CDATA[oZI8Fj040-be6rlDohc6gkoPOQTQ]]></FromUserName>\
<CreateTime>1472551036</CreateTime>\
<MsgType><![CDATA[event]]></MsgType>\
<Event><![CDATA[user_get_card]]></Event>\
<CardId><![CDATA[pZI8Fjwsy5fVPRBeD78J4RmqVvBc]]></CardId>\
<IsGiveByFriend>0</IsGiveByFriend>\
<UserCardCode><![CDATA[226009850808]]></UserCardCode>\
<FriendUserName><![CDATA[]]></FriendUserName>\
<OuterId>0</OuterId>\
<OldUserCardCode><![CDATA[]]></OldUserCardCode>\
<OuterStr><![CDATA[12b]]></OuterStr>\
<IsRestoreMemberCard>0</IsRestoreMemberCard>\
<IsRecommendByFriend>0</IsRecommendByFriend>\
<UnionId>o6_bmasdasdsad6_2sgVt7hMZOPfL</UnionId>\
</xml>";

fn events(c: &mut Criterion) {
    if let Err(error) = parse_event(USER_GET_CARD.as_bytes()) {
        panic!("sample user_get_card does not parse: {error}");
    }
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("user_get_card", |b| {
        b.iter(|| parse_event(black_box(USER_GET_CARD.as_bytes())))
    });
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let values = [
        "pFS7Fjg8kV1IdDz01r4SQwMkuCKc",
        "E0o2-at6NcC2OsJiQTlwlP-kYkKUhUKhLsPrPoJ3Hfk7Dli1UeLV2KnsR5t5pzZl5T0dm_rwn0nYo0F2Zt7ryA",
        "1404021000",
        "jonyqin",
        "198374613512",
        "o1Pj9jmZvwSyyyyyyBa4aULW2mA",
    ];
    c.bench_function("card_ext/signature", |b| {
        b.iter(|| card_signature(black_box(&values)))
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = requests, responses, events, signatures
}
criterion_main!(benches);
