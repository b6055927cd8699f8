//! The `card-sandbox` binary driven as another language's test harness would: spawned with
//! `--port 0 --port-file F`, then spoken to with nothing but an HTTP client (ureq) and
//! JSON. Every admin route, periodic faults ("expire every 50, -1 every 97") counted
//! exactly, and a clean stop on SIGTERM.
#![cfg(feature = "server")]

use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const APPID: &str = "wx5a4e44424f580001";
const SECRET: &str = "sandbox-app-secret-0123456789abcdef";

/// The spawned binary; killed if a test fails before stopping it.
struct Sandbox {
    child: Option<Child>,
    base: String,
    agent: ureq::Agent,
    port_file: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.port_file);
    }
}

impl Sandbox {
    fn spawn(extra: &[&str]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let port_file = std::env::temp_dir().join(format!(
            "card-sandbox-port-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(env!("CARGO_BIN_EXE_card-sandbox"))
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .args(extra)
            .env_remove("CARD_SANDBOX_SECRET")
            .env_remove("CARD_SANDBOX_PUSH_TOKEN")
            .env_remove("CARD_SANDBOX_PUSH_AES_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn card-sandbox");
        let mut sandbox = Self {
            child: Some(child),
            base: String::new(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            port_file,
        };
        // Bounded wait for the port file (the binary writes it once listening).
        let deadline = Instant::now() + Duration::from_secs(60);
        let port: u16 = loop {
            if let Ok(text) = std::fs::read_to_string(&sandbox.port_file) {
                if let Ok(port) = text.trim().parse() {
                    break port;
                }
            }
            let exited = sandbox
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "card-sandbox exited: {exited:?}");
            assert!(Instant::now() < deadline, "no port file");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_ne!(port, 0);
        sandbox.base = format!("http://127.0.0.1:{port}");
        sandbox
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn read(response: Result<http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut response = response.expect("an HTTP answer");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("a body");
        (status, body)
    }

    fn json(response: Result<http::Response<ureq::Body>, ureq::Error>) -> Value {
        let (status, body) = Self::read(response);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    fn get(&self, path: &str) -> Value {
        Self::json(self.agent.get(self.url(path)).call())
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        Self::json(
            self.agent
                .post(self.url(path))
                .header("content-type", "application/json")
                .send(body.to_string()),
        )
    }

    fn patch(&self, path: &str, body: &Value) -> Value {
        Self::json(
            self.agent
                .patch(self.url(path))
                .header("content-type", "application/json")
                .send(body.to_string()),
        )
    }

    fn delete(&self, path: &str) -> Value {
        Self::json(self.agent.delete(self.url(path)).call())
    }

    fn token(&self) -> String {
        let v = self.get(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        ));
        v["access_token"].as_str().expect("a token").to_owned()
    }

    /// Stops the binary with a signal (`"TERM"`, `"INT"`) and returns what it printed.
    #[cfg(unix)]
    fn terminate(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("card-sandbox did not stop on SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        (exit, out)
    }
}

fn ok(v: &Value) {
    assert_eq!(v["errcode"], 0, "{v}");
}

#[test]
fn every_admin_route_over_plain_http() {
    let sb = Sandbox::spawn(&["--demo-cards"]);

    // Reset to empty: the demo cards go.
    assert_eq!(
        sb.get("/sandbox/cards")["cards"].as_array().unwrap().len(),
        2
    );
    ok(&sb.post("/sandbox/reset", &json!({})));
    assert_eq!(sb.get("/sandbox/cards")["cards"], json!([]));
    let counters = sb.get("/sandbox/counters");
    assert_eq!(counters["tokens_issued"], 0);
    assert_eq!(counters["errors_answered"], 0);

    // Create cards: one, then several at once.
    let v = sb.post(
        "/sandbox/cards",
        &json!({"use_custom_code": true, "get_custom_code_mode": "GET_CUSTOM_CODE_MODE_DEPOSIT", "quantity": 0}),
    );
    ok(&v);
    let deposit_card = v["card_id"].as_str().unwrap().to_owned();
    let v = sb.post(
        "/sandbox/cards",
        &json!({"cards": [{"card_id": "pPlainCard"}, {"quantity": 5}]}),
    );
    ok(&v);
    assert_eq!(v["card_ids"][0], "pPlainCard");
    assert_eq!(v["card_ids"].as_array().unwrap().len(), 2);
    let v = sb.post("/sandbox/cards", &json!({"card_id": "pPlainCard"}));
    assert_eq!(v["errcode"], 40097, "a duplicate id is refused: {v}");
    assert_eq!(
        sb.get("/sandbox/cards")["cards"].as_array().unwrap().len(),
        3
    );

    // Tokens: realistic and distinct.
    let token = sb.token();
    assert!(token.len() >= 128 && token.len() <= 512, "{}", token.len());
    assert_ne!(sb.token(), token);
    let mut token = sb.token();

    // Deposits: counters see codes received and the largest batch.
    for n in [3usize, 100, 7] {
        let codes: Vec<String> = (0..n).map(|i| format!("C{n}-{i}")).collect();
        let v = sb.post(
            &format!("/card/code/deposit?access_token={token}"),
            &json!({"card_id": deposit_card, "code": codes}),
        );
        ok(&v);
    }

    // Periodic faults set at runtime: every 50th call expires its token, every 97th
    // answers -1. Over 970 calls that is 19 and 10, exactly.
    let v = sb.post(
        "/sandbox/faults",
        &json!({"expire_token_every": 50, "system_busy_every": 97}),
    );
    ok(&v);
    assert_eq!(v["faults"]["expire_token_every"], 50);
    assert_eq!(v["faults"]["system_busy_every"], 97);
    assert_eq!(v["calls"], 0);
    let (mut expired, mut busy, mut fine) = (0, 0, 0);
    for _ in 0..970 {
        let v = sb.post(
            &format!("/card/code/getdepositcount?access_token={token}"),
            &json!({"card_id": deposit_card}),
        );
        match v["errcode"].as_i64().unwrap_or(0) {
            0 => {
                assert_eq!(v["count"], 110);
                fine += 1;
            }
            42001 => {
                expired += 1;
                token = sb.token();
            }
            -1 => busy += 1,
            other => panic!("unexpected errcode {other}: {v}"),
        }
    }
    assert_eq!((expired, busy, fine), (19, 10, 941));
    let v = sb.get("/sandbox/faults");
    assert_eq!(v["calls"], 970);

    // Change one knob (PATCH keeps the others; counting restarts), then clear.
    let v = sb.patch("/sandbox/faults", &json!({"rate_limited_every": 2}));
    ok(&v);
    assert_eq!(v["faults"]["expire_token_every"], 50);
    assert_eq!(v["faults"]["rate_limited_every"], 2);
    let count = |token: &str| {
        sb.post(
            &format!("/card/code/getdepositcount?access_token={token}"),
            &json!({"card_id": deposit_card}),
        )["errcode"]
            .as_i64()
            .unwrap_or(0)
    };
    assert_eq!([count(&token), count(&token)], [0, 45009]);
    let v = sb.post(
        "/sandbox/faults",
        &json!({"script": ["system_busy", {"latency_ms": 1}]}),
    );
    assert_eq!(v["scripted"], 2);
    assert_eq!(
        v["faults"]["rate_limited_every"],
        Value::Null,
        "POST replaces"
    );
    assert_eq!([count(&token), count(&token)], [-1, 0]);
    let v = sb.post("/sandbox/faults", &json!({"system_busy": 2.0}));
    assert_eq!(v["errcode"], 40097, "{v}");
    let v = sb.delete("/sandbox/faults");
    ok(&v);
    assert_eq!(v["faults"]["expire_token_every"], Value::Null);
    assert_eq!(v["scripted"], 0);
    assert!((0..100).all(|_| count(&token) == 0));

    // Sends are recorded and readable.
    let v = sb.post(
        &format!("/cgi-bin/message/mass/send?access_token={token}"),
        &json!({"touser": ["o1", "o2"], "msgtype": "wxcard", "wxcard": {"card_id": "pPlainCard"}, "clientmsgid": "m1"}),
    );
    ok(&v);
    let sends = sb.get("/sandbox/sends");
    ok(&sends);
    let sends = sends["sends"].as_array().unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["endpoint"], "/cgi-bin/message/mass/send");
    assert_eq!(sends[0]["card_id"], "pPlainCard");
    assert_eq!(sends[0]["recipients"]["touser"], json!(["o1", "o2"]));
    assert_eq!(sends[0]["msg_id"], v["msg_id"]);

    // Counters.
    let c = sb.get("/sandbox/counters");
    ok(&c);
    assert_eq!(
        c["requests_by_endpoint"]["/card/code/getdepositcount"],
        970 + 2 + 2 + 100
    );
    assert_eq!(c["requests_by_endpoint"]["/card/code/deposit"], 3);
    assert_eq!(c["requests_by_endpoint"]["/cgi-bin/message/mass/send"], 1);
    assert_eq!(c["faults"]["token_expired"], 19);
    assert_eq!(c["faults"]["system_busy"], 11);
    assert_eq!(c["faults"]["rate_limited"], 1);
    assert_eq!(c["tokens_issued"], 3 + 19);
    assert_eq!(c["codes_received"], 110);
    assert_eq!(c["largest_batch"], 100);
    // 40097 (duplicate card), 19 + 11 + 1 faults, 40097 (bad probability).
    assert_eq!(c["errors_answered"], 1 + 19 + 11 + 1 + 1);

    // Clock, event and state.
    let v = sb.post("/sandbox/clock", &json!({"now": 1_700_000_000}));
    assert_eq!(v["now"], 1_700_000_000);
    assert_eq!(sb.get("/sandbox/clock")["now"], 1_700_000_000);
    let (status, xml) = Sandbox::read(
        sb.agent
            .post(sb.url("/sandbox/events/user_get_card"))
            .send(json!({"card_id": "pPlainCard", "code": "12345", "outer_str": "s"}).to_string()),
    );
    assert_eq!(status, 200);
    assert!(
        xml.contains("<Event><![CDATA[user_get_card]]></Event>"),
        "{xml}"
    );
    assert!(xml.contains("<CreateTime>1700000000</CreateTime>"), "{xml}");
    let state = sb.get("/sandbox/state");
    assert_eq!(state["messages"], 1);
    assert_eq!(state["now"], 1_700_000_000);

    // HEAD answers carry no body, and the connection stays usable.
    let (status, body) = Sandbox::read(sb.agent.head(sb.url("/sandbox/state")).call());
    assert_eq!(status, 200);
    assert!(body.is_empty());
    ok(&sb.get("/sandbox/state"));

    // Unknown paths and wrong methods.
    let (status, _) = Sandbox::read(sb.agent.get(sb.url("/nothing")).call());
    assert_eq!(status, 404);
    assert_eq!(sb.get("/sandbox/reset")["errcode"], 43002);

    // Reset again: everything goes, faults included.
    ok(&sb.post("/sandbox/reset", &json!({})));
    assert_eq!(sb.get("/sandbox/cards")["cards"], json!([]));
    assert_eq!(sb.get("/sandbox/sends")["sends"], json!([]));
    let c = sb.get("/sandbox/counters");
    assert_eq!(c["codes_received"], 0);
    assert_eq!(c["tokens_issued"], 0);
    let v = sb.post(
        &format!("/card/code/getdepositcount?access_token={token}"),
        &json!({"card_id": deposit_card}),
    );
    assert_eq!(v["errcode"], 40001, "tokens are gone too: {v}");

    #[cfg(unix)]
    {
        let (exit, out) = sb.terminate("TERM");
        assert!(exit.success(), "{exit:?}");
        assert!(out.contains("listening on http://127.0.0.1:"), "{out}");
        assert!(out.contains("stopping"), "{out}");
    }
}

#[test]
fn seeded_runs_issue_the_same_tokens_and_fresh_runs_differ() {
    let a = Sandbox::spawn(&["--seed", "7"]);
    let b = Sandbox::spawn(&["--seed", "7", "--token-grace", "300"]);
    let c = Sandbox::spawn(&["--token-grace", "300", "--appid", APPID]);
    let d = Sandbox::spawn(&[
        "--token-grace",
        "300",
        "--appid",
        APPID,
        "--latency-ms",
        "0",
    ]);
    assert_eq!(a.token(), b.token());
    let (tc, td) = (c.token(), d.token());
    assert_ne!(tc, td);
    assert_ne!(tc, a.token());
    // Ctrl-C (SIGINT) stops it cleanly too.
    #[cfg(unix)]
    {
        let (exit, out) = d.terminate("INT");
        assert!(exit.success(), "{exit:?}");
        assert!(out.contains("stopping"), "{out}");
    }
}

#[test]
fn the_secret_file_cards_and_json_flags_shared_with_wxcard() {
    const FILE_SECRET: &str = "binary-secret-from-a-file-71d3";
    let secret_file =
        std::env::temp_dir().join(format!("card-sandbox-secret-{}", std::process::id()));
    std::fs::write(&secret_file, format!("{FILE_SECRET}\n")).unwrap();
    // `--accept-appid` is the name `wxcard sandbox serve` had: an alias of --appid.
    let sb = Sandbox::spawn(&[
        "--accept-appid",
        "wx00000000c0ffee01",
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--card",
        "pOne",
        "--card",
        "pTwo",
        "--json",
    ]);
    let refused = sb.get(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid=wx00000000c0ffee01&secret={SECRET}"
    ));
    assert_ne!(
        refused["errcode"], 0,
        "the default secret no longer works: {refused}"
    );
    let v = sb.get(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid=wx00000000c0ffee01&secret={FILE_SECRET}"
    ));
    assert!(v["access_token"].as_str().is_some(), "{v}");
    let cards = sb.get("/sandbox/cards").to_string();
    assert!(cards.contains("pOne") && cards.contains("pTwo"), "{cards}");
    std::fs::remove_file(&secret_file).unwrap();
    #[cfg(unix)]
    {
        let base = sb.base.clone();
        let (exit, out) = sb.terminate("TERM");
        assert!(exit.success(), "{exit:?}");
        // Standard output is the JSON alone ("stopping" goes to standard error).
        let v: Value = serde_json::from_str(&out).expect("JSON on stdout");
        assert_eq!(v["base_url"], base);
        assert_eq!(v["appid"], "wx00000000c0ffee01");
        assert_eq!(v["secret"], "(as read from --secret-file)");
        assert_eq!(
            v["cards"][0],
            json!({"card_id": "pOne", "kind": "deposit mode"})
        );
        assert_eq!(v["cards"][1]["card_id"], "pTwo");
        assert!(!out.contains(FILE_SECRET), "{out}");
    }
}

/// Makes a FIFO at `path` (`mkfifo`).
#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// SIGTERM ends the binary while it still waits for its secret file (a FIFO nobody has
/// written, as a terminal or a slow pipe would be): the signals are caught only once the
/// secret is read.
#[cfg(unix)]
#[test]
fn sigterm_ends_the_binary_while_it_waits_for_its_secret_file() {
    use std::os::unix::process::ExitStatusExt as _;
    let fifo = std::env::temp_dir().join(format!("card-sandbox-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    mkfifo(&fifo);
    let mut child = Command::new(env!("CARGO_BIN_EXE_card-sandbox"))
        .args(["--port", "0", "--secret-file"])
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn card-sandbox");
    // Opening the write end returns once the binary has opened the read end; it then
    // waits in its read, since nothing is written and the write end stays open.
    let (opened, writer) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = opened.send(std::fs::OpenOptions::new().write(true).open(path));
    });
    let write_end = writer
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary opens its secret file")
        .expect("the FIFO's write end");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(write_end);
    let _ = std::fs::remove_file(&fifo);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("SIGTERM did not end card-sandbox while it read its secret file");
    };
    assert_eq!(status.signal(), Some(15), "{status}");
}

/// Whether process `pid` is blocked opening a FIFO nobody reads: the kernel's name of
/// the wait (`wait_for_partner` on current kernels, `pipe_wait` or `fifo_open` on
/// older ones), or, where the name is hidden, the system call it is in (`openat`).
#[cfg(target_os = "linux")]
fn blocked_opening(pid: u32) -> bool {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    if ["wait_for_partner", "pipe_wait", "fifo_open"].contains(&wchan.trim()) {
        return true;
    }
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let openat = if cfg!(target_arch = "x86_64") {
        "257 "
    } else if cfg!(target_arch = "aarch64") {
        "56 "
    } else {
        return false;
    };
    // Blocked in it, not just passing through: still there a moment later.
    syscall.starts_with(openat) && {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|again| again == syscall)
    }
}

