//! `wxcard demo`: the whole flow against a local sandbox server, with no account.

use crate::cli::DemoArgs;
use crate::deposit::{self, Job};
use crate::error::{CliError, exit};
use crate::input::{CodeFile, LineOptions};
use crate::output::Output;
use crate::target::{Target, build_client};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use wxcard::sandbox::{CardSpec, Sandbox};
use wxcard::{CreateLandingPage, LandingCard, LandingScene};
use wxcard::{CreateQrCode, QrCard};

/// Runs the demo.
pub fn demo(args: &DemoArgs, out: &Output) -> Result<i32, CliError> {
    let started = Instant::now();
    if args.codes == 0 {
        return Err(CliError::Usage("--codes must be at least 1".to_owned()));
    }
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(|e| {
                CliError::io(
                    "creating a temporary directory in",
                    &std::env::temp_dir(),
                    e,
                )
            })?;
            temp.path().to_owned()
        }
    };
    let say = |line: String| {
        if !out.json {
            println!("{line}");
        }
    };

    // 1. The codes, as a printer would deliver them.
    let path = dir.join("codes.txt");
    write_codes(&path, args.codes)?;
    say(format!(
        "1. wrote {} codes to {}",
        args.codes,
        path.display()
    ));

    // 2. The sandbox, over HTTP on a loopback port.
    let sandbox = Sandbox::new();
    let card_id = sandbox
        .create_card(CardSpec::deposit_mode())
        .map_err(|e| CliError::Local(e.to_string()))?;
    let server = wxcard::sandbox::serve(sandbox.clone(), ("127.0.0.1", 0))
        .map_err(|e| CliError::io("listening on", Path::new("127.0.0.1:0"), e))?;
    say(format!(
        "2. card sandbox on {} with deposit-mode card {card_id}",
        server.base_url()
    ));
    let target = Target::Http {
        base_url: server.base_url(),
        appid: sandbox.appid(),
        secret: sandbox.secret(),
    };
    let client = build_client(&target, None)?;

    // 3. The import: checked, deposited, verified, journaled.
    say("3. importing (the same code path as `wxcard deposit`)".to_owned());
    let file = CodeFile::open(&path)?;
    let job = Job {
        card_id: &card_id,
        file: &file,
        lines: LineOptions::default(),
        journal: Some(dir.join("codes.txt.wxcard-journal")),
        concurrency: deposit::DEFAULT_CONCURRENCY,
    };
    let report = deposit::run(&client, &target, &job, "deposit", out.quiet)?;
    crate::commands::write_json(&dir.join("report.json"), &report)?;
    if !out.json {
        print!("{}", deposit::render(&report));
    }

    // 4. A QR code and a landing page for the card.
    let ticket = client
        .create_qr_code(&CreateQrCode::card(QrCard::new(&card_id)).expire_seconds(1800))
        .map_err(|e| CliError::api("qrcode/create", e))?;
    say(format!(
        "4. QR code\n{}",
        crate::commands::render_qrcode(&ticket)
    ));
    let page = client
        .create_landing_page(&CreateLandingPage::new(
            "https://example.com/banner.png",
            "Demo campaign",
            LandingScene::parse("SCENE_QRCODE"),
            vec![LandingCard::new(&card_id, "https://example.com/thumb.png")],
        ))
        .map_err(|e| CliError::api("landingpage/create", e))?;
    say(format!(
        "5. landing page {} (page_id {})",
        page.url, page.page_id
    ));
    let stored = sandbox.deposited_count(&card_id).unwrap_or(0) as u64;
    say(format!(
        "done in {:.1} s: the sandbox holds {stored} codes for {card_id}; report in {}",
        started.elapsed().as_secs_f64(),
        if args.dir.is_some() {
            dir.join("report.json").display().to_string()
        } else {
            "a temporary directory (pass --dir DIR to keep it)".to_owned()
        }
    ));
    if out.json {
        out.print(
            &json!({"deposit": report, "qrcode": crate::commands::qrcode_json(&ticket),
                    "landing_page": {"url": page.url, "page_id": page.page_id},
                    "sandbox_deposited": stored}),
            String::new,
        );
    }
    Ok(if report.complete && stored == report.unique_codes {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn write_codes(path: &Path, n: u64) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::io("creating", path, e))?;
    let mut w = std::io::BufWriter::new(file);
    for i in 0..n {
        // Distinct (an affine map modulo 10^12 with a multiplier prime to 10 is a
        // bijection), 14 characters, not in order (a printer's codes rarely are).
        let code = (u128::from(i) * 7_919_000_003 + 12_345) % 1_000_000_000_000;
        writeln!(w, "WX{code:012}").map_err(|e| CliError::io("writing", path, e))?;
    }
    w.flush().map_err(|e| CliError::io("writing", path, e))
}
