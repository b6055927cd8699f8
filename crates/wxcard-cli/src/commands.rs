//! The thin commands: count, check, qrcode, landing, html, whitelist, preview.

use crate::cli::{
    CheckArgs, CountArgs, LandingCreateArgs, PreviewArgs, QrcodeArgs, WhitelistSetArgs,
};
use crate::error::{CliError, exit};
use crate::input::{CodeFile, LineOptions};
use crate::output::Output;
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use wxcard::Client;
use wxcard::CreateLandingPage;
use wxcard::Endpoint;
use wxcard::GetArticleHtml;
use wxcard::SetTestWhitelist;
use wxcard::model::limits::MAX_CODES_PER_CALL;
use wxcard::{CheckCodes, GetDepositCount};
use wxcard::{CreateQrCode, QrCard, QrCardItem, QrCodeTicket};
use wxcard::{PreviewCard, WxCard};

/// Validates a request before anything is sent: a clear input error naming the field.
fn validated<E: Endpoint>(request: E) -> Result<E, CliError> {
    request
        .validate()
        .map_err(|e| CliError::Input(format!("invalid request: {e}")))?;
    Ok(request)
}

/// `wxcard count`.
pub fn count(client: &Client, args: &CountArgs, out: &Output) -> Result<i32, CliError> {
    let request = validated(GetDepositCount::new(&args.card_id))?;
    let count = client
        .get_deposit_count(&request)
        .map_err(|e| CliError::api("getdepositcount", e))?;
    out.print(
        &json!({"card_id": args.card_id, "deposit_count": count.count}),
        || {
            format!(
                "card {} holds {} deposited codes\n",
                args.card_id, count.count
            )
        },
    );
    Ok(exit::OK)
}

/// A code of the file that the card does not hold.
#[derive(Debug, Serialize)]
struct NotStored {
    line: u64,
    code: String,
}

/// The report of `wxcard check`.
#[derive(Debug, Serialize)]
struct CheckReport {
    card_id: String,
    input: String,
    codes_checked: u64,
    stored: u64,
    not_stored: Vec<NotStored>,
    complete: bool,
}

/// `wxcard check`: checkcode over a file, streamed 100 codes per call.
pub fn check(client: &Client, args: &CheckArgs, out: &Output) -> Result<i32, CliError> {
    validated(GetDepositCount::new(&args.card_id))
        .map_err(|e| CliError::Input(format!("--card-id: {e}")))?;
    let file = CodeFile::open(&args.file)?;
    let options = LineOptions {
        header: args.header,
        skip_blank: args.skip_blank,
    };
    // The first pass refuses a bad line before anything is sent and gives the total.
    let total = crate::input::scan(&file, options)?.codes;
    let progress = crate::progress::Progress::new("check", total, out.quiet);
    let mut lines = file.lines(options)?;
    let mut report = CheckReport {
        card_id: args.card_id.clone(),
        input: file.name().to_owned(),
        codes_checked: 0,
        stored: 0,
        not_stored: Vec::new(),
        complete: false,
    };
    let mut chunk = Vec::with_capacity(MAX_CODES_PER_CALL);
    let mut flush = |chunk: &mut Vec<crate::input::Code>| -> Result<(), CliError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let codes = chunk.iter().map(|c| c.code.clone()).collect();
        let answer = client
            .check_codes(&CheckCodes::new(&args.card_id, codes))
            .map_err(|e| {
                CliError::api(
                    format!("checkcode of the codes from line {}", chunk[0].line),
                    e,
                )
            })?;
        let n = chunk.len() as u64;
        let exist: std::collections::HashSet<&str> =
            answer.existing.iter().map(AsRef::as_ref).collect();
        for c in chunk.drain(..) {
            report.codes_checked += 1;
            if exist.contains(c.code.as_str()) {
                report.stored += 1;
            } else {
                report.not_stored.push(NotStored {
                    line: c.line,
                    code: c.code,
                });
            }
        }
        progress.inc(n);
        Ok(())
    };
    while let Some(code) = lines.next_code()? {
        chunk.push(code);
        if chunk.len() == MAX_CODES_PER_CALL {
            flush(&mut chunk)?;
        }
    }
    flush(&mut chunk)?;
    progress.finish();
    report.complete = report.not_stored.is_empty();
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    out.print(&report, || {
        let mut s = format!(
            "check of card {}: {} codes from {}\n  stored      {:>9}\n  not stored  {:>9}\n",
            report.card_id,
            report.codes_checked,
            report.input,
            report.stored,
            report.not_stored.len()
        );
        for n in report.not_stored.iter().take(10) {
            s.push_str(&format!("      line {}: {:?}\n", n.line, n.code));
        }
        if report.not_stored.len() > 10 {
            s.push_str(&format!(
                "      ... and {} more (see --report FILE)\n",
                report.not_stored.len() - 10
            ));
        }
        s.push_str(if report.complete {
            "complete: every code is stored\n"
        } else {
            "INCOMPLETE: some codes are not stored\n"
        });
        s
    });
    Ok(if report.complete {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Local(format!("encoding the report: {e}")))?;
    std::fs::write(path, text + "\n").map_err(|e| CliError::io("writing the report", path, e))
}

