//! `--redis-url`: CLI runs share the access token with the merchant's servers through a
//! real redis-server, and the URL's password is never printed.
//!
//! The test Redis is the one `WXCARD_TEST_REDIS_URL` names (`.ci/run` starts it). Without
//! the variable the tests say `SKIPPED (Redis)` on stderr and return; under `CI=true` a
//! missing variable fails them. The password is that of an ACL user the test adds to the
//! test Redis (and removes), so that the shared server needs no password of its own.

use assert_cmd::Command;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wxcard::AppSecret;
use wxcard::sandbox::{CardSpec, Sandbox, ServerHandle};

const URL_VAR: &str = "WXCARD_TEST_REDIS_URL";
const SECRET: &str = "cli-redis-test-secret-4e1d";
const PASSWORD: &str = "redis-pw-9c2f7a61e0b4";

/// The shared test Redis, or `None` (and a visible message) without the variable.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{URL_VAR} is not set, and CI=true: the Redis test {test} cannot be skipped"
            );
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED (Redis): {test}: {URL_VAR} is not set; start a redis-server and set \
                 {URL_VAR}=redis://127.0.0.1:PORT/ to run it"
            );
            None
        }
    }
}

/// A name no other run uses.
fn unique(what: &str) -> String {
    // The tests of this file run at once in one process: a counter keeps two names that
    // are made in the same instant apart.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{what}{}x{}x{n}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect to the test redis")
}

/// An ACL user with a password on the test Redis, removed when dropped; its URL is
/// `redis://USER:PASSWORD@HOST:PORT/`.
struct AclUser {
    admin: redis::Connection,
    name: String,
    url: String,
}

impl AclUser {
    fn add(url: &str) -> Self {
        let mut admin = connect(url);
        let name = unique("wxcard-cli-");
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg("on")
            .arg(format!(">{PASSWORD}"))
            .arg("~*")
            .arg("+@all")
            .query::<()>(&mut admin)
            .expect("ACL SETUSER");
        let rest = url.strip_prefix("redis://").expect("a redis:// test URL");
        let url = format!("redis://{name}:{PASSWORD}@{rest}");
        Self { admin, name, url }
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        let _ = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&self.name)
            .query::<i64>(&mut self.admin);
    }
}

/// A sandbox over HTTP on loopback with an AppID of its own (the Redis keys are the
/// AppID's) and a deposit-mode card.
fn sandbox() -> (Sandbox, ServerHandle, String) {
    let sandbox = Sandbox::builder()
        .appid(unique("wxcli"))
        .secret(AppSecret::new(SECRET))
        .build();
    let card = sandbox
        .create_card(CardSpec::deposit_mode().card_id(unique("pcard")))
        .expect("a card");
    let server = wxcard::sandbox::serve(sandbox.clone(), ("127.0.0.1", 0)).expect("serve");
    (sandbox, server, card)
}

/// `wxcard --verbose --base-url BASE count --card-id CARD` with the credentials in the
/// environment and no Redis unless the caller adds one.
fn count(sandbox: &Sandbox, server: &ServerHandle, card: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxcard"));
    cmd.env_remove("WXCARD_BASE_URL")
        .env_remove("WXCARD_REDIS_URL")
        .env("WECHAT_APPID", sandbox.appid())
        .env("WECHAT_APPSECRET", SECRET)
        .args([
            "--verbose",
            "--base-url",
            &server.base_url(),
            "count",
            "--card-id",
            card,
        ]);
    cmd
}

/// Runs `cmd`, checks that neither output holds the password, answers (success, stdout,
/// stderr).
fn run(mut cmd: Command) -> (bool, String, String) {
    let output = cmd.output().expect("run wxcard");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the Redis password was printed:\n{stdout}\n{stderr}"
    );
    (output.status.success(), stdout, stderr)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn cli_runs_share_one_access_token_through_redis() {
    let Some(url) = redis_url("cli_runs_share_one_access_token_through_redis") else {
        return;
    };
    let user = AclUser::add(&url);
    let (sandbox, server, card) = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let url_file = write(dir.path(), "redis-url", &format!("{}\n", user.url));

    // Three runs, the URL given each way: the first fetches the token, the others take
    // it from Redis.
    let mut by_flag = count(&sandbox, &server, &card);
    by_flag.args(["--redis-url", &user.url]);
    let mut by_env = count(&sandbox, &server, &card);
    by_env.env("WXCARD_REDIS_URL", &user.url);
    let mut by_file = count(&sandbox, &server, &card);
    by_file.arg("--redis-url-file").arg(&url_file);
    for cmd in [by_flag, by_env, by_file] {
        let (ok, stdout, stderr) = run(cmd);
        assert!(ok, "{stdout}\n{stderr}");
        assert!(stderr.contains("through Redis"), "{stderr}");
    }
    assert_eq!(sandbox.stats().tokens_issued, 1, "{:?}", sandbox.stats());

    // The token is in Redis under the AppID's key.
    let key = format!("wxcard:access_token:{}", sandbox.appid());
    let stored: Option<String> = redis::cmd("HGET")
        .arg(&key)
        .arg("value")
        .query(&mut connect(&url))
        .unwrap();
    assert!(
        stored.is_some_and(|t| !t.is_empty()),
        "nothing stored at {key}"
    );

    // Without Redis, a run fetches a token of its own (and knocks out the shared one).
    let (ok, _, _) = run(count(&sandbox, &server, &card));
    assert!(ok);
    assert_eq!(sandbox.stats().tokens_issued, 2);
}

#[test]
fn the_redis_password_is_never_printed() {
    let Some(url) = redis_url("the_redis_password_is_never_printed") else {
        return;
    };
    let user = AclUser::add(&url);
    let (sandbox, server, card) = sandbox();

    // --help with the URL in the environment.
    let mut help = Command::new(env!("CARGO_BIN_EXE_wxcard"));
    help.env("WXCARD_REDIS_URL", &user.url).arg("--help");
    let (ok, stdout, _) = run(help);
    assert!(ok && stdout.contains("--redis-url"), "{stdout}");

    // A wrong password: Redis refuses, the command fails with a store error (--verbose
    // prints the causes) and nothing is sent to the API.
    let wrong = user.url.replace(PASSWORD, &format!("{PASSWORD}-wrong"));
    let mut cmd = count(&sandbox, &server, &card);
    cmd.env("WXCARD_REDIS_URL", &wrong);
    let (ok, _, stderr) = run(cmd);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("wxcard: error:"), "{stderr}");
    assert!(stderr.to_lowercase().contains("redis"), "{stderr}");
    assert_eq!(sandbox.stats().tokens_issued, 0);
    assert_eq!(sandbox.stats().api_calls, 0);

    // No Redis at the address (a port nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut cmd = count(&sandbox, &server, &card);
    cmd.args([
        "--redis-url",
        &format!("redis://u:{PASSWORD}@127.0.0.1:{port}/"),
    ]);
    let (ok, _, stderr) = run(cmd);
    assert!(!ok, "{stderr}");

    // An unusable URL.
    let mut cmd = count(&sandbox, &server, &card);
    cmd.args([
        "--redis-url",
        &format!("redis://u:{PASSWORD}@127.0.0.1:notaport/"),
    ]);
    let (ok, _, stderr) = run(cmd);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("Redis URL"), "{stderr}");
    assert_eq!(sandbox.stats().api_calls, 0);
}
