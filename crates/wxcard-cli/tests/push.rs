//! `wxcard push verify-url | open | seal`: the published vectors, each failure's one-line
//! reason and exit code, seal → open round trips, secrets from flags, files and the
//! environment (never printed), and the help text.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;
use std::io::Write;

const TOKEN: &str = "spamtest";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";
const ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
const MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";
const MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";

fn body() -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt>\n</xml>"
    )
}

/// `wxcard` with no credentials in its environment.
fn wxcard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxcard"));
    for var in [
        "WECHAT_APPID",
        "WECHAT_APPSECRET",
        "WECHAT_CALLBACK_TOKEN",
        "WECHAT_ENCODING_AES_KEY",
    ] {
        cmd.env_remove(var);
    }
    // Plain text whatever shell runs the tests.
    cmd.env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    cmd
}

/// The A.2 sample's query as flags.
fn a2_query(sig: &str) -> Vec<String> {
    [
        "--timestamp",
        "1409735669",
        "--nonce",
        "1320562132",
        "--encrypt-type",
        "aes",
        "--msg-signature",
        sig,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Neither stream shows the Token or the key.
fn no_secrets(output: &std::process::Output, secrets: &[&str]) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in secrets {
        assert!(!all.contains(secret), "a secret was printed: {all}");
    }
}

#[test]
fn open_decrypts_the_appendix_a2_vector_and_prints_the_event() {
    let output = wxcard()
        .args([
            "push",
            "open",
            "--token",
            TOKEN,
            "--aes-key",
            KEY,
            "--appid",
            APPID,
        ])
        .args(a2_query(MSG_SIGNATURE))
        .arg("-")
        .write_stdin(body())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json = stdout_json(&output);
    assert_eq!(json["signature"], "valid (msg_signature)");
    assert_eq!(json["encrypted"], true);
    assert_eq!(json["appid"], APPID);
    assert_eq!(json["message"], MESSAGE);
    assert_eq!(json["event"]["msg_type"], "text");
    assert_eq!(json["event"]["fields"]["Content"], "abcdteT");
    assert_eq!(json["event"]["fields"]["MsgId"], "6054768590064713728");
    no_secrets(&output, &[KEY]);
}

#[test]
fn secrets_come_from_the_environment_or_files_and_the_query_from_a_pasted_url() {
    // The environment, and the whole query as a log shows the URL.
    let query = format!(
        "/wechat?signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132&openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs&encrypt_type=aes&msg_signature={MSG_SIGNATURE}"
    );
    let output = wxcard()
        .env("WECHAT_CALLBACK_TOKEN", TOKEN)
        .env("WECHAT_ENCODING_AES_KEY", KEY)
        .env("WECHAT_APPID", APPID)
        .args(["push", "open", "--verbose", "--query", &query])
        .write_stdin(body())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_json(&output)["message"], MESSAGE);
    no_secrets(&output, &[KEY]);

    // Files (a trailing newline is ignored).
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let key_file = dir.path().join("key");
    let body_file = dir.path().join("body.xml");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::write(&body_file, body()).unwrap();
    let output = wxcard()
        .args(["push", "open", "--appid", APPID, "--token-file"])
        .arg(&token_file)
        .arg("--aes-key-file")
        .arg(&key_file)
        .args(a2_query(MSG_SIGNATURE))
        .arg(&body_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_json(&output)["event"]["fields"]["Content"],
        "abcdteT"
    );
}

/// Runs `push open` on the A.2 sample with changed inputs; expects exit `code` and one
/// stderr line containing `reason`, with no secret printed even with --verbose.
fn refused(args: &[&str], envs: &[(&str, &str)], body: String, code: i32, reason: &str) {
    let mut cmd = wxcard();
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = cmd
        .args(["push", "open", "--verbose"])
        .args(args)
        .write_stdin(body)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(code), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.starts_with("wxcard: error: "), "{stderr}");
    assert!(stderr.contains(reason), "{stderr} lacks {reason:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    no_secrets(
        &output,
        &[KEY, "WRONGKEYabcdefghijklmnopqrstuvwxyz012345678"],
    );
}

