//! Every endpoint of the card model against the spec (`shared/spec/card-distribution.md`):
//! serialization compared with the documented example payloads (as `serde_json::Value`,
//! after repairing each documented defect by hand, visibly, in the test), parsing of the
//! documented examples, the documented responses, and every validation limit at its edge
//! (accepted) and one past it (rejected, naming field and limit).

use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
use card_model::limits::{MAX_CODE_CHARS, MAX_CODES_PER_CALL};
use card_model::message::{
    MassFilter, MassSendByTag, MassSendToOpenIds, PreviewCard, PreviewRecipient,
    SendCustomerServiceCard, WxCard,
};
use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem};
use card_model::{
    Ack, ApiTicket, CardExt, CheckCodes, CodeCheck, DepositCodes, DepositResult, Endpoint,
    GetArticleHtml, GetDepositCount, HttpMethod, Problem, SetTestWhitelist, ValidationError,
    decode_response, encode_body,
};
use serde_json::{Value, json};

// --- the documented blocks, verbatim --------------------------------------------------

/// seed-pre:1, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_1: &str = " {
\"action_name\": \"QR_CARD\",\x20
\"expire_seconds\": 1800,
\"action_info\": {
\"card\": {
\"card_id\": \"pFS7Fjg8kV1IdDz01r4SQwMkuCKc\",\x20
\"code\": \"198374613512\",
\"openid\": \"oFS7Fjl0WsZ9AMZqrI80nbIq8xrA\",
\"is_unique_code\": false ,
\"outer_id\"\u{a0}: 1
  }
 }
}
";

/// seed-pre:2, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_2: &str = "{
\"action_name\": \"QR_MULTIPLE_CARD\",\x20
\"action_info\": {
\"multiple_card\": {
\"card_list\": [
{
\"card_id\": \"p1Pj9jgj3BcomSgtuW8B1wl-wo88\",
\"code\":\"2392583481\"
},\x20
{
\"card_id\": \"p1Pj9jgj3BcomSgtuW8B1wl-wo98\",
\"code\":\"2392583482\"
}
]
}
}
}
";

/// seed-pre:3, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_3: &str = "{
 \"errcode\": 0,
 \"errmsg\": \"ok\",
 \"ticket\":      \"gQHB8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0JIV3lhX3psZmlvSDZmWGVMMTZvAAIEsNnKVQMEIAMAAA==\",//获取ticket后需调用换取二维码接口获取二维码图片\u{ff0c}详情见字段说明。
 \"expire_seconds\": 1800,
 \"url\": \"http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o \",
 \"show_qrcode_url\": \" https://mp.weixin.qq.com/cgi-bin/showqrcode?  ticket=gQH98DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0czVzRlSWpsamlyM2plWTNKVktvAAIE6SfgVQMEgDPhAQ%3D%3D\"
 }
";

/// seed-pre:5, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_5: &str = "{\x20\x20
\"banner\":\"http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZJkmG8xXhiaHqkKSVMMWeN3hLut7X7h  icFN\",
   \"page_title\": \"惠城优惠大派送\",
   \"can_share\": true,
   \"scene\": \"SCENE_NEAR_BY\",
   \"card_list\": [
       {
           \"card_id\": \"pXch-jnOlGtbuWwIO2NDftZeynRE\",
           \"thumb_url\": \"www.qq.com/a.jpg\"
       },
       {
           \"card_id\": \"pXch-jnAN-ZBoRbiwgqBZ1RV60fI\",
           \"thumb_url\": \"www.qq.com/b.jpg\"
       }
   ]
}
";

/// seed-pre:6, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_6: &str = "{
     \"errcode\":0,
     \"errmsg\":\"ok\",
     \"url\":\"www.test.url\",
     \"page_id\":1
 }
";

/// seed-pre:8, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_8: &str = "{
   \"card_id\": \"pDF3iY0_dVjb_Pua96MMewA96qvA\",
   \"code\": [
       \"11111\",
       \"22222\",
       \"33333\",
       \"44444\",
       \"55555\"
   ]
}
";

/// seed-pre:9, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_9: &str = "{
  \"errcode\":0,
  \"errmsg\":\"ok\"
}
";

/// seed-pre:11, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_11: &str = "{
   \"card_id\"\u{a0}: \" pDF3iY0_dVjb_Pua96MMewA96qvA \"
}
";

/// seed-pre:12, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_12: &str = "{
  \"errcode\":0,
  \"errmsg\":\"ok\"\u{ff0c}
  \"count\":123
}
";

/// seed-pre:14, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_14: &str = "{
   \"card_id\": \"pDF3iY0_dVjb_Pua96MMewA96qvA\",
   \"code\": [
       \"11111\",
       \"22222\",
       \"33333\",
       \"44444\",
       \"55555\"
   ]
}
";

/// seed-pre:15, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_15: &str = "{
  \"errcode\":0,
  \"errmsg\":\"ok\"
  \"exist_code\":[\"11111\",\"22222\",\"33333\"],
  \"not_exist_code\":[\"44444\",\"55555\"]
}
";

/// seed-pre:17, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_17: &str = "{
  \"card_id\":\"p1Pj9jr90_SQRaVqYI239Ka1erkI\"
}
";

