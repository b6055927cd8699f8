//! Every endpoint's behaviour and error codes, through the in-process blocking transport.

mod common;

use card_model::card_ext::CardExt;
use card_sandbox::{CardSpec, Channel, Sandbox};
use common::*;
use serde_json::{Value, json};

fn setup() -> (Sandbox, Api<Sandbox>) {
    let sb = sandbox();
    let api = api(&sb);
    (sb, api)
}

// --- plumbing -------------------------------------------------------------------------

#[test]
fn unknown_path_is_http_404() {
    let (_, api) = setup();
    let r = api.raw("POST", "/card/nope?access_token=x", "{}").unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = serde_json::from_slice(r.body()).unwrap();
    expect_code(&v, 404);
}

#[test]
fn any_host_and_trailing_slash_route_the_same() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let other = Api::new(sb.clone(), "http://10.9.8.7:1234", &api.token);
    let v = other.post(
        "/card/mpnews/gethtml/",
        &json!({"card_id": card}).to_string(),
    );
    expect_code(&v, 0);
}

#[test]
fn wrong_method_empty_body_and_bad_json() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let v = api.get(&format!(
        "/card/code/getdepositcount?access_token={}",
        api.token
    ));
    expect_code(&v, 43002);
    let r = api
        .raw("POST", "/cgi-bin/token?grant_type=client_credential", "")
        .unwrap();
    expect_code(&serde_json::from_slice(r.body()).unwrap(), 43001);
    expect_code(&api.post("/card/mpnews/gethtml", ""), 44002);
    expect_code(&api.post("/card/mpnews/gethtml", "  \n"), 44002);
    expect_code(&api.post("/card/mpnews/gethtml", "{\"card_id\":"), 47001);
    expect_code(&api.post("/card/mpnews/gethtml", "[1,2]"), 47001);
    // The seed's documented body with a U+00A0 is not JSON: WeChat-style 47001.
    let seed = "{\n   \"card_id\"\u{a0}: \"x\"\n}";
    expect_code(&api.post("/card/code/getdepositcount", seed), 47001);
    // Unknown fields are ignored.
    let v = api.post(
        "/card/mpnews/gethtml",
        &json!({"card_id": card, "extra": {"x": 1}}).to_string(),
    );
    expect_code(&v, 0);
}

#[test]
fn errors_carry_a_rid_and_http_200() {
    let (_, api) = setup();
    let v = api.post("/card/mpnews/gethtml", "{}");
    expect_code(&v, 41012);
    assert!(v["errmsg"].as_str().unwrap().contains("rid: sbx-"), "{v}");
}

// --- QR codes -------------------------------------------------------------------------

#[test]
fn qr_card_issues_distinct_tickets_and_records_them() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let mut tickets = std::collections::HashSet::new();
    for i in 0..50 {
        let v = api.post(
            "/card/qrcode/create",
            &json!({"action_name": "QR_CARD", "expire_seconds": 1800,
                    "action_info": {"card": {"card_id": card, "outer_id": i, "openid": "oU1"}}})
            .to_string(),
        );
        expect_code(&v, 0);
        assert_eq!(v["errmsg"], "ok");
        assert_eq!(v["expire_seconds"], 1800);
        let ticket = v["ticket"].as_str().unwrap().to_owned();
        assert!(
            v["url"]
                .as_str()
                .unwrap()
                .starts_with("http://weixin.qq.com/q/")
        );
        assert_eq!(
            v["show_qrcode_url"],
            format!("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={ticket}")
        );
        assert!(tickets.insert(ticket));
    }
    let issued = sb.qr_tickets();
    assert_eq!(issued.len(), 50);
    assert_eq!(issued[7].action_name, "QR_CARD");
    assert_eq!(issued[7].cards[0].outer_id, Some(7));
    assert_eq!(issued[7].cards[0].openid.as_deref(), Some("oU1"));
    assert_eq!(issued[7].expire_seconds, Some(1800));
    assert_eq!(issued[7].created_at, T0);
}

