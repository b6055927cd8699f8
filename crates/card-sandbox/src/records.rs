//! What a test sets up in the sandbox and reads back from it.

use serde_json::Value;

/// The `get_custom_code_mode` value of a deposit-mode card.
pub const GET_CUSTOM_CODE_MODE_DEPOSIT: &str = "GET_CUSTOM_CODE_MODE_DEPOSIT";

/// A card to create with [`Sandbox::create_card`](crate::Sandbox::create_card): the
/// `base_info` fields that matter to distribution.
///
/// ```
/// use card_sandbox::{CardSpec, Sandbox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = Sandbox::new();
/// let card_id = sandbox.create_card(CardSpec::deposit_mode())?;
/// let card = sandbox.card(&card_id).ok_or("card missing")?;
/// assert!(card.use_custom_code && card.quantity == 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardSpec {
    pub(crate) card_id: Option<String>,
    pub(crate) use_custom_code: bool,
    pub(crate) get_custom_code_mode: Option<String>,
    pub(crate) quantity: u64,
}

impl CardSpec {
    /// A non-custom-code card with stock 100 and a generated id.
    pub fn new() -> Self {
        Self {
            quantity: 100,
            ..Self::default()
        }
    }

    /// A custom-code card in deposit mode with stock 0, as the deposit workflow creates it.
    pub fn deposit_mode() -> Self {
        Self {
            card_id: None,
            use_custom_code: true,
            get_custom_code_mode: Some(GET_CUSTOM_CODE_MODE_DEPOSIT.to_owned()),
            quantity: 0,
        }
    }

    /// Uses this card id instead of a generated one.
    pub fn card_id(mut self, card_id: impl Into<String>) -> Self {
        self.card_id = Some(card_id.into());
        self
    }

    /// Sets `use_custom_code`.
    pub fn use_custom_code(mut self, yes: bool) -> Self {
        self.use_custom_code = yes;
        self
    }

    /// Sets `get_custom_code_mode` (for example [`GET_CUSTOM_CODE_MODE_DEPOSIT`]).
    pub fn get_custom_code_mode(mut self, mode: impl Into<String>) -> Self {
        self.get_custom_code_mode = Some(mode.into());
        self
    }

    /// Sets the stock (`quantity`).
    pub fn quantity(mut self, quantity: u64) -> Self {
        self.quantity = quantity;
        self
    }
}

/// A card as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CardInfo {
    /// The card id.
    pub card_id: String,
    /// `use_custom_code`.
    pub use_custom_code: bool,
    /// `get_custom_code_mode`.
    pub get_custom_code_mode: Option<String>,
    /// The stock.
    pub quantity: u64,
    /// How many codes are deposited.
    pub deposited: usize,
}

impl CardInfo {
    /// Whether the card may be distributed without naming a code: a non-custom-code card,
    /// or a custom-code card in deposit mode.
    pub fn distributable_without_code(&self) -> bool {
        !self.use_custom_code
            || self.get_custom_code_mode.as_deref() == Some(GET_CUSTOM_CODE_MODE_DEPOSIT)
    }
}

/// One card inside a QR ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QrCard {
    /// `card_id`.
    pub card_id: String,
    /// `code`, if given.
    pub code: Option<String>,
    /// `openid`, if given.
    pub openid: Option<String>,
    /// `is_unique_code`.
    pub is_unique_code: bool,
    /// `outer_id`, if given (read leniently: a number or a string holding one).
    pub outer_id: Option<i64>,
    /// `outer_str`, if given.
    pub outer_str: Option<String>,
}

/// A QR ticket issued by `/card/qrcode/create`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QrTicket {
    /// The ticket.
    pub ticket: String,
    /// `QR_CARD` or `QR_MULTIPLE_CARD`.
    pub action_name: String,
    /// The card (`QR_CARD`) or cards (`QR_MULTIPLE_CARD`).
    pub cards: Vec<QrCard>,
    /// `expire_seconds` as requested (`None`: permanent).
    pub expire_seconds: Option<u32>,
    /// When it was issued (sandbox clock, Unix seconds).
    pub created_at: i64,
    /// The content of the QR image.
    pub url: String,
    /// The page that shows the QR image.
    pub show_qrcode_url: String,
}

