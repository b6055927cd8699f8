//! With every log turned on at TRACE (the `log` facade, which ureq uses, and `tracing`,
//! which the SDK, hyper and h2 use, dependencies' targets included), a full flow on both
//! clients writes no secret: token fetch, api_ticket, a deposit, a checkcode, a WeChat
//! error, a proxy's error page that echoes the request, all through a gateway whose
//! password is in the base URL.
//!
//! One test in its own binary: the logger and the subscriber are process-wide.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use card_api::{AsyncClient, Client, ClientBuilder, Error};
use card_model::AppSecret;
use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};
use card_model::mpnews::GetArticleHtml;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wxcard_tests::canned::{self, Seen};

const APPID: &str = "wx0123456789abcdef";
const SECRET: &str = "APPSECRETq7Zr4Kx9Lm2Np8Vt5Wy3Bc6Dj1Fh0GsHa";
const TOKEN: &str = "TOKENwq3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc2Vb4Nm6Qa8Ws1Ed3Rf5Tg7Yh9Uj";
const TICKET: &str = "TICKETz1Xc3Vb5Nm7Qa9Ws2Ed4Rf6Tg8Yh0Uj1Ik3Ol5Pz7Xc9Vb2Nm4Qa6Ws";
/// The password of the gateway in the base URL (`http://gw:PASSWORD@host`).
const PASSWORD: &str = "PASSWORDk4Lm6Nb8Vc0Xz2As4Df6Gh8Jk0Lq2We4Rt";
/// The `Authorization` value that the user information becomes.
const BASIC: &str = "Basic Z3c6UEFTU1dPUkRrNExtNk5iOFZjMFh6MkFzNERmNkdoOEprMExxMldlNFJ0";

/// Every line logged through `log` or `tracing`, with its target.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn push(line: String) {
    LINES.lock().unwrap_or_else(|p| p.into_inner()).push(line);
}

