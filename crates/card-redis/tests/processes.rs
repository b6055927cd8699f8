//! Several servers on one Redis, as merchants run them: OS processes (this test binary
//! started again as a child, in the role `WXCARD_REDIS_CHILD` names), each with its own
//! client, calling the sandbox over HTTP; a lease holder killed mid-refresh; Redis
//! stopped mid-run; one push delivered to two processes.

mod common;

use card_api::Error;
use card_push::{AsyncDedupStore, DedupKey, DedupStore};
use card_redis::{AsyncRedisDedupStore, RedisConfig, RedisDedupStore};
use common::{
    APPID, RedisServer, Setup, async_client, base_url, blocking_client, qr, raw, redis_url,
    sandbox, unique_prefix,
};
use redis::Commands;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The role of a child process.
const CHILD_VAR: &str = "WXCARD_REDIS_CHILD";
/// The line a child reports its result on.
const RESULT: &str = "WXCARD-RESULT ";
/// Threads (blocking) or tasks (async) per child process.
const PER_PROCESS: usize = 16;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child without {name}"))
}

/// This test binary again, running only [`child_process`] in `role`.
fn spawn_child(role: &str, vars: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_VAR, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.spawn().expect("spawn a child process")
}

/// Waits for a child and answers its result line.
fn result_of(child: Child) -> String {
    let output = child.wait_with_output().expect("wait for a child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find(RESULT).map(|at| &l[at + RESULT.len()..]))
        .unwrap_or_else(|| panic!("a child gave no result ({:?}): {stdout}", output.status));
    assert!(output.status.success(), "child failed: {stdout}");
    line.to_owned()
}

fn field<'a>(result: &'a str, name: &str) -> &'a str {
    result
        .split(' ')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {result:?}"))
}

/// Not a test of its own: the body of the child processes the other tests start.
#[test]
#[ignore = "run as a child process by the other tests of this file"]
fn child_process() {
    let Ok(role) = std::env::var(CHILD_VAR) else {
        return;
    };
    wait_for_start();
    let result = match role.as_str() {
        "calls" => child_calls(),
        "hold-lease" => child_hold_lease(),
        "dedup" => child_dedup(),
        other => panic!("unknown child role {other}"),
    };
    println!("\n{RESULT}{result}");
}

