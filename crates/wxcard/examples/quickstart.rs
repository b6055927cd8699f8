//! The whole card-distribution flow, end to end.
//!
//! ```text
//! cargo run -p wxcard --features sandbox --example quickstart
//! ```
//!
//! By default it runs against an in-process `wxcard::sandbox::Sandbox` (WeChat's card
//! server emulated in memory): no credentials, no network, a few seconds. It
//!
//! 1. creates a deposit-mode custom-code card (quantity 0, `use_custom_code`,
//!    `GET_CUSTOM_CODE_MODE_DEPOSIT`) and a plain card (sandbox set-up calls),
//! 2. imports 10,000 custom codes with `deposit_all` (progress bar on stderr), then
//!    counts (`getdepositcount`) and checks (`checkcode`) them,
//! 3. sets the stock (in the sandbox; on WeChat use the modify-stock API),
//! 4. creates a one-card and a multi-card QR code and a landing page,
//! 5. gets the article HTML, sets the test whitelist, sends a wxcard preview with a
//!    signed `card_ext`,
//! 6. parses the `user_get_card` event the sandbox generates for a claim,
//!
//! and prints a short summary.
//!
//! ## Against the real API
//!
//! Set `WECHAT_APPID` and `WECHAT_APPSECRET` and the same flow runs against
//! `api.weixin.qq.com`. It then also needs:
//!
//! * `WECHAT_CARD_ID`: an approved custom-code card created in deposit mode with
//!   quantity 0 (cards are created in the MP console or with the card-creation API);
//! * `WECHAT_MULTI_CARD_ID` (optional): a second card for the multi-card QR code
//!   (default: `WECHAT_CARD_ID` alone);
//! * `WECHAT_PREVIEW_OPENID`: the OpenID that gets the whitelist entry and the preview;
//! * `WECHAT_CODE_PREFIX` (optional, default `qs`): the imported codes are
//!   `<prefix>00000000` … (a re-run stores nothing new: its first chunk comes back
//!   as duplicates, and `deposit_all` then checks each chunk before sending it);
//! * `WECHAT_CODES` (optional, default 10000): how many codes to import;
//! * `WECHAT_IMAGE_URL` (optional): an image uploaded with WeChat's image-upload API,
//!   used as the landing page's banner and the card's thumbnail (WeChat may refuse
//!   other URLs).
//!
//! Against WeChat the stock is not changed (use the modify-stock API when the
//! codes check out) and no event is generated: WeChat pushes `user_get_card` to your
//! server's URL when a user claims the card.
//!
//! This example is not run by the tests against the real API.

use std::io::Write;
use std::time::Instant;
use wxcard::bulk::{DepositOptions, Progress};
use wxcard::sandbox::{CardSpec, Claim, DEFAULT_OPENID, Sandbox};
use wxcard::{
    AppSecret, CheckCodes, Client, CreateLandingPage, CreateQrCode, Event, GetArticleHtml,
    GetDepositCount, LandingCard, LandingScene, PreviewCard, QrCard, QrCardItem, RetryPolicy,
    SetTestWhitelist, WxCard, parse_event,
};

