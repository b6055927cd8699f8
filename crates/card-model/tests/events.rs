//! The event parser (spec section 7) on the documented XML, the later full field list,
//! real-push shapes, other events and messages, and hostile documents.

use card_model::event::{
    Event, EventError, MAX_EVENT_BYTES, MAX_EVENT_DEPTH, MAX_NAME_BYTES, UserGetCard, parse_event,
};

/// seed-pre:20, byte for byte (trailing spaces included).
const SEED_PRE_20: &str = concat!(
    "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> \n",
    "<FromUserName><![CDATA[FromUser]]></FromUserName> \n",
    "<FriendUserName><![CDATA[FriendUser]]></FriendUserName> \n",
    "<CreateTime>123456789</CreateTime> \n",
    "<MsgType><![CDATA[event]]></MsgType> \n",
    "<Event><![CDATA[user_get_card]]></Event> \n",
    "<CardId><![CDATA[cardid]]></CardId> \n",
    "<IsGiveByFriend>1</IsGiveByFriend>\n",
    "<UserCardCode><![CDATA[12312312]]></UserCardCode>\n",
    "<OuterId>1</OuterId>\n",
    "</xml>\n",
);

/// The later official sample of spec 7.3, verbatim (white space around CDATA, plain UnionId).
const LATER_SAMPLE: &str = concat!(
    "<xml>\n",
    "   <ToUserName> <![CDATA[gh_fc0a06a20993]]> </ToUserName>\n",
    "    <FromUserName> <![CDATA[oZI8Fj040-be6rlDohc6gkoPOQTQ]]> </FromUserName>\n",
    "    <CreateTime>1472551036</CreateTime>\n",
    "    <MsgType> <![CDATA[event]]> </MsgType>\n",
    "    <Event> <![CDATA[user_get_card]]> </Event>\n",
    "    <CardId> <![CDATA[pZI8Fjwsy5fVPRBeD78J4RmqVvBc]]> </CardId>\n",
    "    <IsGiveByFriend>0</IsGiveByFriend>\n",
    "    <UserCardCode> <![CDATA[226009850808]]> </UserCardCode>\n",
    "    <FriendUserName> <![CDATA[]]> </FriendUserName>\n",
    "    <OuterId>0</OuterId>\n",
    "    <OldUserCardCode> <![CDATA[]]> </OldUserCardCode>\n",
    "    <OuterStr> <![CDATA[12b]]> </OuterStr>\n",
    "    <IsRestoreMemberCard>0</IsRestoreMemberCard>\n",
    "    <IsRecommendByFriend>0</IsRecommendByFriend>\n",
    "    <UnionId>o6_bmasdasdsad6_2sgVt7hMZOPfL</UnionId>\n",
    "</xml>\n",
);

/// The shape of real pushes: no white space, with `SourceScene`.
const REAL_PUSH: &str = "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName>\
<FromUserName><![CDATA[oBBnK0fBKYqa8cWn6Hs1bQ5uFWUs]]></FromUserName>\
<CreateTime>1566799524</CreateTime><MsgType><![CDATA[event]]></MsgType>\
<Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[pBBnK0UmQ3ozGdgDgnc1mJ2lcTtQ]]></CardId>\
<IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[850117539419]]></UserCardCode>\
<FriendUserName><![CDATA[]]></FriendUserName><OuterId>0</OuterId>\
<OldUserCardCode><![CDATA[]]></OldUserCardCode><IsRestoreMemberCard>0</IsRestoreMemberCard>\
<IsRecommendByFriend>0</IsRecommendByFriend><SourceScene><![CDATA[SOURCE_SCENE_UNKNOW]]></SourceScene>\
<UnionId><![CDATA[]]></UnionId></xml>";

fn claim(xml: &str) -> UserGetCard {
    match parse_event(xml.as_bytes()) {
        Ok(Event::UserGetCard(e)) => e,
        other => panic!("expected user_get_card, got {other:?}"),
    }
}

fn err(xml: impl AsRef<[u8]>) -> EventError {
    match parse_event(xml.as_ref()) {
        Err(e) => e,
        Ok(ev) => panic!("expected an error, got {ev:?}"),
    }
}

/// A minimal valid claim with `inner` inserted before `</xml>`.
fn claim_with(inner: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
         <CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[p1]]></CardId>{inner}</xml>"
    )
}

