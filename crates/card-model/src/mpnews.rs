//! Article HTML: `POST /card/mpnews/gethtml` returns an HTML snippet that
//! embeds a card in an mpnews article (put it in the article material's `content`).
//!
//! ```
//! use card_model::{Endpoint, mpnews::GetArticleHtml};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let req = GetArticleHtml::new("p1Pj9jr90_SQRaVqYI239Ka1erkI");
//! req.validate()?;
//! let html = card_model::decode_response::<GetArticleHtml>(
//!     br#"{"errcode":0,"errmsg":"ok","content":"<iframe class=\"card\"></iframe>"}"#,
//! )?;
//! assert!(html.content.starts_with("<iframe"));
//! # Ok(())
//! # }
//! ```

use crate::{Endpoint, HttpMethod, ValidationError};
use serde::{Deserialize, Serialize};

/// `POST /card/mpnews/gethtml`: the HTML snippet for a card. Only
/// non-custom-code cards, or custom-code cards after deposit, are supported.
///
/// Validation: `card_id` 1..=32 characters. Required: it names the card to embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetArticleHtml {
    /// The card (`card_id`).
    pub card_id: String,
}

impl GetArticleHtml {
    /// The HTML query for `card_id`.
    pub fn new(card_id: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
        }
    }
}

impl Endpoint for GetArticleHtml {
    type Response = ArticleHtml;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/mpnews/gethtml";
    const REPEATABLE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        crate::validate::card_id("card_id", &self.card_id)
    }
}

/// The answer of [`GetArticleHtml`]: an opaque HTML snippet, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArticleHtml {
    /// The snippet (`content`).
    pub content: String,
}

impl ArticleHtml {
    /// A response value (for tests and the sandbox).
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
        }
    }
}