#[test]
fn qr_reads_the_seed_shapes_leniently() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    // seed-pre:19 once repaired: expire_seconds as a string inside `card`, outer_id a number.
    let v = api.post(
        "/card/qrcode/create",
        &json!({"action_name": "QR_CARD", "action_info": {"card": {
            "card_id": card, "expire_seconds": "1800", "is_unique_code": false, "outer_id": "1"}}})
        .to_string(),
    );
    expect_code(&v, 0);
    let t = &sb.qr_tickets()[0];
    assert_eq!(
        (t.expire_seconds, t.cards[0].outer_id),
        (Some(1800), Some(1))
    );
    // No expire_seconds: permanent, none answered.
    let v = api.post(
        "/card/qrcode/create",
        &json!({"action_name": "QR_CARD", "action_info": {"card": {"card_id": card}}}).to_string(),
    );
    expect_code(&v, 0);
    assert!(v.get("expire_seconds").is_none());
}

#[test]
fn qr_expire_seconds_bounds() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    for (secs, code) in [
        (json!(59), 40097),
        (json!(60), 0),
        (json!(1800), 0),
        (json!(1801), 40097),
        (json!(-5), 40097),
        (json!("abc"), 40097),
        (json!(90.5), 40097),
    ] {
        let v = api.post(
            "/card/qrcode/create",
            &json!({"action_name": "QR_CARD", "expire_seconds": secs,
                    "action_info": {"card": {"card_id": card}}})
            .to_string(),
        );
        expect_code(&v, code);
    }
    assert_eq!(sb.qr_tickets().len(), 2);
}

#[test]
fn qr_errors() {
    let (sb, api) = setup();
    let plain = sb.create_card(CardSpec::new()).unwrap();
    let custom = sb
        .create_card(CardSpec::new().use_custom_code(true))
        .unwrap();
    let deposit = sb.create_card(CardSpec::deposit_mode()).unwrap();
    sb.preload_codes(&deposit, ["D1"]).unwrap();
    let q = |body: Value| api.post("/card/qrcode/create", &body.to_string());
    let card = |c: Value| json!({"action_name": "QR_CARD", "action_info": {"card": c}});
    expect_code(&q(json!({"action_info": {}})), 41011);
    expect_code(
        &q(json!({"action_name": "QR_LIMIT_SCENE", "action_info": {}})),
        40053,
    );
    expect_code(&q(json!({"action_name": "QR_CARD"})), 40053);
    expect_code(
        &q(json!({"action_name": "QR_CARD", "action_info": 3})),
        40053,
    );
    expect_code(
        &q(json!({"action_name": "QR_CARD", "action_info": {"multiple_card": {}}})),
        40053,
    );
    expect_code(&q(card(json!({}))), 41012);
    expect_code(&q(card(json!({"card_id": ""}))), 41012);
    expect_code(&q(card(json!({"card_id": 12}))), 40073);
    expect_code(&q(card(json!({"card_id": "pNoSuchCard"}))), 40073);
    expect_code(&q(card(json!({"card_id": plain, "outer_id": "x"}))), 40097);
    expect_code(
        &q(card(json!({"card_id": plain, "is_unique_code": "maybe"}))),
        40097,
    );
    // A custom-code card needs a code, unless it is in deposit mode.
    expect_code(&q(card(json!({"card_id": custom}))), 41011);
    expect_code(
        &q(card(json!({"card_id": custom, "code": "198374613512"}))),
        0,
    );
    expect_code(&q(card(json!({"card_id": deposit}))), 0);
    expect_code(&q(card(json!({"card_id": deposit, "code": "D1"}))), 0);
    expect_code(&q(card(json!({"card_id": deposit, "code": "D2"}))), 40056);
    // is_unique_code needs stock.
    expect_code(
        &q(card(json!({"card_id": deposit, "is_unique_code": true}))),
        45031,
    );
    expect_code(
        &q(card(json!({"card_id": plain, "is_unique_code": true}))),
        0,
    );
    assert_eq!(sb.qr_tickets().len(), 4);
}

#[test]
fn qr_multiple_card() {
    let (sb, api) = setup();
    let a = sb.create_card(CardSpec::new()).unwrap();
    let b = sb.create_card(CardSpec::new()).unwrap();
    let body = |list: Value| {
        json!({"action_name": "QR_MULTIPLE_CARD", "action_info": {"multiple_card": {"card_list": list}}})
            .to_string()
    };
    let v = api.post(
        "/card/qrcode/create",
        &body(json!([{"card_id": a, "code": "2392583481"}, {"card_id": b, "outer_str": "12b"}])),
    );
    expect_code(&v, 0);
    let t = &sb.qr_tickets()[0];
    assert_eq!(t.action_name, "QR_MULTIPLE_CARD");
    assert_eq!(t.cards.len(), 2);
    assert_eq!(t.cards[0].code.as_deref(), Some("2392583481"));
    assert_eq!(t.cards[1].outer_str.as_deref(), Some("12b"));
    expect_code(&api.post("/card/qrcode/create", &body(json!([]))), 40053);
    expect_code(&api.post("/card/qrcode/create", &body(json!([1]))), 40053);
    expect_code(
        &api.post(
            "/card/qrcode/create",
            &body(json!([{"card_id": a}, {"card_id": "pNo"}])),
        ),
        40073,
    );
    assert_eq!(sb.qr_tickets().len(), 1, "a rejected call records nothing");
}

