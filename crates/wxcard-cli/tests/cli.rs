//! Every subcommand's success and error output, against the card sandbox served over
//! HTTP on 127.0.0.1 (the server `wxcard sandbox serve` runs, here in the test process
//! so that the test can read the sandbox's records).

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use std::path::{Path, PathBuf};
use wxcard::AppSecret;
use wxcard::sandbox::{CardSpec, Sandbox, ServerHandle};

const SECRET: &str = "cli-test-secret-7f3a9b1c5d";

struct Server {
    sandbox: Sandbox,
    handle: ServerHandle,
}

fn server() -> Server {
    server_with(Sandbox::builder().secret(AppSecret::new(SECRET)).build())
}

fn server_with(sandbox: Sandbox) -> Server {
    let handle = wxcard::sandbox::serve(sandbox.clone(), ("127.0.0.1", 0)).expect("serve");
    Server { sandbox, handle }
}

impl Server {
    fn deposit_card(&self, id: &str) -> String {
        self.sandbox
            .create_card(CardSpec::deposit_mode().card_id(id))
            .expect("card")
    }

    /// `wxcard` pointed at this server with the credentials in the environment.
    fn wxcard(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxcard"));
        plain_terminal(&mut cmd)
            .env_remove("WXCARD_BASE_URL")
            .env_remove("WXCARD_REDIS_URL")
            .env("WECHAT_APPID", self.sandbox.appid())
            .env("WECHAT_APPSECRET", SECRET)
            .arg("--base-url")
            .arg(self.handle.base_url());
        cmd
    }
}

/// No colours and no terminal width from the environment: help and messages as plain
/// text, whatever shell runs the tests.
fn plain_terminal(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
}

/// `wxcard` with no target (help, usage errors, --sandbox).
fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxcard"));
    plain_terminal(&mut cmd)
        .env_remove("WXCARD_BASE_URL")
        .env_remove("WXCARD_REDIS_URL")
        .env_remove("WECHAT_APPID")
        .env_remove("WECHAT_APPSECRET")
        .env_remove("CARD_SANDBOX_SECRET")
        .env_remove("CARD_SANDBOX_PUSH_TOKEN")
        .env_remove("CARD_SANDBOX_PUSH_AES_KEY");
    cmd
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn codes(n: usize) -> String {
    (0..n).map(|i| format!("CODE{i:08}\n")).collect()
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("JSON on stdout")
}

// --- deposit -------------------------------------------------------------------------

#[test]
fn deposit_imports_verifies_reports_and_a_rerun_sends_nothing() {
    let s = server();
    let card = s.deposit_card("pCLIdeposit01");
    let dir = tempfile::tempdir().unwrap();
    // a header, 2,500 codes, a blank line, a repeat of line 2
    let text = format!("code\n{}\nCODE00000000\n", codes(2500));
    let file = write(dir.path(), "codes.txt", text);
    let report = dir.path().join("report.json");
    s.wxcard()
        .args([
            "deposit",
            "--card-id",
            &card,
            "--header",
            "--skip-blank",
            "--report",
        ])
        .arg(&report)
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("deposited            2500"))
        .stdout(contains("line 2503: \"CODE00000000\" repeats line 2"))
        .stdout(contains("complete: every code in the file is stored"))
        .stderr(contains("deposit: 2500/2500 codes"));
    assert_eq!(s.sandbox.deposited_count(&card), Some(2500));
    let r = json(&std::fs::read(&report).unwrap());
    assert_eq!(r["codes_in_file"], 2501);
    assert_eq!(r["unique_codes"], 2500);
    assert_eq!(r["deposited"], 2500);
    assert_eq!(r["repeated"][0]["line"], 2503);
    assert_eq!(r["blank_lines_skipped"], 1);
    assert_eq!(r["deposit_count"], 2500);
    assert_eq!(r["complete"], true);
    assert!(dir.path().join("codes.txt.wxcard-journal").exists());

    // Again: the journal proves every batch; nothing is checked or deposited.
    let before = s.sandbox.stats();
    let out = s
        .wxcard()
        .args([
            "--json",
            "deposit",
            "--card-id",
            &card,
            "--header",
            "--skip-blank",
        ])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = json(&out);
    assert_eq!(r["resumed_batches"], 3);
    assert_eq!(r["deposited"], 2500);
    let after = s.sandbox.stats();
    assert_eq!(after.deposit_calls, before.deposit_calls);
    // one getdepositcount; no checkcode
    assert_eq!(after.api_calls - before.api_calls, 1);
    assert_eq!(after.codes_duplicate, 0);
}

