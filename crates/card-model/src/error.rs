//! WeChat's return codes (`errcode`) and the error a non-zero one becomes.

use std::fmt;

macro_rules! err_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, )*) => {
        /// A WeChat `errcode`. Every code of the card-distribution API is named (the SDK
        /// decodes with this table and the sandbox answers from it); any other is kept as
        /// [`ErrCode::Other`] with its number, so nothing is lost when WeChat adds codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrCode {
            $( $(#[$doc])* $name, )*
            /// A code this version does not name.
            Other(i64),
        }

        impl ErrCode {
            /// The code for a number.
            pub fn from_i64(code: i64) -> Self {
                match code {
                    $( $code => Self::$name, )*
                    other => Self::Other(other),
                }
            }

            /// The number WeChat sent.
            pub fn as_i64(self) -> i64 {
                match self {
                    $( Self::$name => $code, )*
                    Self::Other(other) => other,
                }
            }
        }
    };
}

err_codes! {
    /// -1: system busy; retry later.
    SystemBusy = -1,
    /// 0: success.
    Ok = 0,
    /// 40001: wrong AppSecret, or the access_token is invalid or not the latest.
    InvalidCredential = 40001,
    /// 40002: invalid `grant_type` (the token endpoints take `client_credential`).
    InvalidGrantType = 40002,
    /// 40003: invalid OpenID.
    InvalidOpenId = 40003,
    /// 40008: invalid message type (a message endpoint was given an unsupported `msgtype`).
    InvalidMessageType = 40008,
    /// 40013: invalid AppID.
    InvalidAppId = 40013,
    /// 40014: invalid access_token (expired, or issued for another account).
    InvalidAccessToken = 40014,
    /// 40033: invalid request characters (`\uxxxx` escapes are not allowed).
    InvalidCharacters = 40033,
    /// 40053: invalid `action_info`.
    InvalidActionInfo = 40053,
    /// 40056: invalid code.
    InvalidCode = 40056,
    /// 40071: invalid card type.
    InvalidCardType = 40071,
    /// 40072: invalid encoding method.
    InvalidEncoding = 40072,
    /// 40073: invalid card id (no such card on this account).
    InvalidCardId = 40073,
    /// 40078: invalid card status.
    InvalidCardStatus = 40078,
    /// 40079: invalid time.
    InvalidTime = 40079,
    /// 40080: invalid `card_ext`.
    InvalidCardExt = 40080,
    /// 40097: invalid arguments (a value out of its range or of the wrong kind).
    InvalidArgs = 40097,
    /// 40099: the card was already redeemed.
    CardAlreadyConsumed = 40099,
    /// 40100: invalid time range.
    InvalidTimeRange = 40100,
    /// 40109: more than 100 codes in one deposit or checkcode call.
    TooManyCodes = 40109,
    /// 40116: invalid code.
    InvalidCode2 = 40116,
    /// 40122: invalid stock quantity.
    InvalidQuantity = 40122,
    /// 40127: the card was deleted by the user, or is being gifted.
    CardDeletedOrGifting = 40127,
    /// 40130: invalid OpenID list size (a mass send by OpenID takes 2 to 10,000).
    InvalidOpenIdListSize = 40130,
    /// 40164: the caller's IP is not in the IP whitelist.
    IpNotWhitelisted = 40164,
    /// 41001: the access_token parameter is missing.
    MissingAccessToken = 41001,
    /// 41002: the `appid` parameter is missing.
    MissingAppId = 41002,
    /// 41004: the `secret` parameter is missing.
    MissingSecret = 41004,
    /// 41011: a required field is missing.
    MissingField = 41011,
    /// 41012: the `card_id` parameter is missing.
    MissingCardId = 41012,
    /// 42001: the access_token expired.
    AccessTokenExpired = 42001,
    /// 43001: the endpoint requires GET.
    RequireGet = 43001,
    /// 43002: the endpoint requires POST.
    RequirePost = 43002,
    /// 43003: HTTPS required.
    HttpsRequired = 43003,
    /// 44002: the POST body is empty.
    EmptyPostData = 44002,
    /// 45009: API call quota or frequency exceeded.
    RateLimited = 45009,
    /// 45015: reply time limit exceeded (customer-service window).
    ReplyWindowExceeded = 45015,
    /// 45021: a field exceeds its length limit.
    FieldTooLong = 45021,
    /// 45030: this card_id has no API permission.
    NoCardPermission = 45030,
    /// 45031: stock is 0.
    OutOfStock = 45031,
    /// 45033: the user reached the per-user claim limit.
    ClaimLimitReached = 45033,
    /// 45047: customer-service downlink message count exceeded.
    CustomerServiceLimit = 45047,
    /// 45065: a mass send with this `clientmsgid` was already submitted (the answer
    /// carries the first send's `msg_id`).
    ClientMsgIdExists = 45065,
    /// 45066: a mass send with the same `clientmsgid` is being retried too soon.
    ClientMsgIdRetryTooSoon = 45066,
    /// 45067: the `clientmsgid` is longer than allowed.
    ClientMsgIdTooLong = 45067,
    /// 47001: the body is not well-formed JSON or lacks the expected shape.
    DataFormatError = 47001,
    /// 48001: API not authorized for this account, or the wrong kind of token.
    ApiUnauthorized = 48001,
}

