//! Access tokens, stable tokens and the card api_ticket, on a manual clock.

mod common;

use card_model::AppSecret;
use card_sandbox::{Clock, Sandbox};
use common::*;
use serde_json::{Value, json};

fn token_url(appid: &str, secret: &str) -> String {
    format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}")
}

fn fetch(api: &Api<Sandbox>) -> String {
    let v = api.get(&token_url(Sandbox::DEFAULT_APPID, Sandbox::DEFAULT_SECRET));
    assert!(v.get("errcode").is_none(), "success has no errcode: {v}");
    assert_eq!(v["expires_in"], 7200);
    v["access_token"].as_str().unwrap().to_owned()
}

fn count_with(api: &Api<Sandbox>, token: &str) -> Value {
    api.get(&format!(
        "/cgi-bin/ticket/getticket?type=wx_card&access_token={token}"
    ))
}

#[test]
fn token_endpoint_checks_the_app_credentials() {
    let sb = sandbox();
    let api = Api::new(sb.clone(), "https://api.weixin.qq.com", "");
    let a = fetch(&api);
    let b = fetch(&api);
    assert_ne!(a, b, "each fetch issues a new token");
    expect_code(&api.get(&token_url(Sandbox::DEFAULT_APPID, "wrong")), 40001);
    expect_code(
        &api.get(&token_url("wxWrong", Sandbox::DEFAULT_SECRET)),
        40013,
    );
    expect_code(
        &api.get("/cgi-bin/token?grant_type=client_credential&secret=x"),
        41002,
    );
    expect_code(
        &api.get(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={}",
            Sandbox::DEFAULT_APPID
        )),
        41004,
    );
    expect_code(
        &api.get(&format!(
            "/cgi-bin/token?grant_type=password&appid={}&secret={}",
            Sandbox::DEFAULT_APPID,
            Sandbox::DEFAULT_SECRET
        )),
        40002,
    );
    assert_eq!(sb.stats().tokens_issued, 2);
}

#[test]
fn configured_credentials_and_percent_encoding() {
    let sb = Sandbox::builder()
        .appid("wxMine")
        .secret(AppSecret::new("s+/= x"))
        .clock(Clock::manual(T0))
        .build();
    let api = Api::new(sb.clone(), "http://h", "");
    expect_code(&api.get(&token_url("wxMine", "s%2B%2F%3D+x")), 0);
    expect_code(&api.get(&token_url("wxMine", "s+/=+x")), 40001);
    expect_code(
        &api.get(&token_url(Sandbox::DEFAULT_APPID, "s%2B%2F%3D+x")),
        40013,
    );
    assert_eq!(sb.appid(), "wxMine");
    assert_eq!(sb.secret().expose(), "s+/= x");
}

#[test]
fn missing_unknown_and_expired_tokens() {
    let sb = sandbox();
    let api = Api::new(sb.clone(), "https://api.weixin.qq.com", "");
    expect_code(&api.get("/cgi-bin/ticket/getticket?type=wx_card"), 41001);
    expect_code(
        &api.get("/cgi-bin/ticket/getticket?type=wx_card&access_token="),
        41001,
    );
    expect_code(&count_with(&api, "not-a-token"), 40001);
    let t = fetch(&api);
    expect_code(&count_with(&api, &t), 0);
    sb.advance(7199);
    expect_code(&count_with(&api, &t), 0);
    sb.advance(1);
    expect_code(&count_with(&api, &t), 42001);
    let t2 = fetch(&api);
    expect_code(&count_with(&api, &t2), 0);
}

#[test]
fn a_new_token_supersedes_the_old_after_the_grace() {
    // Grace 0: the old token fails at once with 40001 ("not latest").
    let sb = sandbox();
    let api = Api::new(sb.clone(), "http://h", "");
    let old = fetch(&api);
    let new = fetch(&api);
    expect_code(&count_with(&api, &old), 40001);
    expect_code(&count_with(&api, &new), 0);

    // Grace 300 (WeChat's 5 minutes, the default): both work until it passes.
    let sb = Sandbox::builder().clock(Clock::manual(T0)).build();
    let api = Api::new(sb.clone(), "http://h", "");
    let old = fetch(&api);
    sb.advance(10);
    let new = fetch(&api);
    sb.advance(299);
    expect_code(&count_with(&api, &old), 0);
    sb.advance(1);
    expect_code(&count_with(&api, &old), 40001);
    expect_code(&count_with(&api, &new), 0);
    // A third fetch does not extend the first token's grace.
    let _third = fetch(&api);
    expect_code(&count_with(&api, &old), 40001);
    expect_code(&count_with(&api, &new), 0);
}

#[test]
fn issue_token_is_the_same_as_fetching() {
    let sb = sandbox();
    let api = Api::new(sb.clone(), "http://h", "");
    let t = sb.issue_token();
    expect_code(&count_with(&api, t.expose()), 0);
    assert!(!format!("{t:?}").contains(t.expose()));
    let _ = fetch(&api);
    expect_code(&count_with(&api, t.expose()), 40001);
}

