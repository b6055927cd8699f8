//! Property tests of the event parser: it never panics, and `to_xml` round-trips.

use card_model::event::{Event, UserGetCard, parse_event};
use proptest::prelude::*;

/// Fragments that steer arbitrary strings into XML-ish shapes, hostile ones included.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<xml>".to_owned()),
        Just("</xml>".to_owned()),
        Just("<xml/>".to_owned()),
        Just("<MsgType>".to_owned()),
        Just("</MsgType>".to_owned()),
        Just("<MsgType>event</MsgType>".to_owned()),
        Just("<Event><![CDATA[user_get_card]]></Event>".to_owned()),
        Just("<Event>user_del_card</Event>".to_owned()),
        Just("<ToUserName>gh</ToUserName><FromUserName>o</FromUserName>".to_owned()),
        Just("<CreateTime>123</CreateTime>".to_owned()),
        Just("<CreateTime>99999999999999999999</CreateTime>".to_owned()),
        Just("<CardId>p</CardId>".to_owned()),
        Just("<OuterId>".to_owned()),
        Just("</OuterId>".to_owned()),
        Just("<IsGiveByFriend>1</IsGiveByFriend>".to_owned()),
        Just("<IsGiveByFriend>7</IsGiveByFriend>".to_owned()),
        Just("<![CDATA[".to_owned()),
        Just("]]>".to_owned()),
        Just("<!--".to_owned()),
        Just("-->".to_owned()),
        Just("<?xml version=\"1.0\"?>".to_owned()),
        Just("<?pi x?>".to_owned()),
        Just("<!DOCTYPE x [<!ENTITY a \"&a;&a;\">]>".to_owned()),
        Just("&amp;".to_owned()),
        Just("&lol;".to_owned()),
        Just("&#x4E2D;".to_owned()),
        Just("&#0;".to_owned()),
        Just("&".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("/".to_owned()),
        Just("<a>".to_owned()),
        Just("</a>".to_owned()),
        Just("<a/>".to_owned()),
        Just("<a b=\"c\">".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        "[a-zA-Z0-9 _#/]{0,6}",
        any::<String>(),
    ]
}

/// Optional strings as the parser returns them: `None` or non-empty.
fn opt_string() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{1,12}")
}

fn extra_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,8}(/[A-Za-z_][A-Za-z0-9_.-]{0,8}){0,3}"
}

fn user_get_card() -> impl Strategy<Value = UserGetCard> {
    (
        (".{0,12}", ".{0,12}", any::<i64>(), ".{0,12}"),
        (
            opt_string(),
            any::<Option<bool>>(),
            opt_string(),
            opt_string(),
        ),
        (
            any::<Option<i64>>(),
            opt_string(),
            any::<Option<bool>>(),
            any::<Option<bool>>(),
        ),
        (opt_string(), opt_string()),
        prop::collection::btree_map(extra_name(), ".{0,8}", 0..4),
    )
        .prop_map(|(req, a, b, c, extra)| {
            let mut e = UserGetCard::new(req.0, req.1, req.2, req.3);
            (
                e.friend_user_name,
                e.is_give_by_friend,
                e.user_card_code,
                e.old_user_card_code,
            ) = a;
            (
                e.outer_id,
                e.outer_str,
                e.is_restore_member_card,
                e.is_recommend_by_friend,
            ) = b;
            (e.union_id, e.source_scene) = c;
            for (name, value) in extra {
                // Names that shadow a spec field are refused; skip them.
                let _ = e.insert_extra(name, value);
            }
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_event(&bytes);
    }

    #[test]
    fn never_panics_on_xmlish_strings(parts in prop::collection::vec(fragment(), 0..40)) {
        let doc = parts.concat();
        let _ = parse_event(doc.as_bytes());
        // The same with a valid claim prefix, so that deeper states are reached.
        let with_prefix = format!(
            "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>event</MsgType><Event>user_get_card</Event><CardId>c</CardId>{doc}</xml>"
        );
        let _ = parse_event(with_prefix.as_bytes());
    }

    #[test]
    fn never_panics_on_mutated_valid_events(
        cut in 0usize..400,
        flip in 0usize..400,
        byte in any::<u8>(),
    ) {
        let mut xml = UserGetCard::new("gh_1", "o1", 1, "p1").to_xml().into_bytes();
        if flip < xml.len() {
            xml[flip] = byte;
        }
        xml.truncate(cut.max(1));
        let _ = parse_event(&xml);
    }

    #[test]
    fn to_xml_round_trips(e in user_get_card()) {
        let xml = e.to_xml();
        prop_assert_eq!(parse_event(xml.as_bytes()), Ok(Event::UserGetCard(e)));
    }
}
