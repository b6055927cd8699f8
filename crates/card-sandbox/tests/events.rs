//! The user_get_card event generator: well-formed XML with WeChat's fields.

mod common;

use card_model::event::{Event, parse_event};
use card_sandbox::{CardSpec, Claim, DEFAULT_OPENID, SandboxError};
use common::*;
use quick_xml::events::Event as XmlEvent;
use std::collections::BTreeMap;

/// The children of `<xml>` as name -> text (CDATA or plain), checking well-formedness.
fn fields(xml: &str) -> BTreeMap<String, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            XmlEvent::Start(e) => {
                let name = e.name().as_ref().to_owned();
                if stack.len() == 1 {
                    out.entry(name.clone()).or_insert_with(String::new);
                }
                stack.push(name);
            }
            XmlEvent::End(_) => {
                stack.pop();
            }
            XmlEvent::CData(t) => {
                let text = t.into_inner().into_owned();
                out.get_mut(stack.last().unwrap()).unwrap().push_str(&text);
            }
            XmlEvent::Text(t) => {
                let text = t.into_inner().into_owned();
                if stack.len() == 2 {
                    out.get_mut(stack.last().unwrap())
                        .unwrap()
                        .push_str(text.trim());
                }
            }
            XmlEvent::Eof => break,
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
            &Claim::new(&card, "198374613512")
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

    // card_model's parser reads it back to the event the sandbox describes.
    let Ok(Event::UserGetCard(parsed)) = parse_event(xml.as_bytes()) else {
        panic!("not a user_get_card event: {xml}");
    };
    assert_eq!(parsed.to_user_name, sb.original_id());
    assert_eq!(parsed.from_user_name, "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA");
    assert_eq!(parsed.create_time, T0 + 42);
    assert_eq!(parsed.card_id, card);
    assert_eq!(parsed.is_give_by_friend, Some(false));
    assert_eq!(parsed.user_card_code.as_deref(), Some("198374613512"));
    assert_eq!(parsed.outer_id, Some(1));
    assert_eq!(parsed.outer_str.as_deref(), Some("12b"));
    assert!(parsed.friend_user_name.as_deref().unwrap_or("").is_empty());
    let value = sb
        .user_get_card(
            &Claim::new(&card, "198374613512")
                .openid("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA")
                .outer_id(1)
                .outer_str("12b"),
        )
        .unwrap();
    assert_eq!(value.user_card_code, parsed.user_card_code);
    assert_eq!(value.dedup_key(), parsed.dedup_key());
}

#[test]
fn defaults_and_awkward_values() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::new()).unwrap();
    let xml = sb
        .user_get_card_event(&Claim::new(&card, "a]]>b<c>&").union_id("o6_bmasd"))
        .unwrap();
    let f = fields(&xml);
    assert_eq!(f["FromUserName"], DEFAULT_OPENID);
    assert_eq!(f["OuterId"], "0");
    assert_eq!(f["UserCardCode"], "a]]>b<c>&");
    assert_eq!(f["UnionId"], "o6_bmasd");
    assert!(!f.contains_key("OuterStr"));
    let Ok(Event::UserGetCard(parsed)) = parse_event(xml.as_bytes()) else {
        panic!("not a user_get_card event: {xml}");
    };
    assert_eq!(parsed.user_card_code.as_deref(), Some("a]]>b<c>&"));
    assert_eq!(parsed.union_id.as_deref(), Some("o6_bmasd"));
    assert_eq!(
        sb.user_get_card_event(&Claim::new("pNo", "1")),
        Err(SandboxError::UnknownCard("pNo".into()))
    );
}
