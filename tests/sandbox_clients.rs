//! The card sandbox through both clients (`card_api::Client` and `AsyncClient`): tokens,
//! token expiry on the sandbox's clock, and every fault kind, seeded. The deposit-like
//! endpoints are described here with local `Endpoint` types so that the scenarios depend
//! only on the sandbox and the clients.

use card_api::{AsyncClient, Client, ClientBuilder, Error, RetryPolicy};
use card_model::token::GetCardApiTicket;
use card_model::{AppSecret, Endpoint, ErrCode, HttpMethod};
use card_sandbox::{CardSpec, Clock, Fault, FaultConfig, Sandbox};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wxcard_tests::clients::{AnyClient, Flavor};
use wxcard_tests::on_both_clients;

#[derive(Serialize)]
struct Deposit {
    card_id: String,
    code: Vec<String>,
}

#[derive(Deserialize, Debug)]
struct DepositAnswer {
    #[serde(rename = "succ_code")]
    deposited: u64,
    #[serde(rename = "duplicate_code")]
    duplicates: u64,
    #[serde(rename = "fail_code")]
    failed: u64,
}

impl Endpoint for Deposit {
    type Response = DepositAnswer;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/code/deposit";
    // WeChat filters duplicates, so a repeat is harmless.
    const REPEATABLE: bool = true;
}

#[derive(Serialize)]
struct Count {
    card_id: String,
}

#[derive(Deserialize, Debug)]
struct CountAnswer {
    count: u64,
}

impl Endpoint for Count {
    type Response = CountAnswer;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/code/getdepositcount";
    const REPEATABLE: bool = true;
}

#[derive(Serialize)]
struct Nowhere {}

impl Endpoint for Nowhere {
    type Response = serde_json::Value;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/does/not/exist";
    const REPEATABLE: bool = true;
}

fn sandbox(faults: FaultConfig) -> Sandbox {
    Sandbox::builder()
        .clock(Clock::manual(1_700_000_000))
        .faults(faults)
        .build()
}

fn client(flavor: Flavor, sandbox: &Sandbox, attempts: u32) -> AnyClient {
    match flavor {
        Flavor::Blocking => AnyClient::Blocking(
            settings::<Client>(attempts)
                .transport(sandbox.clone())
                .build()
                .expect("blocking client"),
        ),
        Flavor::Async => AnyClient::Async(
            settings::<AsyncClient>(attempts)
                .transport(sandbox.clone())
                .build()
                .expect("async client"),
        ),
    }
}

/// The settings of both clients.
fn settings<C>(attempts: u32) -> ClientBuilder<C> {
    ClientBuilder::new()
        .base_url("https://api.weixin.qq.com")
        .app_credentials(
            Sandbox::DEFAULT_APPID,
            AppSecret::new(Sandbox::DEFAULT_SECRET),
        )
        .retry(
            RetryPolicy::new()
                .max_attempts(attempts)
                .base_delay(Duration::from_millis(1))
                .rate_limit_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2)),
        )
        .jitter_seed(3)
}

fn codes(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("{i:012}")).collect()
}

/// A token fetched once and reused; the ticket is the sandbox's.
async fn token_and_ticket(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let client = client(flavor, &sb, 3);
    let a = client.call(&GetCardApiTicket).await.expect("ticket");
    let b = client.call(&GetCardApiTicket).await.expect("ticket again");
    assert_eq!(a.ticket.expose(), sb.api_ticket().expose());
    assert_eq!(b.ticket.expose(), a.ticket.expose());
    assert_eq!(sb.stats().tokens_issued, 1);
}

/// The sandbox's clock passes 7200 s: 42001, one refresh, one repeat.
async fn token_expires_on_the_sandbox_clock(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 3);
    client
        .call(&Count {
            card_id: card.clone(),
        })
        .await
        .expect("first");
    sb.advance(7200);
    let n = client
        .call(&Count { card_id: card })
        .await
        .expect("after refresh");
    assert_eq!(n.count, 0);
    assert_eq!(sb.stats().tokens_issued, 2);
    assert_eq!(sb.stats().api_calls, 3);
}

/// A wrong secret is WeChat's 40001 from the token endpoint.
async fn wrong_secret_is_refused(flavor: Flavor) {
    let sb = Sandbox::builder().secret(AppSecret::new("another")).build();
    let client = client(flavor, &sb, 3);
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert_eq!(e.errcode(), Some(ErrCode::InvalidCredential), "{e:?}");
    assert_eq!(sb.stats().tokens_issued, 0);
}

