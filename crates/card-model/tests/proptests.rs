//! Property tests: every valid request survives a JSON round trip (serialize, parse,
//! equal), the generated requests really are valid, validation never panics on
//! arbitrary input, responses round-trip too, and the signature and URL helpers keep
//! their laws.

use card_model::card_ext::{CardExt, card_signature};
use card_model::code::{CodeTally, DepositResult};
use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
use card_model::message::{
    MassFilter, MassSendByTag, MassSendToOpenIds, PreviewCard, PreviewRecipient,
    SendCustomerServiceCard, WxCard,
};
use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem, QrCodeTicket, show_qrcode_image_url};
use card_model::{
    ApiTicket, CheckCodes, DepositCodes, Endpoint, GetArticleHtml, GetDepositCount,
    SetTestWhitelist, encode_body,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// An ID of 1..=`max` characters of the kinds WeChat uses.
fn id(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{1,{max}}}")).expect("valid regex")
}

/// Free text: non-blank, with non-ASCII, quotes, backslashes and control characters
/// that JSON must escape.
fn text() -> impl Strategy<Value = String> {
    "[a-z惠城][a-zA-Z0-9 惠城优惠大派送\"\\\\/\n\t\u{7f}\u{1f600}]{0,24}"
}

fn url() -> impl Strategy<Value = String> {
    "https?://[a-z]{1,10}\\.qq\\.com/[A-Za-z0-9_%?=&./-]{0,30}"
}

fn qr_card() -> impl Strategy<Value = QrCard> {
    (
        id(32),
        option::of(id(20)),
        option::of(id(32)),
        option::of(any::<bool>()),
        option::of(any::<i64>()),
        option::of(text()),
    )
        .prop_map(|(card_id, code, openid, unique, outer_id, outer_str)| {
            let mut card = QrCard::new(card_id);
            card.code = code;
            card.openid = openid;
            card.is_unique_code = unique;
            card.outer_id = outer_id;
            card.outer_str = outer_str;
            card
        })
}

fn qr_item() -> impl Strategy<Value = QrCardItem> {
    (id(32), option::of(id(20)), option::of(text())).prop_map(|(card_id, code, outer_str)| {
        let mut item = QrCardItem::new(card_id);
        item.code = code;
        item.outer_str = outer_str;
        item
    })
}

fn create_qr() -> impl Strategy<Value = CreateQrCode> {
    let expire = option::of(60u32..=1800);
    prop_oneof![
        (expire.clone(), qr_card()).prop_map(|(expire_seconds, card)| CreateQrCode::Card {
            expire_seconds,
            card
        }),
        (expire, vec(qr_item(), 1..6)).prop_map(|(expire_seconds, card_list)| {
            CreateQrCode::Multiple {
                expire_seconds,
                card_list,
            }
        }),
    ]
}

fn scene() -> impl Strategy<Value = LandingScene> {
    prop_oneof![
        (0..LandingScene::ALL.len()).prop_map(|i| LandingScene::ALL[i].clone()),
        // unknown scenes: anything that is not one of the seven
        "SCENE_[A-Z_]{1,12}".prop_map(|s| LandingScene::parse(&s)),
    ]
}

fn landing() -> impl Strategy<Value = CreateLandingPage> {
    (
        url(),
        text(),
        any::<bool>(),
        scene(),
        vec((id(32), url()), 1..6),
    )
        .prop_map(|(banner, title, share, scene, cards)| {
            CreateLandingPage::new(
                banner,
                title,
                scene,
                cards
                    .into_iter()
                    .map(|(c, u)| LandingCard::new(c, u))
                    .collect(),
            )
            .can_share(share)
        })
}

fn codes() -> impl Strategy<Value = Vec<String>> {
    vec(id(20), 1..=100)
}

fn card_ext_json() -> impl Strategy<Value = Option<String>> {
    option::of(
        (id(32), 1u64..=4_000_000_000, id(32), option::of(id(20))).prop_map(
            |(card, ts, nonce, code)| {
                CardExt::sign(
                    &card,
                    &ApiTicket::new("ticket"),
                    ts,
                    &nonce,
                    code.as_deref(),
                    None,
                )
                .map(|e| e.to_json_string())
                .unwrap_or_default()
            },
        ),
    )
}

fn wxcard() -> impl Strategy<Value = WxCard> {
    (id(32), card_ext_json()).prop_map(|(card_id, card_ext)| {
        let mut card = WxCard::new(card_id);
        card.card_ext = card_ext;
        card
    })
}

fn clientmsgid() -> impl Strategy<Value = Option<String>> {
    option::of("[A-Za-z0-9_-]{1,64}")
}

fn mass_by_tag() -> impl Strategy<Value = MassSendByTag> {
    let filter = prop_oneof![
        Just(MassFilter::all()),
        any::<i64>().prop_map(MassFilter::tag)
    ];
    (filter, wxcard(), clientmsgid()).prop_map(|(filter, card, id)| {
        let mut send = MassSendByTag::new(filter, card);
        send.clientmsgid = id;
        send
    })
}

fn mass_to_openids() -> impl Strategy<Value = MassSendToOpenIds> {
    (vec(id(32), 2..40), wxcard(), clientmsgid()).prop_map(|(to, card, id)| {
        let mut send = MassSendToOpenIds::new(to, card);
        send.clientmsgid = id;
        send
    })
}

fn preview() -> impl Strategy<Value = PreviewCard> {
    let to = prop_oneof![
        id(32).prop_map(PreviewRecipient::OpenId),
        id(32).prop_map(PreviewRecipient::WxName),
    ];
    (to, wxcard()).prop_map(|(to, card)| PreviewCard::new(to, card))
}

