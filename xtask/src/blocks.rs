//! What each of the page's 24 `<pre>` blocks is (spec Appendix B), and the semantic
//! defects (spec defect lists) that are recorded as notes instead of being repaired.
//!
//! The table is the honest way to name fixtures: the page does not say which endpoint an
//! example belongs to in a machine-readable way. Generation cross-checks the table against
//! the page (kind of content, request-line URL path) and fails when they disagree.

/// What a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An `http请求方式: POST` + URL line: not a payload.
    RequestLine,
    /// A JSON request body.
    Request,
    /// A JSON response body.
    Response,
    /// A callback event (XML).
    Event,
}

impl Role {
    /// Name used in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::RequestLine => "request_line",
            Role::Request => "request",
            Role::Response => "response",
            Role::Event => "event",
        }
    }
}

/// The table entry for one block.
#[derive(Debug)]
pub struct BlockSpec {
    /// Role of the block.
    pub role: Role,
    /// The endpoint path (or event name) the block belongs to.
    pub endpoint: &'static str,
    /// Fixture file name under `tests/fixtures/` (`None` for skipped blocks).
    pub fixture: Option<&'static str>,
    /// Semantic defects recorded in the manifest, not repaired.
    pub notes: &'static [&'static str],
}

const fn line(endpoint: &'static str) -> BlockSpec {
    BlockSpec {
        role: Role::RequestLine,
        endpoint,
        fixture: None,
        notes: &[],
    }
}

const fn payload(
    role: Role,
    endpoint: &'static str,
    fixture: &'static str,
    notes: &'static [&'static str],
) -> BlockSpec {
    BlockSpec {
        role,
        endpoint,
        fixture: Some(fixture),
        notes,
    }
}

const QR: &str = "/card/qrcode/create";
const LANDING: &str = "/card/landingpage/create";
const DEPOSIT: &str = "/card/code/deposit";
const COUNT: &str = "/card/code/getdepositcount";
const CHECK: &str = "/card/code/checkcode";
const MPNEWS: &str = "/card/mpnews/gethtml";
const WHITELIST: &str = "/card/testwhitelist/set";
const CARDID_NAME: &str =
    "The seed's field table calls `card_id` `cardid`; the example's name is the wire name.";

/// The 24 blocks, by index (spec Appendix B).
pub const BLOCKS: [BlockSpec; 24] = [
    line(QR),
    payload(
        Role::Request,
        QR,
        "qrcode_create.card.request.json",
        &[
            "Sets `code`, `openid` and `is_unique_code` together; how an explicit code interacts with \
           `is_unique_code` (which assigns a random code) is undocumented (spec §4.1).",
        ],
    ),
    payload(
        Role::Request,
        QR,
        "qrcode_create.multiple.request.json",
        &[
            "No field table covers `multiple_card`/`card_list`; the two `card_id`s are placeholders \
           that differ only in their last two characters.",
        ],
    ),
    payload(
        Role::Response,
        QR,
        "qrcode_create.response.json",
        &[
            "The ticket inside `show_qrcode_url` (gQH98…) differs from the `ticket` field (gQHB8…): the \
             example mixes two QR codes. Kept as documented.",
            "`expire_seconds` is in the example but missing from the response field table.",
        ],
    ),
    line(LANDING),
    payload(
        Role::Request,
        LANDING,
        "landingpage_create.request.json",
        &[
            "Field names differ from the seed's table (`page_title`/`title`, `card_list`/`cardlist`, \
              `card_id`/`cardid`); the example's names are the wire names (spec §4.3).",
            "`thumb_url` values have no URL scheme (`www.qq.com/a.jpg`); kept as documented.",
        ],
    ),
    payload(
        Role::Response,
        LANDING,
        "landingpage_create.response.json",
        &["`url` is a placeholder without a scheme (`www.test.url`); kept as documented."],
    ),
    line(DEPOSIT),
    payload(
        Role::Request,
        DEPOSIT,
        "code_deposit.request.json",
        &[
            CARDID_NAME,
            "The parameter table lists a stray `buffer` (file data stream) row; the body is JSON.",
        ],
    ),
    payload(
        Role::Response,
        DEPOSIT,
        "code_deposit.response.json",
        &[
            "Omits `succ_code`, `duplicate_code` and `fail_code`, which the response table lists (types undocumented).",
        ],
    ),
    line(COUNT),
    payload(
        Role::Request,
        COUNT,
        "code_getdepositcount.request.json",
        &[CARDID_NAME],
    ),
    payload(
        Role::Response,
        COUNT,
        "code_getdepositcount.response.json",
        &[],
    ),
    line(CHECK),
    payload(
        Role::Request,
        CHECK,
        "code_checkcode.request.json",
        &[CARDID_NAME],
    ),
    payload(Role::Response, CHECK, "code_checkcode.response.json", &[]),
    line(MPNEWS),
    payload(
        Role::Request,
        MPNEWS,
        "mpnews_gethtml.request.json",
        &[
            "The seed's field table calls `card_id` `cardid` and marks it optional; it is logically required.",
        ],
    ),
    payload(
        Role::Response,
        MPNEWS,
        "mpnews_gethtml.response.json",
        &[
            "The HTML in `content` is mangled (`<iframeclass=`, attributes run together, `http: \\/\\/`, no \
              closing tag); kept as documented: `content` is an opaque string.",
            "The `cardid` inside `content` has 27 characters (every other card ID has 28) and differs \
              from the requested `card_id`.",
        ],
    ),
    payload(
        Role::Request,
        QR,
        "qrcode_create.outer_id.request.json",
        &[
            "`expire_seconds` sits inside `action_info.card` instead of at top level (seed-pre:1 and later \
           docs put it at top level). Not moved: placement is a semantic defect, not syntax, so as \
           written the example is not the documented request shape; tests/fixtures.rs checks what the \
           SDK does with it (accepts it and sends `expire_seconds` at top level).",
        ],
    ),
    payload(
        Role::Event,
        "user_get_card",
        "event.user_get_card.xml",
        &[
            "Well-formed XML, kept byte for byte (first child on the `<xml>` line, trailing spaces). The \
           seed has no field table for the event; `OuterId` echoes the QR code's `outer_id`.",
        ],
    ),
    line(WHITELIST),
    payload(
        Role::Request,
        WHITELIST,
        "testwhitelist_set.request.json",
        &[
            "The OpenIDs are placeholders of 27 and 24 characters, longer than the table's string(20).",
            "The table types `openid` and `username` as scalar strings; the wire values are arrays.",
        ],
    ),
    payload(
        Role::Response,
        WHITELIST,
        "testwhitelist_set.response.json",
        &[],
    ),
];
