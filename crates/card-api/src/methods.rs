//! The one table of named endpoint methods. Each client expands it with its own
//! one-line method template, so no endpoint is written twice.

/// Expands `$template! { docs name(Request) -> Response }` once per endpoint, inside a
/// client's `impl` block.
macro_rules! endpoint_methods {
    ($template:ident) => {
        $template! {
            /// Gets a fresh card api_ticket (`GET /cgi-bin/ticket/getticket?type=wx_card`,
            /// spec §3.2), bypassing the cache. Prefer `api_ticket()`, which caches it:
            /// the quota of this endpoint is small.
            get_card_api_ticket(card_model::token::GetCardApiTicket) -> card_model::token::ApiTicketResponse
        }
    };
}

pub(crate) use endpoint_methods;
