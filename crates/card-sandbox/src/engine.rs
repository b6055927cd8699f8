//! The sandbox's state and request handling: routing, tokens, faults and one handler per
//! endpoint. Everything answers WeChat-style: HTTP 200 and a JSON envelope.

use crate::clock::Clock;
use crate::codes::CodeSet;
use crate::fault::{Faults, Plan, mix};
use crate::records::*;
use card_model::card_ext::CardExt;
use card_model::{ApiTicket, AppSecret};
use card_transport::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

// Error codes the sandbox answers. Where the spec names no code for a situation, the
// sandbox uses WeChat's generic one and says so in the crate docs.
pub(crate) const SYSTEM_BUSY: i64 = -1;
pub(crate) const INVALID_CREDENTIAL: i64 = 40001;
const INVALID_GRANT_TYPE: i64 = 40002;
const INVALID_OPENID: i64 = 40003;
const INVALID_MESSAGE_TYPE: i64 = 40008;
const INVALID_APPID: i64 = 40013;
const INVALID_ACTION_INFO: i64 = 40053;
const INVALID_CODE: i64 = 40056;
const INVALID_CARD_TYPE: i64 = 40071;
const INVALID_CARD_ID: i64 = 40073;
const INVALID_CARD_EXT: i64 = 40080;
const INVALID_ARGS: i64 = 40097;
const TOO_MANY_CODES: i64 = 40109;
const INVALID_OPENID_LIST_SIZE: i64 = 40130;
const MISSING_ACCESS_TOKEN: i64 = 41001;
const MISSING_APPID: i64 = 41002;
const MISSING_SECRET: i64 = 41004;
const MISSING_FIELD: i64 = 41011;
const MISSING_CARD_ID: i64 = 41012;
pub(crate) const TOKEN_EXPIRED: i64 = 42001;
const REQUIRE_GET: i64 = 43001;
const REQUIRE_POST: i64 = 43002;
const EMPTY_POST_DATA: i64 = 44002;
pub(crate) const RATE_LIMITED: i64 = 45009;
const OUT_OF_STOCK: i64 = 45031;
const CLIENTMSGID_EXISTS: i64 = 45065;
const DATA_FORMAT_ERROR: i64 = 47001;

/// Tokens remembered at most; older ones are forgotten (and answer 40001, as unknown).
const MAX_TOKENS: usize = 4096;
/// Most codes per deposit or checkcode call.
const MAX_CODES_PER_CALL: usize = 100;
/// Most entries in the test whitelist.
const MAX_WHITELIST: usize = 10;

/// An errcode and errmsg.
#[derive(Debug)]
pub(crate) struct ApiError {
    code: i64,
    msg: Cow<'static, str>,
    /// Extra fields (45065 carries the earlier `msg_id`).
    extra: Option<(&'static str, Value)>,
}

fn err(code: i64, msg: impl Into<Cow<'static, str>>) -> ApiError {
    ApiError {
        code,
        msg: msg.into(),
        extra: None,
    }
}

type Answer = Result<Map<String, Value>, ApiError>;

/// The configuration fixed when the sandbox is built.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) appid: String,
    pub(crate) secret: AppSecret,
    pub(crate) original_id: String,
    pub(crate) token_ttl: i64,
    pub(crate) token_grace: i64,
    pub(crate) max_code_len: usize,
}

#[derive(Debug)]
struct TokenInfo {
    expires_at: i64,
    /// Superseded by a newer token: valid until then.
    invalid_after: Option<i64>,
    /// Killed by a fault: answers 42001.
    killed: bool,
}

#[derive(Debug, Default)]
struct Tokens {
    by_value: HashMap<String, TokenInfo>,
    order: VecDeque<String>,
    latest: Option<String>,
    latest_stable: Option<String>,
}

impl Tokens {
    fn check(&self, token: &str, now: i64) -> Result<(), ApiError> {
        let Some(info) = self.by_value.get(token) else {
            return Err(err(
                INVALID_CREDENTIAL,
                "invalid credential, access_token is invalid or not latest",
            ));
        };
        if info.killed || now >= info.expires_at {
            return Err(err(TOKEN_EXPIRED, "access_token expired"));
        }
        if info.invalid_after.is_some_and(|t| now >= t) {
            return Err(err(
                INVALID_CREDENTIAL,
                "invalid credential, access_token is invalid or not latest",
            ));
        }
        Ok(())
    }

