//! Codes: deposit, count, check; and the test whitelist.

use crate::engine::State;
use crate::engine::json::{Answer, ApiError, code_of, err, field, ok_with};
use crate::records::Whitelist;
use card_model::ErrCode;
use serde_json::{Map, Value};

/// Most codes per deposit or checkcode call.
const MAX_CODES_PER_CALL: usize = 100;
/// Most entries in the test whitelist.
const MAX_WHITELIST: usize = 10;

impl State {
    /// The `code` array of a deposit or checkcode body: present, 1..=100 items.
    pub(crate) fn code_list(body: &Map<String, Value>) -> Result<&Vec<Value>, ApiError> {
        let codes = match field(body, "code") {
            None => {
                return Err(err(
                    ErrCode::MissingField,
                    "data format error: missing code",
                ));
            }
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(err(
                    ErrCode::InvalidArgs,
                    "invalid args: code must be an array",
                ));
            }
        };
        if codes.is_empty() {
            return Err(err(
                ErrCode::MissingField,
                "data format error: empty code list",
            ));
        }
        if codes.len() > MAX_CODES_PER_CALL {
            return Err(err(
                ErrCode::TooManyCodes,
                "code count exceeds the limit of 100",
            ));
        }
        Ok(codes)
    }

    pub(crate) fn deposit(&mut self, body: Map<String, Value>) -> Answer {
        let (card_id, card) = self.card_in(&body)?;
        if !card.use_custom_code {
            return Err(err(
                ErrCode::InvalidCardType,
                "invalid card type: only custom-code cards take deposits",
            ));
        }
        let codes = Self::code_list(&body)?;
        // Check every code before storing any, so a rejected call has no effect.
        let mut checked = Vec::with_capacity(codes.len());
        for c in codes {
            checked.push(
                code_of(c).ok_or_else(|| {
                    err(ErrCode::InvalidCode, "invalid code: empty or not a string")
                })?,
            );
        }
        let max_len = self.config.max_code_len;
        let (mut succ, mut dup, mut fail) = (0u64, 0u64, 0u64);
        let faults = &mut self.faults;
        let Some(card) = self.cards.get_mut(&card_id) else {
            return Err(err(ErrCode::InvalidCardId, "invalid card_id"));
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
        let batch = checked.len() as u64;
        self.stats.codes_received += batch;
        self.stats.largest_batch = self.stats.largest_batch.max(batch);
        self.stats.codes_stored += succ;
        self.stats.codes_duplicate += dup;
        self.stats.codes_failed += fail;
        let mut m = Map::new();
        m.insert("succ_code".into(), succ.into());
        m.insert("duplicate_code".into(), dup.into());
        m.insert("fail_code".into(), fail.into());
        Ok(ok_with(m, "ok"))
    }

    pub(crate) fn getdepositcount(&mut self, body: &Map<String, Value>) -> Answer {
        let (_, card) = self.card_in(body)?;
        let mut m = Map::new();
        m.insert("count".into(), card.codes.len().into());
        Ok(ok_with(m, "ok"))
    }

    pub(crate) fn checkcode(&mut self, body: &Map<String, Value>) -> Answer {
        let (_, card) = self.card_in(body)?;
        let codes = Self::code_list(body)?;
        let (mut exist, mut missing) = (Vec::new(), Vec::new());
        for c in codes {
            let code = code_of(c)
                .ok_or_else(|| err(ErrCode::InvalidCode, "invalid code: empty or not a string"))?;
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

    pub(crate) fn testwhitelist(&mut self, body: &Map<String, Value>) -> Answer {
        let list = |key: &'static str| -> Result<Vec<String>, ApiError> {
            match field(body, key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) if !s.is_empty() => Ok(s.clone()),
                        _ => Err(err(ErrCode::InvalidArgs, format!("invalid args: {key}"))),
                    })
                    .collect(),
                Some(_) => Err(err(
                    ErrCode::InvalidArgs,
                    format!("invalid args: {key} must be an array"),
                )),
            }
        };
        let openid = list("openid")?;
        let username = list("username")?;
        if openid.len() + username.len() > MAX_WHITELIST {
            return Err(err(
                ErrCode::InvalidArgs,
                "invalid args: at most 10 openid and username in total",
            ));
        }
        self.whitelist = Whitelist { openid, username };
        Ok(ok_with(Map::new(), "ok"))
    }
}
