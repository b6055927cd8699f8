//! A killed import resumes: 100,000 codes from a file into the card sandbox served over
//! HTTP on 127.0.0.1, the `wxcard deposit` process killed with SIGKILL at seeded random
//! points, run again: the card ends with exactly the file's codes, and no code WeChat
//! (the sandbox) had accepted is ever sent again.
//!
//! The sandbox runs in this test process (`wxcard::sandbox::serve`, the server `wxcard
//! sandbox serve` runs) so that the test can read its counters: `codes_duplicate` counts
//! every code a deposit call sent that was already stored.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use wxcard::sandbox::{CardSpec, Sandbox};

const CODES: usize = 100_000;

/// A small seeded generator (SplitMix64), so the kill points repeat from run to run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn deposit(base_url: &str, card: &str, file: &Path) -> Command {
    deposit_with(
        Command::new(env!("CARGO_BIN_EXE_wxcard")),
        base_url,
        card,
        file,
    )
}

/// The import, with SIGINT's default action (ending the process) whatever this test
/// inherited: a shell starts background jobs with SIGINT ignored, and children inherit
/// that. GNU `env --default-signal` resets it and then runs the CLI in its own place.
fn interruptible_deposit(base_url: &str, card: &str, file: &Path) -> Command {
    let mut env = Command::new("env");
    env.args(["--default-signal=INT", env!("CARGO_BIN_EXE_wxcard")]);
    deposit_with(env, base_url, card, file)
}

fn deposit_with(mut cmd: Command, base_url: &str, card: &str, file: &Path) -> Command {
    cmd.env_remove("WXCARD_BASE_URL")
        .env_remove("WXCARD_REDIS_URL")
        .env("WECHAT_APPID", Sandbox::DEFAULT_APPID)
        .env("WECHAT_APPSECRET", Sandbox::DEFAULT_SECRET)
        .args([
            "--base-url",
            base_url,
            "--quiet",
            "--json",
            "deposit",
            "--card-id",
            card,
        ])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts an import and kills it (SIGKILL, or SIGINT as Ctrl-C sends) once the card holds
/// `at` codes. Returns the number of codes stored when it was killed, or `None` when it
/// finished first.
fn run_and_kill(
    sandbox: &Sandbox,
    base_url: &str,
    card: &str,
    file: &Path,
    at: usize,
    interrupt: bool,
) -> Option<usize> {
    let mut child = if interrupt {
        interruptible_deposit(base_url, card, file)
    } else {
        deposit(base_url, card, file)
    }
    .spawn()
    .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // Finished before the kill point: only a success is that (a start that
            // failed, `env` without --default-signal say, would skip the round unseen).
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            assert!(
                status.success(),
                "ended before the kill point: {status}: {err}"
            );
            return None;
        }
        let stored = sandbox.deposited_count(card).unwrap_or(0);
        if stored >= at {
            if interrupt {
                let sent = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(sent.success());
            } else {
                child.kill().unwrap(); // SIGKILL on Unix
            }
            let status = child.wait().unwrap();
            // A SIGKILL cannot be caught: a success can only mean the import ended
            // first. A SIGINT must end it (the CLI does not catch it).
            if status.success() && !interrupt {
                return None;
            }
            assert!(!status.success(), "killed: {status}");
            return Some(sandbox.deposited_count(card).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn killed_imports_resume_without_sending_an_accepted_code_twice() {
    let sandbox = Sandbox::new();
    let server = wxcard::sandbox::serve(sandbox.clone(), ("127.0.0.1", 0)).unwrap();
    let base_url = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("codes.txt");
    let text: String = (0..CODES).map(|i| format!("K{i:09}\n")).collect();
    std::fs::write(&file, text).unwrap();

    let mut rng = SplitMix(0x5EED_2026);
    let mut kill_points = Vec::new();
    // Seven imports, each into its own card with its own journal; round 5 is killed twice,
    // round 6 is interrupted (SIGINT, as Ctrl-C) instead of killed.
    for round in 0..7 {
        let card = sandbox
            .create_card(CardSpec::deposit_mode().card_id(format!("pKill{round}")))
            .unwrap();
        // The journal beside the file; each round is another import (another card).
        let journal = dir.path().join("codes.txt.wxcard-journal");
        let _ = std::fs::remove_file(&journal);
        let kills = if round == 5 { 2 } else { 1 };
        let mut floor = 0;
        for _ in 0..kills {
            // Kill points leave the import 10,000 codes (100 calls) to go, so that it
            // cannot end between the look at the card and the signal.
            let last = CODES - 10_000;
            if floor + 1 >= last {
                break;
            }
            let at = floor + 1 + (rng.next() as usize % (last - floor - 1));
            if let Some(stored) = run_and_kill(&sandbox, &base_url, &card, &file, at, round == 6) {
                kill_points.push(stored);
                floor = stored;
            }
        }
        // Batches the journal records (complete lines after the header).
        let recorded = std::fs::read_to_string(&journal)
            .map(|t| t.matches('\n').count().saturating_sub(1))
            .unwrap_or(0);
        let out = deposit(&base_url, &card, &file).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["complete"], true);
        assert_eq!(
            report["deposited"].as_u64().unwrap() + report["already_there"].as_u64().unwrap(),
            CODES as u64,
            "round {round}: {report}"
        );
        assert_eq!(report["deposit_count"], CODES as u64);
        assert_eq!(sandbox.deposited_count(&card), Some(CODES));
        // Every code of the file is there.
        let stored = sandbox.deposited_codes(&card).unwrap();
        let mut stored: Vec<&str> = stored.iter().map(String::as_str).collect();
        stored.sort_unstable();
        assert!(
            stored
                .iter()
                .enumerate()
                .all(|(i, c)| *c == format!("K{i:09}"))
        );
        // No code was sent to deposit after the sandbox had stored it.
        assert_eq!(sandbox.stats().codes_duplicate, 0, "round {round}");
        // The journal of the killed runs was used: what it proved was not re-checked.
        assert_eq!(report["resumed_batches"], recorded as u64, "round {round}");
        eprintln!("round {round}: resumed {recorded} recorded batches");
    }
    kill_points.sort_unstable();
    kill_points.dedup();
    assert!(
        kill_points.len() >= 5,
        "at least five distinct kill points, got {kill_points:?}"
    );
    eprintln!("killed with this many codes stored: {kill_points:?}");
}