#[test]
fn each_failure_gives_its_one_line_reason_and_exit_code() {
    let key_args = |key: &'static str, appid: &'static str| {
        vec!["--token", TOKEN, "--aes-key", key, "--appid", appid]
    };
    let with_query = |mut a: Vec<&'static str>, sig: &'static str| {
        a.extend([
            "--timestamp",
            "1409735669",
            "--nonce",
            "1320562132",
            "--encrypt-type",
            "aes",
            "--msg-signature",
            sig,
        ]);
        a
    };
    // Tampered msg_signature.
    refused(
        &with_query(
            key_args(KEY, APPID),
            "5d197aaffba7e9b25a30732f161a50dee96bd5fb",
        ),
        &[],
        body(),
        3,
        "signature does not match",
    );
    // Another Token.
    refused(
        &with_query(
            vec!["--token", "another", "--aes-key", KEY, "--appid", APPID],
            MSG_SIGNATURE,
        ),
        &[],
        body(),
        3,
        "signature does not match",
    );
    // Another AppID: the reason names both.
    refused(
        &with_query(key_args(KEY, "wxSomeoneElse"), MSG_SIGNATURE),
        &[],
        body(),
        3,
        "decrypted AppID is \"wx2c2769f8efd9abc2\", not the configured \"wxSomeoneElse\"",
    );
    // A wrong key: the signature holds (it covers the ciphertext), decryption fails.
    refused(
        &with_query(
            key_args("WRONGKEYabcdefghijklmnopqrstuvwxyz012345678", APPID),
            MSG_SIGNATURE,
        ),
        &[],
        body(),
        3,
        "check the EncodingAESKey",
    );
    // Truncated ciphertext (the signature is then wrong too: it is checked first).
    refused(
        &with_query(key_args(KEY, APPID), MSG_SIGNATURE),
        &[],
        body().replace("hyzAe4", "hyz"),
        3,
        "signature does not match",
    );
    // Plain mode, tampered signature.
    refused(
        &[
            "--token",
            TOKEN,
            "--signature",
            "16120ec1b8dbb870f510d87ce6bc2463eae6ca1b",
            "--timestamp",
            "1409735669",
            "--nonce",
            "1320562132",
        ],
        &[],
        MESSAGE.to_owned(),
        3,
        "signature does not match",
    );
    // A missing parameter.
    refused(
        &["--token", TOKEN, "--timestamp", "1", "--nonce", "2"],
        &[],
        MESSAGE.to_owned(),
        3,
        "query parameter signature is missing",
    );
    // No Token anywhere; no key or AppID for an encrypted push; a malformed key.
    refused(
        &with_query(vec!["--aes-key", KEY, "--appid", APPID], MSG_SIGNATURE),
        &[],
        body(),
        2,
        "WECHAT_CALLBACK_TOKEN",
    );
    refused(
        &with_query(vec!["--token", TOKEN, "--appid", APPID], MSG_SIGNATURE),
        &[],
        body(),
        2,
        "EncodingAESKey is needed",
    );
    refused(
        &with_query(vec!["--token", TOKEN, "--aes-key", KEY], MSG_SIGNATURE),
        &[],
        body(),
        2,
        "AppID is needed",
    );
    refused(
        &with_query(vec!["--token", TOKEN, "--appid", APPID], MSG_SIGNATURE),
        &[("WECHAT_ENCODING_AES_KEY", "short-key-value")],
        body(),
        2,
        "43 characters",
    );
}

/// `push seal --json` of `message`, then `push open` of what it printed.
fn seal_then_open(creds: &[&str], message: &str) -> Value {
    let sealed = wxcard()
        .args(["push", "seal", "--json"])
        .args(creds)
        .arg("-")
        .write_stdin(message.to_owned())
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{sealed:?}");
    no_secrets(&sealed, &[KEY, "round-trip-token"]);
    let sealed = stdout_json(&sealed);
    let query = sealed["query"].as_str().unwrap();
    let opened = wxcard()
        .args(["push", "open", "--query", query])
        .args(creds)
        .write_stdin(sealed["body"].as_str().unwrap().to_owned())
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    no_secrets(&opened, &[KEY, "round-trip-token"]);
    stdout_json(&opened)
}

