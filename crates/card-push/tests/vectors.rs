//! The published test vectors: URL verification, the Official Account safe-mode sample
//! (decryption and both signatures) and the encryption vector with a fixed prefix.

mod common;

use card_model::event::Event;
use card_push::{PushConfig, PushError, PushQuery, Token, crypto};
use common::*;

const SAMPLE_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
const SAMPLE_MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";
const SAMPLE_QUERY: &str = "signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132&openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa";

fn sample_body() -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt>\n</xml>"
    )
}

fn verify(token: &str, query: &str) -> Result<String, PushError> {
    let config = PushConfig::plain(Token::new(token).unwrap());
    let q = PushQuery::parse(query)?;
    config.verify_url(&q).map(str::to_owned)
}

#[test]
fn url_verification_vectors() {
    for (ts, nonce, sig) in [
        (
            "1714036504",
            "1514711492",
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
        ),
        (
            "1714037059",
            "486452656",
            "899cf89e464efb63f54ddac96b0a0a235f53aa78",
        ),
    ] {
        let q = format!("signature={sig}&timestamp={ts}&nonce={nonce}&echostr=5837397520665436492");
        assert_eq!(verify("AAAAA", &q).as_deref(), Ok("5837397520665436492"));
        assert_eq!(verify("AAAAB", &q), Err(PushError::BadSignature));
    }
    let good = "signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff&timestamp=1410685589&nonce=test&echostr=hi";
    assert_eq!(verify("test", good).as_deref(), Ok("hi"));
    // Changing the last hex digit must fail.
    let bad = good.replace("443ff&", "443fe&");
    assert_eq!(verify("test", &bad), Err(PushError::BadSignature));
    // The plaintext signature of the safe-mode sample.
    let sample = "signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132&echostr=x";
    assert_eq!(verify(TOKEN, sample).as_deref(), Ok("x"));
}

#[test]
fn verification_refuses_missing_parameters() {
    for (query, name) in [
        ("timestamp=1&nonce=2&echostr=e", "signature"),
        (
            "signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff&nonce=2&echostr=e",
            "timestamp",
        ),
        (
            "signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff&timestamp=1&echostr=e",
            "nonce",
        ),
        (
            "signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff&timestamp=1&nonce=2",
            "echostr",
        ),
        ("signature=&timestamp=1&nonce=2&echostr=e", "signature"),
    ] {
        assert_eq!(
            verify("test", query),
            Err(PushError::MissingParameter { name }),
            "{query}"
        );
    }
    assert_eq!(
        verify(
            "test",
            "signature=a&signature=b&timestamp=1&nonce=2&echostr=e"
        ),
        Err(PushError::DuplicateParameter { name: "signature" })
    );
}

#[test]
fn official_sample_decrypts_with_both_signatures() {
    let decrypted = crypto::decrypt(&key(KEY), SAMPLE_ENCRYPT).unwrap();
    assert_eq!(decrypted.message(), SAMPLE_MESSAGE.as_bytes());
    assert_eq!(decrypted.app_id(), APP_ID.as_bytes());
    assert_eq!(
        msg_signature(TOKEN, "1409735669", "1320562132", SAMPLE_ENCRYPT),
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    );

    for config in [safe(), compatible()] {
        let push = config
            .open_at(
                &PushQuery::parse(SAMPLE_QUERY).unwrap(),
                sample_body().as_bytes(),
                1_409_735_669,
            )
            .unwrap();
        assert!(push.was_encrypted());
        let Event::Other {
            msg_type, fields, ..
        } = push.event()
        else {
            panic!("a text message is not a claim");
        };
        assert_eq!(msg_type, "text");
        assert_eq!(fields["Content"], "abcdteT");
        assert_eq!(fields["MsgId"], "6054768590064713728");
        assert_eq!(fields["FromUserName"], "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    }
}

#[test]
fn encrypt_vector_with_a_fixed_prefix() {
    let sealed = crypto::encrypt(
        &key(KEY),
        b"aaaabbbbccccdddd",
        "我是中文abcd123".as_bytes(),
        "wxb11529c136998cb6",
    );
    assert_eq!(
        sealed,
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    );
    // And the official message, re-encrypted with its own prefix, gives the sample back.
    let again = crypto::encrypt(
        &key(KEY),
        b"89465c840c5f116f",
        SAMPLE_MESSAGE.as_bytes(),
        APP_ID,
    );
    assert_eq!(again, SAMPLE_ENCRYPT);
}

#[test]
fn sealed_reply_opens_with_its_signature() {
    let config = safe();
    let reply = "<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
    let sealed = config
        .seal_reply(reply, "1409735669", "1320562132", b"aaaabbbbccccdddd")
        .unwrap();
    let encrypted = crypto::encrypt(&key(KEY), b"aaaabbbbccccdddd", reply.as_bytes(), APP_ID);
    let sig = msg_signature(TOKEN, "1409735669", "1320562132", &encrypted);
    assert_eq!(
        sealed,
        format!(
            "<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature><TimeStamp>1409735669</TimeStamp><Nonce><![CDATA[1320562132]]></Nonce></xml>"
        )
    );
    // A reply WeChat would read: the envelope opens like a push.
    let query =
        format!("timestamp=1409735669&nonce=1320562132&encrypt_type=aes&msg_signature={sig}");
    let push = config
        .open_at(
            &PushQuery::parse(&query).unwrap(),
            sealed.as_bytes(),
            1_409_735_669,
        )
        .unwrap();
    assert_eq!(push.event().msg_type(), "text");
    // Plaintext mode answers the reply unchanged; a fresh seal differs every time.
    assert_eq!(
        plain().seal_reply(reply, "1", "2", &[0; 16]).unwrap(),
        reply
    );
    assert_ne!(
        config.seal_reply_now(reply).unwrap(),
        config.seal_reply_now(reply).unwrap()
    );
}