impl ErrCode {
    /// The token is bad (40001, 40014, 42001): drop it, fetch a fresh one once, and
    /// retry the call once.
    pub fn is_token_error(self) -> bool {
        matches!(
            self,
            Self::InvalidCredential | Self::InvalidAccessToken | Self::AccessTokenExpired
        )
    }

    /// Transient: the same call may succeed later (-1 system busy, 45009 rate limited).
    pub fn is_transient(self) -> bool {
        matches!(self, Self::SystemBusy | Self::RateLimited)
    }

    /// Rate limited (45009): retry only after a longer wait than for -1.
    pub fn is_rate_limited(self) -> bool {
        matches!(self, Self::RateLimited)
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_i64())
    }
}

/// A non-zero `errcode` from WeChat, with its `errmsg` kept as it came (it often ends
/// with diagnostic suffixes such as `rid: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WeChat error {code}: {errmsg}")]
#[non_exhaustive]
pub struct WeChatError {
    /// The code.
    pub code: ErrCode,
    /// The message, verbatim.
    pub errmsg: String,
}

impl WeChatError {
    /// A new error from the raw envelope values.
    pub fn new(code: i64, errmsg: impl Into<String>) -> Self {
        Self {
            code: ErrCode::from_i64(code),
            errmsg: errmsg.into(),
        }
    }

    /// See [`ErrCode::is_token_error`].
    pub fn is_token_error(&self) -> bool {
        self.code.is_token_error()
    }

    /// See [`ErrCode::is_transient`].
    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }

    /// See [`ErrCode::is_rate_limited`].
    pub fn is_rate_limited(&self) -> bool {
        self.code.is_rate_limited()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown() {
        for n in [
            -1, 0, 40001, 40013, 40014, 40109, 41001, 42001, 45009, 48001, 99999,
        ] {
            assert_eq!(ErrCode::from_i64(n).as_i64(), n);
        }
        assert_eq!(ErrCode::from_i64(99999), ErrCode::Other(99999));
        assert_eq!(ErrCode::from_i64(40109), ErrCode::TooManyCodes);
        assert_eq!(ErrCode::from_i64(40073), ErrCode::InvalidCardId);
    }

    #[test]
    fn every_card_code_of_the_spec_is_named() {
        // The return codes of the card-distribution spec, and the ones its endpoints answer.
        for n in [
            -1, 0, 40001, 40002, 40003, 40008, 40013, 40014, 40033, 40053, 40056, 40071, 40072,
            40073, 40078, 40079, 40080, 40097, 40099, 40100, 40109, 40116, 40122, 40127, 40130,
            40164, 41001, 41002, 41004, 41011, 41012, 42001, 43001, 43002, 43003, 44002, 45009,
            45015, 45021, 45030, 45031, 45033, 45047, 45065, 45066, 45067, 47001, 48001,
        ] {
            let code = ErrCode::from_i64(n);
            assert!(!matches!(code, ErrCode::Other(_)), "{n} is not named");
            assert_eq!(code.as_i64(), n);
        }
    }

    #[test]
    fn helpers_classify() {
        for n in [40001, 40014, 42001] {
            assert!(ErrCode::from_i64(n).is_token_error(), "{n}");
            assert!(!ErrCode::from_i64(n).is_transient(), "{n}");
        }
        assert!(ErrCode::SystemBusy.is_transient());
        assert!(!ErrCode::SystemBusy.is_rate_limited());
        assert!(ErrCode::RateLimited.is_transient() && ErrCode::RateLimited.is_rate_limited());
        for n in [0, 40013, 40109, 41001, 48001, 12345] {
            let c = ErrCode::from_i64(n);
            assert!(!c.is_token_error() && !c.is_transient(), "{n}");
        }
        let e = WeChatError::new(45009, "api freq out of limit rid: 1");
        assert_eq!(
            e.to_string(),
            "WeChat error 45009: api freq out of limit rid: 1"
        );
        assert!(e.is_rate_limited());
    }
}