#[test]
fn deposit_from_standard_input() {
    let s = server();
    let card = s.deposit_card("pCLIstdin");
    s.wxcard()
        .args(["deposit", "--card-id", &card, "-"])
        .write_stdin(codes(150))
        .assert()
        .success()
        .stdout(contains("150 codes from standard input"));
    assert_eq!(s.sandbox.deposited_count(&card), Some(150));
}

#[test]
fn bad_input_names_the_line_and_sends_nothing() {
    let s = server();
    let card = s.deposit_card("pCLIbadinput");
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "long.txt",
            b"A1\nB2\n123456789012345678901\n",
            "line 3: the code \"123456789012345678901\" has 21 characters; a code has at most 20",
        ),
        ("empty.txt", b"", "holds no code"),
        ("header-only.txt", b"code\n", "holds no code"),
        ("utf8.txt", b"A1\nB\xff2\n", "line 2: not valid UTF-8"),
        (
            "blank.txt",
            b"A1\n\nB2\n",
            "line 2: blank line (pass --skip-blank to skip blank lines)",
        ),
    ];
    for (name, content, message) in cases {
        let file = write(dir.path(), name, content);
        let mut cmd = s.wxcard();
        cmd.args(["deposit", "--card-id", &card]);
        if name == "header-only.txt" {
            cmd.arg("--header");
        }
        cmd.arg(&file)
            .assert()
            .code(3)
            .stdout("")
            .stderr(contains(message))
            .stderr(contains("wxcard: error: "));
    }
    assert_eq!(s.sandbox.stats().requests, 0, "nothing may be sent");
    // an invalid card id is refused before anything is sent too
    let file = write(dir.path(), "ok.txt", "A1\n");
    s.wxcard()
        .args(["deposit", "--card-id", "has space", "--no-journal"])
        .arg(&file)
        .assert()
        .code(3)
        .stderr(contains("--card-id"));
    assert_eq!(s.sandbox.stats().requests, 0);
}

#[test]
fn rejected_codes_are_reported_with_reasons_and_exit_1() {
    // The sandbox stores codes of at most 8 bytes; longer ones come back in fail_code.
    let s = server_with(
        Sandbox::builder()
            .secret(AppSecret::new(SECRET))
            .max_code_len(8)
            .build(),
    );
    let card = s.deposit_card("pCLIreject");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "codes.txt", "SHORT1\nMUCHTOOLONG1\nSHORT2\n");
    let report = dir.path().join("r.json");
    s.wxcard()
        .args(["deposit", "--card-id", &card, "--report"])
        .arg(&report)
        .arg(&file)
        .assert()
        .code(1)
        .stdout(contains("rejected                1"))
        .stdout(contains(
            "line 2: \"MUCHTOOLONG1\": WeChat reported it failed",
        ))
        .stdout(contains("INCOMPLETE"));
    let r = json(&std::fs::read(&report).unwrap());
    assert_eq!(r["rejected"][0]["line"], 2);
    assert_eq!(r["complete"], false);
    assert_eq!(s.sandbox.deposited_count(&card), Some(2));
    // A rerun tries the rejected code again (it is not proven stored), not the others.
    let before = s.sandbox.stats();
    s.wxcard()
        .args(["deposit", "--card-id", &card])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(contains("resumed: 1 batches"));
    let after = s.sandbox.stats();
    assert!(after.deposit_calls > before.deposit_calls);
    assert_eq!(after.codes_duplicate, 0);
}