// --- landing pages --------------------------------------------------------------------

fn landing(card_list: Value) -> Value {
    json!({"banner": "http://mmbiz.qpic.cn/b.jpg", "page_title": "惠城优惠大派送",
           "can_share": true, "scene": "SCENE_NEAR_BY", "card_list": card_list})
}

#[test]
fn landing_pages_get_increasing_ids() {
    let (sb, api) = setup();
    let a = sb.create_card(CardSpec::new()).unwrap();
    let d = sb.create_card(CardSpec::deposit_mode()).unwrap();
    for expected in 1..=3u64 {
        let v = api.post(
            "/card/landingpage/create",
            &landing(json!([{"card_id": a, "thumb_url": "www.qq.com/a.jpg"},
                             {"card_id": d, "thumb_url": "www.qq.com/b.jpg"}]))
            .to_string(),
        );
        expect_code(&v, 0);
        assert_eq!(v["page_id"], expected);
        assert!(
            v["url"]
                .as_str()
                .unwrap()
                .contains(&format!("page_id={expected}"))
        );
    }
    let pages = sb.landing_pages();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0].page_title, "惠城优惠大派送");
    assert_eq!(pages[0].cards[1].thumb_url, "www.qq.com/b.jpg");
    assert!(pages[0].can_share);
    assert_eq!(pages[0].scene, "SCENE_NEAR_BY");
}

#[test]
fn landing_page_errors() {
    let (sb, api) = setup();
    let a = sb.create_card(CardSpec::new()).unwrap();
    let custom = sb
        .create_card(CardSpec::new().use_custom_code(true))
        .unwrap();
    let good = json!([{"card_id": a, "thumb_url": "t"}]);
    let post = |v: Value| api.post("/card/landingpage/create", &v.to_string());
    let without = |key: &str| {
        let mut v = landing(good.clone());
        v.as_object_mut().unwrap().remove(key);
        v
    };
    for key in ["banner", "page_title", "can_share", "scene", "card_list"] {
        expect_code(&post(without(key)), 41011);
    }
    let mut bad_scene = landing(good.clone());
    bad_scene["scene"] = json!("SCENE_MOON");
    expect_code(&post(bad_scene), 40097);
    expect_code(&post(landing(json!([]))), 40097);
    expect_code(&post(landing(json!([{"card_id": a}]))), 41011);
    expect_code(&post(landing(json!([{"thumb_url": "t"}]))), 41012);
    expect_code(
        &post(landing(json!([{"card_id": "pNo", "thumb_url": "t"}]))),
        40073,
    );
    expect_code(
        &post(landing(json!([{"card_id": custom, "thumb_url": "t"}]))),
        40071,
    );
    assert!(sb.landing_pages().is_empty());
}

// --- deposit, count, check ------------------------------------------------------------

#[test]
fn deposit_dedupes_and_counts() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let v = api.post("/card/code/deposit", &deposit_body(&card, &codes(0, 100)));
    expect_code(&v, 0);
    assert_eq!(
        (
            v["succ_code"].clone(),
            v["duplicate_code"].clone(),
            v["fail_code"].clone()
        ),
        (json!(100), json!(0), json!(0))
    );
    // Half old, half new, and one repeated inside the call.
    let mut batch = codes(50, 100);
    batch.push("C0000149".into());
    let v = api.post("/card/code/deposit", &deposit_body(&card, &batch[1..]));
    expect_code(&v, 0);
    assert_eq!(
        (v["succ_code"].as_u64(), v["duplicate_code"].as_u64()),
        (Some(50), Some(50))
    );
    assert_eq!(sb.deposited_count(&card), Some(150));
    let v = api.post(
        "/card/code/getdepositcount",
        &json!({"card_id": card}).to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(v["count"], 150);
    let stats = sb.stats();
    assert_eq!(
        (
            stats.deposit_calls,
            stats.codes_stored,
            stats.codes_duplicate
        ),
        (2, 150, 50)
    );
    assert!(sb.is_deposited(&card, "C0000149") && !sb.is_deposited(&card, "C0000150"));
    assert_eq!(
        sb.deposited_codes(&card).unwrap()[..2],
        ["C0000000", "C0000001"]
    );
}

