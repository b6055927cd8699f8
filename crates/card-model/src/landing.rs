//! The card shelf: `POST /card/landingpage/create` makes a WeChat-hosted
//! page that lists cards, and returns its link.
//!
//! ```
//! use card_model::Endpoint;
//! use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let page = CreateLandingPage::new(
//!     "http://mmbiz.qpic.cn/mmbiz/banner",
//!     "惠城优惠大派送",
//!     LandingScene::NearBy,
//!     vec![LandingCard::new("pXch-jnOlGtbuWwIO2NDftZeynRE", "http://www.qq.com/a.jpg")],
//! );
//! page.validate()?;
//! let body = String::from_utf8(card_model::encode_body(&page)?.unwrap_or_default())?;
//! assert!(body.contains(r#""scene":"SCENE_NEAR_BY""#) && body.contains("惠城"));
//! let created = card_model::decode_response::<CreateLandingPage>(
//!     br#"{"errcode":0,"errmsg":"ok","url":"www.test.url","page_id":1}"#,
//! )?;
//! assert_eq!(created.page_id, 1);
//! # Ok(())
//! # }
//! ```

use crate::validate::{count, non_empty};
use crate::{Endpoint, HttpMethod, Problem, ValidationError};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Where the shelf is shown (`scene`): the seven documented scenes, and any other value
/// kept as it came, so a scene WeChat adds later neither fails to parse nor is lost.
///
/// Equality and hashing compare the wire value, so `Other("SCENE_MENU".into())` equals
/// [`LandingScene::Menu`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LandingScene {
    /// `SCENE_NEAR_BY`: nearby.
    NearBy,
    /// `SCENE_MENU`: custom menu.
    Menu,
    /// `SCENE_QRCODE`: QR code.
    QrCode,
    /// `SCENE_ARTICLE`: Official Account article.
    Article,
    /// `SCENE_H5`: H5 page.
    H5,
    /// `SCENE_IVR`: auto-reply.
    Ivr,
    /// `SCENE_CARD_CUSTOM_CELL`: card custom cell.
    CardCustomCell,
    /// A value this version does not name, kept verbatim. Build scenes with
    /// [`LandingScene::parse`], which never puts a documented value here.
    Other(String),
}

impl LandingScene {
    /// The seven documented scenes.
    pub const ALL: [LandingScene; 7] = [
        Self::NearBy,
        Self::Menu,
        Self::QrCode,
        Self::Article,
        Self::H5,
        Self::Ivr,
        Self::CardCustomCell,
    ];

    /// The wire value, for example `"SCENE_NEAR_BY"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NearBy => "SCENE_NEAR_BY",
            Self::Menu => "SCENE_MENU",
            Self::QrCode => "SCENE_QRCODE",
            Self::Article => "SCENE_ARTICLE",
            Self::H5 => "SCENE_H5",
            Self::Ivr => "SCENE_IVR",
            Self::CardCustomCell => "SCENE_CARD_CUSTOM_CELL",
            Self::Other(other) => other,
        }
    }

    fn known(value: &str) -> Option<Self> {
        Some(match value {
            "SCENE_NEAR_BY" => Self::NearBy,
            "SCENE_MENU" => Self::Menu,
            "SCENE_QRCODE" => Self::QrCode,
            "SCENE_ARTICLE" => Self::Article,
            "SCENE_H5" => Self::H5,
            "SCENE_IVR" => Self::Ivr,
            "SCENE_CARD_CUSTOM_CELL" => Self::CardCustomCell,
            _ => return None,
        })
    }

    /// The scene for a wire value: a documented one, or [`LandingScene::Other`].
    pub fn parse(value: &str) -> Self {
        Self::known(value).unwrap_or_else(|| Self::Other(value.to_owned()))
    }
}