#[test]
fn transient_faults_are_retried_and_the_import_completes() {
    // -1 answers, connections dropped before processing, tokens killed with 42001.
    let faults = wxcard::sandbox::FaultConfig::seeded(7)
        .system_busy(wxcard::sandbox::FaultConfig::one_in(15))
        .drop_before_effect(wxcard::sandbox::FaultConfig::one_in(10))
        .expire_token_every(37);
    let s = server_with(
        Sandbox::builder()
            .secret(AppSecret::new(SECRET))
            .faults(faults)
            .build(),
    );
    let card = s.deposit_card("pCLIfaults");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "codes.txt", codes(5000));
    s.wxcard()
        .args(["-q", "deposit", "--card-id", &card])
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("complete"));
    assert_eq!(s.sandbox.deposited_count(&card), Some(5000));
    let faults = s.sandbox.stats().faults;
    assert!(
        faults.system_busy > 0 && faults.dropped_before_effect > 0 && faults.token_expired > 0,
        "{faults:?}"
    );
    assert_eq!(s.sandbox.stats().codes_duplicate, 0);
}

#[test]
fn wechat_errors_and_unreachable_servers_get_one_line_and_their_exit_code() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "codes.txt", codes(10));
    let assert = s
        .wxcard()
        .args(["deposit", "--card-id", "pNoSuchCard", "--no-journal"])
        .arg(&file)
        .assert()
        .code(4)
        .stderr(contains("40073"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // --verbose adds the causes
    s.wxcard()
        .args(["--verbose", "count", "--card-id", "pNoSuchCard"])
        .assert()
        .code(4)
        .stderr(contains("cause:"));

    // a closed port
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    bare()
        .env("WECHAT_APPID", "wx0000000000000001")
        .env("WECHAT_APPSECRET", SECRET)
        .args([
            "--base-url",
            &format!("http://127.0.0.1:{closed}"),
            "count",
            "--card-id",
            "pX",
        ])
        .assert()
        .code(5)
        .stderr(contains("transport failure"));
}

#[test]
fn a_journal_of_another_import_is_refused() {
    let s = server();
    let card = s.deposit_card("pCLIjournal");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "codes.txt", codes(20));
    s.wxcard()
        .args(["-q", "deposit", "--card-id", &card])
        .arg(&file)
        .assert()
        .success();
    write(dir.path(), "codes.txt", codes(21));
    s.wxcard()
        .args(["deposit", "--card-id", &card])
        .arg(&file)
        .assert()
        .code(6)
        .stderr(contains("belongs to another import"));
    // an explicit --journal works
    s.wxcard()
        .args(["-q", "deposit", "--card-id", &card, "--journal"])
        .arg(dir.path().join("other.journal"))
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("already there          20"));
}

// --- count, check ----------------------------------------------------------------------

#[test]
fn count_and_check() {
    let s = server();
    let card = s.deposit_card("pCLIcheck");
    s.sandbox.preload_codes(&card, ["A1", "A2", "A3"]).unwrap();
    s.wxcard()
        .args(["count", "--card-id", &card])
        .assert()
        .success()
        .stdout(format!("card {card} holds 3 deposited codes\n"));
    let out = s
        .wxcard()
        .args(["count", "--json", "--card-id", &card])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json(&out)["deposit_count"], 3);

    let dir = tempfile::tempdir().unwrap();
    let all = write(dir.path(), "all.txt", "A1\nA2\nA3\n");
    s.wxcard()
        .args(["check", "--card-id", &card])
        .arg(&all)
        .assert()
        .success()
        .stdout(contains("stored              3"))
        .stdout(contains("complete"));
    let some = write(dir.path(), "some.txt", "A1\nB9\nA3\nB8\n");
    let report = dir.path().join("check.json");
    s.wxcard()
        .args(["check", "--card-id", &card, "--report"])
        .arg(&report)
        .arg(&some)
        .assert()
        .code(1)
        .stdout(contains("not stored          2"))
        .stdout(contains("line 2: \"B9\""))
        .stdout(contains("line 4: \"B8\""));
    let r = json(&std::fs::read(&report).unwrap());
    assert_eq!(r["not_stored"][1]["code"], "B8");
    // a bad line: nothing checked
    let bad = write(dir.path(), "bad.txt", "A1\n\n");
    let before = s.sandbox.stats().api_calls;
    s.wxcard()
        .args(["check", "--card-id", &card])
        .arg(&bad)
        .assert()
        .code(3)
        .stderr(contains("line 2: blank line"));
    assert_eq!(s.sandbox.stats().api_calls, before);
}

