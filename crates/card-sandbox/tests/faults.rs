//! Every fault kind, deterministic from a seed, and honest about effects.

mod common;

use card_sandbox::{CardSpec, Clock, Fault, FaultConfig, Sandbox};
use card_transport::{BlockingTransport, TransportErrorKind};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn faulty(faults: FaultConfig) -> Sandbox {
    Sandbox::builder()
        .clock(Clock::manual(T0))
        .token_grace(0)
        .faults(faults)
        .build()
}

/// One outcome per call: the errcode, or -1000 for a dropped connection.
fn outcomes(sb: &Sandbox, calls: usize) -> Vec<i64> {
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let mut token = sb.issue_token();
    (0..calls)
        .map(|i| {
            let api = Api::new(sb.clone(), "http://h", token.expose());
            let out = match api.raw(
                "POST",
                &format!("/card/code/getdepositcount?access_token={}", token.expose()),
                json!({"card_id": card}).to_string(),
            ) {
                Ok(r) => errcode(&serde_json::from_slice::<Value>(r.body()).unwrap()),
                Err(e) => {
                    assert_eq!(e.kind(), TransportErrorKind::Io, "call {i}");
                    -1000
                }
            };
            if out == 42001 {
                token = sb.issue_token();
            }
            out
        })
        .collect()
}

#[test]
fn random_faults_repeat_exactly_for_a_seed() {
    let config = FaultConfig::seeded(2024)
        .expire_token_every(50)
        .system_busy(FaultConfig::one_in(97))
        .rate_limited(FaultConfig::one_in(200))
        .drop_before_effect(FaultConfig::one_in(150))
        .drop_after_effect(FaultConfig::one_in(150));
    let a = outcomes(&faulty(config.clone()), 3000);
    let b = outcomes(&faulty(config.clone()), 3000);
    assert_eq!(a, b);
    let mut other = config;
    other.seed = 2025;
    let c = outcomes(&faulty(other), 3000);
    assert_ne!(a, c, "another seed, other faults");
    let n = |code| a.iter().filter(|&&x| x == code).count();
    // Every 50th call expires the token (unless its connection was dropped), and no other.
    for (i, &out) in a.iter().enumerate() {
        let fiftieth = (i + 1) % 50 == 0;
        assert_eq!(out == 42001, fiftieth && out != -1000, "call {i}: {out}");
    }
    assert!(n(42001) >= 55);
    assert!((10..60).contains(&n(-1)), "about 1 in 97: {}", n(-1));
    assert!((3..35).contains(&n(45009)), "about 1 in 200: {}", n(45009));
    assert!((15..70).contains(&n(-1000)), "drops: {}", n(-1000));
    assert!(n(0) > 2700);
}

#[test]
fn set_faults_restarts_the_sequence_and_counts_are_kept() {
    let config = FaultConfig::seeded(9).system_busy(0.3);
    let sb = faulty(config.clone());
    let first = outcomes(&sb, 200);
    sb.set_faults(config.clone());
    let second = outcomes(&sb, 200);
    assert_eq!(first, second);
    assert_eq!(sb.faults(), config);
    let busy = first.iter().filter(|&&x| x == -1).count() as u64;
    assert_eq!(sb.stats().faults.system_busy, 2 * busy);
    sb.set_faults(FaultConfig::seeded(9));
    assert!(outcomes(&sb, 200).iter().all(|&x| x == 0));
}

#[test]
fn busy_and_rate_limited_answers_have_no_effect_and_a_retry_succeeds() {
    let sb = sandbox();
    let api = api(&sb);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let body = deposit_body(&card, &codes(0, 100));
    sb.push_fault(Fault::SystemBusy);
    sb.push_fault(Fault::RateLimited);
    assert_eq!(sb.scripted_faults(), 2);
    let v = api.post("/card/code/deposit", &body);
    expect_code(&v, -1);
    assert_eq!(
        v["errmsg"].as_str().unwrap().split(" rid:").next(),
        Some("system error")
    );
    assert_eq!(sb.deposited_count(&card), Some(0));
    let v = api.post("/card/code/deposit", &body);
    expect_code(&v, 45009);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("api freq out of limit")
    );
    assert_eq!(sb.deposited_count(&card), Some(0));
    let v = api.post("/card/code/deposit", &body);
    expect_code(&v, 0);
    assert_eq!(v["succ_code"], 100);
    assert_eq!(
        v["duplicate_code"], 0,
        "the faulted attempts stored nothing"
    );
    let stats = sb.stats();
    assert_eq!(
        (stats.faults.system_busy, stats.faults.rate_limited),
        (1, 1)
    );
    assert_eq!(stats.deposit_calls, 1);
}

