//! URL verification, opening pushes and sealing replies.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use card_model::event::{Event, parse_event};

use crate::config::{Crypto, Mode, PushConfig};
use crate::crypto;
use crate::dedup::DedupKey;
use crate::error::PushError;
use crate::signature::{matches_hex, sha1_sorted, to_hex};

/// The longest query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// The answer that tells WeChat a push was received, so that it does not retry.
pub const SUCCESS: &str = "success";

/// The query parameters WeChat signs its requests with.
///
/// Parsed from the raw query string of the GET verification request or of a POST push;
/// parameters other than these (such as `openid`) are ignored. Values borrow from the
/// query string unless they had to be decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushQuery<'a> {
    signature: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    nonce: Option<Cow<'a, str>>,
    echostr: Option<Cow<'a, str>>,
    encrypt_type: Option<Cow<'a, str>>,
    msg_signature: Option<Cow<'a, str>>,
}

impl<'a> PushQuery<'a> {
    /// Parses a raw (percent-encoded) query string, with or without its leading `?`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_push::PushQuery;
    ///
    /// let q = PushQuery::parse("signature=abc&timestamp=1&nonce=2&echostr=hello%21&openid=o1")?;
    /// assert_eq!(q.echostr(), Some("hello!"));
    /// assert!(!q.is_encrypted());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`PushError::QueryTooLong`] beyond [`MAX_QUERY_BYTES`];
    /// [`PushError::DuplicateParameter`] if one of the signed parameters repeats.
    pub fn parse(query: &'a str) -> Result<Self, PushError> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(PushError::QueryTooLong {
                len: query.len(),
                max: MAX_QUERY_BYTES,
            });
        }
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut q = Self::default();
        for pair in query.split('&') {
            if pair.is_empty() {
                continue;
            }
            // WeChat's values are digits, hex and letters: borrowed as they are. Anything
            // percent- or plus-encoded is decoded.
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) if !needs_decoding(n) && !needs_decoding(v) => {
                    (Cow::Borrowed(n), Cow::Borrowed(v))
                }
                None if !needs_decoding(pair) => (Cow::Borrowed(pair), Cow::Borrowed("")),
                _ => match form_urlencoded::parse(pair.as_bytes()).next() {
                    Some(decoded) => decoded,
                    None => continue,
                },
            };
            let (slot, name) = match &*name {
                "signature" => (&mut q.signature, "signature"),
                "timestamp" => (&mut q.timestamp, "timestamp"),
                "nonce" => (&mut q.nonce, "nonce"),
                "echostr" => (&mut q.echostr, "echostr"),
                "encrypt_type" => (&mut q.encrypt_type, "encrypt_type"),
                "msg_signature" => (&mut q.msg_signature, "msg_signature"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(PushError::DuplicateParameter { name });
            }
            *slot = Some(value);
        }
        Ok(q)
    }

    /// `echostr`, the text a verification request wants echoed.
    pub fn echostr(&self) -> Option<&str> {
        self.echostr.as_deref()
    }

    /// `timestamp`, as sent.
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }

    /// `nonce`, as sent.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// Whether the push says it is encrypted (`encrypt_type` present).
    pub fn is_encrypted(&self) -> bool {
        self.encrypt_type.is_some()
    }

    fn required<'b>(
        value: &'b Option<Cow<'_, str>>,
        name: &'static str,
    ) -> Result<&'b str, PushError> {
        match value.as_deref() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(PushError::MissingParameter { name }),
        }
    }
}

/// A push that passed every check, with its parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Push {
    event: Event,
    encrypted: bool,
    dedup_key: DedupKey,
}

impl Push {
    /// The event WeChat pushed.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event, by value.
    pub fn into_event(self) -> Event {
        self.event
    }