#[test]
fn deposit_limits_and_rejections_store_nothing() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let plain = sb.create_card(CardSpec::new()).unwrap();
    let post = |body: String| api.post("/card/code/deposit", &body);
    expect_code(&post(deposit_body(&card, &codes(0, 101))), 40109);
    let mut with_empty = codes(0, 5);
    with_empty.push(String::new());
    expect_code(&post(deposit_body(&card, &with_empty)), 40056);
    expect_code(
        &post(json!({"card_id": card, "code": ["a", null]}).to_string()),
        40056,
    );
    expect_code(
        &post(json!({"card_id": card, "code": ["a", 1.5]}).to_string()),
        40056,
    );
    expect_code(&post(json!({"card_id": card}).to_string()), 41011);
    expect_code(
        &post(json!({"card_id": card, "code": []}).to_string()),
        41011,
    );
    expect_code(
        &post(json!({"card_id": card, "code": "11111"}).to_string()),
        40097,
    );
    expect_code(&post(json!({"code": ["1"]}).to_string()), 41012);
    expect_code(
        &post(json!({"card_id": "pNo", "code": ["1"]}).to_string()),
        40073,
    );
    expect_code(&post(deposit_body(&plain, &codes(0, 1))), 40071);
    assert_eq!(sb.deposited_count(&card), Some(0));
    assert_eq!(sb.stats().deposit_calls, 0);
    // Exactly 100 is fine; integer codes are read as their digits.
    expect_code(&post(deposit_body(&card, &codes(0, 100))), 0);
    let v = post(json!({"card_id": card, "code": [11111, "22222"]}).to_string());
    assert_eq!(v["succ_code"], 2);
    assert!(sb.is_deposited(&card, "11111"));
}

