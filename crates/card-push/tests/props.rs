//! Round trips for every pad length, and a seeded mutation loop that must find no panic.

mod common;

use card_model::event::{Event, UserGetCard};
use card_push::testing::PushRequest;
use card_push::{PushConfig, PushQuery, crypto};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every pad from 1 to 32: messages of each length modulo 32 round-trip.
    #[test]
    fn crypto_round_trips_for_every_pad(
        seed in prop::collection::vec(any::<u8>(), 64),
        random in any::<[u8; 16]>(),
        app_id in "[a-z0-9]{1,20}",
    ) {
        let k = key(KEY);
        for pad in 1..=32usize {
            // 16 + 4 + len + app_id + pad ≡ 0 (mod 32)
            let fixed = 20 + app_id.len() + pad;
            let len = (32 - fixed % 32) % 32 + 32 * usize::from(seed[pad] % 3);
            let msg: Vec<u8> = seed.iter().cycle().take(len).copied().collect();
            let sealed = crypto::encrypt(&k, &random, &msg, &app_id);
            let raw = base64_len(&sealed);
            prop_assert_eq!(raw % 32, 0);
            prop_assert_eq!(raw - (fixed - pad + len), pad);
            let opened = crypto::decrypt(&k, &sealed).unwrap();
            prop_assert_eq!(opened.message(), &msg[..]);
            prop_assert_eq!(opened.app_id(), app_id.as_bytes());
        }
    }

    /// Whole pushes in every mode, with claims of every padded length.
    #[test]
    fn pushes_round_trip_for_every_pad(
        code in "[0-9]{1,40}",
        nonce in "[A-Za-z0-9]{1,12}",
        random in any::<[u8; 16]>(),
    ) {
        for pad_shift in 0..32 {
            let mut claim = UserGetCard::new("gh_1", "oUser", 1_700_000_000, "pCard");
            claim.user_card_code = Some(format!("{code}{}", "7".repeat(pad_shift)));
            for config in [plain(), safe(), compatible()] {
                let r = PushRequest::new(&config, &claim.to_xml(), 1_700_000_000, &nonce, &random);
                let push = config
                    .open_at(&PushQuery::parse(r.query_string()).unwrap(), r.body().as_bytes(), 1_700_000_000)
                    .unwrap();
                prop_assert_eq!(push.into_event(), Event::UserGetCard(claim.clone()));
            }
        }
    }
}

proptest! {
    /// The query parser decodes as `application/x-www-form-urlencoded` does.
    #[test]
    fn query_decoding_matches_form_urlencoding(q in "[a-z=&%+0-9A-F]{0,40}|(echostr|nonce|timestamp)=[a-z%+0-9A-F]{0,12}") {
        let want: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| want.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        match PushQuery::parse(&q) {
            Ok(parsed) => {
                for (name, got) in [("echostr", parsed.echostr()), ("nonce", parsed.nonce()), ("timestamp", parsed.timestamp())] {
                    let expected = get(name);
                    prop_assert!(expected.len() <= 1);
                    prop_assert_eq!(got.map(str::to_owned), expected.first().cloned(), "{} in {:?}", name, q);
                }
                prop_assert_eq!(parsed.is_encrypted(), !get("encrypt_type").is_empty());
            }
            Err(_) => {
                let names = ["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature"];
                prop_assert!(names.iter().any(|n| get(n).len() > 1), "{:?}", q);
            }
        }
    }
}

fn base64_len(s: &str) -> usize {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap()
        .len()
}

/// xorshift64*: a small deterministic generator for the mutation loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"]]>",
    b"<![CDATA[",
    b"</xml>",
    b"<xml>",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"<!DOCTYPE x>",
    b"\xff",
    b"\xe4\xb8",
    b"=",
    b"%",
    b"%zz",
    b"&",
    b"+",
    b"\0",
    b"<Encrypt>",
    b"</Encrypt>",
    b"<OuterId>",
    b"99999999999999999999999",
    b"-",
    b"<a><b><c><d><e>",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let end = (at + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(at..at, piece.iter().copied());
            }
            3 => input.truncate(at),
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(32)).min(input.len());
                let chunk = input[start..end].to_vec();
                input.splice(at..at, chunk);
            }
            _ => input.insert(at.min(input.len()), (rng.next() & 0xff) as u8),
        }
    }
}

/// Mutates queries, bodies, encrypted texts (re-signed, so they reach the decryption)
/// and plaintexts (re-encrypted and re-signed, so they reach the parser). Bounded by an
/// iteration count; any panic fails the test.
#[test]
fn seeded_mutations_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut claim = UserGetCard::new("gh_1", "oUser", 1_700_000_000, "pCard");
    claim.user_card_code = Some("226009850808".to_owned());
    claim.outer_id = Some(7);
    let xml = claim.to_xml();
    let configs: Vec<PushConfig> = vec![plain(), safe(), compatible()];
    let mut outcomes = [0usize; 2];
    for round in 0..6000 {
        let config = &configs[round % configs.len()];
        let r = PushRequest::new(config, &xml, 1_700_000_000, "n1", &[3; 16]);
        let mut query = r.query_string().as_bytes().to_vec();
        let mut body = r.body().as_bytes().to_vec();
        match rng.below(4) {
            0 => mutate(&mut rng, &mut query),
            1 => mutate(&mut rng, &mut body),
            2 => {
                // A mutated ciphertext, correctly signed.
                let sealed = crypto::encrypt(&key(KEY), &[3; 16], xml.as_bytes(), APP_ID);
                let mut text = sealed.into_bytes();
                mutate(&mut rng, &mut text);
                let text = String::from_utf8_lossy(&text).into_owned();
                let (q, b) = signed_envelope(&text);
                query = q.into_bytes();
                body = b.into_bytes();
            }
            _ => {
                // A mutated message, correctly encrypted and signed.
                let mut msg = xml.clone().into_bytes();
                mutate(&mut rng, &mut msg);
                let sealed = crypto::encrypt(&key(KEY), &[3; 16], &msg, APP_ID);
                let (q, b) = signed_envelope(&sealed);
                query = q.into_bytes();
                body = b.into_bytes();
            }
        }
        let query = String::from_utf8_lossy(&query);
        let opened = PushQuery::parse(&query).and_then(|q| {
            let _ = config.verify_url_at(&q, 1_700_000_000);
            config.open_at(&q, &body, 1_409_735_669)
        });
        outcomes[usize::from(opened.is_ok())] += 1;
        let _ = crypto::decrypt(&key(KEY), &String::from_utf8_lossy(&body));
    }
    // Both outcomes occur: the loop reaches past the checks.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
