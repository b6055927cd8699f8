//! The `user_get_card` event generator: the XML push WeChat sends to the merchant's server
//! when a user claims a card. The XML itself is written by
//! [`card_model::event::UserGetCard::to_xml`], so the sandbox and the parser agree.

use card_model::event::UserGetCard;

/// A claim of a card by a user, to render with
/// [`Sandbox::user_get_card_event`](crate::Sandbox::user_get_card_event).
///
/// Defaults: the user [`DEFAULT_OPENID`], `OuterId` 0, no `OuterStr`, not a gift
/// (`IsGiveByFriend` 0, empty `FriendUserName` and `OldUserCardCode`), as in WeChat's
/// sample push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub(crate) card_id: String,
    pub(crate) code: String,
    pub(crate) openid: String,
    pub(crate) outer_id: i64,
    pub(crate) outer_str: Option<String>,
    pub(crate) union_id: Option<String>,
}

/// The OpenID a claim carries when none is given.
pub const DEFAULT_OPENID: &str = "oSandboxUser000000000000000";

impl Claim {
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

    /// The event WeChat would push, addressed to `to_user` (the account's `gh_...` id) at
    /// `create_time`.
    pub(crate) fn to_event(&self, to_user: &str, create_time: i64) -> UserGetCard {
        let mut event = UserGetCard::new(to_user, &self.openid, create_time, &self.card_id);
        event.is_give_by_friend = Some(false);
        event.friend_user_name = Some(String::new());
        event.user_card_code = Some(self.code.clone());
        event.old_user_card_code = Some(String::new());
        event.outer_id = Some(self.outer_id);
        event.outer_str = self.outer_str.clone();
        event.is_restore_member_card = Some(false);
        event.is_recommend_by_friend = Some(false);
        event.union_id = self.union_id.clone();
        event
    }
}