#[test]
fn seed_example_parses_with_every_field() {
    let e = claim(SEED_PRE_20);
    let mut expected = UserGetCard::new("toUser", "FromUser", 123456789, "cardid");
    expected.friend_user_name = Some("FriendUser".into());
    expected.is_give_by_friend = Some(true);
    expected.user_card_code = Some("12312312".into());
    expected.outer_id = Some(1);
    assert_eq!(e, expected);
    assert!(e.extra().is_empty());
    assert_eq!(e.dedup_key(), ("FromUser", 123456789));
}

#[test]
fn later_official_sample_trims_around_cdata_and_reads_plain_union_id() {
    let e = claim(LATER_SAMPLE);
    let mut expected = UserGetCard::new(
        "gh_fc0a06a20993",
        "oZI8Fj040-be6rlDohc6gkoPOQTQ",
        1472551036,
        "pZI8Fjwsy5fVPRBeD78J4RmqVvBc",
    );
    expected.is_give_by_friend = Some(false);
    expected.user_card_code = Some("226009850808".into());
    expected.friend_user_name = None; // empty CDATA
    expected.outer_id = Some(0);
    expected.old_user_card_code = None; // empty CDATA
    expected.outer_str = Some("12b".into());
    expected.is_restore_member_card = Some(false);
    expected.is_recommend_by_friend = Some(false);
    expected.union_id = Some("o6_bmasdasdsad6_2sgVt7hMZOPfL".into());
    assert_eq!(e, expected);
}

#[test]
fn real_push_with_source_scene() {
    let e = claim(REAL_PUSH);
    assert_eq!(e.to_user_name, "gh_3fcea188bf78");
    assert_eq!(e.create_time, 1566799524);
    assert_eq!(e.source_scene.as_deref(), Some("SOURCE_SCENE_UNKNOW"));
    assert_eq!(e.union_id, None);
    assert_eq!(e.outer_str, None);
    assert_eq!(e.user_card_code.as_deref(), Some("850117539419"));
    assert!(e.extra().is_empty());
}

#[test]
fn xml_declaration_and_comments_are_tolerated() {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- push -->{}",
        claim_with("")
    );
    let e = claim(&xml);
    assert_eq!(e.card_id, "p1");
    // A UTF-8 byte-order mark is tolerated too.
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(claim_with("").as_bytes());
    assert!(matches!(parse_event(&bom), Ok(Event::UserGetCard(_))));
}

#[test]
fn only_required_fields_leave_options_none() {
    let e = claim(&claim_with(""));
    assert_eq!(e, UserGetCard::new("gh_1", "o1", 1, "p1"));
}

#[test]
fn missing_required_fields_are_named() {
    let no_card = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>\
        <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>user_get_card</Event></xml>";
    let e = err(no_card);
    assert_eq!(e, EventError::MissingField { field: "CardId" });
    assert_eq!(e.field(), Some("CardId"));
    let no_time = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>\
        <MsgType>event</MsgType><Event>user_get_card</Event><CardId>c</CardId></xml>";
    assert_eq!(
        err(no_time),
        EventError::MissingField {
            field: "CreateTime"
        }
    );
    assert_eq!(
        err("<xml><Event>user_get_card</Event></xml>"),
        EventError::MissingField { field: "MsgType" }
    );
}

#[test]
fn unknown_fields_are_kept_in_extra() {
    let e = claim(&claim_with(
        "<NewThing><![CDATA[x y]]></NewThing><Plain> 42 </Plain><Empty/>\
         <Box><Inner>1</Inner><Inner>2</Inner></Box><Tag>a</Tag><Tag>b</Tag>",
    ));
    let extra = e.extra();
    assert_eq!(extra["NewThing"], "x y");
    assert_eq!(extra["Plain"], "42");
    assert_eq!(extra["Empty"], "");
    assert_eq!(extra["Box/Inner"], "1");
    assert_eq!(extra["Box/Inner#2"], "2");
    assert_eq!(extra["Tag"], "a");
    assert_eq!(extra["Tag#2"], "b");
    assert!(
        !extra.contains_key("Box"),
        "a container without text is not a field"
    );
    assert_eq!(extra.len(), 7);
}

