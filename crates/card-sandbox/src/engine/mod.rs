//! The sandbox's state and request handling. Everything answers WeChat-style: HTTP 200
//! and a JSON envelope.
//!
//! * [`routes`]: which path is which endpoint, and its methods;
//! * [`tokens`]: access tokens, stable tokens, the card api_ticket and their endpoints;
//! * `handlers`: one file per endpoint group (cards, codes, messages, admin);
//! * [`json`]: lenient field reads, the answer envelope, the handlers' error type.
//!
//! This module holds the state and [`State::process`], which routes a request, checks its
//! method and token, draws its faults and calls the handler.

mod handlers;
pub(crate) mod json;
mod routes;
mod tokens;

use crate::clock::Clock;
use crate::codes::CodeSet;
use crate::fault::{FaultConfig, Faults, Plan, mix};
use crate::records::*;
use card_model::{AppSecret, ErrCode};
use card_transport::{HttpRequest, HttpResponse};
use json::{Answer, err, json_response, parse_body, query_param, respond};
pub(crate) use routes::Route;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokens::Tokens;

/// The configuration fixed when the sandbox is built.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) appid: String,
    pub(crate) secret: AppSecret,
    pub(crate) original_id: String,
    pub(crate) token_ttl: i64,
    pub(crate) token_grace: i64,
    pub(crate) token_len: usize,
    pub(crate) max_code_len: usize,
    /// Makes tokens, tickets and ids repeat from one run to the next.
    pub(crate) seed: Option<u64>,
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
    /// Requests per endpoint path (unknown paths count under `"other"`).
    pub(crate) by_endpoint: BTreeMap<&'static str, u64>,
    /// The push target, the pushes made and those waiting for a sender.
    pub(crate) pushes: crate::push::Pushes,
    /// Mixed into every generated token, ticket and id.
    salt: u64,
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

impl Processed {
    fn now(reply: Reply) -> Self {
        Self {
            reply,
            delay: Duration::ZERO,
        }
    }
}

/// A salt that differs from one sandbox to the next: std's per-process random hash keys,
/// the time and a process-wide counter.
fn random_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    h.write_u64(nanos);
    h.finish()
}

impl State {
    pub(crate) fn new(config: Config, clock: Clock, faults: Faults) -> Self {
        let salt = match config.seed {
            Some(seed) => mix(seed ^ 0x5A4E_4442_4F58_0001),
            None => random_salt(),
        };
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
            by_endpoint: BTreeMap::new(),
            pushes: crate::push::Pushes::default(),
            salt,
            next_id: 0,
            next_msg_id: 1_000_000_001,
        }
    }

    /// Back to empty: no cards, tokens, tickets, records, counters or faults. The
    /// configuration and the clock stay.
    pub(crate) fn reset(&mut self) {
        let fresh = Self::new(
            self.config.clone(),
            self.clock,
            Faults::new(FaultConfig::seeded(self.faults.config.seed)),
        );
        let (salt, next_id) = (self.salt, self.next_id);
        // The push target is set-up of the environment, like the AppID: it stays.
        let mut pushes = std::mem::take(&mut self.pushes);
        pushes.clear_records();
        *self = fresh;
        self.pushes = pushes;
        // Ids stay unique across a reset.
        self.salt = salt;
        self.next_id = next_id;
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh random-looking identifier; unique because a counter is part of it.
    fn fresh(&mut self, prefix: &str) -> String {
        let n = self.next_id();
        let salt = self.salt;
        format!(
            "{prefix}{:016x}{:016x}{n:x}",
            mix(salt ^ n),
            mix(salt.rotate_left(17) ^ n)
        )
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
                let id = format!(
                    "pSbx{:024x}",
                    mix(n ^ self.salt ^ 0xC0DE) as u128 | (n as u128) << 64
                );
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
            *self.by_endpoint.entry("other").or_default() += 1;
            self.stats.errors_answered += 1;
            let body = json!({"errcode": 404, "errmsg": "sandbox: no such endpoint"});
            return Processed::now(Reply::Respond(json_response(404, &body)));
        };
        *self.by_endpoint.entry(route.path()).or_default() += 1;
        let rid = self.next_id();
        if !route.accepts(request.method()) {
            let (code, msg) = if route.method() == http::Method::GET {
                (ErrCode::RequireGet, "require GET method")
            } else {
                (ErrCode::RequirePost, "require POST method")
            };
            return Processed::now(self.answer(Err(err(code, msg)), rid));
        }
        if route.is_admin() {
            return Processed::now(self.admin(route, request, rid));
        }
        let query = uri.query();
        if !route.needs_token() {
            let answer = match route {
                Route::Token => self.token(query),
                _ => parse_body(request.body()).and_then(|b| self.stable_token(&b)),
            };
            return Processed::now(self.answer(answer, rid));
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
            self.answer(answer, rid)
        };
        Processed { reply, delay }
    }

    /// Counts an error answer, then renders it.
    fn answer(&mut self, answer: Answer, rid: u64) -> Reply {
        if answer.is_err() {
            self.stats.errors_answered += 1;
        }
        respond(answer, rid)
    }

    fn authorized(&mut self, route: Route, query: Option<&str>, body: &[u8], plan: Plan) -> Answer {
        let token = match query_param(query, "access_token") {
            Some(t) if !t.is_empty() => t,
            _ => return Err(err(ErrCode::MissingAccessToken, "access_token missing")),
        };
        self.tokens.check(&token, self.clock.now())?;
        if plan.expire_token {
            self.tokens.kill(&token);
            self.stats.faults.token_expired += 1;
            return Err(err(ErrCode::AccessTokenExpired, "access_token expired"));
        }
        if plan.busy {
            self.stats.faults.system_busy += 1;
            return Err(err(ErrCode::SystemBusy, "system error"));
        }
        if plan.rate_limited {
            self.stats.faults.rate_limited += 1;
            return Err(err(ErrCode::RateLimited, "api freq out of limit"));
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
            _ => Err(err(ErrCode::SystemBusy, "system error")),
        }
    }
}