#[test]
fn deposit_counts_overlong_codes_as_failed() {
    let sb = Sandbox::builder().max_code_len(8).build();
    let api = api(&sb);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let v = api.post(
        "/card/code/deposit",
        &json!({"card_id": card, "code": ["12345678", "123456789"]}).to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(
        (v["succ_code"].as_u64(), v["fail_code"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(sb.stats().codes_failed, 1);
}

#[test]
fn checkcode_answers_from_state_in_order() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    sb.preload_codes(&card, ["11111", "22222", "33333"])
        .unwrap();
    let v = api.post(
        "/card/code/checkcode",
        &json!({"card_id": card, "code": ["55555", "11111", "44444", "33333", 22222]}).to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(v["exist_code"], json!(["11111", "33333", "22222"]));
    assert_eq!(v["not_exist_code"], json!(["55555", "44444"]));
    let post = |body: String| api.post("/card/code/checkcode", &body);
    expect_code(&post(deposit_body(&card, &codes(0, 101))), 40109);
    expect_code(&post(deposit_body(&card, &codes(0, 100))), 0);
    expect_code(&post(json!({"card_id": card}).to_string()), 41011);
    expect_code(
        &post(json!({"card_id": card, "code": [""]}).to_string()),
        40056,
    );
    expect_code(&post(json!({"code": ["1"]}).to_string()), 41012);
    expect_code(
        &post(json!({"card_id": "pNo", "code": ["1"]}).to_string()),
        40073,
    );
    let count = |body: Value| api.post("/card/code/getdepositcount", &body.to_string());
    expect_code(&count(json!({})), 41012);
    expect_code(&count(json!({"card_id": "pNo"})), 40073);
    // The seed's example id with spaces is another id.
    expect_code(&count(json!({"card_id": format!(" {card} ")})), 40073);
}

// --- gethtml, whitelist ---------------------------------------------------------------

#[test]
fn gethtml_returns_an_iframe_for_the_card() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let custom = sb
        .create_card(CardSpec::new().use_custom_code(true))
        .unwrap();
    let v = api.post(
        "/card/mpnews/gethtml",
        &json!({"card_id": card}).to_string(),
    );
    expect_code(&v, 0);
    let html = v["content"].as_str().unwrap();
    assert!(
        html.starts_with("<iframe class=") && html.ends_with("</iframe>"),
        "{html}"
    );
    assert!(html.contains(&format!("cardid={card}&amp;")));
    expect_code(
        &api.post(
            "/card/mpnews/gethtml",
            &json!({"card_id": custom}).to_string(),
        ),
        40071,
    );
    expect_code(
        &api.post(
            "/card/mpnews/gethtml",
            &json!({"card_id": "pNo"}).to_string(),
        ),
        40073,
    );
    expect_code(&api.post("/card/mpnews/gethtml", "{}"), 41012);
}

#[test]
fn whitelist_is_replaced_whole_and_capped_at_ten() {
    let (sb, api) = setup();
    let set = |v: Value| api.post("/card/testwhitelist/set", &v.to_string());
    expect_code(
        &set(
            json!({"openid": ["o1Pj9jmZvwSyyyyyyBa4aULW2mA", "o1Pj9jmZvxxxxxxxxxULW2mA"],
                    "username": ["afdvvf", "abcd"]}),
        ),
        0,
    );
    let w = sb.whitelist();
    assert_eq!(w.openid.len(), 2);
    assert_eq!(w.username, ["afdvvf", "abcd"]);
    expect_code(&set(json!({"username": ["eddy"]})), 0);
    let w = sb.whitelist();
    assert!(w.openid.is_empty());
    assert_eq!(w.username, ["eddy"]);
    let ten: Vec<String> = (0..10).map(|i| format!("o{i}")).collect();
    expect_code(&set(json!({"openid": ten[..6], "username": ten[6..]})), 0);
    assert_eq!(sb.whitelist().openid.len(), 6);
    expect_code(
        &set(json!({"openid": ten, "username": ["one-more"]})),
        40097,
    );
    assert_eq!(
        sb.whitelist().openid.len(),
        6,
        "a rejected call changes nothing"
    );
    expect_code(&set(json!({"openid": "o1"})), 40097);
    expect_code(&set(json!({"openid": ["o1", 2]})), 40097);
    expect_code(&set(json!({"openid": [""]})), 40097);
    expect_code(&set(json!({})), 0);
    assert_eq!(sb.whitelist(), card_sandbox::Whitelist::default());
}

// --- messages -------------------------------------------------------------------------

#[test]
fn mass_sendall_records_and_dedupes_clientmsgid() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let body = json!({"filter": {"is_to_all": false, "tag_id": "2"},
                      "wxcard": {"card_id": card}, "msgtype": "wxcard", "clientmsgid": "job-1"});
    let v = api.post("/cgi-bin/message/mass/sendall", &body.to_string());
    expect_code(&v, 0);
    assert_eq!(v["errmsg"], "send job submission success");
    let msg_id = v["msg_id"].as_u64().unwrap();
    let again = api.post("/cgi-bin/message/mass/sendall", &body.to_string());
    expect_code(&again, 45065);
    assert_eq!(again["msg_id"].as_u64(), Some(msg_id));
    let to_all =
        json!({"filter": {"is_to_all": true}, "wxcard": {"card_id": card}, "msgtype": "wxcard"});
    let v2 = api.post("/cgi-bin/message/mass/sendall", &to_all.to_string());
    expect_code(&v2, 0);
    assert_ne!(v2["msg_id"].as_u64(), Some(msg_id));
    let sent = sb.messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].card_id, card);
    assert_eq!(sent[0].msg_id, Some(msg_id));
    assert_eq!(sent[0].sent_at, T0);
    assert_eq!(
        sent[0].channel,
        Channel::MassByTag {
            is_to_all: false,
            tag_id: Some(2),
            clientmsgid: Some("job-1".into())
        }
    );
    assert!(matches!(
        sent[1].channel,
        Channel::MassByTag {
            is_to_all: true,
            tag_id: None,
            ..
        }
    ));
    // Legacy group_id is read as the tag.
    let legacy =
        json!({"filter": {"group_id": 5}, "wxcard": {"card_id": card}, "msgtype": "wxcard"});
    expect_code(
        &api.post("/cgi-bin/message/mass/sendall", &legacy.to_string()),
        0,
    );
    assert!(matches!(
        sb.messages()[2].channel,
        Channel::MassByTag {
            tag_id: Some(5),
            ..
        }
    ));
    let no_tag =
        json!({"filter": {"is_to_all": false}, "wxcard": {"card_id": card}, "msgtype": "wxcard"});
    expect_code(
        &api.post("/cgi-bin/message/mass/sendall", &no_tag.to_string()),
        41011,
    );
    let no_filter = json!({"wxcard": {"card_id": card}, "msgtype": "wxcard"});
    expect_code(
        &api.post("/cgi-bin/message/mass/sendall", &no_filter.to_string()),
        41011,
    );
}

