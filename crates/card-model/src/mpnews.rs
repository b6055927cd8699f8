//! Article HTML: `POST /card/mpnews/gethtml`.