impl PartialEq for LandingScene {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for LandingScene {}

impl std::hash::Hash for LandingScene {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for LandingScene {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LandingScene {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

struct SceneVisitor;

impl Visitor<'_> for SceneVisitor {
    type Value = LandingScene;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scene string such as SCENE_NEAR_BY")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<LandingScene, E> {
        Ok(LandingScene::parse(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<LandingScene, E> {
        Ok(LandingScene::known(&v).unwrap_or(LandingScene::Other(v)))
    }
}

impl<'de> Deserialize<'de> for LandingScene {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(SceneVisitor)
    }
}

/// One card on the shelf (`card_list[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LandingCard {
    /// The card (`card_id`).
    pub card_id: String,
    /// Its thumbnail URL (`thumb_url`).
    pub thumb_url: String,
}

impl LandingCard {
    /// A shelf entry.
    pub fn new(card_id: impl Into<String>, thumb_url: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
            thumb_url: thumb_url.into(),
        }
    }
}

/// `POST /card/landingpage/create`: creates a card shelf. Only
/// non-custom-code cards, or custom-code cards after deposit, may be listed.
///
/// Not repeatable: each call creates another page.
///
/// Validation: `banner` and `page_title` non-empty; `card_list` holds at least one
/// card; each `card_id` 1..=32 characters and each `thumb_url` non-empty. `banner` and
/// `thumb_url` are URLs and may not contain white space. WeChat documents no maximum
/// for `page_title` or `card_list`; none is imposed here, since a guessed cap could
/// refuse a request WeChat accepts, and WeChat reports a real excess itself (45021).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateLandingPage {
    /// Banner image URL (`banner`), ideally 640×300, uploaded through WeChat's
    /// image-upload API.
    pub banner: String,
    /// Page title (`page_title`).
    pub page_title: String,
    /// Whether the page may be shared (`can_share`).
    pub can_share: bool,
    /// Where the page is shown (`scene`).
    pub scene: LandingScene,
    /// The cards (`card_list`).
    pub card_list: Vec<LandingCard>,
}

impl CreateLandingPage {
    /// A shareable shelf; use [`CreateLandingPage::can_share`] to forbid sharing.
    pub fn new(
        banner: impl Into<String>,
        page_title: impl Into<String>,
        scene: LandingScene,
        card_list: Vec<LandingCard>,
    ) -> Self {
        Self {
            banner: banner.into(),
            page_title: page_title.into(),
            can_share: true,
            scene,
            card_list,
        }
    }

    /// Sets `can_share`.
    #[must_use]
    pub fn can_share(mut self, can_share: bool) -> Self {
        self.can_share = can_share;
        self
    }
}

fn url(field: &str, value: &str) -> Result<(), ValidationError> {
    non_empty(field, value)?;
    if value.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(
            field,
            Problem::Invalid("a URL must not contain white space"),
        ));
    }
    Ok(())
}

impl Endpoint for CreateLandingPage {
    type Response = LandingPage;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/landingpage/create";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        url("banner", &self.banner)?;
        non_empty("page_title", &self.page_title)?;
        if let LandingScene::Other(other) = &self.scene {
            non_empty("scene", other)?;
        }
        count("card_list", self.card_list.len(), 1, usize::MAX)?;
        for (i, card) in self.card_list.iter().enumerate() {
            crate::validate::card_id("", &card.card_id)
                .map_err(|e| ValidationError::new(format!("card_list[{i}].card_id"), e.problem))?;
            url("", &card.thumb_url).map_err(|e| {
                ValidationError::new(format!("card_list[{i}].thumb_url"), e.problem)
            })?;
        }
        Ok(())
    }
}

/// The answer of [`CreateLandingPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LandingPage {
    /// The shelf's link (`url`).
    pub url: String,
    /// The shelf's unique ID (`page_id`); a numeric string is accepted.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub page_id: u64,
}

impl LandingPage {
    /// A response value (for tests and the sandbox).
    pub fn new(url: impl Into<String>, page_id: u64) -> Self {
        Self {
            url: url.into(),
            page_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_round_trip_and_keep_unknown() {
        for scene in LandingScene::ALL {
            let json = serde_json::to_string(&scene).unwrap();
            assert_eq!(serde_json::from_str::<LandingScene>(&json).unwrap(), scene);
            assert_eq!(LandingScene::parse(scene.as_str()), scene);
        }
        let s: LandingScene = serde_json::from_str(r#""SCENE_NEW""#).unwrap();
        assert_eq!(s, LandingScene::Other("SCENE_NEW".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""SCENE_NEW""#);
        // an escaped string arrives owned, and still maps to the named scene
        let s: LandingScene = serde_json::from_str(r#""SCENE_\u004dENU""#).unwrap();
        assert_eq!(s, LandingScene::Menu);
        assert!(serde_json::from_str::<LandingScene>("1").is_err());
        assert_eq!(LandingScene::Other("SCENE_MENU".into()), LandingScene::Menu);
        assert_ne!(LandingScene::Other("SCENE_X".into()), LandingScene::Menu);
    }
}
