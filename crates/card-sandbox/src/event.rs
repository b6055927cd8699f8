//! The `user_get_card` event generator: the XML push WeChat sends to the merchant's server
//! when a user claims a card.

/// A `user_get_card` claim to render as WeChat's XML push, with
/// [`Sandbox::user_get_card_event`](crate::Sandbox::user_get_card_event).
///
/// Defaults: the user `oSandboxUser000000000000000`, `OuterId` 0, no `OuterStr`, not a gift
/// (`IsGiveByFriend` 0, empty `FriendUserName` and `OldUserCardCode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGetCard {
    pub(crate) card_id: String,
    pub(crate) code: String,
    pub(crate) openid: String,
    pub(crate) outer_id: i64,
    pub(crate) outer_str: Option<String>,
    pub(crate) union_id: Option<String>,
}

/// The OpenID events carry when none is given.
pub const DEFAULT_OPENID: &str = "oSandboxUser000000000000000";

impl UserGetCard {
    /// A claim of `card_id` with the code `code`.
    pub fn new(card_id: impl Into<String>, code: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
            code: code.into(),
            openid: DEFAULT_OPENID.to_owned(),
            outer_id: 0,
            outer_str: None,
            union_id: None,
        }
    }

    /// The claiming user's OpenID (`FromUserName`).
    pub fn openid(mut self, openid: impl Into<String>) -> Self {
        self.openid = openid.into();
        self
    }

    /// The channel number set at issuance (`OuterId`).
    pub fn outer_id(mut self, outer_id: i64) -> Self {
        self.outer_id = outer_id;
        self
    }

    /// The channel string set at issuance (`OuterStr`).
    pub fn outer_str(mut self, outer_str: impl Into<String>) -> Self {
        self.outer_str = Some(outer_str.into());
        self
    }

    /// The user's UnionID (`UnionId`), present when the account is bound to an Open
    /// Platform account.
    pub fn union_id(mut self, union_id: impl Into<String>) -> Self {
        self.union_id = Some(union_id.into());
        self
    }

    /// The XML push, addressed to `to_user` (the account's `gh_...` id) at `create_time`.
    pub(crate) fn to_xml(&self, to_user: &str, create_time: i64) -> String {
        let mut x = String::with_capacity(640);
        x.push_str("<xml>\n");
        cdata(&mut x, "ToUserName", to_user);
        cdata(&mut x, "FromUserName", &self.openid);
        plain(&mut x, "CreateTime", create_time);
        cdata(&mut x, "MsgType", "event");
        cdata(&mut x, "Event", "user_get_card");
        cdata(&mut x, "CardId", &self.card_id);
        plain(&mut x, "IsGiveByFriend", 0);
        cdata(&mut x, "UserCardCode", &self.code);
        cdata(&mut x, "FriendUserName", "");
        plain(&mut x, "OuterId", self.outer_id);
        cdata(&mut x, "OldUserCardCode", "");
        if let Some(s) = &self.outer_str {
            cdata(&mut x, "OuterStr", s);
        }
        plain(&mut x, "IsRestoreMemberCard", 0);
        plain(&mut x, "IsRecommendByFriend", 0);
        if let Some(u) = &self.union_id {
            cdata(&mut x, "UnionId", u);
        }
        x.push_str("</xml>");
        x
    }
}

/// `<Name><![CDATA[value]]></Name>`; a `]]>` inside the value is split across two sections.
fn cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></");
    out.push_str(name);
    out.push_str(">\n");
}

fn plain(out: &mut String, name: &str, value: i64) {
    out.push_str(&format!("<{name}>{value}</{name}>\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_field() {
        let xml = UserGetCard::new("pCard", "123]]>x")
            .openid("oUser")
            .outer_id(7)
            .outer_str("12b")
            .union_id("uX")
            .to_xml("gh_abc", 1_700_000_000);
        for part in [
            "<ToUserName><![CDATA[gh_abc]]></ToUserName>",
            "<FromUserName><![CDATA[oUser]]></FromUserName>",
            "<CreateTime>1700000000</CreateTime>",
            "<MsgType><![CDATA[event]]></MsgType>",
            "<Event><![CDATA[user_get_card]]></Event>",
            "<CardId><![CDATA[pCard]]></CardId>",
            "<IsGiveByFriend>0</IsGiveByFriend>",
            "<UserCardCode><![CDATA[123]]]]><![CDATA[>x]]></UserCardCode>",
            "<OuterId>7</OuterId>",
            "<OuterStr><![CDATA[12b]]></OuterStr>",
            "<UnionId><![CDATA[uX]]></UnionId>",
        ] {
            assert!(xml.contains(part), "{part} missing from {xml}");
        }
        assert!(xml.starts_with("<xml>") && xml.ends_with("</xml>"));
    }
}
