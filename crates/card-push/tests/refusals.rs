//! Every way a push can be wrong gives its own typed error; secrets never show.

mod common;

use std::time::Duration;

use card_model::event::{Event, UserGetCard};
use card_push::testing::{PushRequest, verification_query};
use card_push::{ConfigError, EncodingAesKey, PushConfig, PushError, PushQuery, Token, crypto};
use common::*;

const NOW: i64 = 1_700_000_000;

fn claim() -> UserGetCard {
    let mut c = UserGetCard::new("gh_1", "oUser", NOW, "pCard");
    c.user_card_code = Some("226009850808".to_owned());
    c
}

fn open(config: &PushConfig, query: &str, body: &str) -> Result<Event, PushError> {
    config
        .open_at(&PushQuery::parse(query)?, body.as_bytes(), NOW)
        .map(card_push::Push::into_event)
}

/// A correctly signed safe-mode push whose plaintext is `random ‖ len ‖ msg ‖ appid ‖ pad`
/// with the given length field and pad bytes (a whole number of 16-byte blocks).
fn crafted(len_field: u32, msg: &[u8], app_id: &str, pad: &[u8]) -> (String, String) {
    let mut p = b"0123456789abcdef".to_vec();
    p.extend_from_slice(&len_field.to_be_bytes());
    p.extend_from_slice(msg);
    p.extend_from_slice(app_id.as_bytes());
    p.extend_from_slice(pad);
    signed_envelope(&encrypt_raw(KEY, &p))
}

/// Pad bytes that bring `n` to a multiple of `block`, each of the pad's value.
fn pad_for(n: usize, block: usize) -> Vec<u8> {
    let pad = block - n % block;
    vec![pad as u8; pad]
}

#[test]
fn every_mode_opens_its_own_pushes() {
    for config in [plain(), safe(), compatible()] {
        let r = PushRequest::new(&config, &claim().to_xml(), NOW, "n1", &[9; 16]);
        assert_eq!(
            open(&config, r.query_string(), r.body()),
            Ok(Event::UserGetCard(claim()))
        );
    }
    // Compatible mode keeps the plaintext fields, but reads the encrypted part.
    let config = compatible();
    let r = PushRequest::new(&config, &claim().to_xml(), NOW, "n1", &[9; 16]);
    assert!(r.body().contains("<CardId>") && r.body().contains("<Encrypt>"));
    let forged = r.body().replace("pCard", "pForged");
    assert_eq!(
        open(&config, r.query_string(), &forged),
        Ok(Event::UserGetCard(claim()))
    );
    // Compatible mode accepts a plaintext push; safe mode refuses it; plaintext mode
    // cannot open an encrypted one.
    let p = PushRequest::new(&plain(), &claim().to_xml(), NOW, "n1", &[9; 16]);
    assert_eq!(
        open(&config, p.query_string(), p.body()),
        Ok(Event::UserGetCard(claim()))
    );
    assert_eq!(
        open(&safe(), p.query_string(), p.body()),
        Err(PushError::PlaintextRefused)
    );
    assert_eq!(
        open(&plain(), r.query_string(), r.body()),
        Err(PushError::EncryptionNotConfigured)
    );
    let other = r
        .query_string()
        .replace("encrypt_type=aes", "encrypt_type=sm4");
    assert_eq!(
        open(&config, &other, r.body()),
        Err(PushError::UnsupportedEncryptType)
    );
}

