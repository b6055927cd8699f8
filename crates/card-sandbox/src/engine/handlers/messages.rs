//! `wxcard` messages: mass sends, preview and customer-service sends.

use crate::engine::json::{
    Answer, ApiError, err, field, lenient_bool, lenient_i64, ok_with, opt_object, opt_string,
};
use crate::engine::{Route, State};
use crate::records::*;
use card_model::card_ext::CardExt;
use card_model::{ApiTicket, ErrCode};
use serde_json::{Map, Value};

impl State {
    pub(crate) fn send_message(&mut self, route: Route, body: Map<String, Value>) -> Answer {
        match field(&body, "msgtype") {
            None => {
                return Err(err(
                    ErrCode::MissingField,
                    "data format error: missing msgtype",
                ));
            }
            Some(Value::String(s)) if s == "wxcard" => {}
            Some(_) => {
                return Err(err(
                    ErrCode::InvalidMessageType,
                    "invalid message type: the sandbox takes wxcard messages only",
                ));
            }
        }
        let wxcard = opt_object(&body, "wxcard")
            .map_err(|()| err(ErrCode::InvalidArgs, "invalid args: wxcard"))?
            .ok_or_else(|| err(ErrCode::MissingField, "data format error: missing wxcard"))?;
        let (card_id, _) = self.distributable_card_in(wxcard)?;
        let card_ext = match field(wxcard, "card_ext") {
            None => None,
            Some(Value::String(s)) => {
                let Ok(ext) = serde_json::from_str::<CardExt>(s) else {
                    return Err(err(ErrCode::InvalidCardExt, "invalid card_ext"));
                };
                // Signed with the card api_ticket that is valid now, as WeChat checks.
                let signed = self
                    .current_ticket()
                    .is_some_and(|t| ext.verify(&card_id, &ApiTicket::new(t)));
                if !signed {
                    return Err(err(
                        ErrCode::InvalidCardExt,
                        "invalid card_ext: bad signature",
                    ));
                }
                Some(s.clone())
            }
            Some(_) => {
                return Err(err(
                    ErrCode::InvalidCardExt,
                    "invalid card_ext: must be a JSON string",
                ));
            }
        };
        let clientmsgid = opt_string(&body, "clientmsgid")?.filter(|s| !s.is_empty());
        let openid = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(err(ErrCode::InvalidOpenId, "invalid openid")),
        };
        let (channel, errmsg) = match route {
            Route::MassSendAll => {
                let filter = opt_object(&body, "filter")
                    .map_err(|()| err(ErrCode::InvalidArgs, "invalid args: filter"))?
                    .ok_or_else(|| {
                        err(ErrCode::MissingField, "data format error: missing filter")
                    })?;
                let is_to_all = field(filter, "is_to_all")
                    .map(|v| {
                        lenient_bool(v)
                            .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: is_to_all"))
                    })
                    .transpose()?
                    .unwrap_or(false);
                let tag = field(filter, "tag_id").or_else(|| field(filter, "group_id"));
                let tag_id = tag
                    .map(|v| {
                        lenient_i64(v)
                            .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: tag_id"))
                    })
                    .transpose()?;
                if !is_to_all && tag_id.is_none() {
                    return Err(err(
                        ErrCode::MissingField,
                        "data format error: missing tag_id",
                    ));
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
                    None => {
                        return Err(err(
                            ErrCode::MissingField,
                            "data format error: missing touser",
                        ));
                    }
                    Some(_) => {
                        return Err(err(
                            ErrCode::InvalidArgs,
                            "invalid args: touser must be an array",
                        ));
                    }
                };
                if !(2..=10_000).contains(&touser.len()) {
                    return Err(err(
                        ErrCode::InvalidOpenIdListSize,
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
                        ErrCode::MissingField,
                        "data format error: missing touser or towxname",
                    ));
                }
                (Channel::Preview { touser, towxname }, "preview success")
            }
            _ => {
                let touser = match field(&body, "touser") {
                    None => {
                        return Err(err(
                            ErrCode::MissingField,
                            "data format error: missing touser",
                        ));
                    }
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
                    code: ErrCode::ClientMsgIdExists,
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
}