fn customer_service() -> impl Strategy<Value = SendCustomerServiceCard> {
    (id(32), wxcard(), option::of("[a-z0-9]{1,10}@[a-z]{1,10}")).prop_map(|(to, card, kf)| {
        let send = SendCustomerServiceCard::new(to, card);
        match kf {
            Some(kf) => send.kf_account(kf),
            None => send,
        }
    })
}

fn whitelist() -> impl Strategy<Value = SetTestWhitelist> {
    (0usize..=10)
        .prop_flat_map(|n| (vec(id(32), n), vec(id(32), 0..=10 - n)))
        .prop_map(|(openid, username)| SetTestWhitelist::new(openid, username))
}

/// Valid, and the JSON body parses back into an equal value.
fn round_trips<E>(request: &E) -> Result<(), TestCaseError>
where
    E: Endpoint + DeserializeOwned + PartialEq + Debug,
{
    prop_assert_eq!(request.validate(), Ok(()));
    let bytes = encode_body(request)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .ok_or_else(|| TestCaseError::fail("no body"))?;
    let back: E = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, request);
    Ok(())
}

/// A response value parses back from its own serialization.
fn response_round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

proptest! {
    #[test]
    fn qrcode_round_trips(r in create_qr()) { round_trips(&r)?; }

    #[test]
    fn landing_round_trips(r in landing()) { round_trips(&r)?; }

    #[test]
    fn deposit_and_check_round_trip(card in id(32), c in codes()) {
        round_trips(&DepositCodes::new(card.clone(), c.clone()))?;
        round_trips(&CheckCodes::new(card.clone(), c))?;
        round_trips(&GetDepositCount::new(card.clone()))?;
        round_trips(&GetArticleHtml::new(card))?;
    }

    #[test]
    fn whitelist_round_trips(r in whitelist()) { round_trips(&r)?; }

    #[test]
    fn messages_round_trip(
        a in mass_by_tag(),
        b in mass_to_openids(),
        c in preview(),
        d in customer_service(),
    ) {
        round_trips(&a)?;
        prop_assert_eq!(a.repeatable(), a.clientmsgid.is_some());
        round_trips(&b)?;
        prop_assert_eq!(b.repeatable(), b.clientmsgid.is_some());
        round_trips(&c)?;
        prop_assert!(!c.repeatable());
        round_trips(&d)?;
        prop_assert!(!d.repeatable());
    }

    #[test]
    fn responses_round_trip(
        ticket in "[A-Za-z0-9+/=]{1,120}",
        expire in option::of(any::<u32>()),
        n in any::<u64>(),
        list in vec(id(20), 0..5),
    ) {
        let mut t = QrCodeTicket::new(ticket, "http://weixin.qq.com/q/x");
        t.expire_seconds = expire;
        response_round_trips(&t)?;
        response_round_trips(&DepositResult::new(
            Some(CodeTally::Count(n)),
            Some(CodeTally::Codes(list)),
            None,
        ))?;
    }

    /// Validation answers (Ok or a named error) for any input, never panics.
    #[test]
    fn validation_never_panics(
        s1 in any::<String>(),
        s2 in any::<String>(),
        n in any::<u32>(),
        list in vec(any::<String>(), 0..120),
    ) {
        let _ = CreateQrCode::card(QrCard::new(s1.clone()).code(s2.clone()).openid(s2.clone()))
            .expire_seconds(n)
            .validate();
        let _ = CreateQrCode::multiple(list.iter().map(|c| QrCardItem::new(c.clone())).collect())
            .validate();
        let _ = DepositCodes::new(s1.clone(), list.clone()).validate();
        let _ = SetTestWhitelist::new(list.clone(), vec![s2.clone()]).validate();
        let mut card = WxCard::new(s1.clone());
        card.card_ext = Some(s2.clone());
        let _ = MassSendToOpenIds::new(list.clone(), card.clone()).clientmsgid(s2.clone()).validate();
        let _ = PreviewCard::to_wxname(s2.clone(), card.clone()).validate();
        let _ = CreateLandingPage::new(s1.clone(), s2.clone(), LandingScene::parse(&s2), vec![])
            .validate();
        let _ = CardExt::sign(&s1, &ApiTicket::new(s2.clone()), u64::from(n), &s2, Some(&s1), None);
        let _ = serde_json::from_str::<CreateQrCode>(&s1);
        let _ = serde_json::from_str::<PreviewCard>(&s1);
    }

    /// The card signature depends on the set of values, not their order, and ignores
    /// empty values.
    #[test]
    fn signature_ignores_order_and_empties(mut values in vec("[ -~]{0,12}", 0..12), seed in any::<u64>()) {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let expected = card_signature(&refs);
        prop_assert_eq!(expected.len(), 40);
        prop_assert!(expected.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let len = values.len().max(1);
        values.rotate_left(usize::try_from(seed).unwrap_or(0) % len);
        values.push(String::new());
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        prop_assert_eq!(card_signature(&refs), expected);
    }

    /// The showqrcode URL carries the ticket losslessly, with no reserved character
    /// left unencoded.
    #[test]
    fn showqrcode_url_encodes_losslessly(ticket in any::<String>()) {
        let url = show_qrcode_image_url(&ticket);
        let encoded = url.strip_prefix("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=").unwrap();
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        prop_assert_eq!(percent_decode(encoded), Some(ticket));
    }
}
