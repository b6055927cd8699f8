//! Credentials: access tokens (plain and stable), the card api_ticket, and the three
//! endpoints that hand them out.

use super::json::{Answer, ApiError, err, field, lenient_bool, ok_with, query_param};
use super::{Config, State};
use crate::fault::mix;
use card_model::ErrCode;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

/// Tokens remembered at most; older ones are forgotten (and answer 40001, as unknown).
const MAX_TOKENS: usize = 4096;
/// In its last this-many seconds a stable token is replaced by a normal-mode call; the
/// old one keeps working until it expires.
const STABLE_ROLLOVER: i64 = 300;
/// A forced refresh of the stable token sooner than this after the previous one returns
/// the current token unchanged.
const FORCE_REFRESH_SPACING: i64 = 30;
/// The characters of a token.
const TOKEN_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn invalid_credential() -> ApiError {
    err(
        ErrCode::InvalidCredential,
        "invalid credential, access_token is invalid or not latest",
    )
}

#[derive(Debug)]
struct TokenInfo {
    expires_at: i64,
    /// Superseded by a newer token: valid until then.
    invalid_after: Option<i64>,
    /// Killed by a fault: answers 42001.
    killed: bool,
}

/// How a new token treats the one it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Supersede {
    /// `/cgi-bin/token`: the previous plain token stays valid for the grace period.
    Grace,
    /// A stable token renewed in its last minutes: the previous one lives out its time.
    Rollover,
    /// `force_refresh`: the previous stable token stops working at once.
    Revoke,
}

/// The tokens issued so far.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    by_value: HashMap<String, TokenInfo>,
    order: VecDeque<String>,
    latest: Option<String>,
    latest_stable: Option<String>,
    last_forced: Option<i64>,
}

impl Tokens {
    /// Whether a token may be used now.
    pub(crate) fn check(&self, token: &str, now: i64) -> Result<(), ApiError> {
        let Some(info) = self.by_value.get(token) else {
            return Err(invalid_credential());
        };
        if info.killed || now >= info.expires_at {
            return Err(err(ErrCode::AccessTokenExpired, "access_token expired"));
        }
        if info.invalid_after.is_some_and(|t| now >= t) {
            return Err(invalid_credential());
        }
        Ok(())
    }

    fn issue(&mut self, value: String, now: i64, cfg: &Config, stable: bool, how: Supersede) {
        let slot = if stable {
            &mut self.latest_stable
        } else {
            &mut self.latest
        };
        if let Some(old) = slot.replace(value.clone()) {
            if let Some(info) = self.by_value.get_mut(&old) {
                let until = match how {
                    Supersede::Grace => Some(now.saturating_add(cfg.token_grace)),
                    Supersede::Rollover => None,
                    Supersede::Revoke => Some(now),
                };
                if let Some(until) = until {
                    info.invalid_after = Some(info.invalid_after.map_or(until, |t| t.min(until)));
                }
            }
        }
        self.by_value.insert(
            value.clone(),
            TokenInfo {
                expires_at: now.saturating_add(cfg.token_ttl),
                invalid_after: None,
                killed: false,
            },
        );
        self.order.push_back(value);
        while self.order.len() > MAX_TOKENS {
            if let Some(old) = self.order.pop_front() {
                self.by_value.remove(&old);
            }
        }
    }

    /// Makes a token answer 42001 from now on.
    pub(crate) fn kill(&mut self, token: &str) {
        if let Some(info) = self.by_value.get_mut(token) {
            info.killed = true;
        }
    }
}

impl State {
    /// A new token string: a counter, `_`, and random-looking characters up to the
    /// configured length (WeChat's are 130 to 160 characters).
    fn token_string(&mut self) -> String {
        let n = self.next_id();
        let mut token = format!("{n}_");
        let mut word = 0u64;
        let mut left = 0;
        let mut i = 0u64;
        let target = self.config.token_len.max(token.len() + 16);
        while token.len() < target {
            if left == 0 {
                i += 1;
                word = mix(self.salt ^ mix(n) ^ i.rotate_left(32));
                left = 10;
            }
            token.push(TOKEN_ALPHABET[(word & 63) as usize] as char);
            word >>= 6;
            left -= 1;
        }
        token
    }

    /// Issues a plain or stable access token.
    pub(crate) fn issue_token_as(&mut self, stable: bool, how: Supersede) -> String {
        let token = self.token_string();
        let now = self.clock.now();
        self.tokens
            .issue(token.clone(), now, &self.config, stable, how);
        self.stats.tokens_issued += 1;
        token
    }

