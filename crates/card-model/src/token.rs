//! Credentials: `/cgi-bin/token`, `/cgi-bin/stable_token` and the card api_ticket
//! (`/cgi-bin/ticket/getticket?type=wx_card`).
//!
//! The clients in `card-api` call these for you and cache the results; the types are
//! public so that an application that manages tokens itself can use the same
//! descriptions. The app secret travels only on the wire: every `Debug` here prints it
//! as `[redacted]`.

use crate::{AccessToken, ApiTicket, AppSecret, Auth, Endpoint, HttpMethod, ValidationError};
use serde::{Deserialize, Serialize};

/// `GET /cgi-bin/token?grant_type=client_credential&appid=APPID&secret=APPSECRET`:
/// fetches an access token with the app credentials.
///
/// Fetching a new token invalidates the previous one (after a 5-minute overlap), so
/// fetch centrally and cache; `card-api` does.
///
/// ```
/// use card_model::{AppSecret, Endpoint, token::GetAccessToken};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let req = GetAccessToken::new("wx1234567890abcdef", AppSecret::new("s3cr3t"));
/// req.validate()?;
/// assert!(!format!("{req:?}").contains("s3cr3t"));
/// let r = card_model::decode_response::<GetAccessToken>(br#"{"access_token":"T","expires_in":7200}"#)?;
/// assert_eq!((r.access_token.expose(), r.expires_in), ("T", 7200));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct GetAccessToken {
    /// The account's AppID (`appid`).
    pub appid: String,
    /// The AppSecret (`secret`).
    #[serde(skip)]
    pub secret: AppSecret,
}

impl GetAccessToken {
    /// A request for `appid` with its `secret`.
    pub fn new(appid: impl Into<String>, secret: AppSecret) -> Self {
        Self {
            appid: appid.into(),
            secret,
        }
    }
}

fn check_credentials(appid: &str, secret: &AppSecret) -> Result<(), ValidationError> {
    crate::validate::non_empty("appid", appid)?;
    crate::validate::non_empty("secret", secret.expose())
}

impl Endpoint for GetAccessToken {
    type Response = AccessTokenResponse;
    const METHOD: HttpMethod = HttpMethod::Get;
    const PATH: &'static str = "/cgi-bin/token";
    const REPEATABLE: bool = true;
    const AUTH: Auth = Auth::None;
    const SECRET_RESPONSE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        check_credentials(&self.appid, &self.secret)
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "client_credential".to_owned()),
            ("appid", self.appid.clone()),
            ("secret", self.secret.expose().to_owned()),
        ]
    }
}

/// `POST /cgi-bin/stable_token`: the "stable" access token. Unlike `/cgi-bin/token`,
/// a normal call (`force_refresh` absent or `false`) returns the token still in force
/// instead of replacing it, so several fetchers do not invalidate each other.
///
/// ```
/// use card_model::{AppSecret, token::GetStableAccessToken};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let req = GetStableAccessToken::new("wx1234567890abcdef", AppSecret::new("s3cr3t"));
/// let body = card_model::encode_body(&req)?.unwrap_or_default();
/// assert_eq!(
///     String::from_utf8(body)?,
///     r#"{"grant_type":"client_credential","appid":"wx1234567890abcdef","secret":"s3cr3t"}"#
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct GetStableAccessToken {
    /// Always `client_credential` (`grant_type`).
    pub grant_type: String,
    /// The account's AppID (`appid`).
    pub appid: String,
    /// The AppSecret (`secret`).
    pub secret: AppSecret,
    /// `force_refresh`: `true` replaces the token in force (strictly rate-limited by
    /// WeChat); absent means `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_refresh: Option<bool>,
}

impl GetStableAccessToken {
    /// A normal (non-forcing) request for `appid` with its `secret`.
    pub fn new(appid: impl Into<String>, secret: AppSecret) -> Self {
        Self {
            grant_type: "client_credential".to_owned(),
            appid: appid.into(),
            secret,
            force_refresh: None,
        }
    }

    /// Sets `force_refresh`.
    #[must_use]
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = Some(force);
        self
    }
}

impl Endpoint for GetStableAccessToken {
    type Response = AccessTokenResponse;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/cgi-bin/stable_token";
    const REPEATABLE: bool = true;
    const AUTH: Auth = Auth::None;
    const SECRET_RESPONSE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        crate::validate::non_empty("grant_type", &self.grant_type)?;
        check_credentials(&self.appid, &self.secret)
    }
}

/// The answer of both token endpoints: `{"access_token":"...","expires_in":7200}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct AccessTokenResponse {
    /// The token (`access_token`); up to 512 characters.
    pub access_token: AccessToken,
    /// Its lifetime in seconds (`expires_in`), currently at most 7200; a numeric string
    /// is accepted.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub expires_in: u64,
}

