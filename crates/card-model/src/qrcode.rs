//! QR codes: `POST /card/qrcode/create` (QR_CARD and QR_MULTIPLE_CARD) and the showqrcode image URL.