#[test]
fn text_mixing_cdata_entities_and_char_refs() {
    let e = claim(&claim_with(
        "<OuterStr> a&amp;b&lt;&#x4E2D;&#25991;<![CDATA[ <raw> ]]>&quot;&apos;&gt; </OuterStr>",
    ));
    assert_eq!(e.outer_str.as_deref(), Some("a&b<中文 <raw> \"'>"));
}

#[test]
fn cdata_keeps_inner_white_space() {
    let e = claim(&claim_with("<OuterStr><![CDATA[ padded ]]></OuterStr>"));
    assert_eq!(e.outer_str.as_deref(), Some(" padded "));
    let e = claim(&claim_with("<OuterStr>\n  two words \n</OuterStr>"));
    assert_eq!(e.outer_str.as_deref(), Some("two words"));
}

#[test]
fn names_and_flags_compare_as_documented() {
    // MsgType and Event compare ignoring ASCII case.
    let xml = claim_with("")
        .replace("[event]", "[EVENT]")
        .replace("user_get_card", "USER_GET_CARD");
    assert!(matches!(
        parse_event(xml.as_bytes()),
        Ok(Event::UserGetCard(_))
    ));
    // Empty flags and OuterId read as None.
    let e = claim(&claim_with(
        "<IsGiveByFriend></IsGiveByFriend><OuterId> </OuterId>",
    ));
    assert_eq!(e.is_give_by_friend, None);
    assert_eq!(e.outer_id, None);
    let e = claim(&claim_with("<OuterId>-9223372036854775808</OuterId>"));
    assert_eq!(e.outer_id, Some(i64::MIN));
}