/// seed-pre:18, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_18: &str = " {
\"errcode\":0,
\"errmsg\":\"ok\",
\"content\":\"<iframeclass=\\\"res_iframecard_iframejs_editor_card\\\"data-src=\\\"http: \\/\\/mp.weixin.qq.com\\/bizmall\\/appmsgcard?action=show&biz=MjM5OTAwODk4MA%3D%3D&cardid=p1Pj9jnXTLf2nF7lccYScFUYqJ0&wechat_card_js=1#wechat_redirect\\\">\"
}
";

/// seed-pre:22, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_22: &str = "{
  \"openid\": [
      \"o1Pj9jmZvwSyyyyyyBa4aULW2mA\",\x20
      \"o1Pj9jmZvxxxxxxxxxULW2mA\"
               ],
  \"username\": [
      \"afdvvf\",
      \"abcd\"
                ]
 }

";

/// seed-pre:23, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_23: &str = "{
   \"errcode\":0,
   \"errmsg\":\"ok\"
}
";

/// seed-pre:19, verbatim (U+00A0 and U+FF0C written as escapes, trailing spaces as `\x20`).
const SEED_PRE_19: &str = "{
\"action_name\": \"QR_CARD\",\x20
\"action_info\": {
\"card\": {
\"card_id\": \"pFS7Fjg8kV1IdDz01r4SQwMkuCKc\",\x20
\"code\": \"198374613512\",
\"openid\": \"oFS7Fjl0WsZ9AMZqrI80nbIq8xrA\",
\"expire_seconds\": \"1800\"\u{ff0c}
\"is_unique_code\": false ,
\"outer_id\"\u{a0}: 1
  }
 }
}
";

// --- helpers -----------------------------------------------------------------------

/// Parses a block that must be valid JSON.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Applies the hand repairs to a block that is invalid JSON as documented, checking that
/// it really is invalid before and valid after.
fn repair(raw: &str, fixes: &[(&str, &str)]) -> String {
    assert!(
        serde_json::from_str::<Value>(raw).is_err(),
        "the block was expected to be invalid as documented"
    );
    let mut text = raw.to_owned();
    for (from, to) in fixes {
        assert!(text.contains(from), "repair target {from:?} not found");
        text = text.replace(from, to);
    }
    parse(&text);
    text
}