    /// Whether the push arrived encrypted.
    pub fn was_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The key that recognises WeChat's retries of this push.
    pub fn dedup_key(&self) -> &DedupKey {
        &self.dedup_key
    }
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Fresh random bytes from the operating system (for reply nonces and the random
/// prefix of an encrypted message).
///
/// # Errors
/// [`PushError::NoRandomness`] when the operating system has no randomness to give.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PushError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| PushError::NoRandomness)?;
    Ok(out)
}

impl PushConfig {
    fn check_fresh(&self, timestamp: &str, now: i64) -> Result<(), PushError> {
        let Some(max_age) = self.max_age else {
            return Ok(());
        };
        let ts: i64 = timestamp.parse().map_err(|_| PushError::InvalidTimestamp)?;
        let max_age_secs = max_age.as_secs();
        if ts.abs_diff(now) > max_age_secs {
            return Err(PushError::Stale {
                timestamp: ts,
                now,
                max_age_secs,
            });
        }
        Ok(())
    }

    /// Checks `signature` over Token, `timestamp` and `nonce`.
    fn check_plain_signature(&self, query: &PushQuery<'_>) -> Result<(), PushError> {
        let signature = PushQuery::required(&query.signature, "signature")?;
        let timestamp = PushQuery::required(&query.timestamp, "timestamp")?;
        let nonce = PushQuery::required(&query.nonce, "nonce")?;
        let digest = sha1_sorted(&mut [
            self.token.expose().as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
        ]);
        if !matches_hex(&digest, signature) {
            return Err(PushError::BadSignature);
        }
        Ok(())
    }

    /// Answers WeChat's GET verification of the callback URL: the `echostr` to send back
    /// (as the whole body, status 200) when `signature` matches.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_push::{PushConfig, PushQuery, Token};
    ///
    /// let config = PushConfig::plain(Token::new("AAAAA")?);
    /// let query = PushQuery::parse(
    ///     "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=e1",
    /// )?;
    /// assert_eq!(config.verify_url(&query)?, "e1");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`PushError::MissingParameter`], [`PushError::BadSignature`], and with a
    /// freshness window [`PushError::InvalidTimestamp`] or [`PushError::Stale`].
    pub fn verify_url<'q>(&self, query: &'q PushQuery<'_>) -> Result<&'q str, PushError> {
        self.verify_url_at(query, unix_now())
    }