#[test]
fn stable_token_is_reused_unless_forced() {
    let sb = sandbox();
    let api = Api::new(sb.clone(), "http://h", "");
    let stable = |force: bool| {
        let r = api
            .raw(
                "POST",
                "/cgi-bin/stable_token",
                json!({"grant_type": "client_credential", "appid": Sandbox::DEFAULT_APPID,
                       "secret": Sandbox::DEFAULT_SECRET, "force_refresh": force})
                .to_string(),
            )
            .unwrap();
        serde_json::from_slice::<Value>(r.body()).unwrap()
    };
    let a = stable(false);
    assert_eq!(a["expires_in"], 7200);
    sb.advance(100);
    let b = stable(false);
    assert_eq!(a["access_token"], b["access_token"]);
    assert_eq!(b["expires_in"], 7100);
    let c = stable(true);
    assert_ne!(c["access_token"], a["access_token"]);
    assert_eq!(c["expires_in"], 7200);
    expect_code(&count_with(&api, c["access_token"].as_str().unwrap()), 0);
    // A plain token fetch does not supersede the stable token.
    let _ = fetch(&api);
    expect_code(&count_with(&api, c["access_token"].as_str().unwrap()), 0);
    let r = api
        .raw(
            "POST",
            "/cgi-bin/stable_token",
            json!({"grant_type": "client_credential", "appid": Sandbox::DEFAULT_APPID, "secret": "no"})
                .to_string(),
        )
        .unwrap();
    expect_code(&serde_json::from_slice(r.body()).unwrap(), 40001);
    let r = api.raw("GET", "/cgi-bin/stable_token", "").unwrap();
    expect_code(&serde_json::from_slice(r.body()).unwrap(), 43002);
}

#[test]
fn getticket_answers_the_card_api_ticket() {
    let sb = sandbox();
    let api = api(&sb);
    let v = count_with(&api, &api.token);
    expect_code(&v, 0);
    assert_eq!(v["errmsg"], "ok");
    assert_eq!(v["expires_in"], 7200);
    assert_eq!(v["ticket"], sb.api_ticket().expose());
    // Cached until it expires, then renewed.
    assert_eq!(count_with(&api, &api.token)["ticket"], v["ticket"]);
    sb.advance(7200);
    let api = common::api(&sb);
    let renewed = count_with(&api, &api.token);
    assert_ne!(renewed["ticket"], v["ticket"]);
    expect_code(
        &api.get(&format!(
            "/cgi-bin/ticket/getticket?type=jsapi&access_token={}",
            api.token
        )),
        40097,
    );
    expect_code(
        &api.get(&format!(
            "/cgi-bin/ticket/getticket?access_token={}",
            api.token
        )),
        40097,
    );
}

fn stable(api: &Api<Sandbox>, force: bool) -> Value {
    let r = api
        .raw(
            "POST",
            "/cgi-bin/stable_token",
            json!({"grant_type": "client_credential", "appid": Sandbox::DEFAULT_APPID,
                   "secret": Sandbox::DEFAULT_SECRET, "force_refresh": force})
            .to_string(),
        )
        .unwrap();
    serde_json::from_slice::<Value>(r.body()).unwrap()
}

#[test]
fn stable_token_rolls_over_in_its_last_five_minutes() {
    // A grace period for plain tokens must not matter to stable ones.
    let sb = Sandbox::builder()
        .clock(Clock::manual(T0))
        .token_grace(300)
        .build();
    let api = Api::new(sb.clone(), "http://h", "");
    let a = stable(&api, false);
    let a_token = a["access_token"].as_str().unwrap().to_owned();
    sb.advance(7200 - 301);
    let same = stable(&api, false);
    assert_eq!(same["access_token"], a_token.as_str());
    assert_eq!(same["expires_in"], 301);
    // Inside the last five minutes: a new token, and the old one works until it expires.
    sb.advance(2);
    let b = stable(&api, false);
    let b_token = b["access_token"].as_str().unwrap().to_owned();
    assert_ne!(b_token, a_token);
    assert_eq!(b["expires_in"], 7200);
    expect_code(&count_with(&api, &a_token), 0);
    sb.advance(299);
    expect_code(&count_with(&api, &a_token), 42001);
    expect_code(&count_with(&api, &b_token), 0);
    // Every answer leaves at least five minutes.
    assert!(stable(&api, false)["expires_in"].as_i64().unwrap() >= 300);
}

#[test]
fn force_refresh_revokes_the_old_stable_token_at_once() {
    let sb = Sandbox::builder()
        .clock(Clock::manual(T0))
        .token_grace(300)
        .build();
    let api = Api::new(sb.clone(), "http://h", "");
    let a = stable(&api, false)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.advance(60);
    let b = stable(&api, true)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b);
    expect_code(&count_with(&api, &a), 40001);
    expect_code(&count_with(&api, &b), 0);
    // A second forced refresh within 30 s gives the current token back.
    sb.advance(29);
    assert_eq!(stable(&api, true)["access_token"], b.as_str());
    sb.advance(1);
    let c = stable(&api, true)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(c, b);
    expect_code(&count_with(&api, &b), 40001);
    // Plain tokens are a separate family: fetching one leaves the stable token alone.
    let _ = fetch(&api);
    expect_code(&count_with(&api, &c), 0);
}

#[test]
fn tokens_are_long_and_differ_between_fresh_sandboxes_unless_seeded() {
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let (ta, tb) = (a.issue_token(), b.issue_token());
    assert_eq!(ta.expose().len(), Sandbox::DEFAULT_TOKEN_LEN);
    assert!(ta.expose().len() >= 128);
    assert!(
        ta.expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(ta.expose(), tb.expose());
    let seeded = || Sandbox::builder().seed(42).build().issue_token();
    assert_eq!(seeded().expose(), seeded().expose());
    let long = Sandbox::builder().token_len(512).build().issue_token();
    assert_eq!(long.expose().len(), 512);
    let clamped = Sandbox::builder().token_len(100_000).build().issue_token();
    assert_eq!(clamped.expose().len(), 512);
    // Each token of one sandbox is new.
    let many: std::collections::HashSet<String> = (0..1000)
        .map(|_| a.issue_token().expose().to_owned())
        .collect();
    assert_eq!(many.len(), 1000);
}
