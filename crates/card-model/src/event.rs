//! Events WeChat pushes to the merchant's server, `user_get_card` first.
