//! The user_get_card event generator: well-formed XML with WeChat's fields.

mod common;

use card_sandbox::{CardSpec, DEFAULT_OPENID, SandboxError, UserGetCard};
use common::*;
use quick_xml::events::Event;
use std::collections::BTreeMap;

/// The children of `<xml>` as name -> text (CDATA or plain), checking well-formedness.
fn fields(xml: &str) -> BTreeMap<String, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if stack.len() == 1 {
                    out.entry(name.clone()).or_insert_with(String::new);
                }
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::CData(t) => {
                let text = String::from_utf8(t.into_inner().to_vec()).unwrap();
                out.get_mut(stack.last().unwrap()).unwrap().push_str(&text);
            }
            Event::Text(t) => {
                let text = String::from_utf8(t.into_inner().to_vec()).unwrap();
                if stack.len() == 2 {
                    out.get_mut(stack.last().unwrap())
                        .unwrap()
                        .push_str(text.trim());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    out
}

#[test]
fn user_get_card_carries_every_documented_field() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    sb.advance(42);
    let xml = sb
        .user_get_card_event(
            &UserGetCard::new(&card, "198374613512")
                .openid("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA")
                .outer_id(1)
                .outer_str("12b"),
        )
        .unwrap();
    let f = fields(&xml);
    let expect =
        |k: &str, v: &str| assert_eq!(f.get(k).map(String::as_str), Some(v), "{k} in {xml}");
    expect("ToUserName", &sb.original_id());
    assert!(sb.original_id().starts_with("gh_"));
    expect("FromUserName", "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA");
    expect("CreateTime", &(T0 + 42).to_string());
    expect("MsgType", "event");
    expect("Event", "user_get_card");
    expect("CardId", &card);
    expect("IsGiveByFriend", "0");
    expect("FriendUserName", "");
    expect("UserCardCode", "198374613512");
    expect("OldUserCardCode", "");
    expect("OuterId", "1");
    expect("OuterStr", "12b");
    expect("IsRestoreMemberCard", "0");
    assert!(!f.contains_key("UnionId"));
}

#[test]
fn defaults_and_awkward_values() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let xml = sb
        .user_get_card_event(&UserGetCard::new(&card, "a]]>b<c>&").union_id("o6_bmasd"))
        .unwrap();
    let f = fields(&xml);
    assert_eq!(f["FromUserName"], DEFAULT_OPENID);
    assert_eq!(f["OuterId"], "0");
    assert_eq!(f["UserCardCode"], "a]]>b<c>&");
    assert_eq!(f["UnionId"], "o6_bmasd");
    assert!(!f.contains_key("OuterStr"));
    assert_eq!(
        sb.user_get_card_event(&UserGetCard::new("pNo", "1")),
        Err(SandboxError::UnknownCard("pNo".into()))
    );
}