#[test]
fn token_expiry_fault_kills_the_token() {
    let sb = faulty(FaultConfig::seeded(1).expire_token_every(3));
    let api = api(&sb);
    let path = format!(
        "/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
        api.token
    );
    expect_code(&api.get(&path), 0);
    expect_code(&api.get(&path), 0);
    expect_code(&api.get(&path), 42001);
    expect_code(&api.get(&path), 42001);
    let fresh = common::api(&sb);
    let path = format!(
        "/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
        fresh.token
    );
    expect_code(&fresh.get(&path), 0);
    assert_eq!(sb.stats().faults.token_expired, 1);

    // Scripted too, and the request has no effect.
    let sb = sandbox();
    let api = common::api(&sb);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    sb.push_fault(Fault::ExpireToken);
    expect_code(
        &api.post("/card/code/deposit", &deposit_body(&card, &codes(0, 3))),
        42001,
    );
    assert_eq!(sb.deposited_count(&card), Some(0));
    expect_code(
        &api.post(
            "/card/code/getdepositcount",
            &json!({"card_id": card}).to_string(),
        ),
        42001,
    );
}

#[test]
fn dropped_connections_before_and_after_the_effect() {
    let sb = sandbox();
    let api = api(&sb);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let body = deposit_body(&card, &codes(0, 10));
    let path = format!("/card/code/deposit?access_token={}", api.token);

    sb.push_fault(Fault::DropBeforeEffect);
    let e = api.raw("POST", &path, body.clone()).unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Io);
    assert!(e.maybe_sent());
    assert_eq!(
        sb.deposited_count(&card),
        Some(0),
        "dropped before: nothing stored"
    );

    sb.push_fault(Fault::DropAfterEffect);
    let e = api.raw("POST", &path, body.clone()).unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Io);
    assert_eq!(
        sb.deposited_count(&card),
        Some(10),
        "dropped after: stored, answer lost"
    );

    // The retry is honest: WeChat filters the duplicates.
    let v = api.post("/card/code/deposit", &body);
    assert_eq!(
        (v["succ_code"].as_u64(), v["duplicate_code"].as_u64()),
        (Some(0), Some(10))
    );
    let f = sb.stats().faults;
    assert_eq!((f.dropped_before_effect, f.dropped_after_effect), (1, 1));
}