// --- qrcode ----------------------------------------------------------------------------

#[test]
fn qrcode_single_and_multiple() {
    let s = server();
    let card = s.deposit_card("pCLIqr1");
    let card2 = s.deposit_card("pCLIqr2");
    s.wxcard()
        .args([
            "qrcode",
            "--card-id",
            &card,
            "--openid",
            "oUser1",
            "--expire",
            "600",
            "--outer-str",
            "poster",
        ])
        .assert()
        .success()
        .stdout(contains("ticket "))
        .stdout(contains(
            "show_qrcode_url  https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=",
        ))
        .stdout(contains("expires          600 s"));
    let out = s
        .wxcard()
        .args(["--json", "qrcode", "--card-id", &card, "--card-id", &card2])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert!(v["ticket"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(v["url"].as_str().is_some());
    let tickets = s.sandbox.qr_tickets();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0].action_name, "QR_CARD");
    assert_eq!(tickets[0].cards[0].openid.as_deref(), Some("oUser1"));
    assert_eq!(tickets[0].cards[0].outer_str.as_deref(), Some("poster"));
    assert_eq!(tickets[0].expire_seconds, Some(600));
    assert_eq!(tickets[1].action_name, "QR_MULTIPLE_CARD");
    assert_eq!(tickets[1].cards.len(), 2);
}

#[test]
fn qrcode_errors() {
    let s = server();
    s.wxcard()
        .args(["qrcode", "--card-id", "pX", "--expire", "10"])
        .assert()
        .code(3)
        .stderr(contains("expire_seconds"));
    s.wxcard()
        .args([
            "qrcode",
            "--card-id",
            "pX",
            "--card-id",
            "pY",
            "--code",
            "C1",
        ])
        .assert()
        .code(2)
        .stderr(contains("one --code per --card-id"));
    s.wxcard()
        .args([
            "qrcode",
            "--card-id",
            "pX",
            "--card-id",
            "pY",
            "--openid",
            "o",
        ])
        .assert()
        .code(2);
    assert_eq!(s.sandbox.stats().requests, 0);
    s.wxcard()
        .args(["qrcode", "--card-id", "pUnknownCard"])
        .assert()
        .code(4)
        .stderr(contains("40073"));
    bare()
        .arg("qrcode")
        .assert()
        .code(2)
        .stderr(contains("--card-id"));
}

// --- landing, html, whitelist, preview -------------------------------------------------

#[test]
fn landing_create() {
    let s = server();
    let card = s.deposit_card("pCLIlanding");
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "page.json",
        format!(
            r#"{{"banner":"https://example.com/b.png","page_title":"Spring","can_share":true,
                "scene":"SCENE_H5","card_list":[{{"card_id":"{card}","thumb_url":"https://example.com/t.png"}}]}}"#
        ),
    );
    s.wxcard()
        .args(["landing", "create"])
        .arg(&spec)
        .assert()
        .success()
        .stdout(contains("page_id  1"))
        .stdout(contains("url      https://"));
    let out = s
        .wxcard()
        .args(["--json", "landing", "create"])
        .arg(&spec)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json(&out)["page_id"], 2);
    assert_eq!(s.sandbox.landing_pages()[0].page_title, "Spring");

    let empty = write(
        dir.path(),
        "empty.json",
        r#"{"banner":"https://example.com/b.png","page_title":"x","can_share":true,"scene":"SCENE_H5","card_list":[]}"#,
    );
    s.wxcard()
        .args(["landing", "create"])
        .arg(&empty)
        .assert()
        .code(3)
        .stderr(contains("card_list"));
    let broken = write(dir.path(), "broken.json", "{\"banner\":");
    s.wxcard()
        .args(["landing", "create"])
        .arg(&broken)
        .assert()
        .code(3)
        .stderr(contains("not a landing page spec"));
    s.wxcard()
        .args(["landing", "create"])
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(6)
        .stderr(contains("missing.json"));
    assert_eq!(s.sandbox.landing_pages().len(), 2);
}

