//! The `/sandbox/...` admin routes: set up cards and the clock, render events, read the
//! state, counters and recorded sends, set faults at runtime, reset. No token, never
//! faulted.

use crate::clock::Clock;
use crate::engine::json::{
    Answer, ApiError, field, invalid_args, json_response, lenient_bool, lenient_i64, lenient_u64,
    ok_with, opt_string, parse_body, req_string,
};
use crate::engine::{Reply, Route, State};
use crate::fault::{Fault, FaultConfig};
use crate::records::*;
use card_transport::{HttpRequest, HttpResponse};
use http::Method;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The header of `POST /sandbox/events/user_get_card`'s answer naming the push queued
/// for the claim (see `GET /sandbox/pushes`).
pub(crate) const PUSH_ID_HEADER: &str = "x-sandbox-push-id";

/// Most cards one `POST /sandbox/cards` creates.
const MAX_CARDS_PER_CALL: usize = 1000;

impl State {
    /// Answers an admin route (its method already checked).
    pub(crate) fn admin(&mut self, route: Route, request: &HttpRequest, rid: u64) -> Reply {
        let method = request.method();
        let answer = match (route, method) {
            (Route::AdminState, _) => Ok(self.admin_state()),
            (Route::AdminCounters, _) => Ok(self.admin_counters()),
            (Route::AdminSends, _) => Ok(self.admin_sends()),
            (Route::AdminCards, &Method::GET) => Ok(self.admin_card_list()),
            (Route::AdminClock, &Method::GET) => Ok(self.admin_now()),
            (Route::AdminFaults, &Method::GET) => Ok(self.admin_faults()),
            (Route::AdminFaults, &Method::DELETE) => {
                self.faults.clear_queue();
                self.faults
                    .reset(FaultConfig::seeded(self.faults.config.seed));
                Ok(self.admin_faults())
            }
            (Route::AdminPushes, _) => Ok(self.admin_pushes()),
            (Route::AdminPushTarget, &Method::GET) => Ok(self.admin_push_target()),
            (Route::AdminPushTarget, &Method::DELETE) => {
                self.pushes.target = None;
                Ok(self.admin_push_target())
            }
            (Route::AdminReset, _) => {
                self.reset();
                Ok(ok_with(Map::new(), "ok"))
            }
            _ => match parse_body(request.body()) {
                Err(e) => Err(e),
                Ok(body) => match route {
                    Route::AdminCards => self.admin_cards(&body),
                    Route::AdminClock => self.admin_clock(&body),
                    Route::AdminFaults => self.admin_set_faults(&body, method == Method::PATCH),
                    Route::AdminPushTarget => self.admin_set_push_target(&body),
                    Route::AdminRedeliver => self.admin_redeliver(&body),
                    _ => match self.admin_user_get_card(&body) {
                        Ok((xml, push)) => {
                            let mut response = HttpResponse::new(xml.into_bytes());
                            let headers = response.headers_mut();
                            headers.insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("text/xml; charset=utf-8"),
                            );
                            if let Some(id) = push {
                                headers.insert(PUSH_ID_HEADER, http::HeaderValue::from(id));
                            }
                            return Reply::Respond(response);
                        }
                        Err(e) => Err(e),
                    },
                },
            },
        };
        match answer {
            Ok(fields) => Reply::Respond(json_response(200, &Value::Object(fields))),
            Err(e) => self.answer(Err(e), rid),
        }
    }

    fn card_json(id: &str, c: &crate::engine::Card) -> Value {
        json!({"card_id": id, "use_custom_code": c.use_custom_code,
               "get_custom_code_mode": c.get_custom_code_mode,
               "quantity": c.quantity, "deposited": c.codes.len()})
    }

    fn sorted_cards(&self) -> Vec<Value> {
        let mut cards: Vec<Value> = self
            .cards
            .iter()
            .map(|(id, c)| Self::card_json(id, c))
            .collect();
        cards.sort_by(|a, b| a["card_id"].as_str().cmp(&b["card_id"].as_str()));
        cards
    }

    fn admin_state(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("now".into(), self.clock.now().into());
        m.insert("cards".into(), self.sorted_cards().into());
        m.insert("qr_tickets".into(), self.qr_tickets.len().into());
        m.insert("landing_pages".into(), self.landing_pages.len().into());
        m.insert("messages".into(), self.messages.len().into());
        m.insert(
            "whitelist".into(),
            json!({"openid": self.whitelist.openid, "username": self.whitelist.username}),
        );
        ok_with(m, "ok")
    }

    fn admin_card_list(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("cards".into(), self.sorted_cards().into());
        ok_with(m, "ok")
    }

    fn admin_now(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("now".into(), self.clock.now().into());
        ok_with(m, "ok")
    }

    fn admin_counters(&self) -> Map<String, Value> {
        let s = &self.stats;
        let f = &s.faults;
        let by_endpoint: Map<String, Value> = self
            .by_endpoint
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let mut m = Map::new();
        m.insert("requests".into(), s.requests.into());
        m.insert("requests_by_endpoint".into(), by_endpoint.into());
        m.insert("api_calls".into(), s.api_calls.into());
        m.insert("errors_answered".into(), s.errors_answered.into());
        m.insert(
            "faults".into(),
            json!({"system_busy": f.system_busy, "rate_limited": f.rate_limited,
                   "token_expired": f.token_expired,
                   "dropped_before_effect": f.dropped_before_effect,
                   "dropped_after_effect": f.dropped_after_effect,
                   "codes_failed": f.codes_failed}),
        );
        m.insert("tokens_issued".into(), s.tokens_issued.into());
        m.insert("deposit_calls".into(), s.deposit_calls.into());
        m.insert("codes_received".into(), s.codes_received.into());
        m.insert("codes_stored".into(), s.codes_stored.into());
        m.insert("codes_duplicate".into(), s.codes_duplicate.into());
        m.insert("codes_failed".into(), s.codes_failed.into());
        m.insert("largest_batch".into(), s.largest_batch.into());
        m.insert("pushes".into(), self.pushes.counts());
        ok_with(m, "ok")
    }

    fn admin_sends(&self) -> Map<String, Value> {
        let sends: Vec<Value> = self.messages.iter().map(send_json).collect();
        let mut m = Map::new();
        m.insert("sends".into(), sends.into());
        ok_with(m, "ok")
    }

    fn admin_faults(&self) -> Map<String, Value> {
        let c = &self.faults.config;
        let mut m = Map::new();
        m.insert(
            "faults".into(),
            json!({
                "seed": c.seed,
                "expire_token_every": c.expire_token_every,
                "system_busy_every": c.system_busy_every,
                "rate_limited_every": c.rate_limited_every,
                "system_busy": c.system_busy,
                "rate_limited": c.rate_limited,
                "drop_before_effect": c.drop_before_effect,
                "drop_after_effect": c.drop_after_effect,
                "code_failure": c.code_failure,
                "latency_ms": c.latency.as_millis() as u64,
                "latency_jitter_ms": c.latency_jitter.as_millis() as u64,
            }),
        );
        m.insert("scripted".into(), self.faults.pending().into());
        m.insert("calls".into(), self.faults.calls().into());
        ok_with(m, "ok")
    }

    /// `POST` replaces the fault configuration (absent fields are off); `PATCH` changes
    /// the given fields only. Either way the call count and the PRNG restart. `script`
    /// appends scripted faults.
    fn admin_set_faults(&mut self, body: &Map<String, Value>, patch: bool) -> Answer {
        let mut c = if patch {
            self.faults.config.clone()
        } else {
            FaultConfig::seeded(self.faults.config.seed)
        };
        let every = |key: &'static str| -> Result<Option<Option<u64>>, ApiError> {
            match body.get(key) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(None)),
                Some(v) => {
                    let n = lenient_u64(v).ok_or_else(|| invalid_args(key))?;
                    Ok(Some((n > 0).then_some(n)))
                }
            }
        };
        let chance = |key: &'static str| -> Result<Option<f64>, ApiError> {
            match field(body, key) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .map(Some)
                    .ok_or_else(|| invalid_args(format!("{key} must be in 0..=1"))),
            }
        };
        let millis = |key: &'static str| -> Result<Option<Duration>, ApiError> {
            field(body, key)
                .map(|v| {
                    lenient_u64(v)
                        .map(Duration::from_millis)
                        .ok_or_else(|| invalid_args(key))
                })
                .transpose()
        };
        if let Some(v) = field(body, "seed") {
            c.seed = lenient_u64(v).ok_or_else(|| invalid_args("seed"))?;
        }
        if let Some(n) = every("expire_token_every")? {
            c.expire_token_every = n;
        }
        if let Some(n) = every("system_busy_every")? {
            c.system_busy_every = n;
        }
        if let Some(n) = every("rate_limited_every")? {
            c.rate_limited_every = n;
        }
        if let Some(p) = chance("system_busy")? {
            c.system_busy = p;
        }
        if let Some(p) = chance("rate_limited")? {
            c.rate_limited = p;
        }
        if let Some(p) = chance("drop_before_effect")? {
            c.drop_before_effect = p;
        }
        if let Some(p) = chance("drop_after_effect")? {
            c.drop_after_effect = p;
        }
        if let Some(p) = chance("code_failure")? {
            c.code_failure = p;
        }
        if let Some(d) = millis("latency_ms")? {
            c.latency = d;
        }
        if let Some(d) = millis("latency_jitter_ms")? {
            c.latency_jitter = d;
        }
        let script = match field(body, "script") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(scripted_fault)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(invalid_args("script must be an array")),
        };
        // Validate everything before changing anything.
        self.faults.reset(c);
        for fault in script {
            self.faults.push(fault);
        }
        Ok(self.admin_faults())
    }

    fn card_spec(body: &Map<String, Value>) -> Result<CardSpec, ApiError> {
        let mut spec = CardSpec::new();
        if let Some(id) = opt_string(body, "card_id")? {
            spec = spec.card_id(id);
        }
        if let Some(v) = field(body, "use_custom_code") {
            spec = spec
                .use_custom_code(lenient_bool(v).ok_or_else(|| invalid_args("use_custom_code"))?);
        }
        if let Some(mode) = opt_string(body, "get_custom_code_mode")? {
            spec = spec.get_custom_code_mode(mode);
        }
        if let Some(v) = field(body, "quantity") {
            spec = spec.quantity(lenient_u64(v).ok_or_else(|| invalid_args("quantity"))?);
        }
        Ok(spec)
    }

    /// One card (`card_id` answered), or several under `"cards": [...]` (`card_ids`
    /// answered; all are checked before any is created).
    fn admin_cards(&mut self, body: &Map<String, Value>) -> Answer {
        let Some(list) = field(body, "cards") else {
            let card_id = self
                .create_card(Self::card_spec(body)?)
                .map_err(invalid_args)?;
            let mut m = Map::new();
            m.insert("card_id".into(), card_id.into());
            return Ok(ok_with(m, "ok"));
        };
        let Some(items) = list.as_array().filter(|l| l.len() <= MAX_CARDS_PER_CALL) else {
            return Err(invalid_args("cards must be an array of at most 1000 cards"));
        };
        let mut specs = Vec::with_capacity(items.len());
        let mut named = std::collections::HashSet::new();
        for item in items {
            let obj = item.as_object().ok_or_else(|| invalid_args("cards"))?;
            let spec = Self::card_spec(obj)?;
            if let Some(id) = &spec.card_id {
                if id.is_empty() || self.cards.contains_key(id) || !named.insert(id.clone()) {
                    return Err(invalid_args(format!("card_id {id:?} is empty or in use")));
                }
            }
            specs.push(spec);
        }
        let mut ids = Vec::with_capacity(specs.len());
        for spec in specs {
            ids.push(Value::String(self.create_card(spec).map_err(invalid_args)?));
        }
        let mut m = Map::new();
        m.insert("card_ids".into(), ids.into());
        Ok(ok_with(m, "ok"))
    }

    fn admin_clock(&mut self, body: &Map<String, Value>) -> Answer {
        if let Some(v) = field(body, "now") {
            let now = lenient_i64(v).ok_or_else(|| invalid_args("now"))?;
            self.clock = Clock::manual(now);
        }
        if let Some(v) = field(body, "advance") {
            let secs = lenient_i64(v).ok_or_else(|| invalid_args("advance"))?;
            self.clock.advance(secs);
        }
        Ok(self.admin_now())
    }

    fn admin_pushes(&self) -> Map<String, Value> {
        let pushes: Vec<Value> = self
            .pushes
            .records()
            .iter()
            .map(crate::push::record_json)
            .collect();
        let mut m = Map::new();
        m.insert("pushes".into(), pushes.into());
        m.insert("counts".into(), self.pushes.counts());
        ok_with(m, "ok")
    }

    fn admin_push_target(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "push_target".into(),
            crate::push::target_json(self.pushes.target.as_ref()),
        );
        ok_with(m, "ok")
    }

    /// `{"url", "token", "mode"?, "aes_key"?, "appid"?, "timeout_ms"?, "attempts"?,
    /// "retry_pause_ms"?}`: the mode is `safe` when `aes_key` is given, else `plain`; the
    /// AppID defaults to the sandbox's. Errors name the field, never its value.
    fn admin_set_push_target(&mut self, body: &Map<String, Value>) -> Answer {
        use card_push::{EncodingAesKey, PushConfig, Token};
        let url = req_string(body, "url")?;
        let token = Token::new(req_string(body, "token")?).map_err(invalid_args)?;
        let key = opt_string(body, "aes_key")?
            .map(|k| EncodingAesKey::new(&k))
            .transpose()
            .map_err(|_| invalid_args("aes_key must be 43 characters of A-Z, a-z and 0-9"))?;
        let appid = opt_string(body, "appid")?.unwrap_or_else(|| self.config.appid.clone());
        let mode = opt_string(body, "mode")?;
        let mode = mode
            .as_deref()
            .unwrap_or(if key.is_some() { "safe" } else { "plain" });
        let config = match (mode, key) {
            ("plain", _) => PushConfig::plain(token),
            ("safe", Some(key)) => PushConfig::safe(token, key, appid).map_err(invalid_args)?,
            ("compatible", Some(key)) => {
                PushConfig::compatible(token, key, appid).map_err(invalid_args)?
            }
            ("safe" | "compatible", None) => {
                return Err(invalid_args(
                    "aes_key is required in safe and compatible mode",
                ));
            }
            _ => return Err(invalid_args("mode must be plain, safe or compatible")),
        };
        let mut target = crate::push::PushTarget::new(&url, config).map_err(invalid_args)?;
        if let Some(v) = field(body, "timeout_ms") {
            let ms = lenient_u64(v).ok_or_else(|| invalid_args("timeout_ms"))?;
            target = target.with_timeout(Duration::from_millis(ms));
        }
        if let Some(v) = field(body, "attempts") {
            let n = lenient_u64(v)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=crate::push::MAX_PUSH_ATTEMPTS).contains(n))
                .ok_or_else(|| invalid_args("attempts must be 1 to 10"))?;
            target = target.with_attempts(n);
        }
        if let Some(v) = field(body, "retry_pause_ms") {
            let ms = lenient_u64(v).ok_or_else(|| invalid_args("retry_pause_ms"))?;
            target = target.with_retry_pause(Duration::from_millis(ms));
        }
        self.pushes.target = Some(target);
        Ok(self.admin_push_target())
    }

    /// `{"id"}`: sends push `id` again, the very same request (as WeChat's retry).
    fn admin_redeliver(&mut self, body: &Map<String, Value>) -> Answer {
        let id = field(body, "id")
            .and_then(lenient_u64)
            .ok_or_else(|| invalid_args("id"))?;
        let job = self
            .pushes
            .redeliver(id)
            .ok_or_else(|| invalid_args(crate::SandboxError::UnknownPush(id)))?;
        self.pushes.enqueue(job);
        let mut m = Map::new();
        m.insert("id".into(), id.into());
        Ok(ok_with(m, "ok"))
    }

    /// The event XML, and the id of the push queued for it (when a target is set).
    fn admin_user_get_card(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<(String, Option<u64>), ApiError> {
        let mut event =
            crate::event::Claim::new(req_string(body, "card_id")?, req_string(body, "code")?);
        if let Some(v) = field(body, "outer_id") {
            event = event.outer_id(lenient_i64(v).ok_or_else(|| invalid_args("outer_id"))?);
        }
        if let Some(openid) = opt_string(body, "openid")? {
            event = event.openid(openid);
        }
        if let Some(s) = opt_string(body, "outer_str")? {
            event = event.outer_str(s);
        }
        let event = self.user_get_card(&event).map_err(invalid_args)?;
        let push = match self.pushes.prepare(&event) {
            None => None,
            Some(Err(e)) => return Err(invalid_args(e)),
            Some(Ok(job)) => {
                let id = job.id;
                self.pushes.enqueue(job);
                Some(id)
            }
        };
        Ok((event.to_xml(), push))
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

/// A scripted fault by name (`"system_busy"`, ...) or `{"latency_ms": N}`.
fn scripted_fault(v: &Value) -> Result<Fault, ApiError> {
    let bad = || {
        invalid_args(
            "script items are system_busy, rate_limited, expire_token, drop_before_effect, \
             drop_after_effect or {\"latency_ms\": N}",
        )
    };
    match v {
        Value::String(s) => match s.as_str() {
            "system_busy" => Ok(Fault::SystemBusy),
            "rate_limited" => Ok(Fault::RateLimited),
            "expire_token" => Ok(Fault::ExpireToken),
            "drop_before_effect" => Ok(Fault::DropBeforeEffect),
            "drop_after_effect" => Ok(Fault::DropAfterEffect),
            _ => Err(bad()),
        },
        Value::Object(o) => field(o, "latency_ms")
            .and_then(lenient_u64)
            .map(|ms| Fault::Latency(Duration::from_millis(ms)))
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A recorded send as JSON.
fn send_json(s: &SentMessage) -> Value {
    let (endpoint, recipients) = match &s.channel {
        Channel::MassByTag {
            is_to_all,
            tag_id,
            clientmsgid,
        } => (
            Route::MassSendAll,
            json!({"is_to_all": is_to_all, "tag_id": tag_id, "clientmsgid": clientmsgid}),
        ),
        Channel::MassByOpenId {
            touser,
            clientmsgid,
        } => (
            Route::MassSend,
            json!({"touser": touser, "clientmsgid": clientmsgid}),
        ),
        Channel::Preview { touser, towxname } => (
            Route::MassPreview,
            json!({"touser": touser, "towxname": towxname}),
        ),
        Channel::Custom { touser, kf_account } => (
            Route::CustomSend,
            json!({"touser": touser, "kf_account": kf_account}),
        ),
    };
    json!({
        "endpoint": endpoint.path(),
        "recipients": recipients,
        "card_id": s.card_id,
        "card_ext": s.card_ext,
        "msg_id": s.msg_id,
        "sent_at": s.sent_at,
        "body": s.body,
    })
}