    /// [`verify_url`](Self::verify_url) with the current time given (Unix seconds).
    ///
    /// # Errors
    /// As [`verify_url`](Self::verify_url).
    pub fn verify_url_at<'q>(
        &self,
        query: &'q PushQuery<'_>,
        now: i64,
    ) -> Result<&'q str, PushError> {
        let echostr = PushQuery::required(&query.echostr, "echostr")?;
        self.check_plain_signature(query)?;
        if let Some(ts) = query.timestamp() {
            self.check_fresh(ts, now)?;
        }
        Ok(echostr)
    }

    /// Checks and opens a POST push: the signature, then (for an encrypted push) the
    /// decryption, padding, length field and AppID, then the event XML.
    ///
    /// A body over the cap is refused before anything else. In compatible mode an
    /// encrypted push is read from its encrypted part only.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_model::event::{Event, UserGetCard};
    /// use card_push::{EncodingAesKey, PushConfig, Token, testing::PushRequest};
    ///
    /// let config = PushConfig::safe(
    ///     Token::new("token")?,
    ///     EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
    ///     "wx2c2769f8efd9abc2",
    /// )?;
    /// let claim = UserGetCard::new("gh_1", "o1", 1_700_000_000, "p1");
    /// let request = PushRequest::new(&config, &claim.to_xml(), 1_700_000_000, "nonce", &[7; 16]);
    /// let push = config.open(&request.query()?, request.body().as_bytes())?;
    /// assert_eq!(push.event(), &Event::UserGetCard(claim));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A [`PushError`] naming the first check that failed.
    pub fn open(&self, query: &PushQuery<'_>, body: &[u8]) -> Result<Push, PushError> {
        self.open_at(query, body, unix_now())
    }

    /// [`open`](Self::open) with the current time given (Unix seconds).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_at(&self, query: &PushQuery<'_>, body: &[u8], now: i64) -> Result<Push, PushError> {
        if body.len() > self.max_body_bytes {
            return Err(PushError::BodyTooLarge {
                len: body.len(),
                max: self.max_body_bytes,
            });
        }
        let encrypted = match query.encrypt_type.as_deref() {
            None | Some("" | "raw") => false,
            Some(t) if t.eq_ignore_ascii_case("aes") => true,
            Some(_) => return Err(PushError::UnsupportedEncryptType),
        };
        let (event, encrypted) = if encrypted {
            let crypto = self
                .crypto
                .as_ref()
                .ok_or(PushError::EncryptionNotConfigured)?;
            (self.open_encrypted(crypto, query, body, now)?, true)
        } else {
            if self.mode == Mode::Safe {
                return Err(PushError::PlaintextRefused);
            }
            self.check_plain_signature(query)?;
            if let Some(ts) = query.timestamp() {
                self.check_fresh(ts, now)?;
            }
            let event = parse_event(body).map_err(|e| PushError::from_event(&e))?;
            (event, false)
        };
        let dedup_key = DedupKey::for_event(&event);
        Ok(Push {
            event,
            encrypted,
            dedup_key,
        })
    }

    fn open_encrypted(
        &self,
        crypto: &Crypto,
        query: &PushQuery<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<Event, PushError> {
        let msg_signature = PushQuery::required(&query.msg_signature, "msg_signature")?;
        let timestamp = PushQuery::required(&query.timestamp, "timestamp")?;
        let nonce = PushQuery::required(&query.nonce, "nonce")?;
        // The signed `<Encrypt>` text: the first candidate whose signature matches (a
        // user's message in compatible mode may hold the text "<Encrypt>" itself).
        let mut candidates = encrypt_candidates(body).peekable();
        if candidates.peek().is_none() {
            return Err(PushError::MissingEncrypt);
        }
        let encrypted = candidates
            .find(|text| {
                let digest = sha1_sorted(&mut [
                    self.token.expose().as_bytes(),
                    timestamp.as_bytes(),
                    nonce.as_bytes(),
                    text,
                ]);
                matches_hex(&digest, msg_signature)
            })
            .ok_or(PushError::BadSignature)?;
        self.check_fresh(timestamp, now)?;
        let buf = crypto::decode_base64(encrypted)?;
        let opened = match &crypto.previous {
            None => crypto::open_with(&crypto.key, buf, &crypto.app_id)?,
            Some(previous) => match crypto::open_with(&crypto.key, buf.clone(), &crypto.app_id) {
                Ok(opened) => opened,
                Err(first) => {
                    crypto::open_with(previous, buf, &crypto.app_id).map_err(|_| first)?
                }
            },
        };
        parse_event(opened.message()).map_err(|e| PushError::from_event(&e))
    }

    /// Seals a passive reply: in the encrypted modes, the `<xml>` envelope of the
    /// encrypted `reply_xml` with its `MsgSignature`, `TimeStamp` and `Nonce`; in
    /// plaintext mode, `reply_xml` unchanged. `random` is the 16-byte random prefix of the
    /// encrypted message (fresh random bytes in real use).
    ///
    /// # Errors
    /// [`PushError::MissingParameter`] if `timestamp` or `nonce` is empty.
    pub fn seal_reply(
        &self,
        reply_xml: &str,
        timestamp: &str,
        nonce: &str,
        random: &[u8; 16],
    ) -> Result<String, PushError> {
        let Some(crypto) = &self.crypto else {
            return Ok(reply_xml.to_owned());
        };
        if timestamp.is_empty() {
            return Err(PushError::MissingParameter { name: "timestamp" });
        }
        if nonce.is_empty() {
            return Err(PushError::MissingParameter { name: "nonce" });
        }
        let encrypted = crypto::encrypt(&crypto.key, random, reply_xml.as_bytes(), &crypto.app_id);
        let signature = self.msg_signature(timestamp, nonce, &encrypted);
        let mut out = String::with_capacity(encrypted.len() + 200);
        out.push_str("<xml><Encrypt><![CDATA[");
        out.push_str(&encrypted);
        out.push_str("]]></Encrypt><MsgSignature><![CDATA[");
        out.push_str(&signature);
        out.push_str("]]></MsgSignature><TimeStamp>");
        out.push_str(&cdata_safe(timestamp));
        out.push_str("</TimeStamp><Nonce><![CDATA[");
        out.push_str(&cdata_safe(nonce));
        out.push_str("]]></Nonce></xml>");
        Ok(out)
    }

    /// [`seal_reply`](Self::seal_reply) with the current time, a random nonce and a random
    /// prefix from the operating system.
    ///
    /// # Errors
    /// [`PushError::NoRandomness`] if the operating system has no randomness to give.
    pub fn seal_reply_now(&self, reply_xml: &str) -> Result<String, PushError> {
        let random: [u8; 16] = random_bytes()?;
        let nonce: [u8; 4] = random_bytes()?;
        let nonce = u32::from_le_bytes(nonce).to_string();
        self.seal_reply(reply_xml, &unix_now().to_string(), &nonce, &random)
    }

    /// `msg_signature` over Token, `timestamp`, `nonce` and the encrypted text.
    pub(crate) fn msg_signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        to_hex(&sha1_sorted(&mut [
            self.token.expose().as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
            encrypted.as_bytes(),
        ]))
    }

    /// `signature` over Token, `timestamp` and `nonce`.
    pub(crate) fn plain_signature(&self, timestamp: &str, nonce: &str) -> String {
        to_hex(&sha1_sorted(&mut [
            self.token.expose().as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
        ]))
    }

    pub(crate) fn crypto(&self) -> Option<&Crypto> {
        self.crypto.as_ref()
    }
}