#[test]
fn code_failures_are_reported_and_not_stored() {
    let sb = faulty(FaultConfig::seeded(5).code_failure(0.1));
    let api = api(&sb);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let mut failed = 0;
    for chunk in 0..10 {
        let v = api.post(
            "/card/code/deposit",
            &deposit_body(&card, &codes(chunk * 100, 100)),
        );
        expect_code(&v, 0);
        let (s, d, f) = (
            v["succ_code"].as_u64().unwrap(),
            v["duplicate_code"].as_u64().unwrap(),
            v["fail_code"].as_u64().unwrap(),
        );
        assert_eq!(s + d + f, 100);
        failed += f;
    }
    assert!((40..200).contains(&failed), "{failed}");
    assert_eq!(sb.deposited_count(&card), Some(1000 - failed as usize));
    assert_eq!(sb.stats().faults.codes_failed, failed);
    // checkcode finds exactly the failed ones missing, and a retry of those stores them.
    let mut missing = Vec::new();
    for chunk in 0..10 {
        let v = api.post(
            "/card/code/checkcode",
            &deposit_body(&card, &codes(chunk * 100, 100)),
        );
        missing.extend(
            v["not_exist_code"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(missing.len() as u64, failed);
    sb.set_faults(FaultConfig::seeded(5));
    for chunk in missing.chunks(100) {
        expect_code(
            &api.post("/card/code/deposit", &deposit_body(&card, chunk)),
            0,
        );
    }
    assert_eq!(sb.deposited_count(&card), Some(1000));
}

#[test]
fn latency_delays_but_does_not_change_the_answer() {
    let sb = sandbox();
    let api = api(&sb);
    sb.push_fault(Fault::Latency(Duration::from_millis(5)));
    let v = api.get(&format!(
        "/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
        api.token
    ));
    expect_code(&v, 0);
    assert_eq!(sb.scripted_faults(), 0);
    sb.set_faults(
        FaultConfig::seeded(0).latency(Duration::from_millis(1), Duration::from_millis(2)),
    );
    let v = api.get(&format!(
        "/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
        api.token
    ));
    expect_code(&v, 0);
}

#[test]
fn faults_spare_token_and_admin_routes_and_queue_can_be_cleared() {
    let sb = faulty(
        FaultConfig::seeded(3)
            .system_busy(1.0)
            .drop_before_effect(0.0),
    );
    let api = Api::new(sb.clone(), "http://h", "");
    for _ in 0..20 {
        let v = api.get(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
            Sandbox::DEFAULT_APPID,
            Sandbox::DEFAULT_SECRET
        ));
        assert!(v["access_token"].is_string());
    }
    let r = api.raw("POST", "/sandbox/cards", "{}").unwrap();
    expect_code(&serde_json::from_slice(r.body()).unwrap(), 0);
    sb.push_fault(Fault::DropBeforeEffect);
    sb.push_fault(Fault::DropBeforeEffect);
    sb.clear_scripted_faults();
    assert_eq!(sb.scripted_faults(), 0);
    let t = sb.issue_token();
    let r = sb
        .send(
            http::Request::get(format!(
                "http://h/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
                t.expose()
            ))
            .body(Vec::new())
            .unwrap(),
        )
        .unwrap();
    expect_code(&serde_json::from_slice(r.body()).unwrap(), -1);
}

#[test]
fn periodic_faults_answer_on_exact_calls_and_mix_with_random_ones() {
    let sb = faulty(
        FaultConfig::seeded(0)
            .expire_token_every(50)
            .system_busy_every(97)
            .rate_limited_every(200),
    );
    let out = outcomes(&sb, 970);
    let at = |code: i64| -> Vec<usize> {
        (0..out.len())
            .filter(|&i| out[i] == code)
            .map(|i| i + 1)
            .collect()
    };
    assert_eq!(at(42001), (1..=19).map(|k| k * 50).collect::<Vec<_>>());
    assert_eq!(at(-1), (1..=10).map(|k| k * 97).collect::<Vec<_>>());
    // 200, 400, ... fall on expiry calls (every 50), and 42001 wins.
    assert_eq!(at(45009), Vec::<usize>::new());
    let stats = sb.stats();
    assert_eq!(stats.faults.token_expired, 19);
    assert_eq!(stats.faults.system_busy, 10);
    assert_eq!(stats.errors_answered, 29);
    // Setting faults at runtime restarts the count; random ones add to periodic ones.
    sb.set_faults(
        FaultConfig::seeded(3)
            .rate_limited_every(3)
            .system_busy(0.5),
    );
    let out = outcomes(&sb, 30);
    assert!((1..=10).all(|k| out[k * 3 - 1] == 45009 || out[k * 3 - 1] == -1));
    assert!(out.contains(&-1));
}

#[test]
fn reset_empties_everything_but_the_settings() {
    let sb = faulty(FaultConfig::seeded(1).system_busy_every(2));
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let token = sb.issue_token();
    sb.push_fault(Fault::RateLimited);
    let api = Api::new(sb.clone(), "http://h", token.expose());
    let _ = api.post(
        "/card/code/deposit",
        &json!({"card_id": card, "code": ["a"]}).to_string(),
    );
    assert!(sb.stats().requests > 0);
    assert_eq!(sb.requests_by_endpoint()["/card/code/deposit"], 1);
    sb.reset();
    assert!(sb.cards().is_empty());
    assert_eq!(sb.stats(), card_sandbox::Stats::default());
    assert!(sb.requests_by_endpoint().is_empty());
    assert_eq!(sb.scripted_faults(), 0);
    assert_eq!(sb.faults(), FaultConfig::seeded(1));
    assert_eq!(sb.now(), T0, "the clock stays");
    expect_code(&api.post("/card/code/getdepositcount", "{}"), 40001);
    // New cards get new ids: nothing from before the reset comes back.
    let again = sb.create_card(CardSpec::deposit_mode()).unwrap();
    assert_ne!(again, card);
}
