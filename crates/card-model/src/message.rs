//! `wxcard` messages: mass send by tag, by OpenID list, preview, customer-service message.