#[test]
fn tampered_signature_is_refused() {
    for config in [plain(), safe()] {
        let r = PushRequest::new(&config, &claim().to_xml(), NOW, "n1", &[9; 16]);
        let name = if config.app_id().is_some() {
            "msg_signature="
        } else {
            "signature="
        };
        let q = r.query_string();
        let at = q.find(name).unwrap() + name.len();
        let flipped = if &q[at..=at] == "0" { "1" } else { "0" };
        let tampered = format!("{}{flipped}{}", &q[..at], &q[at + 1..]);
        assert_eq!(
            open(&config, &tampered, r.body()),
            Err(PushError::BadSignature)
        );
        // A changed nonce or timestamp breaks the signature too.
        let q2 = q.replace("nonce=n1", "nonce=n2");
        assert_eq!(open(&config, &q2, r.body()), Err(PushError::BadSignature));
        // A wrong Token.
        let other = match config.app_id() {
            Some(_) => PushConfig::safe(Token::new("other").unwrap(), key(KEY), APP_ID).unwrap(),
            None => PushConfig::plain(Token::new("other").unwrap()),
        };
        assert_eq!(open(&other, q, r.body()), Err(PushError::BadSignature));
    }
    // Plaintext body changed after signing: the plaintext signature does not cover the
    // body (WeChat's design), so the change is read; the encrypted modes are covered.
    let config = safe();
    let r = PushRequest::new(&config, &claim().to_xml(), NOW, "n1", &[9; 16]);
    let i = r.body().find("<![CDATA[").unwrap() + 9 + 60;
    let mut body = r.body().to_owned();
    let c = if &body[i..=i] == "A" { "B" } else { "A" };
    body.replace_range(i..=i, c);
    assert_eq!(
        open(&config, r.query_string(), &body),
        Err(PushError::BadSignature)
    );
}

#[test]
fn tampered_ciphertext_wrong_key_and_wrong_app_id() {
    let config = safe();
    let encrypted = crypto::encrypt(&key(KEY), &[1; 16], claim().to_xml().as_bytes(), APP_ID);
    // Flip one byte of the ciphertext in its last block but one (re-signed, so the
    // signature passes): the padding or the structure breaks.
    let mut raw = base64_decode(&encrypted);
    let n = raw.len();
    raw[n - 17] ^= 0x55;
    let (q, b) = signed_envelope(&base64_encode(&raw));
    assert_eq!(open(&config, &q, &b), Err(PushError::InvalidPadding));
    // Flip a byte of the first block: the length field (in the second block) is
    // unchanged, but the message changes, so the parser refuses or reads another value.
    let mut raw = base64_decode(&encrypted);
    raw[20] ^= 0x01;
    let (q, b) = signed_envelope(&base64_encode(&raw));
    assert!(open(&config, &q, &b) != Ok(Event::UserGetCard(claim())));

    // Wrong key: nothing decrypts.
    let wrong = PushConfig::safe(Token::new(TOKEN).unwrap(), key(OTHER_KEY), APP_ID).unwrap();
    let (q, b) = signed_envelope(&encrypted);
    let err = open(&wrong, &q, &b).unwrap_err();
    assert!(
        matches!(
            err,
            PushError::InvalidPadding | PushError::InvalidLengthField | PushError::AppIdMismatch
        ),
        "{err:?}"
    );
    // ... unless the key is the previous one.
    let rotated = wrong.with_previous_key(key(KEY));
    assert_eq!(open(&rotated, &q, &b), Ok(Event::UserGetCard(claim())));

    // Wrong AppID trailer.
    let other = crypto::encrypt(
        &key(KEY),
        &[1; 16],
        claim().to_xml().as_bytes(),
        "wx0000000000000000",
    );
    let (q, b) = signed_envelope(&other);
    assert_eq!(open(&config, &q, &b), Err(PushError::AppIdMismatch));
    // An AppID that is a prefix of ours, or ours with more after it.
    for app_id in ["wx2c2769f8efd9abc", "wx2c2769f8efd9abc2x", ""] {
        let e = crypto::encrypt(&key(KEY), &[1; 16], claim().to_xml().as_bytes(), app_id);
        let (q, b) = signed_envelope(&e);
        assert_eq!(
            open(&config, &q, &b),
            Err(PushError::AppIdMismatch),
            "{app_id}"
        );
    }
}