#[test]
fn mass_send_by_openid_list() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let send = |touser: Value| {
        api.post(
            "/cgi-bin/message/mass/send",
            &json!({"touser": touser, "wxcard": {"card_id": card}, "msgtype": "wxcard"})
                .to_string(),
        )
    };
    let v = send(json!(["OPENID1", "OPENID2"]));
    expect_code(&v, 0);
    assert_eq!(v["errmsg"], "send job submission success");
    assert!(v["msg_id"].is_u64());
    expect_code(&send(json!(["OPENID1"])), 40130);
    let many: Vec<String> = (0..10_001).map(|i| format!("o{i}")).collect();
    expect_code(&send(json!(many)), 40130);
    expect_code(&send(json!(["OPENID1", ""])), 40003);
    expect_code(&send(json!("OPENID1")), 40097);
    let sent = sb.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].channel,
        Channel::MassByOpenId {
            touser: vec!["OPENID1".into(), "OPENID2".into()],
            clientmsgid: None
        }
    );
}

#[test]
fn preview_and_custom_send() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let ext = CardExt::sign(
        &card,
        &sb.api_ticket(),
        1_700_000_000,
        "n0nce",
        None,
        Some("OPENID"),
    )
    .unwrap()
    .to_json_string();
    let v = api.post(
        "/cgi-bin/message/mass/preview",
        &json!({"touser": "OPENID", "wxcard": {"card_id": card, "card_ext": ext}, "msgtype": "wxcard"})
            .to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(v["errmsg"], "preview success");
    assert!(v["msg_id"].is_u64());
    let v = api.post(
        "/cgi-bin/message/mass/preview",
        &json!({"towxname": "eddy", "wxcard": {"card_id": card}, "msgtype": "wxcard"}).to_string(),
    );
    expect_code(&v, 0);
    expect_code(
        &api.post(
            "/cgi-bin/message/mass/preview",
            &json!({"wxcard": {"card_id": card}, "msgtype": "wxcard"}).to_string(),
        ),
        41011,
    );
    let v = api.post(
        "/cgi-bin/message/custom/send",
        &json!({"touser": "OPENID", "msgtype": "wxcard", "wxcard": {"card_id": card},
                "customservice": {"kf_account": "test1@kftest"}})
        .to_string(),
    );
    expect_code(&v, 0);
    assert_eq!(v["errmsg"], "ok");
    assert!(v.get("msg_id").is_none());
    expect_code(
        &api.post(
            "/cgi-bin/message/custom/send",
            &json!({"msgtype": "wxcard", "wxcard": {"card_id": card}}).to_string(),
        ),
        41011,
    );
    let sent = sb.messages();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].card_ext.as_deref(), Some(ext.as_str()));
    assert_eq!(
        sent[0].channel,
        Channel::Preview {
            touser: Some("OPENID".into()),
            towxname: None
        }
    );
    assert_eq!(
        sent[2].channel,
        Channel::Custom {
            touser: "OPENID".into(),
            kf_account: Some("test1@kftest".into())
        }
    );
    assert_eq!(sent[2].msg_id, None);
    assert_eq!(sent[2].body["customservice"]["kf_account"], "test1@kftest");
}

