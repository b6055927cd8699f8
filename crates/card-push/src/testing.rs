//! Building the requests WeChat would send, for tests of a push handler (and for a
//! sandbox that pushes events).

use card_model::event::UserGetCard;

use crate::config::PushConfig;
use crate::crypto;
use crate::error::PushError;
use crate::open::{PushQuery, random_bytes, unix_now};

/// A signed (and, in the encrypted modes, encrypted) push as WeChat would POST it: the
/// query string and the XML body.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_model::event::{Event, UserGetCard};
/// use card_push::{PushConfig, Token, testing::PushRequest};
///
/// let config = PushConfig::plain(Token::new("token")?);
/// let claim = UserGetCard::new("gh_1", "o1", 1_700_000_000, "p1");
/// let request = PushRequest::for_claim(&config, &claim)?;
/// // POST request.body() to your handler at "/wechat?" + request.query_string().
/// let push = config.open(&request.query()?, request.body().as_bytes())?;
/// assert_eq!(push.into_event(), Event::UserGetCard(claim));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    query: String,
    body: String,
}

impl PushRequest {
    /// The push of `event_xml` signed at `timestamp` with `nonce`; in the encrypted modes
    /// encrypted with the 16-byte `random` prefix. In compatible mode the body keeps the
    /// plaintext fields and adds `<Encrypt>`, as WeChat does.
    pub fn new(
        config: &PushConfig,
        event_xml: &str,
        timestamp: i64,
        nonce: &str,
        random: &[u8; 16],
    ) -> Self {
        let ts = timestamp.to_string();
        let signature = config.plain_signature(&ts, nonce);
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("signature", &signature)
            .append_pair("timestamp", &ts)
            .append_pair("nonce", nonce);
        let Some(c) = config.crypto() else {
            return Self {
                query: query.finish(),
                body: event_xml.to_owned(),
            };
        };
        let encrypted = crypto::encrypt(&c.key, random, event_xml.as_bytes(), &c.app_id);
        let msg_signature = config.msg_signature(&ts, nonce, &encrypted);
        query
            .append_pair("encrypt_type", "aes")
            .append_pair("msg_signature", &msg_signature);
        let element = format!("<Encrypt><![CDATA[{encrypted}]]></Encrypt>");
        let body = match (config.mode(), event_xml.trim_end().strip_suffix("</xml>")) {
            (crate::Mode::Compatible, Some(head)) => format!("{head}{element}</xml>"),
            _ => {
                let to_user = to_user_name(event_xml).unwrap_or_default();
                format!("<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>{element}</xml>")
            }
        };
        Self {
            query: query.finish(),
            body,
        }
    }

    /// The push of a `user_get_card` event, signed now with a random nonce (and random
    /// prefix).
    ///
    /// # Errors
    /// [`PushError::NoRandomness`] if the operating system has no randomness to give.
    pub fn for_claim(config: &PushConfig, claim: &UserGetCard) -> Result<Self, PushError> {
        Self::for_xml(config, &claim.to_xml())
    }

    /// The push of any event XML, signed now with a random nonce (and random prefix).
    ///
    /// # Errors
    /// As [`for_claim`](Self::for_claim).
    pub fn for_xml(config: &PushConfig, event_xml: &str) -> Result<Self, PushError> {
        let random: [u8; 16] = random_bytes()?;
        let nonce: [u8; 4] = random_bytes()?;
        let nonce = u32::from_le_bytes(nonce).to_string();
        Ok(Self::new(config, event_xml, unix_now(), &nonce, &random))
    }

    /// The query string (percent-encoded, without `?`).
    pub fn query_string(&self) -> &str {
        &self.query
    }

    /// The query, parsed.
    ///
    /// # Errors
    /// None in practice: the query is well-formed by construction.
    pub fn query(&self) -> Result<PushQuery<'_>, PushError> {
        PushQuery::parse(&self.query)
    }

    /// The XML body.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The query string of WeChat's GET verification of the callback URL, signed at
/// `timestamp` with `nonce`, asking for `echostr` back.
pub fn verification_query(
    config: &PushConfig,
    timestamp: i64,
    nonce: &str,
    echostr: &str,
) -> String {
    let ts = timestamp.to_string();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("signature", &config.plain_signature(&ts, nonce))
        .append_pair("timestamp", &ts)
        .append_pair("nonce", nonce)
        .append_pair("echostr", echostr)
        .finish()
}

/// The text of the first `<ToUserName>` element, CDATA removed.
fn to_user_name(xml: &str) -> Option<&str> {
    let start = xml.find("<ToUserName>")? + "<ToUserName>".len();
    let len = xml[start..].find("</ToUserName>")?;
    let text = xml[start..start + len].trim();
    let text = text
        .strip_prefix("<![CDATA[")
        .and_then(|t| t.strip_suffix("]]>"))
        .unwrap_or(text);
    (!text.contains("]]>")).then_some(text.trim())
}