/// Text that cannot end a CDATA section early.
fn cdata_safe(s: &str) -> String {
    s.replace("]]>", "")
}

/// Whether a query component holds `%` or `+`, which decode to something else.
fn needs_decoding(s: &str) -> bool {
    s.bytes().any(|b| b == b'%' || b == b'+')
}

/// The offset of the first `needle` in `hay` (needles start with `<`, which is rare in
/// an envelope).
fn find_tag(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'<', hay).find(|&i| hay[i..].starts_with(needle))
}

/// How many `<Encrypt>` elements of a body are tried against the signature.
const MAX_ENCRYPT_CANDIDATES: usize = 8;

/// The texts of the (first few) `<Encrypt>` elements of an encrypted push's body, white
/// space and one CDATA wrapper removed; empty ones skipped. Base64 holds no `<`, so the
/// first `</Encrypt>` after an opening tag ends a genuine element.
fn encrypt_candidates(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    const OPEN: &[u8] = b"<Encrypt>";
    const CLOSE: &[u8] = b"</Encrypt>";
    let find = find_tag;
    let mut rest = body;
    std::iter::from_fn(move || {
        loop {
            let start = find(rest, OPEN)? + OPEN.len();
            let after_open = &rest[start..];
            let len = find(after_open, CLOSE)?;
            rest = &after_open[len + CLOSE.len()..];
            let mut text = after_open[..len].trim_ascii();
            if let Some(inner) = text.strip_prefix(b"<![CDATA[") {
                match inner.strip_suffix(b"]]>") {
                    Some(inner) => text = inner.trim_ascii(),
                    None => continue,
                }
            }
            if !text.is_empty() {
                return Some(text);
            }
        }
    })
    .take(MAX_ENCRYPT_CANDIDATES)
}