    fn issue(&mut self, value: String, now: i64, cfg: &Config, stable: bool) {
        let slot = if stable {
            &mut self.latest_stable
        } else {
            &mut self.latest
        };
        if let Some(old) = slot.replace(value.clone()) {
            if let Some(info) = self.by_value.get_mut(&old) {
                let until = now.saturating_add(cfg.token_grace);
                info.invalid_after = Some(info.invalid_after.map_or(until, |t| t.min(until)));
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

    fn kill(&mut self, token: &str) {
        if let Some(info) = self.by_value.get_mut(token) {
            info.killed = true;
        }
    }
}

/// A card and its deposited codes.
#[derive(Debug)]
pub(crate) struct Card {
    pub(crate) use_custom_code: bool,
    pub(crate) get_custom_code_mode: Option<String>,
    pub(crate) quantity: u64,
    pub(crate) codes: CodeSet,
}

impl Card {
    pub(crate) fn info(&self, card_id: &str) -> CardInfo {
        CardInfo {
            card_id: card_id.to_owned(),
            use_custom_code: self.use_custom_code,
            get_custom_code_mode: self.get_custom_code_mode.clone(),
            quantity: self.quantity,
            deposited: self.codes.len(),
        }
    }

    fn deposit_mode(&self) -> bool {
        self.get_custom_code_mode.as_deref() == Some(GET_CUSTOM_CODE_MODE_DEPOSIT)
    }

    fn distributable_without_code(&self) -> bool {
        !self.use_custom_code || self.deposit_mode()
    }
}

/// Everything the sandbox knows, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    pub(crate) faults: Faults,
    tokens: Tokens,
    ticket: Option<(String, i64)>,
    pub(crate) cards: HashMap<String, Card>,
    pub(crate) qr_tickets: Vec<QrTicket>,
    pub(crate) landing_pages: Vec<LandingPage>,
    pub(crate) messages: Vec<SentMessage>,
    clientmsgids: HashMap<String, u64>,
    pub(crate) whitelist: Whitelist,
    pub(crate) stats: Stats,
    next_id: u64,
    next_msg_id: u64,
}

/// What to do with a processed request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Answer this.
    Respond(HttpResponse),
    /// Drop the connection without answering.
    Drop,
}

/// A processed request: the reply and how long to wait before giving it.
#[derive(Debug)]
pub(crate) struct Processed {
    pub(crate) reply: Reply,
    pub(crate) delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Token,
    StableToken,
    Ticket,
    QrCreate,
    LandingCreate,
    Deposit,
    DepositCount,
    CheckCode,
    GetHtml,
    TestWhitelist,
    MassSendAll,
    MassSend,
    MassPreview,
    CustomSend,
    AdminCards,
    AdminClock,
    AdminUserGetCard,
    AdminState,
}

impl Route {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path.trim_end_matches('/') {
            "/cgi-bin/token" => Self::Token,
            "/cgi-bin/stable_token" => Self::StableToken,
            "/cgi-bin/ticket/getticket" => Self::Ticket,
            "/card/qrcode/create" => Self::QrCreate,
            "/card/landingpage/create" => Self::LandingCreate,
            "/card/code/deposit" => Self::Deposit,
            "/card/code/getdepositcount" => Self::DepositCount,
            "/card/code/checkcode" => Self::CheckCode,
            "/card/mpnews/gethtml" => Self::GetHtml,
            "/card/testwhitelist/set" => Self::TestWhitelist,
            "/cgi-bin/message/mass/sendall" => Self::MassSendAll,
            "/cgi-bin/message/mass/send" => Self::MassSend,
            "/cgi-bin/message/mass/preview" => Self::MassPreview,
            "/cgi-bin/message/custom/send" => Self::CustomSend,
            "/sandbox/cards" => Self::AdminCards,
            "/sandbox/clock" => Self::AdminClock,
            "/sandbox/events/user_get_card" => Self::AdminUserGetCard,
            "/sandbox/state" => Self::AdminState,
            _ => return None,
        })
    }

    fn method(self) -> http::Method {
        match self {
            Self::Token | Self::Ticket | Self::AdminState => http::Method::GET,
            _ => http::Method::POST,
        }
    }

    fn is_admin(self) -> bool {
        matches!(
            self,
            Self::AdminCards | Self::AdminClock | Self::AdminUserGetCard | Self::AdminState
        )
    }

    fn needs_token(self) -> bool {
        !self.is_admin() && !matches!(self, Self::Token | Self::StableToken)
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers: query strings, lenient reads, responses.

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a query component (`+` is a space).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in a query string.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// An integer written as a number or a string holding one.
fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean written as `true`/`false`, `"true"`/`"false"` or 0/1.
fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A field that is absent or null reads as `None`.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional string field; a number is read as its decimal text (lenient).
fn opt_string(obj: &Map<String, Value>, key: &'static str) -> Result<Option<String>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(err(INVALID_ARGS, format!("invalid args: {key}"))),
    }
}

/// A required, non-empty string field.
fn req_string(obj: &Map<String, Value>, key: &'static str) -> Result<String, ApiError> {
    match opt_string(obj, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(err(
            MISSING_FIELD,
            format!("data format error: missing {key}"),
        )),
    }
}

fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ()> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(()),
    }
}