#[test]
fn html_whitelist_preview() {
    let s = server();
    let card = s
        .sandbox
        .create_card(CardSpec::new().card_id("pCLIplain"))
        .unwrap();
    s.wxcard()
        .args(["html", "--card-id", &card])
        .assert()
        .success()
        .stdout(contains("<iframe"));
    let out = s
        .wxcard()
        .args(["html", "--json", "--card-id", &card])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(json(&out)["content"].as_str().is_some());
    s.wxcard()
        .args(["html", "--card-id", "pNope"])
        .assert()
        .code(4);

    s.wxcard()
        .args([
            "whitelist",
            "set",
            "--openid",
            "o1",
            "--openid",
            "o2",
            "--username",
            "alice",
        ])
        .assert()
        .success()
        .stdout("test whitelist set: 2 OpenIDs, 1 WeChat IDs\n");
    let wl = s.sandbox.whitelist();
    assert_eq!((wl.openid.len(), wl.username.len()), (2, 1));
    s.wxcard().args(["whitelist", "set"]).assert().code(2);
    let mut eleven = s.wxcard();
    eleven.args(["whitelist", "set"]);
    for i in 0..11 {
        eleven.args(["--openid", &format!("o{i}")]);
    }
    eleven.assert().code(3).stderr(contains("invalid request"));

    s.wxcard()
        .args(["preview", "--card-id", &card, "--openid", "oTester"])
        .assert()
        .success()
        .stdout(contains("preview sent"));
    assert_eq!(s.sandbox.messages().len(), 1);
    s.wxcard()
        .args(["preview", "--card-id", &card])
        .assert()
        .code(2)
        .stderr(contains("--openid"));
}

// --- credentials and secrets -----------------------------------------------------------

#[test]
fn credentials_come_from_the_environment_or_a_file_and_are_never_printed() {
    let s = server();
    let card = s.deposit_card("pCLIsecret");
    let dir = tempfile::tempdir().unwrap();
    // no secret
    s.wxcard()
        .env_remove("WECHAT_APPSECRET")
        .args(["count", "--card-id", &card])
        .assert()
        .code(2)
        .stderr(contains("WECHAT_APPSECRET"));
    // no AppID
    s.wxcard()
        .env_remove("WECHAT_APPID")
        .args(["count", "--card-id", &card])
        .assert()
        .code(2)
        .stderr(contains("WECHAT_APPID"));
    // there is no flag for the secret itself
    s.wxcard()
        .args(["--secret", SECRET, "count", "--card-id", &card])
        .assert()
        .code(2);
    // a secret file works
    let secret_file = write(dir.path(), "secret", format!("{SECRET}\n"));
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), all)
    };
    let (code, all) = run(s
        .wxcard()
        .env_remove("WECHAT_APPSECRET")
        .args(["--verbose", "--secret-file"])
        .arg(&secret_file)
        .args(["count", "--card-id", &card]));
    assert_eq!(code, Some(0), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    // a wrong secret: WeChat's error, with --verbose, never the secret or a token
    let wrong = "wrong-secret-0f9e8d7c6b5a";
    let (code, all) = run(s.wxcard().env("WECHAT_APPSECRET", wrong).args([
        "--verbose",
        "count",
        "--card-id",
        &card,
    ]));
    assert_eq!(code, Some(4), "{all}");
    assert!(all.contains("40001"), "{all}");
    assert!(!all.contains(wrong), "{all}");
    assert!(!all.contains("access_token="), "{all}");
    // a failing import with --verbose
    let file = write(dir.path(), "codes.txt", codes(5));
    let (code, all) = run(s
        .wxcard()
        .args([
            "--verbose",
            "deposit",
            "--no-journal",
            "--card-id",
            "pNoSuchCard",
        ])
        .arg(&file));
    assert_eq!(code, Some(4), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    assert!(!all.contains("access_token="), "{all}");
    // the journal names the target without the secret
    s.wxcard()
        .args(["-q", "deposit", "--card-id", &card])
        .arg(&file)
        .assert()
        .success();
    let journal = std::fs::read_to_string(dir.path().join("codes.txt.wxcard-journal")).unwrap();
    assert!(journal.contains(&s.sandbox.appid()));
    assert!(!journal.contains(SECRET));
}

#[test]
fn a_base_url_password_is_never_printed_and_secret_files_are_bounded() {
    let password = "PASSWORD-4d3c2b1a";
    let url = format!("http://gw:{password}@127.0.0.1:1");
    let output = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // --verbose names the target, without its password (nothing listens on port 1)
    let (code, all) = output(
        bare()
            .env("WECHAT_APPID", "wx1234567890abcdef")
            .env("WECHAT_APPSECRET", SECRET)
            .args(["--verbose", "--base-url", &url, "count", "--card-id", "pX"]),
    );
    assert_ne!(code, Some(0), "{all}");
    assert!(all.contains("127.0.0.1:1"), "{all}");
    assert!(!all.contains(password), "{all}");
    // --help shows the variable's name, not its value
    let (code, all) = output(bare().env("WXCARD_BASE_URL", &url).arg("--help"));
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("WXCARD_BASE_URL"), "{all}");
    assert!(!all.contains(password), "{all}");
    // a "secret file" that never ends is refused, not read into memory
    let (code, all) = output(bare().env("WECHAT_APPID", "wx1234567890abcdef").args([
        "--secret-file",
        "/dev/zero",
        "--base-url",
        "http://127.0.0.1:1",
        "count",
        "--card-id",
        "pX",
    ]));
    assert_ne!(code, Some(0), "{all}");
    assert!(all.contains("secret file"), "{all}");
    // so is a landing-page spec that never ends
    let (code, all) = output(bare().args(["--sandbox", "landing", "create", "/dev/zero"]));
    assert_ne!(code, Some(0), "{all}");
    assert!(all.contains("larger than"), "{all}");
}