/// The sandbox's own refusals arrive as WeChat errors; an unknown path as HTTP 404.
async fn sandbox_errors_reach_the_caller(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 3);
    let e = client
        .call(&Deposit {
            card_id: card.clone(),
            code: codes(0, 101),
        })
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(ErrCode::TooManyCodes), "{e:?}");
    let e = client
        .call(&Deposit {
            card_id: card.clone(),
            code: vec![String::new()],
        })
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(ErrCode::InvalidCode), "{e:?}");
    let e = client.call(&Nowhere {}).await.unwrap_err();
    assert!(
        matches!(e, Error::Status { status, .. } if status == 404),
        "{e:?}"
    );
    assert_eq!(sb.deposited_count(&card), Some(0));
}

/// Token expiry every 50 calls, -1 on about 1 in 97, 45009 on about 1 in 200: every code
/// lands exactly once, because a faulted answer never applies the request.
async fn seeded_faults_lose_and_double_nothing(flavor: Flavor) {
    let faults = FaultConfig::seeded(97)
        .expire_token_every(50)
        .system_busy(FaultConfig::one_in(97))
        .rate_limited(FaultConfig::one_in(200));
    let sb = sandbox(faults);
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 6);
    for chunk in 0..300 {
        let answer = client
            .call(&Deposit {
                card_id: card.clone(),
                code: codes(chunk * 100, 100),
            })
            .await
            .expect("deposit within the retry bound");
        assert_eq!(
            (answer.deposited, answer.duplicates, answer.failed),
            (100, 0, 0)
        );
    }
    let stats = sb.stats();
    assert_eq!(sb.deposited_count(&card), Some(30_000));
    assert_eq!((stats.deposit_calls, stats.codes_duplicate), (300, 0));
    assert_eq!(
        stats.faults.token_expired,
        stats.api_calls / 50,
        "{stats:?}"
    );
    assert!(
        stats.faults.system_busy + stats.faults.rate_limited > 0,
        "{stats:?}"
    );
    // Every extra call was a faulted one, repeated.
    let f = stats.faults;
    assert_eq!(
        stats.api_calls,
        300 + f.token_expired + f.system_busy + f.rate_limited
    );
    let count = client.call(&Count { card_id: card }).await.expect("count");
    assert_eq!(count.count, 30_000);
}

/// Dropped connections: before the effect nothing happened; after it, the repeat finds
/// the codes already there (WeChat's duplicate filter), and none is stored twice.
async fn dropped_connections_are_repeated_honestly(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 3);
    client
        .call(&Count {
            card_id: card.clone(),
        })
        .await
        .expect("warm the token");
    sb.push_fault(Fault::DropBeforeEffect);
    let a = client
        .call(&Deposit {
            card_id: card.clone(),
            code: codes(0, 10),
        })
        .await
        .expect("repeated after the drop");
    assert_eq!((a.deposited, a.duplicates), (10, 0));
    sb.push_fault(Fault::DropAfterEffect);
    let b = client
        .call(&Deposit {
            card_id: card.clone(),
            code: codes(10, 10),
        })
        .await
        .expect("repeated after the drop");
    assert_eq!(
        (b.deposited, b.duplicates),
        (0, 10),
        "applied once, reported as duplicates"
    );
    assert_eq!(sb.deposited_count(&card), Some(20));
    let f = sb.stats().faults;
    assert_eq!((f.dropped_before_effect, f.dropped_after_effect), (1, 1));
}

/// Injected latency delays answers without changing them.
async fn latency_is_only_a_delay(flavor: Flavor) {
    let sb =
        sandbox(FaultConfig::seeded(1).latency(Duration::from_millis(2), Duration::from_millis(3)));
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 1);
    let a = client
        .call(&Deposit {
            card_id: card.clone(),
            code: codes(0, 5),
        })
        .await
        .expect("deposit");
    assert_eq!(a.deposited, 5);
}

