//! # card-model
//!
//! The pure core of wxcard: every request and response of WeChat's card-distribution
//! API ("投放卡券") as Rust types, their validation, WeChat's error codes, the `card_ext`
//! signature and the events WeChat pushes. Nothing here does I/O: the clients in
//! `card-api` execute these descriptions over a transport from `card-transport`.
//!
//! Each endpoint is described once, by a request type implementing [`Endpoint`]:
//! its HTTP method, its path, its response type, whether repeating it is harmless,
//! and how to validate it before anything is sent.
#![deny(missing_docs)]

pub mod card_ext;
pub mod code;
pub mod endpoint;
mod envelope;
pub mod error;
pub mod event;
pub mod landing;
mod lenient;
pub mod limits;
pub mod message;
pub mod mpnews;
mod plain;
pub mod qrcode;
pub mod secret;
pub mod token;
pub mod validate;
pub mod whitelist;

pub use endpoint::{Ack, Auth, Endpoint, HttpMethod, ResponseError, decode_response, encode_body};
pub use error::{ErrCode, WeChatError};
pub use event::{Event, EventError, MAX_EVENT_BYTES, UserGetCard, parse_event};
pub use secret::{AccessToken, ApiTicket, AppSecret};
pub use validate::{Problem, ValidationError};

pub use card_ext::{CardExt, callback_signature, card_signature};
pub use code::{
    CheckCodes, CodeCheck, CodeList, CodeTally, DepositCodes, DepositCount, DepositResult,
    GetDepositCount,
};
pub use landing::{CreateLandingPage, LandingCard, LandingPage, LandingScene};
pub use limits::MAX_CODES_PER_CALL;
pub use message::{
    MassFilter, MassSendByTag, MassSendResult, MassSendToOpenIds, PreviewCard, PreviewRecipient,
    PreviewResult, SendCustomerServiceCard, WxCard,
};
pub use mpnews::{ArticleHtml, GetArticleHtml};
pub use qrcode::{CreateQrCode, QrCard, QrCardItem, QrCodeTicket};
pub use whitelist::SetTestWhitelist;