impl AccessTokenResponse {
    /// A response value (for tests and custom token sources).
    pub fn new(access_token: AccessToken, expires_in: u64) -> Self {
        Self {
            access_token,
            expires_in,
        }
    }
}

/// `GET /cgi-bin/ticket/getticket?access_token=...&type=wx_card`: the card `api_ticket`
/// used to sign `card_ext` (not the JS-SDK `jsapi_ticket`). Its quota is small: cache
/// it (`card-api` does).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetCardApiTicket;

impl Endpoint for GetCardApiTicket {
    type Response = ApiTicketResponse;
    const METHOD: HttpMethod = HttpMethod::Get;
    const PATH: &'static str = "/cgi-bin/ticket/getticket";
    const REPEATABLE: bool = true;
    const SECRET_RESPONSE: bool = true;

    fn query(&self) -> Vec<(&'static str, String)> {
        vec![("type", "wx_card".to_owned())]
    }
}

/// The answer of [`GetCardApiTicket`].
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ApiTicketResponse {
    /// The card api_ticket (`ticket`).
    pub ticket: ApiTicket,
    /// Its lifetime in seconds (`expires_in`, 7200); a numeric string is accepted.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub expires_in: u64,
}

impl ApiTicketResponse {
    /// A response value (for tests and custom ticket sources).
    pub fn new(ticket: ApiTicket, expires_in: u64) -> Self {
        Self { ticket, expires_in }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrCode, ResponseError, decode_response, encode_body};

    #[test]
    fn get_access_token_is_a_query_and_hides_the_secret() {
        let req = GetAccessToken::new("wxAPP", AppSecret::new("SECRET-xyz"));
        assert_eq!(GetAccessToken::METHOD, HttpMethod::Get);
        assert_eq!(GetAccessToken::AUTH, Auth::None);
        assert!(req.repeatable());
        assert_eq!(encode_body(&req).unwrap(), None);
        assert_eq!(
            req.query(),
            vec![
                ("grant_type", "client_credential".to_owned()),
                ("appid", "wxAPP".to_owned()),
                ("secret", "SECRET-xyz".to_owned()),
            ]
        );
        for shown in [format!("{req:?}"), format!("{req:#?}")] {
            assert!(!shown.contains("SECRET-xyz"), "{shown}");
        }
        // serializing (should anyone) never carries the secret either
        assert!(!serde_json::to_string(&req).unwrap().contains("SECRET"));
    }

    #[test]
    fn credentials_are_validated() {
        let e = GetAccessToken::new("", AppSecret::new("s"))
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "appid");
        let e = GetStableAccessToken::new("wx", AppSecret::new(" "))
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "secret");
        assert!(
            GetStableAccessToken::new("wx", AppSecret::new("s"))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn stable_token_body() {
        let req =
            GetStableAccessToken::new("wxAPP", AppSecret::new("SECRET-xyz")).force_refresh(true);
        assert_eq!(GetStableAccessToken::AUTH, Auth::None);
        let body = String::from_utf8(encode_body(&req).unwrap().unwrap()).unwrap();
        assert_eq!(
            body,
            r#"{"grant_type":"client_credential","appid":"wxAPP","secret":"SECRET-xyz","force_refresh":true}"#
        );
        assert!(!format!("{req:?}").contains("SECRET-xyz"));
    }

    #[test]
    fn token_responses_decode_leniently() {
        let r = decode_response::<GetAccessToken>(
            br#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#,
        )
        .unwrap();
        assert_eq!(r.access_token.expose(), "ACCESS_TOKEN");
        assert_eq!(r.expires_in, 7200);
        let r = decode_response::<GetStableAccessToken>(
            br#"{"access_token":"T","expires_in":"7200","extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, 7200);
        assert!(!format!("{r:?}").contains("\"T\""));
        let e = decode_response::<GetAccessToken>(br#"{"errcode":40013,"errmsg":"invalid appid"}"#)
            .unwrap_err();
        assert!(matches!(e, ResponseError::WeChat(w) if w.code == ErrCode::InvalidAppId));
        assert!(matches!(
            decode_response::<GetAccessToken>(br#"{"access_token":"T","expires_in":-5}"#),
            Err(ResponseError::Decode(_))
        ));
    }

    #[test]
    fn card_ticket() {
        assert_eq!(
            GetCardApiTicket.query(),
            vec![("type", "wx_card".to_owned())]
        );
        assert_eq!(GetCardApiTicket::AUTH, Auth::AccessToken);
        assert!(GetCardApiTicket.repeatable());
        let r = decode_response::<GetCardApiTicket>(
            br#"{"errcode":0,"errmsg":"ok","ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA","expires_in":7200}"#,
        )
        .unwrap();
        assert_eq!(r.ticket.expose(), "bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA");
        assert_eq!(r.expires_in, 7200);
        assert!(!format!("{r:?}").contains("bxLd"));
    }
}
