//! The fast path must agree with the full reader on everything it accepts.

use super::document::*;
use super::fast::*;
use super::*;
use proptest::prelude::*;

fn full(input: &str) -> Result<Event, EventError> {
    Document::read(input)?.into_event()
}

fn fast(input: &str) -> Option<Result<Event, EventError>> {
    Document::read_flat(input).map(Document::into_event)
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => prop::sample::select(KNOWN_NAMES.to_vec()).prop_map(str::to_owned),
        8 => "[A-Za-z_][A-Za-z0-9_.:-]{0,6}",
        1 => prop::sample::select(vec!["a b", "a/", "", "名", "1a", "a#"]).prop_map(str::to_owned),
    ]
}

fn space() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,2}"
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => ".{0,6}".prop_map(|s| format!("<![CDATA[{s}]]>")),
        6 => "[^<&]{0,6}",
        4 => space(),
        1 => prop::sample::select(vec![
            "&amp;", "]]>", "<![CDATA[x", "<b>1</b>", "<!--c-->", "1", "0", "event",
            "user_get_card", "]", "]]", "> ", "<",
        ])
        .prop_map(str::to_owned),
    ]
}

fn field() -> impl Strategy<Value = String> {
    (
        name(),
        prop::collection::vec(piece(), 0..4),
        prop::option::weighted(0.97, Just(())),
        space(),
    )
        .prop_map(|(name, pieces, closed, sp)| {
            let close = if closed.is_some() {
                format!("</{name}>")
            } else {
                "</other>".to_owned()
            };
            format!("{sp}<{name}>{}{close}", pieces.concat())
        })
}