/// Reads a code: a non-empty string, or an integer (lenient).
fn code_of(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn ok_with(mut fields: Map<String, Value>, errmsg: &str) -> Map<String, Value> {
    fields.insert("errcode".into(), 0.into());
    fields.insert("errmsg".into(), errmsg.into());
    fields
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = HttpResponse::new(bytes);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn respond(answer: Answer, rid: u64) -> Reply {
    let body = match answer {
        Ok(fields) => Value::Object(fields),
        Err(e) => {
            let mut m = Map::new();
            m.insert("errcode".into(), e.code.into());
            m.insert(
                "errmsg".into(),
                format!("{} rid: sbx-{rid:08x}", e.msg).into(),
            );
            if let Some((k, v)) = e.extra {
                m.insert(k.into(), v);
            }
            Value::Object(m)
        }
    };
    Reply::Respond(json_response(200, &body))
}

// ---------------------------------------------------------------------------------------

impl State {
    pub(crate) fn new(config: Config, clock: Clock, faults: Faults) -> Self {
        Self {
            config,
            clock,
            faults,
            tokens: Tokens::default(),
            ticket: None,
            cards: HashMap::new(),
            qr_tickets: Vec::new(),
            landing_pages: Vec::new(),
            messages: Vec::new(),
            clientmsgids: HashMap::new(),
            whitelist: Whitelist::default(),
            stats: Stats::default(),
            next_id: 0,
            next_msg_id: 1_000_000_001,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh random-looking identifier; unique because a counter is part of it.
    fn fresh(&mut self, prefix: &str) -> String {
        let n = self.next_id();
        let salt = self.faults.config.seed ^ 0x5A4E_4442_4F58_0001;
        format!(
            "{prefix}{:016x}{:016x}{n:x}",
            mix(salt ^ n),
            mix(salt.rotate_left(17) ^ n)
        )
    }

    pub(crate) fn issue_token(&mut self, stable: bool) -> String {
        let token = self.fresh("SBX_");
        let now = self.clock.now();
        self.tokens.issue(token.clone(), now, &self.config, stable);
        self.stats.tokens_issued += 1;
        token
    }

    /// The card api_ticket, if one is valid now (without issuing one).
    fn current_ticket(&self) -> Option<&str> {
        let now = self.clock.now();
        self.ticket
            .as_ref()
            .filter(|(_, expires_at)| now < *expires_at)
            .map(|(t, _)| t.as_str())
    }

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

    pub(crate) fn create_card(&mut self, spec: CardSpec) -> Result<String, crate::SandboxError> {
        let card_id = match spec.card_id {
            Some(id) if self.cards.contains_key(&id) => {
                return Err(crate::SandboxError::DuplicateCard(id));
            }
            Some(id) if id.is_empty() => return Err(crate::SandboxError::InvalidCardId),
            Some(id) => id,
            None => loop {
                // 28 characters starting with `p`, like WeChat's.
                let n = self.next_id();
                let id = format!("pSbx{:024x}", mix(n ^ 0xC0DE) as u128 | (n as u128) << 64);
                let id: String = id.chars().take(28).collect();
                if !self.cards.contains_key(&id) {
                    break id;
                }
            },
        };
        self.cards.insert(
            card_id.clone(),
            Card {
                use_custom_code: spec.use_custom_code,
                get_custom_code_mode: spec.get_custom_code_mode,
                quantity: spec.quantity,
                codes: CodeSet::default(),
            },
        );
        Ok(card_id)
    }

    /// Processes one request: routing, method, token, faults, then the endpoint.
    pub(crate) fn process(&mut self, request: &HttpRequest) -> Processed {
        self.stats.requests += 1;
        let uri = request.uri();
        let Some(route) = Route::from_path(uri.path()) else {
            let body = json!({"errcode": 404, "errmsg": "sandbox: no such endpoint"});
            return Processed {
                reply: Reply::Respond(json_response(404, &body)),
                delay: Duration::ZERO,
            };
        };
        let rid = self.next_id();
        let no_delay = |reply| Processed {
            reply,
            delay: Duration::ZERO,
        };
        if request.method() != route.method() {
            let (code, msg) = if route.method() == http::Method::GET {
                (REQUIRE_GET, "require GET method")
            } else {
                (REQUIRE_POST, "require POST method")
            };
            return no_delay(respond(Err(err(code, msg)), rid));
        }
        if route.is_admin() {
            return no_delay(self.admin(route, request, rid));
        }
        let query = uri.query();
        if !route.needs_token() {
            let answer = match route {
                Route::Token => self.token(query),
                _ => parse_body(request.body()).and_then(|b| self.stable_token(&b)),
            };
            return no_delay(respond(answer, rid));
        }

        self.stats.api_calls += 1;
        let plan: Plan = self.faults.plan();
        let delay = plan.latency;
        if plan.drop_before {
            self.stats.faults.dropped_before_effect += 1;
            return Processed {
                reply: Reply::Drop,
                delay,
            };
        }
        let answer = self.authorized(route, query, request.body(), plan);
        let reply = if plan.drop_after {
            self.stats.faults.dropped_after_effect += 1;
            Reply::Drop
        } else {
            respond(answer, rid)
        };
        Processed { reply, delay }
    }

    fn authorized(&mut self, route: Route, query: Option<&str>, body: &[u8], plan: Plan) -> Answer {
        let token = match query_param(query, "access_token") {
            Some(t) if !t.is_empty() => t,
            _ => return Err(err(MISSING_ACCESS_TOKEN, "access_token missing")),
        };
        self.tokens.check(&token, self.clock.now())?;
        if plan.expire_token {
            self.tokens.kill(&token);
            self.stats.faults.token_expired += 1;
            return Err(err(TOKEN_EXPIRED, "access_token expired"));
        }
        if plan.busy {
            self.stats.faults.system_busy += 1;
            return Err(err(SYSTEM_BUSY, "system error"));
        }
        if plan.rate_limited {
            self.stats.faults.rate_limited += 1;
            return Err(err(RATE_LIMITED, "api freq out of limit"));
        }
        if route == Route::Ticket {
            return self.getticket(query);
        }
        let body = parse_body(body)?;
        match route {
            Route::QrCreate => self.qrcode_create(&body),
            Route::LandingCreate => self.landingpage_create(&body),
            Route::Deposit => self.deposit(body),
            Route::DepositCount => self.getdepositcount(&body),
            Route::CheckCode => self.checkcode(&body),
            Route::GetHtml => self.gethtml(&body),
            Route::TestWhitelist => self.testwhitelist(&body),
            Route::MassSendAll | Route::MassSend | Route::MassPreview | Route::CustomSend => {
                self.send_message(route, body)
            }
            _ => Err(err(SYSTEM_BUSY, "system error")),
        }
    }

    // --- credentials --------------------------------------------------------------------

    fn check_app(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), ApiError> {
        if grant_type != Some("client_credential") {
            return Err(err(INVALID_GRANT_TYPE, "invalid grant_type"));
        }
        let appid = appid
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(MISSING_APPID, "appid missing"))?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(MISSING_SECRET, "appsecret missing"))?;
        if appid != self.config.appid {
            return Err(err(INVALID_APPID, "invalid appid"));
        }
        if secret != self.config.secret.expose() {
            return Err(err(
                INVALID_CREDENTIAL,
                "invalid credential, access_token is invalid or not latest",
            ));
        }
        Ok(())
    }

    fn token(&mut self, query: Option<&str>) -> Answer {
        let q = |name| query_param(query, name);
        self.check_app(
            q("grant_type").as_deref(),
            q("appid").as_deref(),
            q("secret").as_deref(),
        )?;
        let token = self.issue_token(false);
        let mut m = Map::new();
        m.insert("access_token".into(), token.into());
        m.insert("expires_in".into(), self.config.token_ttl.into());
        Ok(m)
    }

    fn stable_token(&mut self, body: &Map<String, Value>) -> Answer {
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
            .cloned();
        let (token, expires_in) = match current {
            Some(t) if !force => {
                let left = self
                    .tokens
                    .by_value
                    .get(&t)
                    .map_or(0, |i| i.expires_at.saturating_sub(now));
                (t, left)
            }
            _ => (self.issue_token(true), self.config.token_ttl),
        };
        let mut m = Map::new();
        m.insert("access_token".into(), token.into());
        m.insert("expires_in".into(), expires_in.into());
        Ok(m)
    }

    fn getticket(&mut self, query: Option<&str>) -> Answer {
        match query_param(query, "type").as_deref() {
            Some("wx_card") => {}
            Some("jsapi") => {
                return Err(err(
                    INVALID_ARGS,
                    "invalid args: the sandbox issues only wx_card tickets",
                ));
            }
            _ => return Err(err(INVALID_ARGS, "invalid args: type")),
        }
        let ticket = self.api_ticket();
        let mut m = Map::new();
        m.insert("ticket".into(), ticket.into());
        m.insert("expires_in".into(), self.config.token_ttl.into());
        Ok(ok_with(m, "ok"))
    }

    // --- cards --------------------------------------------------------------------------

    /// The card named by `card_id` in `obj`.
    fn card_in(&self, obj: &Map<String, Value>) -> Result<(String, &Card), ApiError> {
        let id = match field(obj, "card_id") {
            None => return Err(err(MISSING_CARD_ID, "missing card_id")),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(err(MISSING_CARD_ID, "missing card_id"));
            }
            Some(Value::String(s)) => s,
            Some(_) => return Err(err(INVALID_CARD_ID, "invalid card_id")),
        };
        let card = self
            .cards
            .get(id)
            .ok_or_else(|| err(INVALID_CARD_ID, "invalid card_id"))?;
        Ok((id.clone(), card))
    }

    /// Like [`card_in`](Self::card_in), for channels that hand out cards without a code.
    fn distributable_card_in(&self, obj: &Map<String, Value>) -> Result<(String, &Card), ApiError> {
        let (id, card) = self.card_in(obj)?;
        if !card.distributable_without_code() {
            return Err(err(
                INVALID_CARD_TYPE,
                "invalid card type: a custom-code card must be in deposit mode for this channel",
            ));
        }
        Ok((id, card))
    }

    fn qr_card(&self, obj: &Map<String, Value>) -> Result<QrCard, ApiError> {
        let (card_id, card) = self.card_in(obj)?;
        let code = opt_string(obj, "code")?.filter(|c| !c.is_empty());
        match &code {
            None if card.use_custom_code && !card.deposit_mode() => {
                return Err(err(
                    MISSING_FIELD,
                    "missing code: required for custom-code cards",
                ));
            }
            Some(c) if card.deposit_mode() && !card.codes.contains(c) => {
                return Err(err(INVALID_CODE, "invalid code: not deposited"));
            }
            _ => {}
        }
        let is_unique_code = match field(obj, "is_unique_code") {
            None => false,
            Some(v) => {
                lenient_bool(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: is_unique_code"))?
            }
        };
        if is_unique_code && card.quantity == 0 {
            return Err(err(OUT_OF_STOCK, "stock is 0"));
        }
        let outer_id = match field(obj, "outer_id") {
            None => None,
            Some(v) => {
                Some(lenient_i64(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: outer_id"))?)
            }
        };
        Ok(QrCard {
            card_id,
            code,
            openid: opt_string(obj, "openid")?.filter(|s| !s.is_empty()),
            is_unique_code,
            outer_id,
            outer_str: opt_string(obj, "outer_str")?,
        })
    }

    fn qrcode_create(&mut self, body: &Map<String, Value>) -> Answer {
        let bad_action = || err(INVALID_ACTION_INFO, "invalid action_info, please check");
        let action_name = req_string(body, "action_name")?;
        let info = opt_object(body, "action_info")
            .map_err(|()| bad_action())?
            .ok_or_else(bad_action)?;
        let (cards, inner) = match action_name.as_str() {
            "QR_CARD" => {
                let card = opt_object(info, "card")
                    .map_err(|()| bad_action())?
                    .ok_or_else(bad_action)?;
                (vec![self.qr_card(card)?], Some(card))
            }
            "QR_MULTIPLE_CARD" => {
                let list = opt_object(info, "multiple_card")
                    .map_err(|()| bad_action())?
                    .and_then(|m| field(m, "card_list"))
                    .and_then(Value::as_array)
                    .filter(|l| !l.is_empty())
                    .ok_or_else(bad_action)?;
                let mut cards = Vec::with_capacity(list.len());
                for item in list {
                    let obj = item.as_object().ok_or_else(bad_action)?;
                    cards.push(self.qr_card(obj)?);
                }
                (cards, None)
            }
            _ => return Err(err(INVALID_ACTION_INFO, "invalid action_name")),
        };
        // Top level (documented), or inside `card` as the seed's outer_id example has it.
        let expire = field(body, "expire_seconds")
            .or_else(|| inner.and_then(|c| field(c, "expire_seconds")));
        let expire_seconds = match expire {
            None => None,
            Some(v) => match lenient_i64(v) {
                Some(s @ 60..=1800) => Some(s as u32),
                _ => {
                    return Err(err(
                        INVALID_ARGS,
                        "invalid args: expire_seconds must be 60..=1800",
                    ));
                }
            },
        };
        let n = self.next_id();
        let ticket = self.fresh("gQSbx");
        let url = format!("http://weixin.qq.com/q/sandbox{n:x}");
        let show_qrcode_url =
            format!("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={ticket}");
        let mut m = Map::new();
        m.insert("ticket".into(), ticket.clone().into());
        if let Some(s) = expire_seconds {
            m.insert("expire_seconds".into(), s.into());
        }
        m.insert("url".into(), url.clone().into());
        m.insert("show_qrcode_url".into(), show_qrcode_url.clone().into());
        self.qr_tickets.push(QrTicket {
            ticket,
            action_name,
            cards,
            expire_seconds,
            created_at: self.clock.now(),
            url,
            show_qrcode_url,
        });
        Ok(ok_with(m, "ok"))
    }

    fn landingpage_create(&mut self, body: &Map<String, Value>) -> Answer {
        const SCENES: [&str; 7] = [
            "SCENE_NEAR_BY",
            "SCENE_MENU",
            "SCENE_QRCODE",
            "SCENE_ARTICLE",
            "SCENE_H5",
            "SCENE_IVR",
            "SCENE_CARD_CUSTOM_CELL",
        ];
        let banner = req_string(body, "banner")?;
        let page_title = req_string(body, "page_title")?;
        let can_share = match field(body, "can_share") {
            None => return Err(err(MISSING_FIELD, "data format error: missing can_share")),
            Some(v) => {
                lenient_bool(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: can_share"))?
            }
        };
        let scene = req_string(body, "scene")?;
        if !SCENES.contains(&scene.as_str()) {
            return Err(err(INVALID_ARGS, "invalid args: scene"));
        }
        let list = match field(body, "card_list") {
            None => return Err(err(MISSING_FIELD, "data format error: missing card_list")),
            Some(Value::Array(l)) if !l.is_empty() => l,
            Some(_) => return Err(err(INVALID_ARGS, "invalid args: card_list")),
        };
        let mut cards = Vec::with_capacity(list.len());
        for item in list {
            let obj = item
                .as_object()
                .ok_or_else(|| err(INVALID_ARGS, "invalid args: card_list"))?;
            let (card_id, _) = self.distributable_card_in(obj)?;
            cards.push(LandingCard {
                card_id,
                thumb_url: req_string(obj, "thumb_url")?,
            });
        }
        let page_id = self.landing_pages.len() as u64 + 1;
        let url = format!(
            "https://mp.weixin.qq.com/bizmall/cardlandingpage?biz=sandbox&page_id={page_id}&scene={scene}#wechat_redirect"
        );
        let mut m = Map::new();
        m.insert("url".into(), url.clone().into());
        m.insert("page_id".into(), page_id.into());
        self.landing_pages.push(LandingPage {
            page_id,
            url,
            banner,
            page_title,
            can_share,
            scene,
            cards,
        });
        Ok(ok_with(m, "ok"))
    }

    // --- codes --------------------------------------------------------------------------

    /// The `code` array of a deposit or checkcode body: present, 1..=100 items.
    fn code_list(body: &Map<String, Value>) -> Result<&Vec<Value>, ApiError> {
        let codes = match field(body, "code") {
            None => return Err(err(MISSING_FIELD, "data format error: missing code")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(err(INVALID_ARGS, "invalid args: code must be an array")),
        };
        if codes.is_empty() {
            return Err(err(MISSING_FIELD, "data format error: empty code list"));
        }
        if codes.len() > MAX_CODES_PER_CALL {
            return Err(err(TOO_MANY_CODES, "code count exceeds the limit of 100"));
        }
        Ok(codes)
    }

    fn deposit(&mut self, body: Map<String, Value>) -> Answer {
        let (card_id, card) = self.card_in(&body)?;
        if !card.use_custom_code {
            return Err(err(
                INVALID_CARD_TYPE,
                "invalid card type: only custom-code cards take deposits",
            ));
        }
        let codes = Self::code_list(&body)?;
        // Check every code before storing any, so a rejected call has no effect.
        let mut checked = Vec::with_capacity(codes.len());
        for c in codes {
            checked.push(
                code_of(c)
                    .ok_or_else(|| err(INVALID_CODE, "invalid code: empty or not a string"))?,
            );
        }
        let max_len = self.config.max_code_len;
        let (mut succ, mut dup, mut fail) = (0u64, 0u64, 0u64);
        let faults = &mut self.faults;
        let Some(card) = self.cards.get_mut(&card_id) else {
            return Err(err(INVALID_CARD_ID, "invalid card_id"));
        };
        for code in &checked {
            if code.len() > max_len {
                fail += 1;
            } else if card.codes.contains(code) {
                dup += 1;
            } else if faults.code_fails() {
                fail += 1;
                self.stats.faults.codes_failed += 1;
            } else {
                match card.codes.insert(code) {
                    Ok(true) => succ += 1,
                    Ok(false) => dup += 1,
                    Err(_) => fail += 1,
                }
            }
        }
        self.stats.deposit_calls += 1;
        self.stats.codes_stored += succ;
        self.stats.codes_duplicate += dup;
        self.stats.codes_failed += fail;
        let mut m = Map::new();
        m.insert("succ_code".into(), succ.into());
        m.insert("duplicate_code".into(), dup.into());
        m.insert("fail_code".into(), fail.into());
        Ok(ok_with(m, "ok"))
    }

    fn getdepositcount(&mut self, body: &Map<String, Value>) -> Answer {
        let (_, card) = self.card_in(body)?;
        let mut m = Map::new();
        m.insert("count".into(), card.codes.len().into());
        Ok(ok_with(m, "ok"))
    }

    fn checkcode(&mut self, body: &Map<String, Value>) -> Answer {
        let (_, card) = self.card_in(body)?;
        let codes = Self::code_list(body)?;
        let (mut exist, mut missing) = (Vec::new(), Vec::new());
        for c in codes {
            let code = code_of(c)
                .ok_or_else(|| err(INVALID_CODE, "invalid code: empty or not a string"))?;
            if card.codes.contains(&code) {
                exist.push(Value::String(code.into_owned()));
            } else {
                missing.push(Value::String(code.into_owned()));
            }
        }
        let mut m = Map::new();
        m.insert("exist_code".into(), exist.into());
        m.insert("not_exist_code".into(), missing.into());
        Ok(ok_with(m, "ok"))
    }

    fn gethtml(&mut self, body: &Map<String, Value>) -> Answer {
        let (card_id, _) = self.distributable_card_in(body)?;
        let content = format!(
            "<iframe class=\"res_iframe card_iframe js_editor_card\" data-src=\"http://mp.weixin.qq.com/bizmall/appmsgcard?action=show&amp;biz=U2FuZGJveA%3D%3D&amp;cardid={card_id}&amp;wechat_card_js=1#wechat_redirect\" allowfullscreen=\"\" frameborder=\"0\"></iframe>"
        );
        let mut m = Map::new();
        m.insert("content".into(), content.into());
        Ok(ok_with(m, "ok"))
    }

    fn testwhitelist(&mut self, body: &Map<String, Value>) -> Answer {
        let list = |key: &'static str| -> Result<Vec<String>, ApiError> {
            match field(body, key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) if !s.is_empty() => Ok(s.clone()),
                        _ => Err(err(INVALID_ARGS, format!("invalid args: {key}"))),
                    })
                    .collect(),
                Some(_) => Err(err(
                    INVALID_ARGS,
                    format!("invalid args: {key} must be an array"),
                )),
            }
        };
        let openid = list("openid")?;
        let username = list("username")?;
        if openid.len() + username.len() > MAX_WHITELIST {
            return Err(err(
                INVALID_ARGS,
                "invalid args: at most 10 openid and username in total",
            ));
        }
        self.whitelist = Whitelist { openid, username };
        Ok(ok_with(Map::new(), "ok"))
    }

    // --- messages -----------------------------------------------------------------------

    fn send_message(&mut self, route: Route, body: Map<String, Value>) -> Answer {
        match field(&body, "msgtype") {
            None => return Err(err(MISSING_FIELD, "data format error: missing msgtype")),
            Some(Value::String(s)) if s == "wxcard" => {}
            Some(_) => {
                return Err(err(
                    INVALID_MESSAGE_TYPE,
                    "invalid message type: the sandbox takes wxcard messages only",
                ));
            }
        }
        let wxcard = opt_object(&body, "wxcard")
            .map_err(|()| err(INVALID_ARGS, "invalid args: wxcard"))?
            .ok_or_else(|| err(MISSING_FIELD, "data format error: missing wxcard"))?;
        let (card_id, _) = self.distributable_card_in(wxcard)?;
        let card_ext = match field(wxcard, "card_ext") {
            None => None,
            Some(Value::String(s)) => {
                let Ok(ext) = serde_json::from_str::<CardExt>(s) else {
                    return Err(err(INVALID_CARD_EXT, "invalid card_ext"));
                };
                // Signed with the card api_ticket that is valid now, as WeChat checks.
                let signed = self
                    .current_ticket()
                    .is_some_and(|t| ext.verify(&card_id, &ApiTicket::new(t)));
                if !signed {
                    return Err(err(INVALID_CARD_EXT, "invalid card_ext: bad signature"));
                }
                Some(s.clone())
            }
            Some(_) => {
                return Err(err(
                    INVALID_CARD_EXT,
                    "invalid card_ext: must be a JSON string",
                ));
            }
        };
        let clientmsgid = opt_string(&body, "clientmsgid")?.filter(|s| !s.is_empty());
        let openid = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(err(INVALID_OPENID, "invalid openid")),
        };
        let (channel, errmsg) = match route {
            Route::MassSendAll => {
                let filter = opt_object(&body, "filter")
                    .map_err(|()| err(INVALID_ARGS, "invalid args: filter"))?
                    .ok_or_else(|| err(MISSING_FIELD, "data format error: missing filter"))?;
                let is_to_all = field(filter, "is_to_all")
                    .map(|v| {
                        lenient_bool(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: is_to_all"))
                    })
                    .transpose()?
                    .unwrap_or(false);
                let tag = field(filter, "tag_id").or_else(|| field(filter, "group_id"));
                let tag_id = tag
                    .map(|v| {
                        lenient_i64(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: tag_id"))
                    })
                    .transpose()?;
                if !is_to_all && tag_id.is_none() {
                    return Err(err(MISSING_FIELD, "data format error: missing tag_id"));
                }
                let channel = Channel::MassByTag {
                    is_to_all,
                    tag_id,
                    clientmsgid: clientmsgid.clone(),
                };
                (channel, "send job submission success")
            }
            Route::MassSend => {
                let touser = match field(&body, "touser") {
                    Some(Value::Array(items)) => {
                        items.iter().map(openid).collect::<Result<Vec<_>, _>>()?
                    }
                    None => return Err(err(MISSING_FIELD, "data format error: missing touser")),
                    Some(_) => {
                        return Err(err(INVALID_ARGS, "invalid args: touser must be an array"));
                    }
                };
                if !(2..=10_000).contains(&touser.len()) {
                    return Err(err(
                        INVALID_OPENID_LIST_SIZE,
                        "invalid openid list size, at least two openid and at most 10000",
                    ));
                }
                let channel = Channel::MassByOpenId {
                    touser,
                    clientmsgid: clientmsgid.clone(),
                };
                (channel, "send job submission success")
            }
            Route::MassPreview => {
                let touser = opt_string(&body, "touser")?.filter(|s| !s.is_empty());
                let towxname = opt_string(&body, "towxname")?.filter(|s| !s.is_empty());
                if touser.is_none() && towxname.is_none() {
                    return Err(err(
                        MISSING_FIELD,
                        "data format error: missing touser or towxname",
                    ));
                }
                (Channel::Preview { touser, towxname }, "preview success")
            }
            _ => {
                let touser = match field(&body, "touser") {
                    None => return Err(err(MISSING_FIELD, "data format error: missing touser")),
                    Some(v) => openid(v)?,
                };
                let kf_account = opt_object(&body, "customservice")
                    .ok()
                    .flatten()
                    .and_then(|c| field(c, "kf_account"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (Channel::Custom { touser, kf_account }, "ok")
            }
        };
        let is_mass = matches!(route, Route::MassSendAll | Route::MassSend);
        if is_mass {
            if let Some(id) = clientmsgid.as_ref().and_then(|c| self.clientmsgids.get(c)) {
                return Err(ApiError {
                    code: CLIENTMSGID_EXISTS,
                    msg: "clientmsgid exist".into(),
                    extra: Some(("msg_id", (*id).into())),
                });
            }
        }
        let msg_id = (route != Route::CustomSend).then(|| {
            self.next_msg_id += 1;
            self.next_msg_id
        });
        if let (true, Some(c), Some(id)) = (is_mass, clientmsgid, msg_id) {
            self.clientmsgids.insert(c, id);
        }
        self.messages.push(SentMessage {
            channel,
            card_id,
            card_ext,
            msg_id,
            sent_at: self.clock.now(),
            body: Value::Object(body),
        });
        let mut m = Map::new();
        if let Some(id) = msg_id {
            m.insert("msg_id".into(), id.into());
        }
        Ok(ok_with(m, errmsg))
    }

    // --- admin --------------------------------------------------------------------------

    fn admin(&mut self, route: Route, request: &HttpRequest, rid: u64) -> Reply {
        if route == Route::AdminState {
            let mut cards: Vec<Value> = self
                .cards
                .iter()
                .map(|(id, c)| {
                    json!({"card_id": id, "use_custom_code": c.use_custom_code,
                           "get_custom_code_mode": c.get_custom_code_mode,
                           "quantity": c.quantity, "deposited": c.codes.len()})
                })
                .collect();
            cards.sort_by(|a, b| a["card_id"].as_str().cmp(&b["card_id"].as_str()));
            let body = json!({
                "errcode": 0, "errmsg": "ok", "now": self.clock.now(), "cards": cards,
                "qr_tickets": self.qr_tickets.len(), "landing_pages": self.landing_pages.len(),
                "messages": self.messages.len(),
                "whitelist": {"openid": self.whitelist.openid, "username": self.whitelist.username},
            });
            return Reply::Respond(json_response(200, &body));
        }
        let body = match parse_body(request.body()) {
            Ok(b) => b,
            Err(e) => return respond(Err(e), rid),
        };
        let answer = match route {
            Route::AdminCards => self.admin_cards(&body),
            Route::AdminClock => self.admin_clock(&body),
            _ => match self.admin_user_get_card(&body) {
                Ok(xml) => {
                    let mut response = HttpResponse::new(xml.into_bytes());
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/xml; charset=utf-8"),
                    );
                    return Reply::Respond(response);
                }
                Err(e) => Err(e),
            },
        };
        respond(answer, rid)
    }

    fn admin_cards(&mut self, body: &Map<String, Value>) -> Answer {
        let mut spec = CardSpec::new();
        if let Some(id) = opt_string(body, "card_id")? {
            spec = spec.card_id(id);
        }
        if let Some(v) = field(body, "use_custom_code") {
            spec = spec.use_custom_code(
                lenient_bool(v)
                    .ok_or_else(|| err(INVALID_ARGS, "invalid args: use_custom_code"))?,
            );
        }
        if let Some(mode) = opt_string(body, "get_custom_code_mode")? {
            spec = spec.get_custom_code_mode(mode);
        }
        if let Some(v) = field(body, "quantity") {
            let q = lenient_i64(v)
                .and_then(|q| u64::try_from(q).ok())
                .ok_or_else(|| err(INVALID_ARGS, "invalid args: quantity"))?;
            spec = spec.quantity(q);
        }
        let card_id = self
            .create_card(spec)
            .map_err(|e| err(INVALID_ARGS, format!("invalid args: {e}")))?;
        let mut m = Map::new();
        m.insert("card_id".into(), card_id.into());
        Ok(ok_with(m, "ok"))
    }

    fn admin_clock(&mut self, body: &Map<String, Value>) -> Answer {
        if let Some(v) = field(body, "now") {
            let now = lenient_i64(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: now"))?;
            self.clock = Clock::manual(now);
        }
        if let Some(v) = field(body, "advance") {
            let secs = lenient_i64(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: advance"))?;
            self.clock.advance(secs);
        }
        let mut m = Map::new();
        m.insert("now".into(), self.clock.now().into());
        Ok(ok_with(m, "ok"))
    }

    fn admin_user_get_card(&mut self, body: &Map<String, Value>) -> Result<String, ApiError> {
        let mut event =
            crate::event::Claim::new(req_string(body, "card_id")?, req_string(body, "code")?);
        if let Some(v) = field(body, "outer_id") {
            event = event.outer_id(
                lenient_i64(v).ok_or_else(|| err(INVALID_ARGS, "invalid args: outer_id"))?,
            );
        }
        if let Some(openid) = opt_string(body, "openid")? {
            event = event.openid(openid);
        }
        if let Some(s) = opt_string(body, "outer_str")? {
            event = event.outer_str(s);
        }
        self.user_get_card(&event)
            .map(|e| e.to_xml())
            .map_err(|e| err(INVALID_ARGS, format!("invalid args: {e}")))
    }

    pub(crate) fn user_get_card(
        &self,
        claim: &crate::event::Claim,
    ) -> Result<card_model::event::UserGetCard, crate::SandboxError> {
        if !self.cards.contains_key(&claim.card_id) {
            return Err(crate::SandboxError::UnknownCard(claim.card_id.clone()));
        }
        Ok(claim.to_event(&self.config.original_id, self.clock.now()))
    }
}

/// Parses a POST body as a JSON object, leniently: any JSON object goes.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(err(EMPTY_POST_DATA, "empty post data"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(err(DATA_FORMAT_ERROR, "data format error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_decode() {
        let q = Some("access_token=a%2Bb%3D&type=wx_card&x&secret=s+t&bad=%zz%4");
        assert_eq!(query_param(q, "access_token").as_deref(), Some("a+b="));
        assert_eq!(query_param(q, "type").as_deref(), Some("wx_card"));
        assert_eq!(query_param(q, "x").as_deref(), Some(""));
        assert_eq!(query_param(q, "secret").as_deref(), Some("s t"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "type"), None);
    }

    #[test]
    fn lenient_reads() {
        assert_eq!(lenient_i64(&json!("1800")), Some(1800));
        assert_eq!(lenient_i64(&json!(1800)), Some(1800));
        assert_eq!(lenient_i64(&json!(18.5)), None);
        assert_eq!(lenient_bool(&json!("true")), Some(true));
        assert_eq!(lenient_bool(&json!(0)), Some(false));
        assert_eq!(lenient_bool(&json!([])), None);
    }
}