#[test]
fn message_errors() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let custom = sb
        .create_card(CardSpec::new().use_custom_code(true))
        .unwrap();
    let send = |v: Value| api.post("/cgi-bin/message/custom/send", &v.to_string());
    let msg = |wxcard: Value| json!({"touser": "O", "msgtype": "wxcard", "wxcard": wxcard});
    expect_code(
        &send(json!({"touser": "O", "msgtype": "text", "text": {"content": "hi"}})),
        40008,
    );
    expect_code(
        &send(json!({"touser": "O", "wxcard": {"card_id": card}})),
        41011,
    );
    expect_code(&send(json!({"touser": "O", "msgtype": "wxcard"})), 41011);
    expect_code(&send(msg(json!({}))), 41012);
    expect_code(&send(msg(json!({"card_id": "pNo"}))), 40073);
    expect_code(&send(msg(json!({"card_id": custom}))), 40071);
    expect_code(
        &send(msg(json!({"card_id": card, "card_ext": "{not json"}))),
        40080,
    );
    expect_code(
        &send(msg(json!({"card_id": card, "card_ext": {"code": ""}}))),
        40080,
    );
    expect_code(
        &send(json!({"touser": "", "msgtype": "wxcard", "wxcard": {"card_id": card}})),
        40003,
    );
    assert!(sb.messages().is_empty());
}

#[test]
fn card_ext_must_be_signed_with_the_current_api_ticket() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let other = sb.create_card(CardSpec::new()).unwrap();
    let send = |card_id: &str, ext: &str| {
        api.post(
            "/cgi-bin/message/custom/send",
            &json!({"touser": "O", "msgtype": "wxcard",
                    "wxcard": {"card_id": card_id, "card_ext": ext}})
            .to_string(),
        )
    };
    // The documented example's signature fits no card and ticket of ours.
    let doc = r#"{"code":"","openid":"","timestamp":"1402057159","signature":"017bb17407c8e0058a66d72dcc61632b70f511ad"}"#;
    expect_code(&send(&card, doc), 40080);
    let ext = CardExt::sign(&other, &sb.api_ticket(), 1, "n", Some("123"), None)
        .unwrap()
        .to_json_string();
    expect_code(&send(&card, &ext), 40080);
    expect_code(&send(&other, &ext), 0);
    // Once the ticket has expired (and another is issued), the old signature fails.
    sb.advance(7200);
    let api = common::api(&sb);
    let _renewed = sb.api_ticket();
    let v = api.post(
        "/cgi-bin/message/custom/send",
        &json!({"touser": "O", "msgtype": "wxcard",
                "wxcard": {"card_id": other, "card_ext": ext}})
        .to_string(),
    );
    expect_code(&v, 40080);
    assert_eq!(sb.messages().len(), 1);
}

// --- admin routes through the transport -----------------------------------------------