/// The JSON body an endpoint sends.
fn body<E: Endpoint>(request: &E) -> Value {
    let bytes = encode_body(request)
        .unwrap()
        .expect("POST endpoints have a body");
    serde_json::from_slice(&bytes).unwrap()
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn strings(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Asserts a validation failure on `field` with `problem`, and that the message names
/// both the field and the limit.
fn rejects(result: Result<(), ValidationError>, field: &str, problem: Problem) {
    let e = result.expect_err("expected a validation error");
    assert_eq!(e.field, field, "{e}");
    assert_eq!(e.problem, problem, "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("{field}: ")), "{shown}");
    match problem {
        Problem::TooLong { max, .. }
        | Problem::TooManyBytes { max, .. }
        | Problem::TooMany { max, .. } => {
            assert!(shown.contains(&format!("at most {max}")), "{shown}")
        }
        Problem::TooFew { min, .. } => {
            assert!(shown.contains(&format!("at least {min}")), "{shown}")
        }
        Problem::OutOfRange { min, max, .. } => {
            assert!(shown.contains(&format!("{min}..={max}")), "{shown}")
        }
        _ => {}
    }
}

fn too_long(max: usize) -> Problem {
    Problem::TooLong {
        max,
        actual: max + 1,
    }
}

/// The endpoint's declared `REPEATABLE` (read through a function so the assertions
/// below are not constant to the compiler).
fn declared_repeatable<E: Endpoint>() -> bool {
    E::REPEATABLE
}

const CARD: &str = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc";

// --- QR codes (§4.1, §4.2) -----------------------------------------------------------

fn seed_qr_card() -> CreateQrCode {
    CreateQrCode::card(
        QrCard::new(CARD)
            .code("198374613512")
            .openid("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA")
            .is_unique_code(false)
            .outer_id(1),
    )
    .expire_seconds(1800)
}

#[test]
fn qr_card_matches_seed_pre_1() {
    // Defect: U+00A0 between "outer_id" and ':'.
    let documented = repair(SEED_PRE_1, &[("\u{a0}", " ")]);
    let request = seed_qr_card();
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<CreateQrCode>(&documented).unwrap(),
        request
    );
    assert_eq!(CreateQrCode::METHOD, HttpMethod::Post);
    assert_eq!(CreateQrCode::PATH, "/card/qrcode/create");
    assert!(!declared_repeatable::<CreateQrCode>() && !request.repeatable());
}

#[test]
fn qr_multiple_card_matches_seed_pre_2() {
    let request = CreateQrCode::multiple(vec![
        QrCardItem::new("p1Pj9jgj3BcomSgtuW8B1wl-wo88").code("2392583481"),
        QrCardItem::new("p1Pj9jgj3BcomSgtuW8B1wl-wo98").code("2392583482"),
    ]);
    request.validate().unwrap();
    assert_eq!(request.action_name(), "QR_MULTIPLE_CARD");
    assert_eq!(body(&request), parse(SEED_PRE_2));
    assert_eq!(
        serde_json::from_str::<CreateQrCode>(SEED_PRE_2).unwrap(),
        request
    );
}

#[test]
fn qr_outer_id_example_seed_pre_19_parses_and_keeps_expire_seconds() {
    // Defects: a full-width comma and U+00A0; "1800" is a string and sits inside
    // action_info.card. Only the two syntax defects are repaired: the parser accepts
    // the string and the placement, and keeps the value (moved to the top level).
    let documented = repair(SEED_PRE_19, &[("\u{ff0c}", ","), ("\u{a0}", " ")]);
    let request: CreateQrCode = serde_json::from_str(&documented).unwrap();
    assert_eq!(request, seed_qr_card());
    assert_eq!(request.lifetime_seconds(), Some(1800));
    // sent the documented way: top level, a number
    assert_eq!(
        body(&request),
        parse(&repair(SEED_PRE_1, &[("\u{a0}", " ")]))
    );
}

#[test]
fn qr_card_with_outer_str_matches_later_example() {
    let documented = r#"{"action_name": "QR_CARD", "expire_seconds": 1800, "action_info": {"card": {"card_id": "pFS7Fjg8kV1IdDz01r4SQwMkuCKc", "code": "198374613512", "openid": "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA", "is_unique_code": false , "outer_str":"12b"}}}"#;
    let request = CreateQrCode::card(
        QrCard::new(CARD)
            .code("198374613512")
            .openid("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA")
            .is_unique_code(false)
            .outer_str("12b"),
    )
    .expire_seconds(1800);
    assert_eq!(body(&request), parse(documented));
}

#[test]
fn qr_minimal_bodies_leave_optional_fields_out() {
    assert_eq!(
        body(&CreateQrCode::card(QrCard::new(CARD))),
        json!({"action_name": "QR_CARD", "action_info": {"card": {"card_id": CARD}}})
    );
    assert_eq!(
        body(
            &CreateQrCode::multiple(vec![QrCardItem::new(CARD).outer_str("s")]).expire_seconds(60)
        ),
        json!({"action_name": "QR_MULTIPLE_CARD", "expire_seconds": 60,
               "action_info": {"multiple_card": {"card_list": [{"card_id": CARD, "outer_str": "s"}]}}})
    );
}

#[test]
fn qr_response_seed_pre_3() {
    // Defects: a `//` comment after the ticket; spaces inside url and show_qrcode_url.
    let comment = "//获取ticket后需调用换取二维码接口获取二维码图片\u{ff0c}详情见字段说明。";
    let documented = repair(
        SEED_PRE_3,
        &[
            (comment, ""),
            ("BHWya_zlfioH6fXeL16o \"", "BHWya_zlfioH6fXeL16o\""),
            ("\" https://", "\"https://"),
            ("?  ticket=", "?ticket="),
        ],
    );
    let t = decode_response::<CreateQrCode>(documented.as_bytes()).unwrap();
    assert_eq!(
        t.ticket,
        "gQHB8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0JIV3lhX3psZmlvSDZmWGVMMTZvAAIEsNnKVQMEIAMAAA=="
    );
    assert_eq!(t.expire_seconds, Some(1800));
    assert_eq!(t.url, "http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o");
    assert_eq!(
        t.show_qrcode_image_url(),
        "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQHB8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0JIV3lhX3psZmlvSDZmWGVMMTZvAAIEsNnKVQMEIAMAAA%3D%3D"
    );
    // The example's show_qrcode_url is for another ticket (gQH98…); our encoding of that
    // ticket reproduces the documented URL exactly.
    let shown = t.show_qrcode_url.clone().unwrap();
    let other_ticket = "gQH98DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL0czVzRlSWpsamlyM2plWTNKVktvAAIE6SfgVQMEgDPhAQ==";
    assert_eq!(
        card_model::qrcode::show_qrcode_image_url(other_ticket),
        shown
    );
    // expire_seconds as a string, unknown fields, absent show_qrcode_url
    let t = decode_response::<CreateQrCode>(
        br#"{"ticket":"a+b/c=","expire_seconds":"60","url":"u","new":1}"#,
    )
    .unwrap();
    assert_eq!(
        (t.expire_seconds, t.show_qrcode_url.as_deref()),
        (Some(60), None)
    );
    assert!(t.show_qrcode_image_url().ends_with("ticket=a%2Bb%2Fc%3D"));
}

#[test]
fn qr_limits() {
    let ok = |r: CreateQrCode| r.validate().unwrap();
    let card = || QrCard::new(CARD);
    // expire_seconds 60..=1800
    ok(CreateQrCode::card(card()).expire_seconds(60));
    ok(CreateQrCode::card(card()).expire_seconds(1800));
    let range = |actual| Problem::OutOfRange {
        min: 60,
        max: 1800,
        actual,
    };
    rejects(
        CreateQrCode::card(card()).expire_seconds(59).validate(),
        "expire_seconds",
        range(59),
    );
    rejects(
        CreateQrCode::card(card()).expire_seconds(1801).validate(),
        "expire_seconds",
        range(1801),
    );
    rejects(
        CreateQrCode::multiple(vec![QrCardItem::new(CARD)])
            .expire_seconds(1801)
            .validate(),
        "expire_seconds",
        range(1801),
    );
    // card_id 32, code 20, openid 32
    ok(CreateQrCode::card(
        QrCard::new("c".repeat(32))
            .code("1".repeat(20))
            .openid("o".repeat(32)),
    ));
    rejects(
        CreateQrCode::card(QrCard::new("c".repeat(33))).validate(),
        "action_info.card.card_id",
        too_long(32),
    );
    rejects(
        CreateQrCode::card(QrCard::new("")).validate(),
        "action_info.card.card_id",
        Problem::Empty,
    );
    rejects(
        CreateQrCode::card(card().code("1".repeat(21))).validate(),
        "action_info.card.code",
        too_long(20),
    );
    rejects(
        CreateQrCode::card(card().code("")).validate(),
        "action_info.card.code",
        Problem::Empty,
    );
    rejects(
        CreateQrCode::card(card().openid("o".repeat(33))).validate(),
        "action_info.card.openid",
        too_long(32),
    );
    // a multi-card QR holds at least one card; items are checked like cards
    ok(CreateQrCode::multiple(vec![
        QrCardItem::new("c".repeat(32)).code("1".repeat(20)),
    ]));
    rejects(
        CreateQrCode::multiple(vec![]).validate(),
        "action_info.multiple_card.card_list",
        Problem::TooFew { min: 1, actual: 0 },
    );
    rejects(
        CreateQrCode::multiple(vec![QrCardItem::new(CARD), QrCardItem::new("c".repeat(33))])
            .validate(),
        "action_info.multiple_card.card_list[1].card_id",
        too_long(32),
    );
    rejects(
        CreateQrCode::multiple(vec![QrCardItem::new(CARD).code("1".repeat(21))]).validate(),
        "action_info.multiple_card.card_list[0].code",
        too_long(20),
    );
}

// --- landing page (§4.3) ----------------------------------------------------------------

fn seed_landing() -> CreateLandingPage {
    CreateLandingPage::new(
        "http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZJkmG8xXhiaHqkKSVMMWeN3hLut7X7hicFN",
        "惠城优惠大派送",
        LandingScene::NearBy,
        vec![
            LandingCard::new("pXch-jnOlGtbuWwIO2NDftZeynRE", "www.qq.com/a.jpg"),
            LandingCard::new("pXch-jnAN-ZBoRbiwgqBZ1RV60fI", "www.qq.com/b.jpg"),
        ],
    )
}

#[test]
fn landing_page_matches_seed_pre_5() {
    // Valid JSON, but the banner URL is broken by two spaces: as documented it parses
    // and fails validation; repaired it matches our request.
    let as_documented: CreateLandingPage = serde_json::from_str(SEED_PRE_5).unwrap();
    rejects(
        as_documented.validate(),
        "banner",
        Problem::Invalid("a URL must not contain white space"),
    );
    let documented = SEED_PRE_5.replace("Lut7X7h  icFN", "Lut7X7hicFN");
    let request = seed_landing();
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<CreateLandingPage>(&documented).unwrap(),
        request
    );
    // non-ASCII is written raw
    let raw = String::from_utf8(encode_body(&request).unwrap().unwrap()).unwrap();
    assert!(raw.contains("惠城优惠大派送"), "{raw}");
    assert_eq!(CreateLandingPage::PATH, "/card/landingpage/create");
    assert!(!declared_repeatable::<CreateLandingPage>());
}

#[test]
fn landing_response_seed_pre_6_and_unknown_scene() {
    let page = decode_response::<CreateLandingPage>(SEED_PRE_6.as_bytes()).unwrap();
    assert_eq!((page.url.as_str(), page.page_id), ("www.test.url", 1));
    let page = decode_response::<CreateLandingPage>(br#"{"url":"u","page_id":"7"}"#).unwrap();
    assert_eq!(page.page_id, 7);
    // every documented scene, and an unknown one kept verbatim
    let mut request = seed_landing();
    for scene in LandingScene::ALL {
        request.scene = scene.clone();
        assert_eq!(body(&request)["scene"], json!(scene.as_str()));
    }
    let with_new: CreateLandingPage =
        serde_json::from_str(&SEED_PRE_5.replace("SCENE_NEAR_BY", "SCENE_FUTURE")).unwrap();
    assert_eq!(with_new.scene, LandingScene::Other(s("SCENE_FUTURE")));
    assert_eq!(body(&with_new)["scene"], json!("SCENE_FUTURE"));
    assert!(
        !body(&seed_landing().can_share(false))["can_share"]
            .as_bool()
            .unwrap()
    );
}

#[test]
fn landing_limits() {
    let mut r = seed_landing();
    r.card_list = vec![LandingCard::new("c".repeat(32), "http://x/a.jpg")];
    r.validate().unwrap();
    let mut bad = r.clone();
    bad.banner = s(" ");
    rejects(bad.validate(), "banner", Problem::Empty);
    let mut bad = r.clone();
    bad.page_title = s("");
    rejects(bad.validate(), "page_title", Problem::Empty);
    let mut bad = r.clone();
    bad.card_list.clear();
    rejects(
        bad.validate(),
        "card_list",
        Problem::TooFew { min: 1, actual: 0 },
    );
    let mut bad = r.clone();
    bad.card_list
        .push(LandingCard::new("c".repeat(33), "http://x/b.jpg"));
    rejects(bad.validate(), "card_list[1].card_id", too_long(32));
    let mut bad = r.clone();
    bad.card_list[0].thumb_url = s("");
    rejects(bad.validate(), "card_list[0].thumb_url", Problem::Empty);
    let mut bad = r.clone();
    bad.scene = LandingScene::Other(s(""));
    rejects(bad.validate(), "scene", Problem::Empty);
}

// --- code deposit (§4.5–4.7) ------------------------------------------------------------

fn seed_codes() -> Vec<String> {
    ["11111", "22222", "33333", "44444", "55555"]
        .map(s)
        .to_vec()
}

#[test]
fn deposit_matches_seed_pre_8_and_9() {
    let request = DepositCodes::new("pDF3iY0_dVjb_Pua96MMewA96qvA", seed_codes());
    request.validate().unwrap();
    assert_eq!(body(&request), parse(SEED_PRE_8));
    assert_eq!(
        serde_json::from_str::<DepositCodes>(SEED_PRE_8).unwrap(),
        request
    );
    assert_eq!(DepositCodes::PATH, "/card/code/deposit");
    assert!(declared_repeatable::<DepositCodes>() && request.repeatable());
    // the documented response carries none of the tallies
    let r = decode_response::<DepositCodes>(SEED_PRE_9.as_bytes()).unwrap();
    assert_eq!(r, DepositResult::default());
    // 40109: more than 100 codes
    let e = decode_response::<DepositCodes>(br#"{"errcode":40109,"errmsg":"too many codes"}"#)
        .unwrap_err();
    assert!(
        matches!(e, card_model::ResponseError::WeChat(w) if w.code == card_model::ErrCode::TooManyCodes)
    );
}

#[test]
fn deposit_count_matches_seed_pre_11_and_12() {
    // Defects: U+00A0 before ':', and the card_id padded with spaces.
    let documented = repair(SEED_PRE_11, &[("\u{a0}", " ")]);
    let as_documented: GetDepositCount = serde_json::from_str(&documented).unwrap();
    rejects(
        as_documented.validate(),
        "card_id",
        Problem::Invalid("a card ID must not contain white space"),
    );
    let documented = documented.replace(
        "\" pDF3iY0_dVjb_Pua96MMewA96qvA \"",
        "\"pDF3iY0_dVjb_Pua96MMewA96qvA\"",
    );
    let request = GetDepositCount::new("pDF3iY0_dVjb_Pua96MMewA96qvA");
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<GetDepositCount>(&documented).unwrap(),
        request
    );
    assert_eq!(GetDepositCount::PATH, "/card/code/getdepositcount");
    assert!(declared_repeatable::<GetDepositCount>());
    // Defect: a full-width comma.
    let response = repair(SEED_PRE_12, &[("\u{ff0c}", ",")]);
    assert_eq!(
        decode_response::<GetDepositCount>(response.as_bytes())
            .unwrap()
            .count,
        123
    );
}

#[test]
fn checkcode_matches_seed_pre_14_and_15() {
    let request = CheckCodes::new("pDF3iY0_dVjb_Pua96MMewA96qvA", seed_codes());
    request.validate().unwrap();
    assert_eq!(body(&request), parse(SEED_PRE_14));
    assert_eq!(
        serde_json::from_str::<CheckCodes>(SEED_PRE_14).unwrap(),
        request
    );
    assert_eq!(CheckCodes::PATH, "/card/code/checkcode");
    assert!(declared_repeatable::<CheckCodes>());
    // Defect: the comma after "errmsg":"ok" is missing.
    let response = repair(SEED_PRE_15, &[("\"ok\"\n", "\"ok\",\n")]);
    let r = decode_response::<CheckCodes>(response.as_bytes()).unwrap();
    assert_eq!(
        r,
        CodeCheck::new(
            ["11111", "22222", "33333"].map(s).to_vec(),
            ["44444", "55555"].map(s).to_vec()
        )
    );
    let r = decode_response::<CheckCodes>(br#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
    assert!(r.existing.is_empty() && r.missing.is_empty());
}

#[test]
fn code_limits() {
    for make in [
        |c: Vec<String>| DepositCodes::new(CARD, c).validate(),
        |c: Vec<String>| CheckCodes::new(CARD, c).validate(),
    ] {
        make(strings("c", MAX_CODES_PER_CALL)).unwrap();
        make(vec!["1".repeat(MAX_CODE_CHARS)]).unwrap();
        rejects(
            make(strings("c", 101)),
            "code",
            Problem::TooMany {
                max: 100,
                actual: 101,
            },
        );
        rejects(make(vec![]), "code", Problem::TooFew { min: 1, actual: 0 });
        rejects(make(vec![s("1"), s("")]), "code[1]", Problem::Empty);
        rejects(
            make(vec![s("1"), s("2"), "1".repeat(21)]),
            "code[2]",
            too_long(20),
        );
    }
    DepositCodes::new("c".repeat(32), vec![s("1")])
        .validate()
        .unwrap();
    rejects(
        DepositCodes::new("c".repeat(33), vec![s("1")]).validate(),
        "card_id",
        too_long(32),
    );
    rejects(
        CheckCodes::new("", vec![s("1")]).validate(),
        "card_id",
        Problem::Empty,
    );
    GetDepositCount::new("c".repeat(32)).validate().unwrap();
    rejects(
        GetDepositCount::new("c".repeat(33)).validate(),
        "card_id",
        too_long(32),
    );
}

// --- mpnews (§4.8) ------------------------------------------------------------------------

#[test]
fn gethtml_matches_seed_pre_17_and_18() {
    let request = GetArticleHtml::new("p1Pj9jr90_SQRaVqYI239Ka1erkI");
    request.validate().unwrap();
    assert_eq!(body(&request), parse(SEED_PRE_17));
    assert_eq!(
        serde_json::from_str::<GetArticleHtml>(SEED_PRE_17).unwrap(),
        request
    );
    assert_eq!(GetArticleHtml::PATH, "/card/mpnews/gethtml");
    assert!(declared_repeatable::<GetArticleHtml>());
    // The mangled HTML is opaque content: kept exactly.
    let r = decode_response::<GetArticleHtml>(SEED_PRE_18.as_bytes()).unwrap();
    assert_eq!(r.content, parse(SEED_PRE_18)["content"].as_str().unwrap());
    assert!(r.content.starts_with("<iframeclass=") && r.content.contains("http: //mp.weixin"));
    GetArticleHtml::new("c".repeat(32)).validate().unwrap();
    rejects(
        GetArticleHtml::new("c".repeat(33)).validate(),
        "card_id",
        too_long(32),
    );
    rejects(
        GetArticleHtml::new("").validate(),
        "card_id",
        Problem::Empty,
    );
}

// --- test whitelist (§4.9) ----------------------------------------------------------------

#[test]
fn whitelist_matches_seed_pre_22_and_23() {
    let request = SetTestWhitelist::new(
        vec![
            s("o1Pj9jmZvwSyyyyyyBa4aULW2mA"),
            s("o1Pj9jmZvxxxxxxxxxULW2mA"),
        ],
        vec![s("afdvvf"), s("abcd")],
    );
    // the documented 27- and 24-character OpenIDs pass (see the 32-character choice)
    request.validate().unwrap();
    assert_eq!(body(&request), parse(SEED_PRE_22));
    assert_eq!(
        serde_json::from_str::<SetTestWhitelist>(SEED_PRE_22).unwrap(),
        request
    );
    assert_eq!(
        decode_response::<SetTestWhitelist>(SEED_PRE_23.as_bytes()).unwrap(),
        Ack {}
    );
    assert_eq!(SetTestWhitelist::PATH, "/card/testwhitelist/set");
    assert!(declared_repeatable::<SetTestWhitelist>());
    // empty lists are left out
    assert_eq!(
        body(&SetTestWhitelist::new(vec![], vec![s("abcd")])),
        json!({"username": ["abcd"]})
    );
    assert_eq!(body(&SetTestWhitelist::default()), json!({}));
}

#[test]
fn whitelist_limits() {
    SetTestWhitelist::new(strings("o", 4), strings("u", 6))
        .validate()
        .unwrap();
    SetTestWhitelist::new(strings("o", 10), vec![])
        .validate()
        .unwrap();
    rejects(
        SetTestWhitelist::new(strings("o", 5), strings("u", 6)).validate(),
        "openid+username",
        Problem::TooMany {
            max: 10,
            actual: 11,
        },
    );
    rejects(
        SetTestWhitelist::new(vec![], strings("u", 11)).validate(),
        "openid+username",
        Problem::TooMany {
            max: 10,
            actual: 11,
        },
    );
    SetTestWhitelist::new(vec!["o".repeat(32)], vec!["u".repeat(32)])
        .validate()
        .unwrap();
    rejects(
        SetTestWhitelist::new(vec![s("o"), "o".repeat(33)], vec![]).validate(),
        "openid[1]",
        too_long(32),
    );
    rejects(
        SetTestWhitelist::new(vec![], vec!["u".repeat(33)]).validate(),
        "username[0]",
        too_long(32),
    );
    rejects(
        SetTestWhitelist::new(vec![s("")], vec![]).validate(),
        "openid[0]",
        Problem::Empty,
    );
}

// --- wxcard messages (§5) -----------------------------------------------------------------

const DOC_CARD: &str = "123dsdajkasd231jhksad";
const DOC_CARD_EXT: &str = r#"{"code":"","openid":"","timestamp":"1402057159","signature":"017bb17407c8e0058a66d72dcc61632b70f511ad"}"#;

#[test]
fn sendall_matches_documented_example() {
    // Documented with tag_id as a string; we send the number the current docs type.
    let documented = r#"{
   "filter":{
      "is_to_all":false,
      "tag_id":"2"
   },
  "wxcard":{
           "card_id":"123dsdajkasd231jhksad"
            },
   "msgtype":"wxcard"
}"#;
    let request = MassSendByTag::to_tag(2, WxCard::new(DOC_CARD));
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented.replace(r#""2""#, "2")));
    assert_eq!(
        serde_json::from_str::<MassSendByTag>(documented).unwrap(),
        request
    );
    assert_eq!(
        body(&MassSendByTag::to_all(WxCard::new(DOC_CARD)).clientmsgid("m1")),
        json!({"filter": {"is_to_all": true}, "wxcard": {"card_id": DOC_CARD}, "msgtype": "wxcard", "clientmsgid": "m1"})
    );
    assert_eq!(MassSendByTag::PATH, "/cgi-bin/message/mass/sendall");
    assert!(!declared_repeatable::<MassSendByTag>() && !request.repeatable());
    assert!(request.clientmsgid("m1").repeatable());
    let r = decode_response::<MassSendByTag>(
        br#"{"errcode":0,"errmsg":"send job submission success","msg_id":34182,"msg_data_id":206227730}"#,
    )
    .unwrap();
    assert_eq!((r.msg_id, r.msg_data_id), (34182, Some(206227730)));
}

#[test]
fn mass_send_matches_documented_example() {
    // Defect: the comma after the wxcard object is missing.
    let raw = "{\n   \"touser\":[\n    \"OPENID1\",\n    \"OPENID2\"\n   ],\n        \"wxcard\": {\"card_id\":\"123dsdajkasd231jhksad\"}\n        \"msgtype\":\"wxcard\"\n}";
    let documented = repair(
        raw,
        &[("}\n        \"msgtype\"", "},\n        \"msgtype\"")],
    );
    let request = MassSendToOpenIds::new(vec![s("OPENID1"), s("OPENID2")], WxCard::new(DOC_CARD));
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<MassSendToOpenIds>(&documented).unwrap(),
        request
    );
    assert_eq!(MassSendToOpenIds::PATH, "/cgi-bin/message/mass/send");
    assert!(!declared_repeatable::<MassSendToOpenIds>() && !request.repeatable());
    assert!(request.clientmsgid("x").repeatable());
    let r = decode_response::<MassSendToOpenIds>(
        br#"{"errcode":0,"errmsg":"send job submission success","msg_id":"34182"}"#,
    )
    .unwrap();
    assert_eq!((r.msg_id, r.msg_data_id), (34182, None));
}

#[test]
fn customer_service_matches_documented_example() {
    // Defect: a trailing comma before the final brace.
    let raw = r#"{
  "touser":"OPENID", 
  "msgtype":"wxcard",
  "wxcard":{              
           "card_id":"123dsdajkasd231jhksad",
           "card_ext": "{\"code\":\"\",\"openid\":\"\",\"timestamp\":\"1402057159\",\"signature\":\"017bb17407c8e0058a66d72dcc61632b70f511ad\"}"            
            },
}"#;
    let documented = repair(raw, &[("},\n}", "}\n}")]);
    let mut card = WxCard::new(DOC_CARD);
    card.card_ext = Some(s(DOC_CARD_EXT));
    let request = SendCustomerServiceCard::new("OPENID", card);
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<SendCustomerServiceCard>(&documented).unwrap(),
        request
    );
    assert_eq!(
        body(
            &SendCustomerServiceCard::new("OPENID", WxCard::new(DOC_CARD)).kf_account("test1@test")
        ),
        json!({"touser": "OPENID", "msgtype": "wxcard", "wxcard": {"card_id": DOC_CARD},
               "customservice": {"kf_account": "test1@test"}})
    );
    assert_eq!(
        SendCustomerServiceCard::PATH,
        "/cgi-bin/message/custom/send"
    );
    assert!(!declared_repeatable::<SendCustomerServiceCard>() && !request.repeatable());
    assert_eq!(
        decode_response::<SendCustomerServiceCard>(br#"{"errcode":0,"errmsg":"ok"}"#).unwrap(),
        Ack {}
    );
}

#[test]
fn preview_matches_documented_example() {
    // Defect: the quotes inside the card_ext string are not escaped.
    let raw = r#"{ "touser":"OPENID", 
  "wxcard":{              
           "card_id":"123dsdajkasd231jhksad",
            "card_ext": "{"code":"","openid":"","timestamp":"1402057159","signature":"017bb17407c8e0058a66d72dcc61632b70f511ad"}"               
            }, 
  "msgtype":"wxcard" 
}"#;
    let escaped = serde_json::to_string(DOC_CARD_EXT).unwrap();
    let documented = repair(raw, &[(&format!("\"{DOC_CARD_EXT}\""), &escaped)]);
    let mut card = WxCard::new(DOC_CARD);
    card.card_ext = Some(s(DOC_CARD_EXT));
    let request = PreviewCard::to_openid("OPENID", card.clone());
    request.validate().unwrap();
    assert_eq!(body(&request), parse(&documented));
    assert_eq!(
        serde_json::from_str::<PreviewCard>(&documented).unwrap(),
        request
    );
    assert_eq!(
        body(&PreviewCard::to_wxname("afdvvf", WxCard::new(DOC_CARD))),
        json!({"towxname": "afdvvf", "wxcard": {"card_id": DOC_CARD}, "msgtype": "wxcard"})
    );
    assert_eq!(PreviewCard::PATH, "/cgi-bin/message/mass/preview");
    assert!(!declared_repeatable::<PreviewCard>() && !request.repeatable());
    let r = decode_response::<PreviewCard>(
        br#"{"errcode":0,"errmsg":"preview success","msg_id":34182}"#,
    )
    .unwrap();
    assert_eq!(r.msg_id, Some(34182));
    let r = decode_response::<PreviewCard>(br#"{"errcode":0,"errmsg":"preview success"}"#).unwrap();
    assert_eq!(r.msg_id, None);
}

#[test]
fn signed_card_ext_travels_as_a_string() {
    let ticket = ApiTicket::new("ojZ8YtyVyr30HheH3CM73y7h4jJE");
    let ext = CardExt::sign(
        "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
        &ticket,
        1404896688,
        "123",
        Some("1434008071"),
        None,
    )
    .unwrap();
    let request = SendCustomerServiceCard::new(
        "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA",
        WxCard::new("pjZ8Yt1XGILfi-FUsewpnnolGgZk").card_ext(&ext),
    );
    request.validate().unwrap();
    let sent = body(&request);
    let text = sent["wxcard"]["card_ext"]
        .as_str()
        .expect("card_ext is a string");
    let back: CardExt = serde_json::from_str(text).unwrap();
    assert_eq!(back, ext);
    assert!(back.verify("pjZ8Yt1XGILfi-FUsewpnnolGgZk", &ticket));
    assert_eq!(back.signature(), "f137ab68b7f8112d20ee528ab6074564e2796250");
}

#[test]
fn message_limits() {
    let card = || WxCard::new(CARD);
    // touser 2..=10000, each 1..=32
    MassSendToOpenIds::new(strings("o", 2), card())
        .validate()
        .unwrap();
    MassSendToOpenIds::new(strings("o", 10_000), card())
        .validate()
        .unwrap();
    rejects(
        MassSendToOpenIds::new(strings("o", 1), card()).validate(),
        "touser",
        Problem::TooFew { min: 2, actual: 1 },
    );
    rejects(
        MassSendToOpenIds::new(strings("o", 10_001), card()).validate(),
        "touser",
        Problem::TooMany {
            max: 10_000,
            actual: 10_001,
        },
    );
    MassSendToOpenIds::new(vec!["o".repeat(32), s("p")], card())
        .validate()
        .unwrap();
    rejects(
        MassSendToOpenIds::new(vec![s("p"), "o".repeat(33)], card()).validate(),
        "touser[1]",
        too_long(32),
    );
    // clientmsgid at most 64 bytes
    MassSendByTag::to_tag(1, card())
        .clientmsgid("m".repeat(64))
        .validate()
        .unwrap();
    rejects(
        MassSendByTag::to_tag(1, card())
            .clientmsgid("m".repeat(65))
            .validate(),
        "clientmsgid",
        Problem::TooManyBytes {
            max: 64,
            actual: 65,
        },
    );
    rejects(
        MassSendToOpenIds::new(strings("o", 2), card())
            .clientmsgid("m".repeat(65))
            .validate(),
        "clientmsgid",
        Problem::TooManyBytes {
            max: 64,
            actual: 65,
        },
    );
    // 22 three-byte characters are 66 bytes: the error counts bytes and says so
    rejects(
        MassSendByTag::to_tag(1, card())
            .clientmsgid("群".repeat(22))
            .validate(),
        "clientmsgid",
        Problem::TooManyBytes {
            max: 64,
            actual: 66,
        },
    );
    let shown = MassSendByTag::to_tag(1, card())
        .clientmsgid("群".repeat(22))
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(shown, "clientmsgid: 66 bytes (UTF-8), at most 64 allowed");
    rejects(
        MassSendByTag::to_tag(1, card()).clientmsgid("").validate(),
        "clientmsgid",
        Problem::Empty,
    );
    // filter
    let mut no_tag = MassFilter::tag(1);
    no_tag.tag_id = None;
    rejects(
        MassSendByTag::new(no_tag, card()).validate(),
        "filter.tag_id",
        Problem::Invalid("required unless filter.is_to_all is true"),
    );
    // wxcard
    MassSendByTag::to_all(WxCard::new("c".repeat(32)))
        .validate()
        .unwrap();
    rejects(
        MassSendByTag::to_all(WxCard::new("c".repeat(33))).validate(),
        "wxcard.card_id",
        too_long(32),
    );
    let mut bad_ext = card();
    bad_ext.card_ext = Some(s("code=1"));
    rejects(
        SendCustomerServiceCard::new("o", bad_ext).validate(),
        "wxcard.card_ext",
        Problem::Invalid("must be the JSON text of an object (see CardExt)"),
    );
    // a card_ext given as text is held to the limits of a signed one
    let mut long_code = card();
    long_code.card_ext = Some(s(
        r#"{"code":"123456789012345678901","timestamp":"1402057159","signature":"017bb17407c8e0058a66d72dcc61632b70f511ad"}"#,
    ));
    rejects(
        SendCustomerServiceCard::new("o", long_code).validate(),
        "wxcard.card_ext.code",
        too_long(20),
    );
    let mut long_nonce = card();
    long_nonce.card_ext = Some(format!(
        r#"{{"nonce_str":"{}","timestamp":"1402057159","signature":"017bb17407c8e0058a66d72dcc61632b70f511ad"}}"#,
        "n".repeat(33)
    ));
    rejects(
        PreviewCard::to_openid("o", long_nonce).validate(),
        "wxcard.card_ext.nonce_str",
        too_long(32),
    );
    let mut unsigned = card();
    unsigned.card_ext = Some(s(r#"{"code":"1","timestamp":"1402057159"}"#));
    rejects(
        MassSendByTag::to_all(unsigned).validate(),
        "wxcard.card_ext",
        Problem::Invalid("not a card_ext: it needs a timestamp and a signature (see CardExt)"),
    );
    // preview recipients
    PreviewCard::to_openid("o".repeat(32), card())
        .validate()
        .unwrap();
    rejects(
        PreviewCard::to_openid("o".repeat(33), card()).validate(),
        "touser",
        too_long(32),
    );
    PreviewCard::to_wxname("w".repeat(32), card())
        .validate()
        .unwrap();
    rejects(
        PreviewCard::to_wxname("w".repeat(33), card()).validate(),
        "towxname",
        too_long(32),
    );
    rejects(
        PreviewCard::new(PreviewRecipient::WxName(s("")), card()).validate(),
        "towxname",
        Problem::Empty,
    );
    // customer service
    SendCustomerServiceCard::new("o".repeat(32), card())
        .validate()
        .unwrap();
    rejects(
        SendCustomerServiceCard::new("o".repeat(33), card()).validate(),
        "touser",
        too_long(32),
    );
    rejects(
        SendCustomerServiceCard::new("o", card())
            .kf_account("")
            .validate(),
        "customservice.kf_account",
        Problem::Empty,
    );
}