/// Children that race each other start together: when the parent sets `<PREFIX>go`.
fn wait_for_start() {
    let Ok(gate) = std::env::var("START_GATE") else {
        return;
    };
    let mut conn = raw(&env("REDIS_URL"));
    for _ in 0..2000 {
        if conn.exists::<_, bool>(&gate).unwrap() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the parent never opened the start gate");
}

/// Opens the start gate of the children spawned with `START_GATE` = `gate`.
fn open_gate(url: &str, gate: &str) {
    let () = raw(url).set_ex(gate, 1, 60).unwrap();
}

/// 16 threads or tasks, each making `CALLS` QR codes through one client.
fn child_calls() -> String {
    let (base, redis_url, prefix, card) = (
        env("BASE_URL"),
        env("REDIS_URL"),
        env("PREFIX"),
        env("CARD"),
    );
    let calls: usize = env("CALLS").parse().expect("CALLS");
    // A token another process replaced is used here for at most 250 ms (the sandbox,
    // unlike WeChat, rejects a replaced token at once).
    let redis = RedisConfig::new(&redis_url)
        .unwrap()
        .prefix(prefix)
        .revalidate_after(Duration::from_millis(250));
    let setup = Setup {
        base_url: &base,
        redis: &redis,
        lease: Duration::from_secs(10),
    };
    let outcomes: Vec<Result<(), String>> = if env("MODE") == "async" {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = async_client(&setup);
            let tasks: Vec<_> = (0..PER_PROCESS)
                .map(|_| {
                    let (client, card) = (client.clone(), card.clone());
                    tokio::spawn(async move {
                        let mut out = Vec::with_capacity(calls);
                        for _ in 0..calls {
                            let r = client.create_qr_code(&qr(&card)).await;
                            out.push(r.map(drop).map_err(|e| format!("{e:?}")));
                        }
                        out
                    })
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
            all
        })
    } else {
        let client = blocking_client(&setup);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..PER_PROCESS)
                .map(|_| {
                    s.spawn(|| {
                        (0..calls)
                            .map(|_| {
                                client
                                    .create_qr_code(&qr(&card))
                                    .map(drop)
                                    .map_err(|e| format!("{e:?}"))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        })
    };
    let ok = outcomes.iter().filter(|r| r.is_ok()).count();
    let first_error = outcomes
        .iter()
        .find_map(|r| r.clone().err())
        .unwrap_or_default()
        .replace(' ', "_");
    format!(
        "ok={ok} failed={} first_error={first_error}",
        outcomes.len() - ok
    )
}

/// Takes the refresh lease and hangs in the token fetch (the server never answers),
/// until the parent kills this process.
fn child_hold_lease() -> String {
    let (base, redis_url, prefix) = (env("BASE_URL"), env("REDIS_URL"), env("PREFIX"));
    let lease_ms: u64 = env("LEASE_MS").parse().unwrap();
    let redis = RedisConfig::new(&redis_url).unwrap().prefix(prefix);
    let client = blocking_client(&Setup {
        base_url: &base,
        redis: &redis,
        lease: Duration::from_millis(lease_ms),
    });
    let answer = client.access_token();
    format!("unexpectedly_finished={}", answer.is_ok())
}

/// Handles pushes 0..PUSHES once each, as far as the shared de-duplication store says.
fn child_dedup() -> String {
    let (redis_url, prefix) = (env("REDIS_URL"), env("PREFIX"));
    let pushes: u32 = env("PUSHES").parse().unwrap();
    let redis = RedisConfig::new(&redis_url).unwrap().prefix(prefix);
    let ttl = Duration::from_secs(60);
    let key = |i: u32| DedupKey::from_string(format!("oUser:{}:user_get_card:{i}", 1_700_000_000));
    let handled: Vec<u32> = if env("MODE") == "async" {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = AsyncRedisDedupStore::new(&redis, APPID).unwrap();
            let mut handled = Vec::new();
            for i in 0..pushes {
                if AsyncDedupStore::first_seen(&store, &key(i), ttl)
                    .await
                    .unwrap()
                {
                    handled.push(i);
                }
            }
            handled
        })
    } else {
        let store = RedisDedupStore::new(&redis, APPID);
        (0..pushes)
            .filter(|&i| DedupStore::first_seen(&store, &key(i), ttl).unwrap())
            .collect()
    };
    let list: Vec<String> = handled.iter().map(u32::to_string).collect();
    format!("handled={}", list.join(","))
}

#[test]
fn four_processes_share_one_token_refreshed_once_per_expiry() {
    let Some(url) = redis_url("four_processes_share_one_token_refreshed_once_per_expiry") else {
        return;
    };
    // Per thread or task: 4 x 16 x 200 = 12,800 calls; the token dies every 200th call.
    const CALLS: usize = 200;
    let (sandbox, server, card) = sandbox(200);
    let prefix = unique_prefix("processes");
    let children: Vec<Child> = ["blocking", "async", "blocking", "async"]
        .iter()
        .map(|mode| {
            spawn_child(
                "calls",
                &[
                    ("BASE_URL", base_url(&server)),
                    ("REDIS_URL", url.clone()),
                    ("PREFIX", prefix.clone()),
                    ("CARD", card.clone()),
                    ("CALLS", CALLS.to_string()),
                    ("MODE", (*mode).to_owned()),
                    ("START_GATE", format!("{prefix}go")),
                ],
            )
        })
        .collect();
    open_gate(&url, &format!("{prefix}go"));
    let results: Vec<String> = children.into_iter().map(result_of).collect();
    let stats = sandbox.stats();
    for result in &results {
        assert_eq!(field(result, "failed"), "0", "{result}");
        assert_eq!(
            field(result, "ok"),
            (PER_PROCESS * CALLS).to_string(),
            "{result}"
        );
    }
    assert_eq!(sandbox.qr_tickets().len(), 4 * PER_PROCESS * CALLS);
    // Every real expiry (the sandbox killing the current token) was followed by exactly
    // one fetch across the four processes, plus the first one.
    eprintln!("4 processes: {results:?}; sandbox: {stats:?}");
    assert!(stats.faults.token_expired >= 5, "{stats:?}");
    assert_eq!(
        stats.tokens_issued,
        stats.faults.token_expired + 1,
        "{stats:?}"
    );
}

#[test]
fn a_lease_holder_killed_mid_refresh_blocks_the_others_at_most_for_the_lease() {
    let Some(url) =
        redis_url("a_lease_holder_killed_mid_refresh_blocks_the_others_at_most_for_the_lease")
    else {
        return;
    };
    const LEASE: Duration = Duration::from_secs(3);
    let (sandbox, server, card) = sandbox(0);
    // A server that accepts connections and never answers: the child's token fetch hangs.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let prefix = unique_prefix("killed-holder");
    let mut child = spawn_child(
        "hold-lease",
        &[
            (
                "BASE_URL",
                format!("http://{}", black_hole.local_addr().unwrap()),
            ),
            ("REDIS_URL", url.clone()),
            ("PREFIX", prefix.clone()),
            ("LEASE_MS", LEASE.as_millis().to_string()),
        ],
    );
    let lease_key = format!("{prefix}wxcard:access_token:{APPID}:lease");
    let mut conn = raw(&url);
    let mut holder: Option<String> = None;
    for _ in 0..600 {
        holder = conn.get(&lease_key).unwrap();
        if holder.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let holder = holder.expect("the child took the lease");
    child.kill().expect("SIGKILL the lease holder");
    let status = child.wait().unwrap();
    assert!(!status.success());
    let still: Option<String> = conn.get(&lease_key).unwrap();
    assert_eq!(
        still.as_deref(),
        Some(holder.as_str()),
        "the dead holder's lease"
    );

    // Another server waits the lease out (its own lease and wait bound: LEASE) and gets
    // a token; only one is fetched.
    let redis = RedisConfig::new(&url).unwrap().prefix(prefix);
    let client = blocking_client(&Setup {
        base_url: &base_url(&server),
        redis: &redis,
        lease: LEASE,
    });
    client
        .create_qr_code(&qr(&card))
        .expect("a call after the lease expired");
    assert_eq!(sandbox.stats().tokens_issued, 1);
}

#[test]
fn calls_fail_with_store_errors_while_redis_is_down_and_recover_after_it_restarts() {
    let Some(_) =
        redis_url("calls_fail_with_store_errors_while_redis_is_down_and_recover_after_it_restarts")
    else {
        return;
    };
    let mut redis_server = RedisServer::start();
    let (sandbox, server, card) = sandbox(0);
    let base = base_url(&server);
    let revalidate = Duration::from_millis(200);
    let redis = RedisConfig::new(&redis_server.url())
        .unwrap()
        .timeout(Duration::from_secs(5))
        .revalidate_after(revalidate);
    let setup = Setup {
        base_url: &base,
        redis: &redis,
        lease: Duration::from_secs(5),
    };
    let blocking = blocking_client(&setup);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async { async_client(&setup) });

    // 16 threads and 16 tasks, `calls` each; every outcome.
    let run = |calls: usize| -> Vec<Result<(), Error>> {
        let mut all: Vec<Result<(), Error>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..PER_PROCESS)
                .map(|_| {
                    s.spawn(|| {
                        (0..calls)
                            .map(|_| blocking.create_qr_code(&qr(&card)).map(drop))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        rt.block_on(async {
            let tasks: Vec<_> = (0..PER_PROCESS)
                .map(|_| {
                    let (client, card) = (client.clone(), card.clone());
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        for _ in 0..calls {
                            out.push(client.create_qr_code(&qr(&card)).await.map(drop));
                        }
                        out
                    })
                })
                .collect();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
        });
        all
    };

    assert!(run(10).iter().all(Result::is_ok));
    assert_eq!(sandbox.stats().tokens_issued, 1);

    redis_server.stop();
    // Past the interval the local copies were vouched for.
    std::thread::sleep(revalidate * 2);
    let sent_before = sandbox.stats().api_calls;
    let down = run(5);
    for outcome in &down {
        assert!(
            matches!(outcome, Err(Error::Store(_))),
            "while Redis is down: {outcome:?}"
        );
    }
    assert_eq!(
        sandbox.stats().api_calls,
        sent_before,
        "no call was sent with a token the store could not vouch for"
    );

    // Redis is back (empty: no persistence); the same clients recover.
    redis_server.restart();
    let mut recovered = false;
    for _ in 0..20 {
        let outcomes = run(1);
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(Error::Store(_))),
                "{outcome:?}"
            );
        }
        if outcomes.iter().all(Result::is_ok) {
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        recovered,
        "the clients did not recover after Redis restarted"
    );
    assert!(run(10).iter().all(Result::is_ok));
    // The token was fetched again once: the restarted Redis held none.
    assert_eq!(sandbox.stats().tokens_issued, 2);
}

#[test]
fn a_push_delivered_to_two_processes_is_handled_once() {
    let Some(url) = redis_url("a_push_delivered_to_two_processes_is_handled_once") else {
        return;
    };
    const PUSHES: u32 = 2000;
    let prefix = unique_prefix("dedup-processes");
    let children: Vec<Child> = ["blocking", "async"]
        .iter()
        .map(|mode| {
            spawn_child(
                "dedup",
                &[
                    ("REDIS_URL", url.clone()),
                    ("PREFIX", prefix.clone()),
                    ("PUSHES", PUSHES.to_string()),
                    ("MODE", (*mode).to_owned()),
                    ("START_GATE", format!("{prefix}go")),
                ],
            )
        })
        .collect();
    open_gate(&url, &format!("{prefix}go"));
    let handled: Vec<BTreeSet<u32>> = children
        .into_iter()
        .map(|c| {
            let result = result_of(c);
            field(&result, "handled")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect()
        })
        .collect();
    let both: Vec<u32> = handled[0].intersection(&handled[1]).copied().collect();
    assert!(both.is_empty(), "handled twice: {both:?}");
    assert_eq!(handled[0].len() + handled[1].len(), PUSHES as usize);
    eprintln!(
        "pushes handled by each process: {} and {}",
        handled[0].len(),
        handled[1].len()
    );
}

#[test]
fn without_the_variable_a_redis_test_says_skipped_and_fails_under_ci() {
    // This test needs no Redis: it runs another test of this binary without the variable.
    let run = |ci: Option<&str>| {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command
            .args([
                "a_push_delivered_to_two_processes_is_handled_once",
                "--exact",
                "--test-threads",
                "1",
            ])
            .env_remove(common::URL_VAR)
            .env_remove("CI");
        if let Some(ci) = ci {
            command.env("CI", ci);
        }
        let output = command.output().expect("run the test binary");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout),
        )
    };
    let (passed, text) = run(None);
    assert!(passed, "{text}");
    assert!(text.contains(common::SKIP_MARKER), "{text}");
    assert!(text.contains(common::URL_VAR), "{text}");
    let (passed, text) = run(Some("true"));
    assert!(
        !passed,
        "under CI=true a missing {} must fail: {text}",
        common::URL_VAR
    );
    assert!(text.contains("cannot be skipped"), "{text}");
}