#[test]
fn seal_then_open_round_trips_in_plain_and_safe_mode() {
    let claim = "<xml><ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName><FromUserName><![CDATA[oZI8Fj040-be6rlDohc6gkoPOQTQ]]></FromUserName><CreateTime>1472551036</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[pZI8Fjwsy5fVPRBeD78J4RmqVvBc]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[226009850808]]></UserCardCode><OuterId>7</OuterId><OuterStr><![CDATA[poster]]></OuterStr></xml>";
    let plain = seal_then_open(&["--token", "round-trip-token"], claim);
    assert_eq!(plain["encrypted"], false);
    let safe = seal_then_open(
        &[
            "--token",
            "round-trip-token",
            "--aes-key",
            KEY,
            "--appid",
            APPID,
        ],
        claim,
    );
    assert_eq!(safe["encrypted"], true);
    assert_eq!(safe["message"], claim);
    for json in [plain, safe] {
        let event = &json["event"];
        assert_eq!(event["type"], "user_get_card", "{json}");
        assert_eq!(event["card_id"], "pZI8Fjwsy5fVPRBeD78J4RmqVvBc");
        assert_eq!(event["user_card_code"], "226009850808");
        assert_eq!(event["outer_id"], 7);
        assert_eq!(event["outer_str"], "poster");
        assert_eq!(event["is_give_by_friend"], false);
    }
}

#[test]
fn seal_with_fixed_values_prints_the_query_then_the_body_and_seals_replies() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(MESSAGE.as_bytes()).unwrap();
    wxcard()
        .args(["push", "seal", "--token", TOKEN, "--timestamp", "1409735669"])
        .args(["--nonce", "1320562132"])
        .arg(file.path())
        .assert()
        .success()
        .stdout(format!(
            "signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132\n{MESSAGE}\n"
        ));
    let output = wxcard()
        .args([
            "push",
            "seal",
            "--reply",
            "--token",
            TOKEN,
            "--aes-key",
            KEY,
        ])
        .args([
            "--appid",
            APPID,
            "--timestamp",
            "1409735669",
            "--nonce",
            "n1",
        ])
        .write_stdin("<xml><MsgType><![CDATA[text]]></MsgType></xml>")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let reply = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(reply.starts_with("<xml><Encrypt><![CDATA["), "{reply}");
    assert!(reply.contains("<TimeStamp>1409735669</TimeStamp><Nonce><![CDATA[n1]]></Nonce>"));
    no_secrets(&output, &[KEY]);
    wxcard()
        .args(["push", "seal", "--token", TOKEN, "--timestamp", "soon"])
        .write_stdin(MESSAGE)
        .assert()
        .code(2)
        .stderr(contains("--timestamp must be a whole number"));
}

#[test]
fn verify_url_checks_the_published_vectors() {
    wxcard()
        .args([
            "push",
            "verify-url",
            "--token",
            "AAAAA",
            "--timestamp",
            "1714036504",
        ])
        .args(["--nonce", "1514711492", "--echostr", "5837397520665436492"])
        .args(["--signature", "f464b24fc39322e44b38aa78f5edd27bd1441696"])
        .assert()
        .success()
        .stdout(contains("\"echostr\": \"5837397520665436492\""))
        .stdout(contains("\"signature\": \"valid\""));
    wxcard()
        .env("WECHAT_CALLBACK_TOKEN", "test")
        .args(["push", "verify-url", "--query"])
        .arg("signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443fe&timestamp=1410685589&nonce=test&echostr=hi")
        .assert()
        .code(3)
        .stdout("")
        .stderr("wxcard: error: signature does not match (check the Token, and that timestamp, nonce and body are exactly as received)\n");
}

#[test]
fn push_help_reads_well() {
    wxcard().args(["push", "--help"]).assert().success().stdout(
        contains("verify-url")
            .and(contains("open"))
            .and(contains("seal")),
    );
    for sub in ["verify-url", "open", "seal"] {
        wxcard()
            .args(["push", sub, "--help"])
            .assert()
            .success()
            .stdout(
                contains("--token")
                    .and(contains("--aes-key"))
                    .and(contains("$WECHAT_CALLBACK_TOKEN"))
                    .and(contains("never printed"))
                    .and(contains("Example")),
            );
    }
    wxcard()
        .args(["push", "open", "--help"])
        .assert()
        .stdout(contains("--msg-signature").and(contains("--encrypt-type")));
    wxcard().args(["--help"]).assert().stdout(contains("push"));
}