// --- --sandbox, sandbox serve, demo ----------------------------------------------------

#[test]
fn in_process_sandbox_runs_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "codes.txt", codes(300));
    bare()
        .args(["--sandbox", "-q", "deposit", "--card-id", "pLocal"])
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("deposited             300"));
    assert!(!dir.path().join("codes.txt.wxcard-journal").exists());
    bare()
        .args(["--sandbox", "qrcode", "--card-id", "pLocal"])
        .assert()
        .success()
        .stdout(contains("ticket"));
    bare()
        .args(["--sandbox", "count", "--card-id", "pLocal"])
        .assert()
        .success()
        .stdout("card pLocal holds 0 deposited codes\n");
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sandbox_serve_answers_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_wxcard"))
            .args([
                "sandbox",
                "serve",
                "--port",
                "0",
                "--card",
                "pServed",
                "--port-file",
            ])
            .arg(&port_file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut port = None;
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            port = text.trim().parse::<u16>().ok();
            break;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("sandbox serve exited: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let port = port.expect("the port file");
    let url = format!("http://127.0.0.1:{port}");
    let file = write(dir.path(), "codes.txt", codes(250));
    let cmd = || {
        let mut c = bare();
        c.env("WECHAT_APPID", Sandbox::DEFAULT_APPID)
            .env("WECHAT_APPSECRET", Sandbox::DEFAULT_SECRET)
            .args(["--base-url", &url]);
        c
    };
    cmd()
        .args(["-q", "deposit", "--card-id", "pServed"])
        .arg(&file)
        .assert()
        .success();
    cmd()
        .args(["count", "--card-id", "pServed"])
        .assert()
        .success()
        .stdout("card pServed holds 250 deposited codes\n");
    child.0.kill().unwrap();
    let out = child.0.wait_with_output_ref();
    assert!(
        out.contains(&format!("card sandbox listening on {url}")),
        "{out}"
    );
    assert!(out.contains("card    pServed (deposit mode)"), "{out}");

    // a port in use: a clear error
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bare()
        .args([
            "sandbox",
            "serve",
            "--port",
            &busy.local_addr().unwrap().port().to_string(),
        ])
        .assert()
        .code(6)
        .stderr(contains("listening on 127.0.0.1:"));
}

/// Waits (bounded) for `wxcard sandbox serve` to write its port file.
fn wait_for_port(child: &mut std::process::Child, port_file: &Path) -> u16 {
    for _ in 0..3000 {
        if let Some(port) = std::fs::read_to_string(port_file)
            .ok()
            .and_then(|t| t.trim().parse::<u16>().ok())
        {
            return port;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sandbox serve exited: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no port file");
}

/// Sends `signal` (`"TERM"`, `"INT"`) and waits (bounded) for the exit; returns the exit
/// status, standard output and standard error.
#[cfg(unix)]
/// `wxcard ARGS --port-file PORT_FILE` (a `sandbox serve`), its output piped.
fn serving(args: &[&str], port_file: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_wxcard"))
        .args(args)
        .arg("--port-file")
        .arg(port_file)
        .env_remove("CARD_SANDBOX_SECRET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop_with(
    mut child: std::process::Child,
    signal: &str,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let mut status = None;
    for _ in 0..3000 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("sandbox serve did not stop on SIG{signal}");
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (status, out, err)
}

#[cfg(unix)]
#[test]
fn sandbox_serve_stops_cleanly_on_sigterm_and_keeps_its_secret() {
    const APPID: &str = "wx00000000feedf00d";
    const FILE_SECRET: &str = "served-secret-from-a-file-4e2d";
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let secret_file = write(dir.path(), "secret", format!("{FILE_SECRET}\n"));
    // The former flag names, kept as aliases.
    let secret_file = secret_file.to_str().expect("a UTF-8 temporary path");
    let mut child = serving(
        &[
            "sandbox",
            "serve",
            "--port",
            "0",
            "--card",
            "pTerm",
            "--accept-appid",
            APPID,
            "--accept-secret-file",
            secret_file,
        ],
        &port_file,
    );
    let port = wait_for_port(&mut child, &port_file);
    let url = format!("http://127.0.0.1:{port}");
    bare()
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_APPSECRET", FILE_SECRET)
        .args(["--base-url", &url, "count", "--card-id", "pTerm"])
        .assert()
        .success()
        .stdout("card pTerm holds 0 deposited codes\n");
    let (status, out, err) = stop_with(child, "TERM");
    assert!(status.success(), "{status:?} {err}");
    assert!(
        out.contains(&format!("card sandbox listening on {url}")),
        "{out}"
    );
    assert!(out.contains(&format!("appid   {APPID}")), "{out}");
    assert!(
        out.contains("secret  (as read from --secret-file)"),
        "{out}"
    );
    assert!(out.contains("card    pTerm (deposit mode)"), "{out}");
    assert!(out.contains("card sandbox stopping"), "{out}");
    assert!(
        !out.contains(FILE_SECRET) && !err.contains(FILE_SECRET),
        "{out}{err}"
    );
}

#[cfg(unix)]
#[test]
fn sandbox_serve_prints_json_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    // --json before the command (the global option) reaches the server too.
    let mut child = serving(
        &["--json", "sandbox", "serve", "--port", "0", "--demo-cards"],
        &port_file,
    );
    let port = wait_for_port(&mut child, &port_file);
    let (status, out, err) = stop_with(child, "INT");
    assert!(status.success(), "{status:?} {err}");
    let v = json(out.as_bytes());
    assert_eq!(v["base_url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(v["port"], port);
    assert_eq!(v["appid"], Sandbox::DEFAULT_APPID);
    assert_eq!(v["secret"], Sandbox::DEFAULT_SECRET);
    assert_eq!(v["cards"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["cards"][0]["kind"], "plain, stock 100");
    assert!(err.contains("card sandbox stopping"), "{err}");
}

#[test]
fn sandbox_serve_refuses_a_blank_secret_and_never_repeats_one_starting_with_a_dash() {
    // An empty $CARD_SANDBOX_SECRET (a script exporting an unset variable) is a usage
    // error, as an empty secret file is, not a sandbox no client can sign in to.
    bare()
        .env("CARD_SANDBOX_SECRET", "")
        .args(["sandbox", "serve", "--port", "0"])
        .assert()
        .code(2)
        .stderr(contains("is empty"));
    bare()
        .args(["sandbox", "serve", "--port", "0", "--secret", " "])
        .assert()
        .code(2)
        .stderr(contains("is empty"));
    // A value starting with '-' is the flag's value, never echoed as an unknown flag.
    let out = bare()
        .args([
            "sandbox",
            "serve",
            "--port",
            "70000",
            "--secret",
            "-S3CRET-dash",
            "--push-token",
            "--TOKEN-dash",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("--port"), "{all}");
    assert!(
        !all.contains("S3CRET") && !all.contains("TOKEN-dash"),
        "{all}"
    );
}

#[test]
fn sandbox_serve_refuses_bad_flags_with_the_cli_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty", "\n");
    bare()
        .args(["sandbox", "serve", "--port", "0", "--secret-file"])
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(contains("is empty"));
    bare()
        .args(["sandbox", "serve", "--port", "0", "--secret-file"])
        .arg(dir.path().join("missing"))
        .assert()
        .code(6)
        .stderr(contains("reading the secret file"));
    bare()
        .args([
            "sandbox", "serve", "--port", "0", "--card", "pX", "--card", "pX",
        ])
        .assert()
        .code(3)
        .stderr(contains("--card \"pX\""));
    let output = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let key = "not-a-key-SECRET-0b7a";
    let (code, all) = output(bare().args([
        "sandbox",
        "serve",
        "--port",
        "0",
        "--push-url",
        "http://127.0.0.1:9/wx",
        "--push-token",
        "tok-SECRET-5c1f",
        "--push-aes-key",
        key,
    ]));
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("--push-aes-key"), "{all}");
    assert!(
        !all.contains(key) && !all.contains("tok-SECRET-5c1f"),
        "{all}"
    );
    // --secret and --secret-file together: clap's usage error, without the value.
    let (code, all) = output(bare().args([
        "sandbox",
        "serve",
        "--secret",
        "flag-SECRET-3d9a",
        "--secret-file",
        "x",
    ]));
    assert_eq!(code, Some(2), "{all}");
    assert!(!all.contains("flag-SECRET-3d9a"), "{all}");
}

trait StdoutOf {
    fn wait_with_output_ref(&mut self) -> String;
}

impl StdoutOf for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(out) = self.stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    }
}

#[test]
fn demo_runs_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let out = bare()
        .args(["--json", "-q", "demo", "--codes", "2345", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["deposit"]["deposited"], 2345);
    assert_eq!(v["deposit"]["complete"], true);
    assert_eq!(v["sandbox_deposited"], 2345);
    assert!(v["qrcode"]["ticket"].as_str().is_some());
    assert!(v["landing_page"]["url"].as_str().is_some());
    assert!(dir.path().join("report.json").exists());
    bare()
        .args(["demo", "--codes", "500"])
        .assert()
        .success()
        .stdout(contains("complete: every code in the file is stored"))
        .stdout(contains("4. QR code"))
        .stdout(contains("5. landing page"));
}

// --- help -------------------------------------------------------------------------------

#[test]
fn every_subcommand_has_help() {
    let commands: [&[&str]; 13] = [
        &[],
        &["deposit"],
        &["count"],
        &["check"],
        &["qrcode"],
        &["landing"],
        &["landing", "create"],
        &["html"],
        &["whitelist"],
        &["whitelist", "set"],
        &["preview"],
        &["sandbox", "serve"],
        &["demo"],
    ];
    for path in commands {
        let usage = if path.is_empty() {
            "Usage: wxcard".to_owned()
        } else {
            format!("Usage: wxcard {}", path.join(" "))
        };
        bare()
            .args(path)
            .arg("--help")
            .assert()
            .success()
            .stdout(contains(usage))
            .stdout(
                contains("Exit code")
                    .or(contains("Global options"))
                    .or(contains("Commands:")),
            );
    }
    bare()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes:"))
        .stdout(contains("WECHAT_APPSECRET"));
    bare().arg("frobnicate").assert().code(2);
}