fn document() -> impl Strategy<Value = String> {
    (
        space(),
        prop::collection::vec(field(), 0..10),
        prop::option::weighted(0.9, Just(())),
        space(),
        prop::sample::select(vec!["", "", "", "", "x", "<xml/>", "<!--c-->"]),
    )
        .prop_map(|(lead, fields, closed, trail, after)| {
            let fixed = "<MsgType>event</MsgType><Event>user_get_card</Event>\
                         <ToUserName>a</ToUserName><FromUserName>b</FromUserName>\
                         <CreateTime>1</CreateTime><CardId>c</CardId>";
            let close = if closed.is_some() { "</xml>" } else { "" };
            format!("{lead}<xml>{fixed}{}{close}{trail}{after}", fields.concat())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_path_agrees_with_full_reader(doc in document()) {
        if let Some(result) = fast(&doc) {
            prop_assert_eq!(result, full(&doc), "document: {:?}", doc);
        }
    }

    #[test]
    fn fast_path_agrees_on_generated_fields(
        fields in prop::collection::vec((name(), prop::collection::vec(piece(), 0..3)), 0..8),
    ) {
        let body: String = fields
            .iter()
            .map(|(n, p)| format!("<{n}>{}</{n}>", p.concat()))
            .collect();
        let doc = format!("<xml>{body}</xml>");
        if let Some(result) = fast(&doc) {
            prop_assert_eq!(result, full(&doc), "document: {:?}", doc);
        }
    }
}

#[test]
fn wechat_shaped_pushes_take_the_fast_path() {
    let mut e = UserGetCard::new("gh_1", "o1", 1, "p1");
    e.outer_str = Some("a]]>b".to_owned());
    e.union_id = Some(" x ".to_owned());
    assert_eq!(
        e.insert_extra("Extra", "v").map_err(|e| e.to_string()),
        Ok(None)
    );
    let xml = e.to_xml();
    assert!(Document::read_flat(&xml).is_some());
    let later = "<xml>\n  <ToUserName> <![CDATA[gh]]> </ToUserName>\n  \
                 <CreateTime>1</CreateTime>\n  <MsgType> <![CDATA[event]]> </MsgType>\n</xml>\n";
    assert!(Document::read_flat(later).is_some());
    assert_eq!(fast(later), Some(full(later)));
}

#[test]
fn tag_tables_match_the_known_names() {
    for (slot, name) in KNOWN_NAMES.iter().enumerate() {
        assert_eq!(OPEN_TAGS[slot], format!("{name}>").as_bytes(), "{name}");
        assert_eq!(CLOSE_TAGS[slot], format!("</{name}>").as_bytes(), "{name}");
        assert_eq!(open_tag_candidate(OPEN_TAGS[slot]), Some(slot), "{name}");
        assert_eq!(known_slot(name.as_bytes()), Some(slot), "{name}");
    }
    // Near misses of a known opening tag are not taken for it.
    for rest in [
        "ToUserName x=\"1\">",
        "ToUserNam>",
        "ToUserNames>",
        "ToUserName/>",
        "ToUserName >",
        "MsgTypeX>v",
        "Outer>",
    ] {
        let known = open_tag_candidate(rest.as_bytes())
            .and_then(|slot| starts_with_tag(rest.as_bytes(), OPEN_TAGS[slot]));
        assert_eq!(known, None, "{rest}");
    }
}

#[test]
fn word_searches_find_the_first_match() {
    let hay = b"0123456789abcdef<ghijklmnop&qrstuvwxyz]]>";
    for from in 0..hay.len() {
        for (x, y) in [
            (b'<', b'&'),
            (b'&', b'<'),
            (b']', b']'),
            (b'z', b'<'),
            (b'#', b'%'),
        ] {
            let want = hay[from..]
                .iter()
                .position(|&c| c == x || c == y)
                .map(|p| p + from);
            assert_eq!(find_either(hay, from, x, y), want, "{from} {x} {y}");
        }
    }
    assert_eq!(find_byte(hay, hay.len() + 3, b'<'), None);
    assert_eq!(find_cdata_end(b"a]b]]c]]>"), Some(6));
    assert_eq!(find_cdata_end(b"]]"), None);
    // Bytes above 0x80 (UTF-8 continuation bytes) are no false matches.
    let wide = "名名名名名<".as_bytes();
    assert_eq!(find_either(wide, 0, b'<', b'&'), Some(wide.len() - 1));
    for n in 0..30 {
        let a: Vec<u8> = (0..n).map(|i| b'a' + i as u8).collect();
        assert!(eq_short(&a, &a.clone()));
        for k in 0..n {
            let mut b = a.clone();
            b[k] ^= 0x20;
            assert!(!eq_short(&a, &b), "{n} {k}");
        }
    }
}

#[test]
fn known_fields_in_every_shape_agree_with_the_full_reader() {
    let values = [
        "<![CDATA[v]]>",
        "<![CDATA[]]>",
        "<![CDATA[a]b]]]>",
        "v",
        "",
        " v ",
        " <![CDATA[ v ]]> ",
        "<![CDATA[a]]>b<![CDATA[c]]>",
        "a&amp;b",
        "&#x4E2D;",
        "<![CDATA[v]]",
        "<![CDATA[v]]></X>",
        "v</X>",
        "<b>1</b>",
        "名",
    ];
    for (slot, name) in KNOWN_NAMES.iter().enumerate() {
        for value in values {
            let field = format!("<{name}>{value}</{name}>");
            let mut doc = String::from("<xml>");
            if slot != MSG_TYPE {
                doc.push_str("<MsgType>event</MsgType>");
            }
            if slot != EVENT {
                doc.push_str("<Event>user_get_card</Event>");
            }
            for (other, fixed) in [
                (TO_USER_NAME, "<ToUserName>a</ToUserName>"),
                (FROM_USER_NAME, "<FromUserName>b</FromUserName>"),
                (CREATE_TIME, "<CreateTime>1</CreateTime>"),
                (CARD_ID, "<CardId>c</CardId>"),
            ] {
                if other != slot {
                    doc.push_str(fixed);
                }
            }
            doc.push_str(&field);
            doc.push_str("</xml>");
            let parsed = parse_event(doc.as_bytes());
            assert_eq!(parsed, full(&doc), "{doc}");
            let Some(quick) = fast(&doc) else {
                continue;
            };
            assert_eq!(quick, parsed, "{doc}");
            // A repeat of a field the fast path reads is refused by the full reader.
            let twice = doc.replace(&field, &format!("{field}{field}"));
            assert!(fast(&twice).is_none(), "{twice}");
            assert!(
                matches!(
                    parse_event(twice.as_bytes()),
                    Err(EventError::DuplicateField { .. })
                ),
                "{twice}"
            );
        }
    }
}

#[test]
fn the_fast_path_declines_what_it_does_not_handle() {
    for doc in [
        "<?xml version=\"1.0\"?><xml><MsgType>e</MsgType></xml>",
        "<xml><MsgType>a&amp;b</MsgType></xml>",
        "<xml><MsgType>e</MsgType><!-- c --></xml>",
        "<xml><MsgType>e</MsgType><A><B>1</B></A></xml>",
        "<xml><MsgType>e</MsgType><A/></xml>",
        "<xml><MsgType>e</MsgType><A x=\"1\">v</A></xml>",
        "<xml><MsgType>e</MsgType></MsgType></xml>",
        "<xml><MsgType>e</MsgType><MsgType>f</MsgType></xml>",
        "<xml><MsgType>e</MsgType></xml>trailing",
        "<xml><MsgType>e</MsgType>",
        "<xml><MsgType>e</MsgType >",
    ] {
        assert!(Document::read_flat(doc).is_none(), "{doc}");
    }
}
