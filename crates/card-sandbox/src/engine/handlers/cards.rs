//! Cards: QR codes, landing pages and the card HTML of an article.

use crate::engine::json::{
    Answer, ApiError, err, field, lenient_bool, lenient_i64, ok_with, opt_object, opt_string,
    req_string,
};
use crate::engine::{Card, State};
use crate::records::*;
use card_model::ErrCode;
use serde_json::{Map, Value};

impl State {
    /// The card named by `card_id` in `obj`.
    pub(crate) fn card_in(&self, obj: &Map<String, Value>) -> Result<(String, &Card), ApiError> {
        let id = match field(obj, "card_id") {
            None => return Err(err(ErrCode::MissingCardId, "missing card_id")),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(err(ErrCode::MissingCardId, "missing card_id"));
            }
            Some(Value::String(s)) => s,
            Some(_) => return Err(err(ErrCode::InvalidCardId, "invalid card_id")),
        };
        let card = self
            .cards
            .get(id)
            .ok_or_else(|| err(ErrCode::InvalidCardId, "invalid card_id"))?;
        Ok((id.clone(), card))
    }

    /// Like [`card_in`](Self::card_in), for channels that hand out cards without a code.
    pub(crate) fn distributable_card_in(
        &self,
        obj: &Map<String, Value>,
    ) -> Result<(String, &Card), ApiError> {
        let (id, card) = self.card_in(obj)?;
        if !card.distributable_without_code() {
            return Err(err(
                ErrCode::InvalidCardType,
                "invalid card type: a custom-code card must be in deposit mode for this channel",
            ));
        }
        Ok((id, card))
    }

    pub(crate) fn qr_card(&self, obj: &Map<String, Value>) -> Result<QrCard, ApiError> {
        let (card_id, card) = self.card_in(obj)?;
        let code = opt_string(obj, "code")?.filter(|c| !c.is_empty());
        match &code {
            None if card.use_custom_code && !card.deposit_mode() => {
                return Err(err(
                    ErrCode::MissingField,
                    "missing code: required for custom-code cards",
                ));
            }
            Some(c) if card.deposit_mode() && !card.codes.contains(c) => {
                return Err(err(ErrCode::InvalidCode, "invalid code: not deposited"));
            }
            _ => {}
        }
        let is_unique_code = match field(obj, "is_unique_code") {
            None => false,
            Some(v) => lenient_bool(v)
                .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: is_unique_code"))?,
        };
        if is_unique_code && card.quantity == 0 {
            return Err(err(ErrCode::OutOfStock, "stock is 0"));
        }
        let outer_id = match field(obj, "outer_id") {
            None => None,
            Some(v) => Some(
                lenient_i64(v)
                    .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: outer_id"))?,
            ),
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

    pub(crate) fn qrcode_create(&mut self, body: &Map<String, Value>) -> Answer {
        let bad_action = || {
            err(
                ErrCode::InvalidActionInfo,
                "invalid action_info, please check",
            )
        };
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
            _ => return Err(err(ErrCode::InvalidActionInfo, "invalid action_name")),
        };
        // Top level (documented), or inside `card` as WeChat's outer_id example has it.
        let expire = field(body, "expire_seconds")
            .or_else(|| inner.and_then(|c| field(c, "expire_seconds")));
        let expire_seconds = match expire {
            None => None,
            Some(v) => match lenient_i64(v) {
                Some(s @ 60..=1800) => Some(s as u32),
                _ => {
                    return Err(err(
                        ErrCode::InvalidArgs,
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

    pub(crate) fn landingpage_create(&mut self, body: &Map<String, Value>) -> Answer {
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
            None => {
                return Err(err(
                    ErrCode::MissingField,
                    "data format error: missing can_share",
                ));
            }
            Some(v) => lenient_bool(v)
                .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: can_share"))?,
        };
        let scene = req_string(body, "scene")?;
        if !SCENES.contains(&scene.as_str()) {
            return Err(err(ErrCode::InvalidArgs, "invalid args: scene"));
        }
        let list = match field(body, "card_list") {
            None => {
                return Err(err(
                    ErrCode::MissingField,
                    "data format error: missing card_list",
                ));
            }
            Some(Value::Array(l)) if !l.is_empty() => l,
            Some(_) => return Err(err(ErrCode::InvalidArgs, "invalid args: card_list")),
        };
        let mut cards = Vec::with_capacity(list.len());
        for item in list {
            let obj = item
                .as_object()
                .ok_or_else(|| err(ErrCode::InvalidArgs, "invalid args: card_list"))?;
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

    pub(crate) fn gethtml(&mut self, body: &Map<String, Value>) -> Answer {
        let (card_id, _) = self.distributable_card_in(body)?;
        let content = format!(
            "<iframe class=\"res_iframe card_iframe js_editor_card\" data-src=\"http://mp.weixin.qq.com/bizmall/appmsgcard?action=show&amp;biz=U2FuZGJveA%3D%3D&amp;cardid={card_id}&amp;wechat_card_js=1#wechat_redirect\" allowfullscreen=\"\" frameborder=\"0\"></iframe>"
        );
        let mut m = Map::new();
        m.insert("content".into(), content.into());
        Ok(ok_with(m, "ok"))
    }
}
