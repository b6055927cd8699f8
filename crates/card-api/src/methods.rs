//! The one table of named endpoint methods. Each client expands it with its own
//! one-line method template, so no endpoint is written twice; any other endpoint goes
//! through the clients' generic `call`.

/// Expands `$template! { docs name(Request) -> Response }` once per endpoint, inside a
/// client's `impl` block.
macro_rules! endpoint_methods {
    ($template:ident) => {
        $template! {
            /// Creates a card QR code (`POST /card/qrcode/create`). Not
            /// repeated after a failure where WeChat may have acted.
            create_qr_code(card_model::qrcode::CreateQrCode) -> card_model::qrcode::QrCodeTicket
        }
        $template! {
            /// Creates a card shelf (`POST /card/landingpage/create`). Not
            /// repeated after a failure where WeChat may have acted.
            create_landing_page(card_model::landing::CreateLandingPage) -> card_model::landing::LandingPage
        }
        $template! {
            /// Deposits up to 100 custom codes (`POST /card/code/deposit`).
            /// Repeatable: WeChat filters duplicates.
            deposit_codes(card_model::code::DepositCodes) -> card_model::code::DepositResult
        }
        $template! {
            /// Counts a card's deposited codes (`POST /card/code/getdepositcount`).
            get_deposit_count(card_model::code::GetDepositCount) -> card_model::code::DepositCount
        }
        $template! {
            /// Checks up to 100 codes (`POST /card/code/checkcode`).
            check_codes(card_model::code::CheckCodes) -> card_model::code::CodeCheck
        }
        $template! {
            /// Gets the HTML that embeds a card in an mpnews article
            /// (`POST /card/mpnews/gethtml`).
            get_article_html(card_model::mpnews::GetArticleHtml) -> card_model::mpnews::ArticleHtml
        }
        $template! {
            /// Sets the test whitelist (`POST /card/testwhitelist/set`).
            set_test_whitelist(card_model::whitelist::SetTestWhitelist) -> card_model::Ack
        }
        $template! {
            /// Sends a card to a tag or to all followers (`POST
            /// /cgi-bin/message/mass/sendall`). Never repeated where WeChat may
            /// have acted, unless it carries a `clientmsgid`
            /// ([`MassSendByTag::clientmsgid`](card_model::message::MassSendByTag::clientmsgid)).
            mass_send_by_tag(card_model::message::MassSendByTag) -> card_model::message::MassSendResult
        }
        $template! {
            /// Sends a card to 2..=10000 OpenIDs (`POST /cgi-bin/message/mass/send`). Never repeated where WeChat may have acted, unless it carries
            /// a `clientmsgid`
            /// ([`MassSendToOpenIds::clientmsgid`](card_model::message::MassSendToOpenIds::clientmsgid)).
            mass_send_to_openids(card_model::message::MassSendToOpenIds) -> card_model::message::MassSendResult
        }
        $template! {
            /// Previews a card message to one user (`POST /cgi-bin/message/mass/preview`). Not repeated where WeChat may have acted.
            preview_card(card_model::message::PreviewCard) -> card_model::message::PreviewResult
        }
        $template! {
            /// Sends a card as a customer-service message (`POST
            /// /cgi-bin/message/custom/send`). Not repeated where WeChat may
            /// have acted.
            send_customer_service_card(card_model::message::SendCustomerServiceCard) -> card_model::Ack
        }
        $template! {
            /// Gets a fresh card api_ticket (`GET /cgi-bin/ticket/getticket?type=wx_card`), bypassing the cache. Prefer `api_ticket()`, which caches it:
            /// the quota of this endpoint is small.
            get_card_api_ticket(card_model::token::GetCardApiTicket) -> card_model::token::ApiTicketResponse
        }
    };
}

pub(crate) use endpoint_methods;