/// A stop sent while the binary writes its port file is caught, not met with the default
/// action: the file is written through `FILE.tmp`, made here a FIFO, so the binary waits
/// in that write (seen in `/proc`) when the signal is sent; then the FIFO is read and the
/// binary must stop cleanly.
#[cfg(target_os = "linux")]
#[test]
fn a_stop_sent_while_the_port_file_is_written_is_caught() {
    use std::io::BufRead as _;
    let port_file =
        std::env::temp_dir().join(format!("card-sandbox-port-fifo-{}", std::process::id()));
    let tmp = port_file.with_file_name(format!(
        "{}.tmp",
        port_file.file_name().unwrap().to_str().unwrap()
    ));
    let _ = std::fs::remove_file(&port_file);
    let _ = std::fs::remove_file(&tmp);
    mkfifo(&tmp);
    let mut child = Command::new(env!("CARGO_BIN_EXE_card-sandbox"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .env_remove("CARD_SANDBOX_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn card-sandbox");
    // Waiting for a reader of the FIFO: blocked in `open`.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !blocked_opening(child.id()) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&tmp);
            panic!("card-sandbox never waited on its port file");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Give the signal time to act on a process that did not catch it: the read below
    // would otherwise race it. (Caught, it waits for the port file to be written.)
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel();
    let path = tmp.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read_to_string(path));
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&port_file);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("card-sandbox did not stop on SIGTERM");
    };
    assert!(status.success(), "{status}");
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the FIFO was read")
        .expect("the port");
    assert!(port.trim().parse::<u16>().is_ok(), "{port:?}");
    let out: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        out.last().map(String::as_str),
        Some("card sandbox stopping")
    );
}