#[test]
fn admin_routes_need_no_token() {
    let (sb, api) = setup();
    let r = api
        .raw(
            "POST",
            "/sandbox/cards",
            json!({"use_custom_code": true, "get_custom_code_mode": "GET_CUSTOM_CODE_MODE_DEPOSIT",
                   "quantity": "0", "card_id": "pAdminCard"})
            .to_string(),
        )
        .unwrap();
    let v: Value = serde_json::from_slice(r.body()).unwrap();
    expect_code(&v, 0);
    assert_eq!(v["card_id"], "pAdminCard");
    let card = sb.card("pAdminCard").unwrap();
    assert!(card.use_custom_code && card.distributable_without_code() && card.quantity == 0);
    let dup: Value = serde_json::from_slice(
        api.raw("POST", "/sandbox/cards", r#"{"card_id":"pAdminCard"}"#)
            .unwrap()
            .body(),
    )
    .unwrap();
    expect_code(&dup, 40097);
    let generated: Value =
        serde_json::from_slice(api.raw("POST", "/sandbox/cards", "{}").unwrap().body()).unwrap();
    let id = generated["card_id"].as_str().unwrap();
    assert_eq!(id.len(), 28);
    assert!(id.starts_with('p'));

    let clock: Value = serde_json::from_slice(
        api.raw("POST", "/sandbox/clock", r#"{"advance": 60}"#)
            .unwrap()
            .body(),
    )
    .unwrap();
    assert_eq!(clock["now"], T0 + 60);
    assert_eq!(sb.now(), T0 + 60);

    let state: Value =
        serde_json::from_slice(api.raw("GET", "/sandbox/state", "").unwrap().body()).unwrap();
    assert_eq!(state["cards"].as_array().unwrap().len(), 2);
    assert_eq!(state["now"], T0 + 60);

    let r = api
        .raw(
            "POST",
            "/sandbox/events/user_get_card",
            r#"{"card_id":"pAdminCard","code":"12312312","outer_id":"1","openid":"oX"}"#,
        )
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
    let xml = String::from_utf8(r.into_body()).unwrap();
    assert!(xml.contains("<OuterId>1</OuterId>") && xml.contains("<![CDATA[oX]]>"));
    let missing: Value = serde_json::from_slice(
        api.raw(
            "POST",
            "/sandbox/events/user_get_card",
            r#"{"card_id":"pNo","code":"1"}"#,
        )
        .unwrap()
        .body(),
    )
    .unwrap();
    expect_code(&missing, 40097);
    assert_eq!(sb.stats().api_calls, 0, "admin routes are not API calls");
}

#[test]
fn set_up_api() {
    let sb = sandbox();
    let id = sb
        .create_card(CardSpec::new().card_id("pMine").quantity(5))
        .unwrap();
    assert_eq!(id, "pMine");
    assert_eq!(
        sb.create_card(CardSpec::new().card_id("pMine")),
        Err(card_sandbox::SandboxError::DuplicateCard("pMine".into()))
    );
    assert_eq!(
        sb.create_card(CardSpec::new().card_id("")),
        Err(card_sandbox::SandboxError::InvalidCardId)
    );
    sb.set_quantity("pMine", 9).unwrap();
    assert_eq!(sb.card("pMine").unwrap().quantity, 9);
    assert!(sb.set_quantity("pNo", 1).is_err());
    assert_eq!(sb.preload_codes("pMine", ["a", "b", "a"]).unwrap(), 2);
    assert_eq!(
        sb.preload_codes("pMine", ["c", ""]),
        Err(card_sandbox::SandboxError::InvalidCode)
    );
    assert_eq!(sb.deposited_count("pMine"), Some(3));
    assert_eq!(sb.deposited_count("pNo"), None);
    let many: Vec<String> = (0..3)
        .map(|_| sb.create_card(CardSpec::new()).unwrap())
        .collect();
    assert_eq!(sb.cards().len(), 4);
    assert_eq!(
        many.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    let shown = format!("{sb:?}");
    assert!(!shown.contains(Sandbox::DEFAULT_SECRET), "{shown}");
}

// --- robustness -----------------------------------------------------------------------

/// Mangled and truncated bodies on every route always get a WeChat-style JSON answer.
#[test]
fn garbage_bodies_always_get_an_answer() {
    let (sb, api) = setup();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let seeds = [
        json!({"card_id": card, "code": ["1", "2"]}),
        json!({"action_name": "QR_MULTIPLE_CARD", "action_info": {"multiple_card": {"card_list": [{"card_id": card}]}}}),
        json!({"banner": "b", "page_title": "t", "can_share": "1", "scene": "SCENE_H5", "card_list": [{"card_id": card, "thumb_url": "u"}]}),
        json!({"filter": {"is_to_all": "true"}, "touser": ["a", "b"], "msgtype": "wxcard", "wxcard": {"card_id": card, "card_ext": "{}"}}),
        json!({"openid": ["o"], "username": [1], "expire_seconds": "1800", "outer_id": [1]}),
    ];
    let paths = [
        "/card/qrcode/create",
        "/card/landingpage/create",
        "/card/code/deposit",
        "/card/code/getdepositcount",
        "/card/code/checkcode",
        "/card/mpnews/gethtml",
        "/card/testwhitelist/set",
        "/cgi-bin/message/mass/sendall",
        "/cgi-bin/message/mass/send",
        "/cgi-bin/message/mass/preview",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/stable_token",
        "/sandbox/cards",
        "/sandbox/clock",
        "/sandbox/events/user_get_card",
    ];
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for path in paths {
        for seed in &seeds {
            let original = seed.to_string().into_bytes();
            for _ in 0..40 {
                let mut body = original.clone();
                match next() % 3 {
                    0 => body.truncate((next() as usize) % (body.len() + 1)),
                    1 => {
                        for _ in 0..3 {
                            let i = (next() as usize) % body.len();
                            body[i] = next() as u8;
                        }
                    }
                    _ => {
                        let i = (next() as usize) % body.len();
                        body.insert(i, b"{}[],:\"0\\\xff"[(next() % 10) as usize]);
                    }
                }
                let r = api
                    .raw("POST", &format!("{path}?access_token={}", api.token), body)
                    .expect("an answer");
                assert_eq!(r.status(), 200, "{path}");
                if r.headers()["content-type"] != "text/xml; charset=utf-8" {
                    let v: Value = serde_json::from_slice(r.body()).expect("JSON answer");
                    assert!(v.get("errcode").is_some() || v.get("access_token").is_some());
                }
            }
        }
    }
}
