//! Credentials: `/cgi-bin/token`, `/cgi-bin/stable_token` and the card api_ticket (`/cgi-bin/ticket/getticket?type=wx_card`).
