//! Test whitelist: `POST /card/testwhitelist/set`.