/// The request of `wxcard qrcode`.
pub fn qrcode_request(args: &QrcodeArgs) -> Result<CreateQrCode, CliError> {
    let request = if let [card_id] = args.card_ids.as_slice() {
        if args.codes.len() > 1 {
            return Err(CliError::Usage(
                "one --card-id takes at most one --code".to_owned(),
            ));
        }
        let mut card = QrCard::new(card_id).is_unique_code(args.unique);
        if let Some(code) = args.codes.first() {
            card = card.code(code);
        }
        if let Some(openid) = &args.openid {
            card = card.openid(openid);
        }
        if let Some(outer_id) = args.outer_id {
            card = card.outer_id(outer_id);
        }
        if let Some(outer_str) = &args.outer_str {
            card = card.outer_str(outer_str);
        }
        CreateQrCode::card(card)
    } else {
        if !args.codes.is_empty() && args.codes.len() != args.card_ids.len() {
            return Err(CliError::Usage(format!(
                "a multi-card QR code takes one --code per --card-id or none ({} cards, {} codes)",
                args.card_ids.len(),
                args.codes.len()
            )));
        }
        if args.openid.is_some() || args.unique || args.outer_id.is_some() {
            return Err(CliError::Usage(
                "--openid, --unique and --outer-id apply to a single-card QR code only".to_owned(),
            ));
        }
        let items = args
            .card_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut item = QrCardItem::new(id);
                if let Some(code) = args.codes.get(i) {
                    item = item.code(code);
                }
                if let Some(outer_str) = &args.outer_str {
                    item = item.outer_str(outer_str);
                }
                item
            })
            .collect();
        CreateQrCode::multiple(items)
    };
    let request = match args.expire {
        Some(secs) => request.expire_seconds(secs),
        None => request,
    };
    validated(request)
}

/// What `wxcard qrcode` prints.
pub fn qrcode_json(ticket: &QrCodeTicket) -> serde_json::Value {
    json!({
        "ticket": ticket.ticket,
        "url": ticket.url,
        "show_qrcode_url": ticket.show_qrcode_image_url(),
        "expire_seconds": ticket.expire_seconds,
    })
}

/// The human form of a QR ticket.
pub fn render_qrcode(ticket: &QrCodeTicket) -> String {
    let expiry = match ticket.expire_seconds {
        Some(s) => format!("{s} s"),
        None => "long-lived".to_owned(),
    };
    format!(
        "ticket           {}\nurl              {}\nshow_qrcode_url  {}\nexpires          {expiry}\n",
        ticket.ticket,
        ticket.url,
        ticket.show_qrcode_image_url()
    )
}

/// The most a request file (a landing-page spec) may hold: far more than any valid one.
const MAX_ARG_FILE: u64 = 1024 * 1024;

fn read_arg_file(path: &Path) -> Result<String, CliError> {
    if path == Path::new("-") {
        return crate::target::read_capped(std::io::stdin(), MAX_ARG_FILE)
            .map_err(|e| CliError::io("reading", Path::new("standard input"), e));
    }
    std::fs::File::open(path)
        .and_then(|file| crate::target::read_capped(file, MAX_ARG_FILE))
        .map_err(|e| CliError::io("reading", path, e))
}

/// Parses and validates a landing page spec.
pub fn landing_request(args: &LandingCreateArgs) -> Result<CreateLandingPage, CliError> {
    let text = read_arg_file(&args.spec)?;
    let request: CreateLandingPage = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "{}: not a landing page spec: {e}",
            args.spec.display()
        ))
    })?;
    validated(request).map_err(|e| CliError::Input(format!("{}: {e}", args.spec.display())))
}

/// `wxcard landing create`.
pub fn landing_create(
    client: &Client,
    request: &CreateLandingPage,
    out: &Output,
) -> Result<i32, CliError> {
    let page = client
        .create_landing_page(request)
        .map_err(|e| CliError::api("landingpage/create", e))?;
    out.print(&json!({"url": page.url, "page_id": page.page_id}), || {
        format!("page_id  {}\nurl      {}\n", page.page_id, page.url)
    });
    Ok(exit::OK)
}

/// `wxcard html`.
pub fn html(client: &Client, card_id: &str, out: &Output) -> Result<i32, CliError> {
    let request = validated(GetArticleHtml::new(card_id))?;
    let html = client
        .get_article_html(&request)
        .map_err(|e| CliError::api("mpnews/gethtml", e))?;
    out.print(
        &json!({"card_id": card_id, "content": html.content}),
        || format!("{}\n", html.content),
    );
    Ok(exit::OK)
}

/// `wxcard whitelist set`.
pub fn whitelist_set(
    client: &Client,
    args: &WhitelistSetArgs,
    out: &Output,
) -> Result<i32, CliError> {
    let request = validated(SetTestWhitelist::new(
        args.openid.clone(),
        args.username.clone(),
    ))?;
    client
        .set_test_whitelist(&request)
        .map_err(|e| CliError::api("testwhitelist/set", e))?;
    out.print(
        &json!({"openid": args.openid, "username": args.username}),
        || {
            format!(
                "test whitelist set: {} OpenIDs, {} WeChat IDs\n",
                args.openid.len(),
                args.username.len()
            )
        },
    );
    Ok(exit::OK)
}

/// `wxcard preview`.
pub fn preview(client: &Client, args: &PreviewArgs, out: &Output) -> Result<i32, CliError> {
    let card = WxCard::new(&args.card_id);
    let request = match (&args.openid, &args.wxname) {
        (Some(openid), _) => PreviewCard::to_openid(openid, card),
        (None, Some(name)) => PreviewCard::to_wxname(name, card),
        (None, None) => {
            return Err(CliError::Usage("give --openid or --wxname".to_owned()));
        }
    };
    let request = validated(request)?;
    let answer = client
        .preview_card(&request)
        .map_err(|e| CliError::api("mass/preview", e))?;
    out.print(
        &json!({"card_id": args.card_id, "msg_id": answer.msg_id}),
        || match answer.msg_id {
            Some(id) => format!("preview sent (msg_id {id})\n"),
            None => "preview sent\n".to_owned(),
        },
    );
    Ok(exit::OK)
}