/// Every endpoint with card-model's typed requests: the sandbox reads what the model
/// writes, and the model reads what the sandbox answers.
async fn every_endpoint_with_typed_requests(flavor: Flavor) {
    use card_model::card_ext::CardExt;
    use card_model::code::{CheckCodes, DepositCodes, GetDepositCount};
    use card_model::landing::{CreateLandingPage, LandingCard, LandingScene};
    use card_model::message::{
        MassSendByTag, MassSendToOpenIds, PreviewCard, SendCustomerServiceCard, WxCard,
    };
    use card_model::mpnews::GetArticleHtml;
    use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem};
    use card_model::whitelist::SetTestWhitelist;
    use card_sandbox::Channel;

    let sb = sandbox(FaultConfig::default());
    let plain = sb.create_card(CardSpec::new()).unwrap();
    let deposit = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let client = client(flavor, &sb, 3);

    let qr = client
        .call(&CreateQrCode::card(QrCard::new(&plain).outer_id(7)).expire_seconds(1800))
        .await
        .expect("QR_CARD");
    let issued = sb.qr_tickets();
    assert_eq!(issued[0].ticket, qr.ticket);
    assert_eq!(issued[0].url, qr.url);
    assert_eq!(qr.expire_seconds, Some(1800));
    assert_eq!(issued[0].cards[0].outer_id, Some(7));
    let multi = client
        .call(&CreateQrCode::multiple(vec![
            QrCardItem::new(&plain),
            QrCardItem::new(&deposit),
        ]))
        .await
        .expect("QR_MULTIPLE_CARD");
    assert_ne!(multi.ticket, qr.ticket);
    assert_eq!(sb.qr_tickets()[1].cards.len(), 2);

    let page = client
        .call(&CreateLandingPage::new(
            "http://mmbiz.qpic.cn/banner.jpg",
            "惠城优惠大派送",
            LandingScene::NearBy,
            vec![LandingCard::new(&plain, "http://www.qq.com/a.jpg")],
        ))
        .await
        .expect("landing page");
    assert_eq!(page.page_id, 1);
    assert_eq!(sb.landing_pages()[0].page_title, "惠城优惠大派送");

    let batch = codes(0, 100);
    let result = client
        .call(&DepositCodes::new(&deposit, batch.clone()))
        .await
        .expect("deposit");
    assert_eq!(result.deposited.map(|t| t.count()), Some(100));
    assert_eq!(result.duplicates.map(|t| t.count()), Some(0));
    let count = client
        .call(&GetDepositCount::new(&deposit))
        .await
        .expect("count");
    assert_eq!(count.count, 100);
    let check = client
        .call(&CheckCodes::new(
            &deposit,
            vec![batch[0].clone(), "999999999999".into(), batch[99].clone()],
        ))
        .await
        .expect("checkcode");
    assert_eq!(check.existing, [batch[0].clone(), batch[99].clone()]);
    assert_eq!(check.missing, ["999999999999"]);

    let html = client
        .call(&GetArticleHtml::new(&plain))
        .await
        .expect("gethtml");
    assert!(html.content.contains(&plain));

    client
        .call(&SetTestWhitelist::new(
            vec!["oTester1".into()],
            vec!["eddy".into()],
        ))
        .await
        .expect("whitelist");
    assert_eq!(sb.whitelist().username, ["eddy"]);

    let by_tag = client
        .call(&MassSendByTag::to_tag(2, WxCard::new(&plain)).clientmsgid("job-42"))
        .await
        .expect("sendall");
    let to_ids = client
        .call(&MassSendToOpenIds::new(
            vec!["oA".into(), "oB".into()],
            WxCard::new(&plain),
        ))
        .await
        .expect("send");
    let ticket = client.call(&GetCardApiTicket).await.expect("ticket").ticket;
    let ext =
        CardExt::sign(&plain, &ticket, 1_700_000_000, "nonce1", None, Some("oA")).expect("sign");
    let preview = client
        .call(&PreviewCard::to_openid(
            "oA",
            WxCard::new(&plain).card_ext(&ext),
        ))
        .await
        .expect("preview");
    client
        .call(&SendCustomerServiceCard::new("oA", WxCard::new(&plain)).kf_account("kf1@x"))
        .await
        .expect("custom send");

    let sent = sb.messages();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].msg_id, Some(by_tag.msg_id));
    assert!(matches!(
        &sent[0].channel,
        Channel::MassByTag { tag_id: Some(2), clientmsgid: Some(c), .. } if c == "job-42"
    ));
    assert_eq!(sent[1].msg_id, Some(to_ids.msg_id));
    assert_eq!(sent[2].msg_id, preview.msg_id);
    assert_eq!(
        sent[2].card_ext.as_deref(),
        Some(ext.to_json_string().as_str())
    );
    assert!(
        matches!(&sent[3].channel, Channel::Custom { kf_account: Some(k), .. } if k == "kf1@x")
    );
    assert_eq!(sb.stats().tokens_issued, 1);
}

on_both_clients!(
    every_endpoint_with_typed_requests,
    token_and_ticket,
    token_expires_on_the_sandbox_clock,
    wrong_secret_is_refused,
    sandbox_errors_reach_the_caller,
    seeded_faults_lose_and_double_nothing,
    dropped_connections_are_repeated_honestly,
    latency_is_only_a_delay,
);