#[test]
fn bad_optional_numbers_and_flags_keep_the_claim() {
    // A 60-digit OuterId (allowed by the QR API, too big for i64), a value past i64, a
    // fraction and letters: the claim is read, the text kept, the typed accessor fails.
    let sixty = "1".repeat(60);
    for text in [sixty.as_str(), "9223372036854775808", "1.5", "abc"] {
        let e = claim(&claim_with(&format!("<OuterId>{text}</OuterId>")));
        assert_eq!(e.card_id, "p1");
        assert_eq!(e.outer_id, None, "{text}");
        assert_eq!(e.outer_id_text().as_deref(), Some(text));
        assert_eq!(e.unparsed().get("OuterId").map(String::as_str), Some(text));
        let err = e.checked_outer_id().unwrap_err();
        assert_eq!(err.field(), Some("OuterId"));
        assert!(matches!(err, EventError::InvalidNumber { .. }), "{err:?}");
        // Written back as sent, and read back to the same claim.
        assert_eq!(
            parse_event(e.to_xml().as_bytes()),
            Ok(Event::UserGetCard(e.clone()))
        );
    }
    assert_eq!(
        claim(&claim_with("<OuterId>9223372036854775808</OuterId>")).checked_outer_id(),
        Err(EventError::InvalidNumber {
            field: "OuterId",
            value: "9223372036854775808".into()
        })
    );
    // A good OuterId reads the same through every accessor.
    let e = claim(&claim_with("<OuterId>-42</OuterId>"));
    assert_eq!(
        (e.outer_id, e.checked_outer_id()),
        (Some(-42), Ok(Some(-42)))
    );
    assert_eq!(e.outer_id_text().as_deref(), Some("-42"));
    assert!(e.unparsed().is_empty());

    // Flags: each fails on its own accessor, the others and the claim stay.
    let e = claim(&claim_with(
        "<IsGiveByFriend>2</IsGiveByFriend><IsRestoreMemberCard>true</IsRestoreMemberCard><IsRecommendByFriend>1</IsRecommendByFriend>",
    ));
    assert_eq!(
        e.checked_is_give_by_friend(),
        Err(EventError::InvalidFlag {
            field: "IsGiveByFriend",
            value: "2".into()
        })
    );
    assert_eq!(
        e.checked_is_restore_member_card().unwrap_err().field(),
        Some("IsRestoreMemberCard")
    );
    assert_eq!(e.checked_is_recommend_by_friend(), Ok(Some(true)));
    assert_eq!(
        (e.is_give_by_friend, e.is_restore_member_card),
        (None, None)
    );
    assert_eq!(
        parse_event(e.to_xml().as_bytes()),
        Ok(Event::UserGetCard(e.clone()))
    );
    // Setting the typed field wins over the kept text.
    let mut fixed = e.clone();
    fixed.is_give_by_friend = Some(false);
    assert_eq!(fixed.checked_is_give_by_friend(), Ok(Some(false)));
    assert!(
        fixed
            .to_xml()
            .contains("<IsGiveByFriend>0</IsGiveByFriend>")
    );

    // CreateTime is required: a bad one still refuses the event.
    let xml = claim_with("").replace(
        "<CreateTime>1</CreateTime>",
        "<CreateTime>soon</CreateTime>",
    );
    assert_eq!(
        err(xml),
        EventError::InvalidNumber {
            field: "CreateTime",
            value: "soon".into()
        }
    );
    let xml = claim_with("").replace("<CreateTime>1</CreateTime>", "<CreateTime/>");
    assert_eq!(err(xml).field(), Some("CreateTime"));
    // A long bad value is echoed cut short in the error, kept whole in the claim.
    let long = "9".repeat(10_000);
    let e = claim(&claim_with(&format!("<OuterId>{long}</OuterId>")));
    match e.checked_outer_id() {
        Err(EventError::InvalidNumber { field, value }) => {
            assert_eq!(field, "OuterId");
            assert_eq!(value.len(), 64);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.outer_id_text().map(|t| t.len()), Some(10_000));
}

#[test]
fn duplicate_known_fields_are_refused() {
    assert_eq!(
        err(claim_with("<CardId>p2</CardId>")),
        EventError::DuplicateField { field: "CardId" }
    );
    assert_eq!(
        err(claim_with("<MsgType>text</MsgType>")),
        EventError::DuplicateField { field: "MsgType" }
    );
    assert_eq!(
        err(claim_with("<OuterId>1</OuterId><OuterId>2</OuterId>")),
        EventError::DuplicateField { field: "OuterId" }
    );
    assert_eq!(
        err(claim_with("<UnionId/><UnionId/>")),
        EventError::DuplicateField { field: "UnionId" }
    );
}

#[test]
fn known_fields_must_be_text() {
    assert_eq!(
        err(claim_with("<OuterStr><b>x</b></OuterStr>")),
        EventError::NestedField { field: "OuterStr" }
    );
}

#[test]
fn other_events_keep_their_fields() {
    let del = "<xml><ToUserName><![CDATA[toUser]]></ToUserName>\
        <FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime>\
        <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_del_card]]></Event>\
        <CardId><![CDATA[cardid]]></CardId><UserCardCode><![CDATA[12312312]]></UserCardCode></xml>";
    let event = parse_event(del.as_bytes()).expect("parses");
    assert_eq!(event.msg_type(), "event");
    assert_eq!(event.event_type(), Some("user_del_card"));
    match event {
        Event::Other {
            msg_type,
            event,
            fields,
        } => {
            assert_eq!(msg_type, "event");
            assert_eq!(event.as_deref(), Some("user_del_card"));
            assert_eq!(fields.len(), 5);
            assert_eq!(fields["ToUserName"], "toUser");
            assert_eq!(fields["FromUserName"], "FromUser");
            assert_eq!(fields["CreateTime"], "123456789");
            assert_eq!(fields["CardId"], "cardid");
            assert_eq!(fields["UserCardCode"], "12312312");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_messages_parse_as_other_without_event() {
    let text = "<xml>\n <ToUserName><![CDATA[toUser]]></ToUserName>\n\
        <FromUserName><![CDATA[fromUser]]></FromUserName>\n <CreateTime>1348831860</CreateTime>\n\
        <MsgType><![CDATA[text]]></MsgType>\n <Content><![CDATA[this is a test]]></Content>\n\
        <MsgId>1234567890123456</MsgId>\n</xml>";
    match parse_event(text.as_bytes()).expect("parses") {
        Event::Other {
            msg_type,
            event,
            fields,
        } => {
            assert_eq!(msg_type, "text");
            assert_eq!(event, None);
            assert_eq!(fields["Content"], "this is a test");
            assert_eq!(fields["MsgId"], "1234567890123456");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_user_get_card_with_another_msg_type_is_other() {
    let xml = claim_with("").replace("[event]", "[text]");
    assert!(matches!(
        parse_event(xml.as_bytes()),
        Ok(Event::Other { .. })
    ));
}

#[test]
fn nested_documented_events_parse_as_other() {
    // pic_sysphoto nests four levels below <xml>.
    let xml = "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\
        <CreateTime>1408090651</CreateTime><MsgType><![CDATA[event]]></MsgType>\
        <Event><![CDATA[pic_sysphoto]]></Event><EventKey><![CDATA[6]]></EventKey>\
        <SendPicsInfo><Count>2</Count><PicList>\
        <item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>\
        <item><PicMd5Sum><![CDATA[2c5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>\
        </PicList></SendPicsInfo></xml>";
    match parse_event(xml.as_bytes()).expect("parses") {
        Event::Other { event, fields, .. } => {
            assert_eq!(event.as_deref(), Some("pic_sysphoto"));
            assert_eq!(fields["SendPicsInfo/Count"], "2");
            assert_eq!(
                fields["SendPicsInfo/PicList/item/PicMd5Sum"],
                "1b5f7c23b5bf75682a53e7b6d163e185"
            );
            assert_eq!(
                fields["SendPicsInfo/PicList/item/PicMd5Sum#2"],
                "2c5f7c23b5bf75682a53e7b6d163e185"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn to_xml_round_trips_and_looks_like_wechat() {
    let mut e = claim(LATER_SAMPLE);
    e.source_scene = Some("SOURCE_SCENE_PRE_ACTIVATE".into());
    e.friend_user_name = Some("oFriend".into());
    e.insert_extra("NewThing", "a]]>b").expect("valid name");
    e.insert_extra("Box/Inner", "1").expect("valid name");
    e.insert_extra("Box/Inner#2", "2").expect("valid name");
    let xml = e.to_xml();
    assert!(xml.starts_with("<xml><ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName>"));
    assert!(xml.contains("<CreateTime>1472551036</CreateTime>"));
    assert!(xml.contains("<MsgType><![CDATA[event]]></MsgType>"));
    assert!(xml.contains("<Event><![CDATA[user_get_card]]></Event>"));
    assert!(xml.contains("<IsGiveByFriend>0</IsGiveByFriend>"));
    assert!(xml.contains("<OuterId>0</OuterId>"));
    assert!(xml.contains("<OuterStr><![CDATA[12b]]></OuterStr>"));
    assert!(xml.ends_with("</xml>"));
    assert_eq!(
        parse_event(xml.as_bytes()),
        Ok(Event::UserGetCard(e.clone()))
    );
    assert_eq!(Event::from_xml(xml.as_bytes()), Ok(Event::from(e)));

    let seed = claim(SEED_PRE_20);
    assert_eq!(claim(&seed.to_xml()), seed);
}

#[test]
fn insert_extra_refuses_names_that_cannot_round_trip() {
    let mut e = UserGetCard::new("gh", "o", 1, "p");
    for bad in [
        "",
        "a b",
        "1st",
        "a/",
        "/a",
        "CardId",
        "MsgType/x",
        "a#1",
        "a#02",
        "a#x",
        "a<b",
        "a/b/c/d/e",
    ] {
        assert!(
            matches!(
                e.insert_extra(bad, "v"),
                Err(EventError::InvalidExtraName { .. })
            ),
            "{bad:?} accepted"
        );
    }
    assert_eq!(e.insert_extra("a/b/c/d", "v"), Ok(None));
    assert_eq!(e.insert_extra("x-y.z_1", "v"), Ok(None));
    assert_eq!(e.insert_extra("x-y.z_1", "w"), Ok(Some("v".into())));
    assert_eq!(e.remove_extra("a/b/c/d").as_deref(), Some("v"));
    assert_eq!(e.extra().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Hostile and malformed documents

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><MsgType>event</MsgType><Event>&lol3;</Event></xml>"#;
    assert_eq!(err(xml), EventError::Doctype);
    // An external entity (XXE) likewise.
    let xxe = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><MsgType>&x;</MsgType></xml>";
    assert_eq!(err(xxe), EventError::Doctype);
}

#[test]
fn unknown_entities_are_refused() {
    assert_eq!(
        err(claim_with("<OuterStr>&lol;</OuterStr>")),
        EventError::UnknownEntity { name: "lol".into() }
    );
    assert_eq!(
        err(claim_with("<OuterStr>&nbsp;</OuterStr>")),
        EventError::UnknownEntity {
            name: "nbsp".into()
        }
    );
    for bad in ["&#0;", "&#xD800;", "&#x110000;", "&#-1;", "&#xZZ;", "&#;"] {
        assert!(
            matches!(
                err(claim_with(&format!("<OuterStr>{bad}</OuterStr>"))),
                EventError::InvalidCharRef { .. }
            ),
            "{bad}"
        );
    }
    // A lone ampersand is malformed.
    assert!(matches!(
        err(claim_with("<OuterStr>a & b</OuterStr>")),
        EventError::Malformed { .. }
    ));
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 100_000 / 7;
    let xml = format!("<xml>{}{}</xml>", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(xml.len() > MAX_EVENT_BYTES);
    assert!(matches!(err(&xml), EventError::TooLarge { .. }));
    let xml = format!("<xml>{}{}</xml>", "<a>".repeat(5000), "</a>".repeat(5000));
    assert!(xml.len() <= MAX_EVENT_BYTES);
    assert_eq!(
        err(&xml),
        EventError::TooDeep {
            max: MAX_EVENT_DEPTH
        }
    );
    // Exactly at the limit is fine; one past is refused.
    let at = "<MsgType>x</MsgType><a><b><c><d>v</d></c></b></a>";
    match parse_event(format!("<xml>{at}</xml>").as_bytes()) {
        Ok(Event::Other { fields, .. }) => assert_eq!(fields["a/b/c/d"], "v"),
        other => panic!("{other:?}"),
    }
    let past = "<xml><MsgType>x</MsgType><a><b><c><d><e>v</e></d></c></b></a></xml>";
    assert_eq!(
        err(past),
        EventError::TooDeep {
            max: MAX_EVENT_DEPTH
        }
    );
    // Self-closing elements count too.
    let past = "<xml><MsgType>x</MsgType><a><b><c><d><e/></d></c></b></a></xml>";
    assert_eq!(
        err(past),
        EventError::TooDeep {
            max: MAX_EVENT_DEPTH
        }
    );
}

#[test]
fn huge_input_is_refused_before_parsing() {
    let padding = " ".repeat(MAX_EVENT_BYTES);
    let xml = claim_with(&format!("<Pad>{padding}</Pad>"));
    assert_eq!(
        err(&xml),
        EventError::TooLarge {
            len: xml.len(),
            max: MAX_EVENT_BYTES
        }
    );
    // Even garbage of that size is refused without a look.
    let junk = vec![0xFFu8; MAX_EVENT_BYTES + 1];
    assert!(matches!(err(&junk), EventError::TooLarge { .. }));
    // Just under the cap is parsed.
    let fill = MAX_EVENT_BYTES - claim_with("<Pad></Pad>").len();
    let xml = claim_with(&format!("<Pad>{}</Pad>", "x".repeat(fill)));
    assert_eq!(xml.len(), MAX_EVENT_BYTES);
    assert_eq!(claim(&xml).extra()["Pad"].len(), fill);
}

#[test]
fn many_repeated_elements_stay_bounded() {
    // Numbering repeats must not go quadratic; this is about 10,000 elements.
    let body = "<a/>".repeat((MAX_EVENT_BYTES - 400) / 4);
    match parse_event(format!("<xml><MsgType>x</MsgType>{body}</xml>").as_bytes()) {
        Ok(Event::Other { fields, .. }) => {
            assert_eq!(fields.len(), (MAX_EVENT_BYTES - 400) / 4);
            assert!(fields.contains_key(&format!("a#{}", (MAX_EVENT_BYTES - 400) / 4)));
            assert!(fields.contains_key("a#2"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn element_names_are_capped() {
    let ok = "N".repeat(MAX_NAME_BYTES);
    let e = claim(&claim_with(&format!("<{ok}>v</{ok}>")));
    assert_eq!(e.extra()[&ok], "v");
    let long = "N".repeat(MAX_NAME_BYTES + 1);
    assert!(matches!(
        err(claim_with(&format!("<{long}>v</{long}>"))),
        EventError::InvalidName { .. }
    ));
    // Nested under a long name, many small elements cannot build large keys.
    let nested = format!("<{long}>{}</{long}>", "<b/>".repeat(10_000));
    assert!(matches!(
        err(claim_with(&nested)),
        EventError::InvalidName { .. }
    ));
    let mut e = UserGetCard::new("gh", "o", 1, "p");
    assert!(e.insert_extra(format!("a/{long}"), "v").is_err());
}

#[test]
fn invalid_utf8_is_refused() {
    let mut xml = claim_with("<OuterStr>ab</OuterStr>").into_bytes();
    let at = xml.windows(2).position(|w| w == b"ab").expect("present");
    xml[at] = 0xC3;
    xml[at + 1] = 0x28;
    assert_eq!(err(&xml), EventError::InvalidUtf8 { valid_up_to: at });
    // Invalid bytes inside CDATA and comments are refused as well.
    assert!(matches!(
        err(b"<xml><!-- \xFF --></xml>"),
        EventError::InvalidUtf8 { .. }
    ));
    assert!(matches!(
        err(b"<xml><A><![CDATA[\xF0\x28\x8C\x28]]></A></xml>"),
        EventError::InvalidUtf8 { .. }
    ));
}

#[test]
fn non_utf8_declared_encodings_are_refused() {
    let xml = format!("<?xml version=\"1.0\" encoding=\"GBK\"?>{}", claim_with(""));
    assert_eq!(
        err(xml),
        EventError::UnsupportedEncoding {
            encoding: "GBK".into()
        }
    );
}

#[test]
fn truncated_documents_are_refused() {
    let full = SEED_PRE_20.trim_end();
    for cut in [
        0,
        1,
        5,
        6,
        30,
        full.len() / 2,
        full.len() - 6,
        full.len() - 1,
    ] {
        let e = err(&full[..cut]);
        assert!(
            matches!(e, EventError::UnexpectedEof | EventError::Malformed { .. }),
            "cut at {cut}: {e:?}"
        );
    }
    assert_eq!(err(""), EventError::UnexpectedEof);
    assert_eq!(err("  \n "), EventError::UnexpectedEof);
    assert_eq!(
        err("<xml><MsgType>event</MsgType>"),
        EventError::UnexpectedEof
    );
    assert!(matches!(
        err("<xml><MsgType><![CDATA[ev"),
        EventError::Malformed { .. }
    ));
}

#[test]
fn mismatched_and_stray_markup_is_refused() {
    assert!(matches!(
        err("<xml><MsgType>event</Event></xml>"),
        EventError::MismatchedEndTag { .. }
    ));
    assert!(matches!(
        err("<xml><MsgType>event</MsgType></xmlx>"),
        EventError::MismatchedEndTag { .. }
    ));
    assert!(matches!(
        err("<xml></xml></xml>"),
        EventError::Malformed { .. }
    ));
    assert_eq!(
        err("<root><MsgType>event</MsgType></root>"),
        EventError::UnexpectedRoot {
            found: "root".into()
        }
    );
    // Content after the root, or loose in it.
    assert!(matches!(
        err(format!("{}<xml></xml>", claim_with(""))),
        EventError::UnexpectedContent { .. }
    ));
    assert!(matches!(
        err(format!("{}garbage", claim_with(""))),
        EventError::UnexpectedContent { .. }
    ));
    assert!(matches!(
        err(claim_with("loose text")),
        EventError::UnexpectedContent { .. }
    ));
    assert!(matches!(
        err(claim_with("<![CDATA[loose]]>")),
        EventError::UnexpectedContent { .. }
    ));
    assert!(matches!(
        err("text<xml/>"),
        EventError::UnexpectedContent { .. }
    ));
    // White space, comments and processing instructions after the root are fine.
    let ok = format!("{}\n<!-- end -->\n<?pi x?>\n", claim_with(""));
    assert!(parse_event(ok.as_bytes()).is_ok());
    // Odd element names and comments.
    assert!(matches!(
        err(claim_with("<a#b>1</a#b>")),
        EventError::InvalidName { .. }
    ));
    assert!(matches!(
        err(claim_with("<!-- a -- b -->")),
        EventError::Malformed { .. }
    ));
    assert!(matches!(
        err(claim_with("<>x</>")),
        EventError::InvalidName { .. } | EventError::Malformed { .. }
    ));
}

#[test]
fn errors_display_what_was_wrong() {
    assert_eq!(
        EventError::InvalidNumber {
            field: "OuterId",
            value: "x".into()
        }
        .to_string(),
        "field OuterId: \"x\" is not an integer in the i64 range"
    );
    assert_eq!(
        EventError::MissingField { field: "CardId" }.to_string(),
        "required field CardId is missing"
    );
    assert!(EventError::Doctype.to_string().contains("DOCTYPE"));
    assert_eq!(EventError::Doctype.field(), None);
}
