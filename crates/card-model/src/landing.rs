//! The card shelf (landing page): `POST /card/landingpage/create`.