/// One card on a landing page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LandingCard {
    /// `card_id`.
    pub card_id: String,
    /// `thumb_url`.
    pub thumb_url: String,
}

/// A landing page made by `/card/landingpage/create`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LandingPage {
    /// `page_id`: 1, 2, 3, ... in creation order.
    pub page_id: u64,
    /// The page link.
    pub url: String,
    /// `banner`.
    pub banner: String,
    /// `page_title`.
    pub page_title: String,
    /// `can_share`.
    pub can_share: bool,
    /// `scene`.
    pub scene: String,
    /// `card_list`.
    pub cards: Vec<LandingCard>,
}

/// How a `wxcard` message was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Channel {
    /// `/cgi-bin/message/mass/sendall`.
    MassByTag {
        /// `filter.is_to_all`.
        is_to_all: bool,
        /// `filter.tag_id` (or the legacy `filter.group_id`).
        tag_id: Option<i64>,
        /// `clientmsgid`, if given.
        clientmsgid: Option<String>,
    },
    /// `/cgi-bin/message/mass/send`.
    MassByOpenId {
        /// `touser`.
        touser: Vec<String>,
        /// `clientmsgid`, if given.
        clientmsgid: Option<String>,
    },
    /// `/cgi-bin/message/mass/preview`.
    Preview {
        /// `touser`.
        touser: Option<String>,
        /// `towxname`.
        towxname: Option<String>,
    },
    /// `/cgi-bin/message/custom/send`.
    Custom {
        /// `touser`.
        touser: String,
        /// `customservice.kf_account`.
        kf_account: Option<String>,
    },
}

/// A `wxcard` message the sandbox accepted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The endpoint and its recipients.
    pub channel: Channel,
    /// `wxcard.card_id`.
    pub card_id: String,
    /// `wxcard.card_ext` (a JSON string), if given.
    pub card_ext: Option<String>,
    /// The `msg_id` answered (none for customer-service messages).
    pub msg_id: Option<u64>,
    /// When it was accepted (sandbox clock).
    pub sent_at: i64,
    /// The request body as received.
    pub body: Value,
}

/// The test whitelist (`/card/testwhitelist/set`), replaced as a whole by each call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Whitelist {
    /// `openid`.
    pub openid: Vec<String>,
    /// `username`.
    pub username: Vec<String>,
}

/// How many faults of each kind the sandbox has injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultCounts {
    /// -1 answers.
    pub system_busy: u64,
    /// 45009 answers.
    pub rate_limited: u64,
    /// Tokens killed with a 42001 answer.
    pub token_expired: u64,
    /// Connections dropped before processing.
    pub dropped_before_effect: u64,
    /// Connections dropped after processing.
    pub dropped_after_effect: u64,
    /// Deposited codes failed on purpose.
    pub codes_failed: u64,
}

/// Counters over the sandbox's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Every request, admin routes and unknown paths included.
    pub requests: u64,
    /// Requests to endpoints that carry an access token.
    pub api_calls: u64,
    /// Answers with a non-zero errcode (injected faults included).
    pub errors_answered: u64,
    /// Access tokens issued (plain and stable).
    pub tokens_issued: u64,
    /// Deposit calls that were applied (answered errcode 0, or dropped after effect).
    pub deposit_calls: u64,
    /// Codes sent in applied deposit calls (stored, duplicate and failed together).
    pub codes_received: u64,
    /// The most codes one applied deposit call carried.
    pub largest_batch: u64,
    /// Codes newly stored by deposit calls.
    pub codes_stored: u64,
    /// Codes sent to deposit that were already stored (the same code twice in one call
    /// counts once here).
    pub codes_duplicate: u64,
    /// Codes a deposit call reported as failed.
    pub codes_failed: u64,
    /// Faults injected.
    pub faults: FaultCounts,
}