struct LogCapture;

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        push(format!(
            "log {} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

struct TraceCapture;

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl TraceCapture {
    fn line(meta: &Metadata<'_>, fields: Fields) {
        push(format!(
            "tracing {} {} {}:{}",
            meta.level(),
            meta.target(),
            meta.name(),
            fields.0
        ));
    }
}

impl Subscriber for TraceCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        Self::line(span.metadata(), fields);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        push(format!("tracing span record:{}", fields.0));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        Self::line(event.metadata(), fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn capture_everything() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        log::set_logger(&LogCapture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
        tracing::subscriber::set_global_default(TraceCapture).expect("no other subscriber");
    });
}

/// WeChat as the flow needs it: the token for the test credentials, the ticket for that
/// token, a deposit, a checkcode, an unknown card (40073), and a gateway page that
/// echoes the request line (as some proxies do).
fn wechat() -> SocketAddr {
    canned::serve(|seen: &Seen| {
        let authorized = seen.param("access_token") == Some(TOKEN);
        if seen.header("authorization") != Some(BASIC) {
            return canned::answer("401 Unauthorized", b"gateway credentials expected");
        }
        match seen.path.as_str() {
            "/cgi-bin/token" => {
                if seen.param("appid") == Some(APPID) && seen.param("secret") == Some(SECRET) {
                    canned::ok(
                        format!(r#"{{"access_token":"{TOKEN}","expires_in":7200}}"#).as_bytes(),
                    )
                } else {
                    canned::ok(br#"{"errcode":40125,"errmsg":"invalid appsecret"}"#)
                }
            }
            _ if !authorized => {
                canned::ok(br#"{"errcode":40001,"errmsg":"invalid credential"}"#)
            }
            "/cgi-bin/ticket/getticket" => canned::ok(
                format!(r#"{{"errcode":0,"errmsg":"ok","ticket":"{TICKET}","expires_in":7200}}"#)
                    .as_bytes(),
            ),
            "/card/code/deposit" => canned::ok(
                br#"{"errcode":0,"errmsg":"ok","succ_code":["c1","c2"],"duplicate_code":[],"fail_code":[]}"#,
            ),
            "/card/code/checkcode" => canned::ok(
                br#"{"errcode":0,"errmsg":"ok","exist_code":["c1"],"not_exist_code":["c3"]}"#,
            ),
            "/card/code/getdepositcount" => canned::answer(
                "502 Bad Gateway",
                format!(
                    "<html>upstream failed for {} {}?{}</html>",
                    seen.method, seen.path, seen.query
                )
                .as_bytes(),
            ),
            _ => canned::ok(br#"{"errcode":40073,"errmsg":"invalid card_id"}"#),
        }
    })
}

fn builder<C>(addr: SocketAddr) -> ClientBuilder<C> {
    ClientBuilder::new()
        .base_url(format!("http://gw:{PASSWORD}@{addr}"))
        .app_credentials(APPID, AppSecret::new(SECRET))
}

fn codes() -> Vec<String> {
    vec!["c1".to_owned(), "c2".to_owned(), "c3".to_owned()]
}

/// The errors of the flow, checked like the logs.
fn check_errors(errors: [Error; 2]) -> String {
    let [wechat, status] = errors;
    assert_eq!(
        wechat.errcode().map(|c| c.as_i64()),
        Some(40073),
        "{wechat:?}"
    );
    let Error::Status { body, .. } = &status else {
        panic!("a gateway page: {status:?}")
    };
    assert!(body.text().contains("access_token=[redacted]"), "{body:?}");
    format!("{wechat:?} {wechat} {status:?} {status}")
}

fn blocking_flow(addr: SocketAddr) -> String {
    let client = builder::<Client>(addr).build().expect("client");
    let ticket = client.api_ticket().expect("ticket");
    assert_eq!(ticket.expose(), TICKET);
    client
        .deposit_codes(&DepositCodes::new("pCard", codes()))
        .expect("deposit");
    let check = client
        .check_codes(&CheckCodes::new("pCard", codes()))
        .expect("checkcode");
    assert_eq!(check.missing.len(), 1);
    let wechat = client
        .get_article_html(&GetArticleHtml::new("pUnknown"))
        .expect_err("40073");
    let status = client
        .get_deposit_count(&GetDepositCount::new("pCard"))
        .expect_err("502");
    check_errors([wechat, status]) + &format!("{client:?}")
}

async fn async_flow(addr: SocketAddr) -> String {
    let client = builder::<AsyncClient>(addr).build().expect("client");
    let ticket = client.api_ticket().await.expect("ticket");
    assert_eq!(ticket.expose(), TICKET);
    client
        .deposit_codes(&DepositCodes::new("pCard", codes()))
        .await
        .expect("deposit");
    let check = client
        .check_codes(&CheckCodes::new("pCard", codes()))
        .await
        .expect("checkcode");
    assert_eq!(check.missing.len(), 1);
    let wechat = client
        .get_article_html(&GetArticleHtml::new("pUnknown"))
        .await
        .expect_err("40073");
    let status = client
        .get_deposit_count(&GetDepositCount::new("pCard"))
        .await
        .expect_err("502");
    check_errors([wechat, status]) + &format!("{client:?}")
}

/// The bytes of ureq's hex dumps (`7b22 6163 ...  {"ac...`), row after row, so that a
/// secret cut across two rows is found too.
fn hex_dump_bytes(lines: &[String]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        let Some(row) = line.split_once(": ").map(|(_, row)| row) else {
            continue;
        };
        let Some(hex) = row.get(..40) else { continue };
        let digits: String = hex.chars().filter(|c| *c != ' ').collect();
        if digits.len() != 32 || !digits.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            continue;
        }
        for pair in digits.as_bytes().chunks(2) {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("--"), 16) {
                bytes.push(b);
            }
        }
    }
    bytes
}

/// Fails if any 12 consecutive characters of a secret appear in `text`.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET, TOKEN, TICKET, PASSWORD, &BASIC["Basic ".len()..]] {
        for window in secret.as_bytes().windows(12) {
            let window = std::str::from_utf8(window).expect("ASCII");
            assert!(
                !text.contains(window),
                "{what} holds part of a secret ({window}):\n{}",
                text.lines()
                    .filter(|l| l.contains(window))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

#[test]
fn a_trace_capture_of_a_full_flow_on_both_clients_holds_no_secret() {
    capture_everything();
    let addr = wechat();

    let mut errors = blocking_flow(addr);
    let ureq_lines = LINES.lock().unwrap().len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    errors += &runtime.block_on(async_flow(addr));
    drop(runtime);

    let lines = LINES.lock().unwrap().clone();
    let all = lines.join("\n");
    assert_no_secret("the log capture", &all);
    assert_no_secret(
        "ureq's hex dumps",
        &String::from_utf8_lossy(&hex_dump_bytes(&lines[..ureq_lines])),
    );
    assert_no_secret("the errors", &errors);
    // The capture really holds the dependencies' TRACE output: ureq's request lines and
    // hex dumps, and reqwest's (or hyper's) lines.
    let (blocking, asynchronous) = lines.split_at(ureq_lines);
    assert!(
        blocking
            .iter()
            .any(|l| l.contains("log TRACE ureq_proto") && l.contains("  ")),
        "ureq's hex dumps were captured"
    );
    assert!(
        blocking.iter().any(|l| l.contains("/cgi-bin/token?***")),
        "ureq's request line was captured, with the query masked"
    );
    assert!(
        asynchronous
            .iter()
            .any(|l| l.contains(" reqwest") || l.contains(" hyper")),
        "reqwest's or hyper's lines were captured"
    );
    if std::env::var_os("WXCARD_SHOW_CAPTURE").is_some() {
        eprintln!("{all}");
    }
}