/// A placeholder image URL (the sandbox does not fetch it).
const IMAGE_URL: &str = "https://mmbiz.qpic.cn/mmbiz/quickstart/0";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Where the flow runs.
struct Target {
    client: Client,
    /// `Some` for the sandbox.
    sandbox: Option<Sandbox>,
    card_id: String,
    multi_card_id: String,
    openid: String,
    prefix: String,
    image_url: String,
    codes: usize,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn target() -> Res<Target> {
    if let (Some(appid), Some(secret)) = (env("WECHAT_APPID"), env("WECHAT_APPSECRET")) {
        let card_id = env("WECHAT_CARD_ID").ok_or("set WECHAT_CARD_ID (a deposit-mode card)")?;
        let client = Client::builder()
            .app_credentials(appid, AppSecret::new(secret))
            .build()?;
        return Ok(Target {
            client,
            sandbox: None,
            multi_card_id: env("WECHAT_MULTI_CARD_ID").unwrap_or_else(|| card_id.clone()),
            card_id,
            openid: env("WECHAT_PREVIEW_OPENID").ok_or("set WECHAT_PREVIEW_OPENID")?,
            prefix: env("WECHAT_CODE_PREFIX").unwrap_or_else(|| "qs".to_owned()),
            image_url: env("WECHAT_IMAGE_URL").unwrap_or_else(|| IMAGE_URL.to_owned()),
            codes: match env("WECHAT_CODES") {
                Some(n) => n.parse()?,
                None => 10_000,
            },
        });
    }
    let sandbox = Sandbox::new();
    let card_id = sandbox.create_card(CardSpec::deposit_mode())?;
    let multi_card_id = sandbox.create_card(CardSpec::new())?;
    let client = Client::builder()
        .app_credentials(Sandbox::DEFAULT_APPID, sandbox.secret())
        .retry(RetryPolicy::new())
        .transport(sandbox.clone())
        .build()?;
    Ok(Target {
        client,
        sandbox: Some(sandbox),
        card_id,
        multi_card_id,
        openid: DEFAULT_OPENID.to_owned(),
        prefix: "qs".to_owned(),
        image_url: IMAGE_URL.to_owned(),
        codes: 10_000,
    })
}

/// A one-line text progress bar on stderr.
fn progress_bar(p: Progress) {
    let width = 30;
    let line = match p.total {
        Some(total) if total > 0 => {
            let filled = (p.codes_done as usize).min(total) * width / total;
            format!(
                "\r  importing [{}{}] {}/{} codes",
                "#".repeat(filled),
                " ".repeat(width - filled),
                p.codes_done,
                total
            )
        }
        _ => format!("\r  importing {} codes", p.codes_done),
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{line}");
    let _ = err.flush();
}

fn main() -> Res<()> {
    let started = Instant::now();
    let t = target()?;
    let client = &t.client;
    let mode = if t.sandbox.is_some() {
        "in-process sandbox (no credentials)"
    } else {
        "WeChat API"
    };
    eprintln!("wxcard quickstart against the {mode}");

    // 1-2. import the custom codes, then count and check them
    let code = |i: usize| format!("{}{i:08}", t.prefix);
    let import_started = Instant::now();
    let report = client.deposit_all(
        &t.card_id,
        (0..t.codes).map(code),
        &DepositOptions::new(),
        progress_bar,
    )?;
    eprintln!();
    let import_time = import_started.elapsed();
    let count = client
        .get_deposit_count(&GetDepositCount::new(&t.card_id))?
        .count;
    let sample: Vec<String> = [0, t.codes / 2, t.codes.saturating_sub(1)]
        .into_iter()
        .map(code)
        .collect();
    let check = client.check_codes(&CheckCodes::new(&t.card_id, sample))?;

    // 3. the stock: set it once the codes check out
    if let Some(sandbox) = &t.sandbox {
        sandbox.set_quantity(&t.card_id, count)?;
    }

    // 4. QR codes and a landing page
    let first_code = code(0);
    let one = client.create_qr_code(
        &CreateQrCode::card(QrCard::new(&t.card_id).code(&first_code).outer_id(1))
            .expire_seconds(1800),
    )?;
    let multi = client.create_qr_code(&CreateQrCode::multiple(vec![
        QrCardItem::new(&t.card_id),
        QrCardItem::new(&t.multi_card_id),
    ]))?;
    let page = client.create_landing_page(&CreateLandingPage::new(
        &t.image_url,
        "Quickstart coupons",
        LandingScene::Menu,
        vec![LandingCard::new(&t.card_id, &t.image_url)],
    ))?;

    // 5. article HTML, whitelist, preview
    let html = client.get_article_html(&GetArticleHtml::new(&t.card_id))?;
    client.set_test_whitelist(&SetTestWhitelist::new(vec![t.openid.clone()], vec![]))?;
    let ext = client.card_ext(&t.card_id, Some(&code(1)), None)?;
    let preview = client.preview_card(&PreviewCard::to_openid(
        &t.openid,
        WxCard::new(&t.card_id).card_ext(&ext),
    ))?;

    // 6. the event WeChat pushes when the user claims the card
    let claim = match &t.sandbox {
        Some(sandbox) => {
            let xml = sandbox.user_get_card_event(
                &Claim::new(&t.card_id, &first_code)
                    .openid(&t.openid)
                    .outer_id(1),
            )?;
            match parse_event(xml.as_bytes())? {
                Event::UserGetCard(e) => Some(e),
                _ => return Err("the sandbox pushed another event".into()),
            }
        }
        None => None,
    };

    println!(
        "wxcard quickstart: done in {:.2?} against the {mode}",
        started.elapsed()
    );
    println!(
        "  codes      {} read, {} deposited, {} already there, {} failed, {} missing ({} chunks, {:.2?})",
        report.codes_read,
        report.deposited,
        report.already_present,
        report.failed.len(),
        report.verified_missing.len(),
        report.chunks,
        import_time
    );
    println!(
        "  verified   getdepositcount = {count}; checkcode: {} of {} sampled codes found",
        check.existing.len(),
        check.existing.len() + check.missing.len()
    );
    println!("  QR (one)   {}", one.show_qrcode_image_url());
    println!("  QR (multi) {}", multi.show_qrcode_image_url());
    println!("  landing    page {} at {}", page.page_id, page.url);
    println!("  article    {} bytes of HTML", html.content.len());
    println!("  whitelist  {}", t.openid);
    println!(
        "  preview    sent{}",
        preview
            .msg_id
            .map(|id| format!(" (msg_id {id})"))
            .unwrap_or_default()
    );
    match claim {
        Some(e) => println!(
            "  event      user_get_card: {} claimed code {} of {} (outer_id {})",
            e.from_user_name,
            e.user_card_code.as_deref().unwrap_or("-"),
            e.card_id,
            e.outer_id.map_or_else(|| "-".to_owned(), |o| o.to_string())
        ),
        None => println!("  event      WeChat pushes user_get_card to your server on a claim"),
    }
    if t.sandbox.is_some() {
        println!("  stock      set to {count} (on WeChat: the modify-stock API)");
    } else {
        println!("  next       set the stock to {count} with the modify-stock API");
    }
    Ok(())
}