#[test]
fn malformed_encrypted_messages() {
    let config = safe();
    let msg = claim().to_xml();
    // Truncated base64 (and other non-base64).
    let encrypted = crypto::encrypt(&key(KEY), &[1; 16], msg.as_bytes(), APP_ID);
    for text in [
        &encrypted[..encrypted.len() - 3],
        "abc$",
        "====",
        "YWJj\u{e9}",
    ] {
        let (q, b) = signed_envelope(text);
        assert_eq!(
            open(&config, &q, &b),
            Err(PushError::InvalidBase64),
            "{text}"
        );
    }
    // Whole base64 but not whole blocks, or too short.
    for len in [15, 16, 31, 33, 47] {
        let (q, b) = signed_envelope(&base64_encode(&vec![7u8; len]));
        assert_eq!(
            open(&config, &q, &b),
            Err(PushError::InvalidCiphertextLength { len }),
            "{len}"
        );
    }
    // Length field past the end, or just at it, and a length field of u32::MAX.
    let body = msg.as_bytes();
    for extra in [1u32, 19, 1000, u32::MAX - body.len() as u32] {
        let n = 16 + 4 + body.len() + APP_ID.len();
        let (q, b) = crafted(body.len() as u32 + extra, body, APP_ID, &pad_for(n, 32));
        let got = open(&config, &q, &b);
        // A field pointing into the AppID reads a shorter trailer: a wrong AppID.
        if (extra as usize) <= APP_ID.len() {
            assert_eq!(got, Err(PushError::AppIdMismatch), "{extra}");
        } else {
            assert_eq!(got, Err(PushError::InvalidLengthField), "{extra}");
        }
    }
    // Padding 0 and 33 (and a pad whose bytes disagree).
    let n = 16 + 4 + body.len() + APP_ID.len();
    let fill = 32 - n % 32;
    for pad in [0u8, 33, 255] {
        let mut bytes = vec![pad; fill];
        // Keep the total a whole number of 16-byte blocks.
        if fill < 16 {
            bytes.extend(vec![pad; 16]);
        }
        let (q, b) = crafted(body.len() as u32, body, APP_ID, &bytes);
        assert_eq!(
            open(&config, &q, &b),
            Err(PushError::InvalidPadding),
            "pad {pad}"
        );
    }
    let mut uneven = pad_for(n, 32);
    if uneven.len() > 1 {
        uneven[0] ^= 1;
        let (q, b) = crafted(body.len() as u32, body, APP_ID, &uneven);
        assert_eq!(open(&config, &q, &b), Err(PushError::InvalidPadding));
    }
    // The message is no event.
    let e = crypto::encrypt(&key(KEY), &[1; 16], b"<xml><A>1</A></xml>", APP_ID);
    let (q, b) = signed_envelope(&e);
    assert_eq!(
        open(&config, &q, &b),
        Err(PushError::InvalidEvent {
            problem: "required field missing",
            field: Some("MsgType")
        })
    );
    // A decoy "<Encrypt>" before the signed one (a user's text in compatible mode) is
    // passed over; a body whose only Encrypt is unsigned is refused.
    let (q, _) = signed_envelope(&encrypted);
    let decoy = format!(
        "<xml><Content><![CDATA[<Encrypt>AAAA</Encrypt>]]></Content><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    assert_eq!(open(&config, &q, &decoy), Ok(Event::UserGetCard(claim())));
    let unsigned = "<xml><Encrypt>AAAA</Encrypt></xml>";
    assert_eq!(open(&config, &q, unsigned), Err(PushError::BadSignature));
    // Envelopes without an Encrypt.
    for body in [
        "<xml></xml>".to_owned(),
        "<xml><Encrypt></Encrypt></xml>".to_owned(),
        "<xml><Encrypt><![CDATA[]]></Encrypt></xml>".to_owned(),
        format!("<xml><Encrypt><![CDATA[{encrypted}</Encrypt></xml>"),
    ] {
        let (q, _) = signed_envelope(&encrypted);
        assert_eq!(
            open(&config, &q, &body),
            Err(PushError::MissingEncrypt),
            "{body}"
        );
    }
}

#[test]
fn limits_and_freshness() {
    let config = safe().with_max_body_bytes(100);
    let r = PushRequest::new(&safe(), &claim().to_xml(), NOW, "n1", &[9; 16]);
    let len = r.body().len();
    assert_eq!(
        open(&config, r.query_string(), r.body()),
        Err(PushError::BodyTooLarge { len, max: 100 })
    );
    // The cap comes first: even an unsigned, garbage body gets the size error.
    let huge = "x".repeat(64 * 1024 + 1);
    assert_eq!(
        open(&plain(), "", &huge),
        Err(PushError::BodyTooLarge {
            len: huge.len(),
            max: 64 * 1024
        })
    );
    let long = "a=".to_owned() + &"b".repeat(5000);
    assert!(matches!(
        PushQuery::parse(&long),
        Err(PushError::QueryTooLong { .. })
    ));

    let fresh = safe().with_max_age(Duration::from_secs(300));
    let at = |ts: i64| PushRequest::new(&fresh, &claim().to_xml(), ts, "n1", &[9; 16]);
    for ts in [NOW, NOW - 300, NOW + 300] {
        let r = at(ts);
        assert!(open(&fresh, r.query_string(), r.body()).is_ok(), "{ts}");
    }
    let r = at(NOW - 301);
    assert_eq!(
        open(&fresh, r.query_string(), r.body()),
        Err(PushError::Stale {
            timestamp: NOW - 301,
            now: NOW,
            max_age_secs: 300
        })
    );
    let plain_fresh = plain().with_max_age(Duration::from_secs(300));
    let q = verification_query(&plain_fresh, NOW - 1000, "n", "echo");
    let q = PushQuery::parse(&q).unwrap();
    assert!(matches!(
        plain_fresh.verify_url_at(&q, NOW),
        Err(PushError::Stale { .. })
    ));
    assert_eq!(plain_fresh.verify_url_at(&q, NOW - 1000), Ok("echo"));
    // A timestamp that is no number, signed correctly, is refused with a window only.
    let r = PushRequest::new(&plain(), &claim().to_xml(), NOW, "n1", &[0; 16]);
    let q = r.query_string().to_owned();
    assert!(open(&plain(), &q, r.body()).is_ok());
    assert_eq!(PushError::InvalidTimestamp.http_status(), 401);
}

#[test]
fn configuration_is_checked() {
    for bad in [
        "",
        "abc",
        &KEY[..42],
        &format!("{KEY}A"),
        &KEY.replace('a', "+"),
        &KEY.replace('a', "é"),
    ] {
        assert!(
            matches!(
                EncodingAesKey::new(bad),
                Err(ConfigError::InvalidEncodingAesKey { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(Token::new(""), Err(ConfigError::InvalidToken));
    assert_eq!(Token::new("a b"), Err(ConfigError::InvalidToken));
    for app_id in ["", "wx 1", &"w".repeat(65)] {
        assert!(matches!(
            PushConfig::safe(Token::new("t").unwrap(), key(KEY), app_id),
            Err(ConfigError::InvalidAppId)
        ));
    }
}

#[test]
fn secrets_never_show() {
    let config = safe().with_previous_key(key(OTHER_KEY));
    let mut shown = vec![
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{:?}", Token::new(TOKEN).unwrap()),
        format!("{}", Token::new(TOKEN).unwrap()),
        format!("{:?}", key(KEY)),
        format!("{}", key(KEY)),
        format!("{:?}", EncodingAesKey::new("short")),
    ];
    // Every error a push can produce, in Debug and Display.
    let r = PushRequest::new(&config, &claim().to_xml(), NOW, "n1", &[9; 16]);
    let mut errors = vec![
        PushError::BadSignature,
        PushError::InvalidPadding,
        PushError::InvalidLengthField,
        PushError::AppIdMismatch,
    ];
    for text in ["", "x", r.body()] {
        if let Err(e) = open(&config, r.query_string(), text) {
            errors.push(e);
        }
    }
    // An event error about a decrypted value keeps no part of it.
    let secret_value = "SECRET-VALUE-in-the-message";
    let xml = format!(
        "<xml><MsgType>event</MsgType><Event>user_get_card</Event><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>{secret_value}</CreateTime><CardId>c</CardId></xml>"
    );
    let e = crypto::encrypt(&key(KEY), &[1; 16], xml.as_bytes(), APP_ID);
    let (q, b) = signed_envelope(&e);
    let err = open(&safe(), &q, &b).unwrap_err();
    assert_eq!(
        err,
        PushError::InvalidEvent {
            problem: "invalid number",
            field: Some("CreateTime")
        }
    );
    errors.push(err);
    let decrypted = crypto::decrypt(&key(KEY), &e).unwrap();
    shown.push(format!("{decrypted:?}"));
    for e in &errors {
        shown.push(format!("{e:?}"));
        shown.push(e.to_string());
    }
    for s in &shown {
        for secret in [TOKEN, KEY, OTHER_KEY, secret_value, "oUser"] {
            assert!(!s.contains(secret), "{secret} shown in {s}");
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