    /// Issues a plain access token as `/cgi-bin/token` does.
    pub(crate) fn issue_token(&mut self) -> String {
        self.issue_token_as(false, Supersede::Grace)
    }

    /// The card api_ticket, if one is valid now (without issuing one).
    pub(crate) fn current_ticket(&self) -> Option<&str> {
        let now = self.clock.now();
        self.ticket
            .as_ref()
            .filter(|(_, expires_at)| now < *expires_at)
            .map(|(t, _)| t.as_str())
    }

    /// The card api_ticket, issued on first use and renewed when expired.
    pub(crate) fn api_ticket(&mut self) -> String {
        let now = self.clock.now();
        match &self.ticket {
            Some((t, expires_at)) if now < *expires_at => t.clone(),
            _ => {
                let t = self.fresh("sbx_wxcard_ticket_");
                self.ticket = Some((t.clone(), now.saturating_add(self.config.token_ttl)));
                t
            }
        }
    }

    fn check_app(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), ApiError> {
        if grant_type != Some("client_credential") {
            return Err(err(ErrCode::InvalidGrantType, "invalid grant_type"));
        }
        let appid = appid
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(ErrCode::MissingAppId, "appid missing"))?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(ErrCode::MissingSecret, "appsecret missing"))?;
        if appid != self.config.appid {
            return Err(err(ErrCode::InvalidAppId, "invalid appid"));
        }
        if secret != self.config.secret.expose() {
            return Err(invalid_credential());
        }
        Ok(())
    }

    /// `GET /cgi-bin/token`.
    pub(crate) fn token(&mut self, query: Option<&str>) -> Answer {
        let q = |name| query_param(query, name);
        self.check_app(
            q("grant_type").as_deref(),
            q("appid").as_deref(),
            q("secret").as_deref(),
        )?;
        let token = self.issue_token();
        let mut m = Map::new();
        m.insert("access_token".into(), token.into());
        m.insert("expires_in".into(), self.config.token_ttl.into());
        Ok(m)
    }

    /// `POST /cgi-bin/stable_token`: the same token while it has more than five minutes
    /// left; in its last five minutes a new one (the old one works until it expires);
    /// `force_refresh` replaces it at once and the old one stops working, unless the
    /// previous forced refresh was less than 30 s ago (then the current token comes back).
    pub(crate) fn stable_token(&mut self, body: &Map<String, Value>) -> Answer {
        let s = |key| field(body, key).and_then(Value::as_str);
        self.check_app(s("grant_type"), s("appid"), s("secret"))?;
        let force = field(body, "force_refresh")
            .and_then(lenient_bool)
            .unwrap_or(false);
        let now = self.clock.now();
        let current = self
            .tokens
            .latest_stable
            .as_ref()
            .filter(|t| self.tokens.check(t, now).is_ok())
            .map(|t| {
                let left = self
                    .tokens
                    .by_value
                    .get(t)
                    .map_or(0, |i| i.expires_at.saturating_sub(now));
                (t.clone(), left)
            });
        let recently_forced = self
            .tokens
            .last_forced
            .is_some_and(|t| now.saturating_sub(t) < FORCE_REFRESH_SPACING);
        let (token, expires_in) = match current {
            Some((t, left)) if force && recently_forced => (t, left),
            Some((t, left)) if !force && left > STABLE_ROLLOVER => (t, left),
            Some(_) if !force => (
                self.issue_token_as(true, Supersede::Rollover),
                self.config.token_ttl,
            ),
            _ => {
                if force {
                    self.tokens.last_forced = Some(now);
                }
                (
                    self.issue_token_as(true, Supersede::Revoke),
                    self.config.token_ttl,
                )
            }
        };
        let mut m = Map::new();
        m.insert("access_token".into(), token.into());
        m.insert("expires_in".into(), expires_in.into());
        Ok(m)
    }

    /// `GET /cgi-bin/ticket/getticket?type=wx_card`.
    pub(crate) fn getticket(&mut self, query: Option<&str>) -> Answer {
        match query_param(query, "type").as_deref() {
            Some("wx_card") => {}
            Some("jsapi") => {
                return Err(err(
                    ErrCode::InvalidArgs,
                    "invalid args: the sandbox issues only wx_card tickets",
                ));
            }
            _ => return Err(err(ErrCode::InvalidArgs, "invalid args: type")),
        }
        let ticket = self.api_ticket();
        let mut m = Map::new();
        m.insert("ticket".into(), ticket.into());
        m.insert("expires_in".into(), self.config.token_ttl.into());
        Ok(ok_with(m, "ok"))
    }
}
