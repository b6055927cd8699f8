//! A QR code that puts a card into the scanning user's wallet, with the blocking
//! client, against the in-process sandbox (no credentials, no network):
//!
//! ```text
//! cargo run -p wxcard --features sandbox --example qr_code
//! ```
//!
//! Against WeChat, drop the sandbox and its `.transport(..)`, and pass your AppID and
//! AppSecret to `app_credentials`.

use wxcard::sandbox::{CardSpec, Sandbox};
use wxcard::{Client, CreateQrCode, QrCard};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WeChat's card server, in memory, with one approved card.
    let sandbox = Sandbox::new();
    let card_id = sandbox.create_card(CardSpec::new())?;

    let client = Client::builder()
        .app_credentials(Sandbox::DEFAULT_APPID, sandbox.secret())
        .transport(sandbox.clone())
        .build()?;

    // A QR code for this card, valid for 30 minutes; `outer_str` comes back in the
    // claim event, for channel statistics.
    let request =
        CreateQrCode::card(QrCard::new(&card_id).outer_str("spring-poster")).expire_seconds(1800);
    let qr = client.create_qr_code(&request)?;

    println!("QR code for card {card_id}");
    println!("  image  {}", qr.show_qrcode_image_url());
    println!("  scan   {}", qr.url);
    if let Some(seconds) = qr.expire_seconds {
        println!("  valid  {seconds} s");
    }
    assert_eq!(
        sandbox.qr_tickets().len(),
        1,
        "the sandbox recorded the QR code"
    );
    Ok(())
}
