//! `deposit_all` on both clients against the in-memory sandbox: faults, resume,
//! rejected codes, failed codes, progress.

use card_api::bulk::{DepositOptions, DepositReport, FailReason, Progress};
use card_api::{AsyncClient, Client, ClientBuilder, RetryPolicy};
use card_model::AppSecret;
use card_sandbox::{CardSpec, FaultConfig, Sandbox, Stats};
use card_transport::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, TransportError,
};
use std::sync::Arc;
use std::time::Duration;

fn sandbox(faults: FaultConfig) -> Sandbox {
    Sandbox::builder().faults(faults).build()
}

fn settings<C>() -> ClientBuilder<C> {
    ClientBuilder::new()
        .app_credentials(
            Sandbox::DEFAULT_APPID,
            AppSecret::new(Sandbox::DEFAULT_SECRET),
        )
        .retry(
            RetryPolicy::new()
                .max_attempts(6)
                .base_delay(Duration::ZERO)
                .rate_limit_delay(Duration::ZERO)
                .max_delay(Duration::ZERO),
        )
}

fn blocking(sandbox: &Sandbox) -> Client {
    blocking_via(Arc::new(sandbox.clone()))
}

fn asynchronous(sandbox: &Sandbox) -> AsyncClient {
    asynchronous_via(Arc::new(sandbox.clone()))
}

/// The one place this file builds a blocking client.
fn blocking_via(transport: Arc<dyn BlockingTransport>) -> Client {
    settings::<Client>()
        .transport(transport)
        .build()
        .expect("client")
}

/// The one place this file builds an async client.
fn asynchronous_via(transport: Arc<dyn AsyncTransport>) -> AsyncClient {
    settings::<AsyncClient>()
        .transport(transport)
        .build()
        .expect("async client")
}

fn codes(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!("{i:012}"))
}

#[derive(Clone, Copy, Debug)]
enum Flavor {
    Blocking,
    Async,
}

/// Runs `deposit_all` with the given flavor, checking that progress grows (one report
/// per chunk, then at most one more with more codes) and ends at the codes read.
fn run(
    flavor: Flavor,
    sandbox: &Sandbox,
    card_id: &str,
    input: impl Iterator<Item = String> + Send,
    options: DepositOptions,
) -> (DepositReport, Vec<Progress>) {
    let mut seen: Vec<Progress> = Vec::new();
    let record = |p: Progress| {
        if let Some(last) = seen.last() {
            assert!(
                p.chunks_done > last.chunks_done
                    || (p.chunks_done == last.chunks_done && p.codes_done > last.codes_done),
                "{p:?} after {last:?}"
            );
            assert!(p.codes_done >= last.codes_done, "{p:?} after {last:?}");
            assert_eq!(p.total, last.total);
        }
        seen.push(p);
    };
    let report = match flavor {
        Flavor::Blocking => blocking(sandbox)
            .deposit_all(card_id, input, &options, record)
            .expect("deposit_all"),
        Flavor::Async => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(asynchronous(sandbox).deposit_all(card_id, input, &options, record))
            .expect("deposit_all (async)"),
    };
    match seen.last() {
        Some(last) => assert_eq!(last.codes_done, report.codes_read, "{seen:?}"),
        None => assert_eq!(report.codes_read, 0),
    }
    assert!(
        seen.iter()
            .filter(|p| p.chunks_done == report.chunks)
            .count()
            <= 2,
        "{seen:?}"
    );
    (report, seen)
}

fn faults(seed: u64) -> FaultConfig {
    FaultConfig::seeded(seed)
        .expire_token_every(50)
        .system_busy(FaultConfig::one_in(97))
        .rate_limited(FaultConfig::one_in(200))
}

fn hundred_thousand_under_faults(flavor: Flavor) {
    const N: usize = 100_000;
    let sb = sandbox(faults(42));
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let (report, progress) = run(flavor, &sb, &card_id, codes(N), DepositOptions::new());

    assert_eq!(report.codes_read, N as u64);
    assert_eq!(report.deposited, N as u64, "{flavor:?}");
    assert_eq!(report.already_present, 0);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.chunks, 1000);
    assert_eq!(report.deposit_count, Some(N as u64));
    // the sandbox's own state: every code stored, none sent again after acceptance
    assert_eq!(sb.deposited_count(&card_id), Some(N));
    let stats: Stats = sb.stats();
    assert_eq!(stats.codes_stored, N as u64);
    assert_eq!(
        stats.codes_duplicate, 0,
        "a code was sent twice after acceptance"
    );
    assert_eq!(stats.deposit_calls, report.deposit_calls);
    assert_eq!(stats.deposit_calls, 1000);
    eprintln!(
        "{flavor:?}: 100,000 codes under faults: {} API requests, {} token fetches, {:?}",
        stats.api_calls, stats.tokens_issued, stats.faults
    );
    // the faults did happen
    assert!(stats.faults.system_busy > 0, "{:?}", stats.faults);
    assert!(stats.faults.rate_limited > 0, "{:?}", stats.faults);
    assert!(stats.faults.token_expired > 0, "{:?}", stats.faults);
    // progress: one call per chunk, ending at the total
    assert_eq!(progress.len(), 1000);
    let last = progress.last().expect("progress");
    assert_eq!((last.codes_done, last.total), (N as u64, Some(N)));
}

#[test]
fn hundred_thousand_under_faults_blocking() {
    hundred_thousand_under_faults(Flavor::Blocking);
}

#[test]
fn hundred_thousand_under_faults_async() {
    hundred_thousand_under_faults(Flavor::Async);
}

fn interrupted_import_resumes(flavor: Flavor) {
    const N: usize = 20_000;
    let sb = sandbox(faults(7));
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    // the first run is interrupted after half of the input
    let (first, _) = run(
        flavor,
        &sb,
        &card_id,
        codes(N).take(N / 2),
        DepositOptions::new(),
    );
    assert_eq!(first.deposited, (N / 2) as u64);
    let before = sb.stats();

    let resume = DepositOptions::new().resume(true);
    let (second, progress) = run(flavor, &sb, &card_id, codes(N), resume);
    let after = sb.stats();
    assert_eq!(second.already_present, (N / 2) as u64);
    assert_eq!(second.deposited, (N / 2) as u64);
    assert!(second.is_complete());
    assert_eq!(second.deposit_count, Some(N as u64));
    // only the missing half was sent
    let received = |s: &Stats| s.codes_stored + s.codes_duplicate + s.codes_failed;
    assert_eq!(received(&after) - received(&before), (N / 2) as u64);
    assert_eq!(after.codes_duplicate, 0);
    assert_eq!(
        after.deposit_calls - before.deposit_calls,
        (N / 2 / 100) as u64
    );
    assert_eq!(sb.deposited_count(&card_id), Some(N));
    assert_eq!(progress.last().map(|p| p.codes_done), Some(N as u64));

    // a third run sends nothing at all
    let (third, _) = run(flavor, &sb, &card_id, codes(N), resume);
    assert_eq!((third.deposited, third.deposit_calls), (0, 0));
    assert_eq!(third.already_present, N as u64);
    assert_eq!(sb.stats().deposit_calls, after.deposit_calls);
}

#[test]
fn interrupted_import_resumes_blocking() {
    interrupted_import_resumes(Flavor::Blocking);
}

#[test]
fn interrupted_import_resumes_async() {
    interrupted_import_resumes(Flavor::Async);
}

fn invalid_codes_reported_not_sent(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let too_long = "x".repeat(21);
    let input = vec![
        "AAA".to_owned(),
        String::new(),
        "   ".to_owned(),
        "BBB".to_owned(),
        too_long.clone(),
        "AAA".to_owned(), // repeated in the same chunk
    ];
    let (report, progress) = run(
        flavor,
        &sb,
        &card_id,
        input.into_iter(),
        DepositOptions::new(),
    );
    assert_eq!(report.deposited, 2);
    assert_eq!(report.duplicates, 1);
    let rejected: Vec<&str> = report.failed.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(rejected, ["", "   ", too_long.as_str()]);
    assert!(
        report
            .failed
            .iter()
            .all(|f| matches!(f.reason, FailReason::Invalid(_)))
    );
    let stats = sb.stats();
    assert_eq!(
        (
            stats.codes_stored,
            stats.codes_duplicate,
            stats.codes_failed
        ),
        (2, 0, 0),
        "only the two valid codes were sent"
    );
    assert_eq!(
        progress.last().map(|p| (p.codes_done, p.total)),
        Some((6, Some(6)))
    );
}

#[test]
fn invalid_codes_reported_not_sent_blocking() {
    invalid_codes_reported_not_sent(Flavor::Blocking);
}

#[test]
fn invalid_codes_reported_not_sent_async() {
    invalid_codes_reported_not_sent(Flavor::Async);
}

fn failed_codes_retried_then_reported(flavor: Flavor) {
    const N: usize = 3_000;
    // half of all deposited codes fail at WeChat: most succeed on a retry, some never do
    let sb = sandbox(FaultConfig::seeded(11).code_failure(0.5));
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let (report, _) = run(
        flavor,
        &sb,
        &card_id,
        codes(N),
        DepositOptions::new().fail_retries(2),
    );
    let rejected = report
        .failed
        .iter()
        .filter(|f| f.reason == FailReason::Rejected)
        .count();
    assert!(
        rejected > 0,
        "with 1/2 failing three times some must remain"
    );
    assert_eq!(report.failed.len(), rejected);
    assert!(report.verified_missing.is_empty());
    assert_eq!(report.deposited as usize + rejected, N, "nothing lost");
    assert_eq!(
        sb.deposited_count(&card_id),
        Some(report.deposited as usize)
    );
    assert_eq!(report.deposit_count, Some(report.deposited));
    assert!(
        report
            .failed
            .iter()
            .all(|f| !sb.is_deposited(&card_id, &f.code))
    );
    // a failed code is sent again, a stored one never
    assert_eq!(sb.stats().codes_duplicate, 0);
}

#[test]
fn failed_codes_retried_then_reported_blocking() {
    failed_codes_retried_then_reported(Flavor::Blocking);
}

#[test]
fn failed_codes_retried_then_reported_async() {
    failed_codes_retried_then_reported(Flavor::Async);
}

#[test]
fn stream_variant_with_unknown_total() {
    let sb = sandbox(faults(3));
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let client = asynchronous(&sb);
    let stream = futures_util::stream::iter(codes(1_234).filter(|_| true));
    let mut last = None;
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(client.deposit_all_stream(
            &card_id,
            stream,
            &DepositOptions::new().concurrency(2),
            |p| last = Some(p),
        ))
        .expect("stream");
    assert_eq!(report.deposited, 1_234);
    assert_eq!(report.chunks, 13);
    assert_eq!(last.map(|p| (p.codes_done, p.total)), Some((1_234, None)));
    assert_eq!(sb.deposited_count(&card_id), Some(1_234));
}

#[test]
fn unknown_card_is_an_error_not_a_report() {
    let sb = sandbox(FaultConfig::default());
    let err = blocking(&sb)
        .deposit_all("pNoSuchCard", codes(10), &DepositOptions::new(), |_| {})
        .expect_err("unknown card");
    assert_eq!(err.errcode().map(|c| c.as_i64()), Some(40073));
}

#[test]
fn slow_stream_keeps_chunks_going() {
    let sb = sandbox(faults(5));
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let client = asynchronous(&sb);
    // a stream that is sometimes pending, as a file or a cursor read asynchronously is
    let stream = futures_util::stream::unfold(0usize, |i| async move {
        if i == 450 {
            return None;
        }
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Some((format!("{i:012}"), i + 1))
    });
    let mut progress = Vec::new();
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(
            client.deposit_all_stream(&card_id, stream, &DepositOptions::new(), |p| {
                progress.push(p.codes_done)
            }),
        )
        .expect("stream");
    assert_eq!((report.deposited, report.chunks), (450, 5));
    assert!(progress.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(progress.last(), Some(&450));
    assert_eq!(sb.deposited_count(&card_id), Some(450));
    assert_eq!(sb.stats().codes_duplicate, 0);
}

#[test]
fn async_deposit_all_runs_in_a_spawned_task() {
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let client = asynchronous(&sb);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // the future is Send + 'static when its inputs are: it can be spawned
    let task = runtime.spawn(async move {
        client
            .deposit_all(&card_id, codes(500), &DepositOptions::new(), |_| {})
            .await
    });
    let report = runtime.block_on(task).expect("join").expect("deposit_all");
    assert_eq!(report.deposited, 500);
    assert_eq!(sb.stats().codes_stored, 500);
}

/// A fresh import makes one deposit and one verifying checkcode per chunk, and one
/// getdepositcount: 100,000 codes, 1,000 chunks, 2,001 API requests (+ 1 token).
fn fresh_import_traffic(flavor: Flavor) {
    const N: usize = 100_000;
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let (report, _) = run(flavor, &sb, &card_id, codes(N), DepositOptions::new());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.deposited, N as u64);
    let stats = sb.stats();
    eprintln!(
        "{flavor:?}: fresh import of {N} codes: {} API requests, {} requests in all",
        stats.api_calls, stats.requests
    );
    assert_eq!(stats.deposit_calls, 1_000);
    assert_eq!(
        stats.api_calls,
        2 * 1_000 + 1,
        "deposit + checkcode per chunk + count"
    );
    assert_eq!(stats.requests, stats.api_calls + 1, "and one token fetch");
}

#[test]
fn fresh_import_traffic_blocking() {
    fresh_import_traffic(Flavor::Blocking);
}

#[test]
fn fresh_import_traffic_async() {
    fresh_import_traffic(Flavor::Async);
}

/// The same codes twice in the input, in chunks that may be in flight together: the
/// report says what the card holds.
fn repeated_input_is_reported_as_the_card_holds_it(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    // 100 codes, then the same 100
    let input = codes(100).chain(codes(100));
    let options = DepositOptions::new().concurrency(4);
    let (report, _) = run(flavor, &sb, &card_id, input, options);
    assert_eq!(sb.deposited_count(&card_id), Some(100));
    assert_eq!(
        (report.deposited, report.already_present),
        (100, 100),
        "{flavor:?}"
    );
    assert_eq!(report.deposit_count, Some(100));
    assert!(report.is_complete());

    // any mix of repeats, near and far apart: deposited is what the card gained, and
    // every valid input code is accounted for once
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let input: Vec<String> = (0..3_000u64)
        .map(|i| format!("{:012}", (i * 7_919) % 1_300))
        .collect();
    let (report, _) = run(flavor, &sb, &card_id, input.into_iter(), options);
    assert_eq!(sb.deposited_count(&card_id), Some(1_300));
    assert_eq!(report.deposited, 1_300, "{flavor:?}");
    assert_eq!(
        report.deposited + report.already_present + report.duplicates,
        report.codes_read
    );
    assert_eq!(sb.stats().codes_stored, 1_300);
}

#[test]
fn repeated_input_is_reported_as_the_card_holds_it_blocking() {
    repeated_input_is_reported_as_the_card_holds_it(Flavor::Blocking);
}

#[test]
fn repeated_input_is_reported_as_the_card_holds_it_async() {
    repeated_input_is_reported_as_the_card_holds_it(Flavor::Async);
}

/// Connections dropped before and after WeChat acted: a deposit whose answer was lost
/// is checked before anything is sent again, so the sandbox never receives a stored
/// code a second time, and the report agrees with it.
fn lost_answers_never_resend_stored_codes(flavor: Flavor) {
    const N: usize = 20_000;
    let sb = sandbox(
        FaultConfig::seeded(23)
            .drop_after_effect(FaultConfig::one_in(15))
            .drop_before_effect(FaultConfig::one_in(30))
            .system_busy(FaultConfig::one_in(97)),
    );
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let (report, _) = run(flavor, &sb, &card_id, codes(N), DepositOptions::new());
    let stats = sb.stats();
    assert!(stats.faults.dropped_after_effect > 10, "{:?}", stats.faults);
    assert_eq!(
        stats.codes_duplicate, 0,
        "{flavor:?}: a stored code was sent again"
    );
    assert_eq!(sb.deposited_count(&card_id), Some(N));
    assert_eq!(report.deposited, N as u64);
    assert!(report.is_complete(), "{report:?}");
    eprintln!(
        "{flavor:?}: {N} codes with lost answers: {} API requests, {:?}",
        stats.api_calls, stats.faults
    );
}

#[test]
fn lost_answers_never_resend_stored_codes_blocking() {
    lost_answers_never_resend_stored_codes(Flavor::Blocking);
}

#[test]
fn lost_answers_never_resend_stored_codes_async() {
    lost_answers_never_resend_stored_codes(Flavor::Async);
}

/// The sandbox, except that getdepositcount answers HTTP 500.
#[derive(Clone)]
struct NoCount(Sandbox);

impl NoCount {
    fn answer(request: &HttpRequest) -> Option<HttpResponse> {
        (request.uri().path() == "/card/code/getdepositcount").then(|| {
            let mut r = HttpResponse::new(b"internal error".to_vec());
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

impl BlockingTransport for NoCount {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        match Self::answer(&request) {
            Some(r) => Ok(r),
            None => BlockingTransport::send(&self.0, request),
        }
    }
}

#[async_trait::async_trait]
impl AsyncTransport for NoCount {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        match Self::answer(&request) {
            Some(r) => Ok(r),
            None => AsyncTransport::send(&self.0, request).await,
        }
    }
}

fn a_failed_count_is_reported_as_a_failure(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let options = DepositOptions::new();
    let report = match flavor {
        Flavor::Blocking => blocking_via(Arc::new(NoCount(sb.clone()))).deposit_all(
            &card_id,
            codes(250),
            &options,
            |_| {},
        ),
        Flavor::Async => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(asynchronous_via(Arc::new(NoCount(sb.clone()))).deposit_all(
                &card_id,
                codes(250),
                &options,
                |_| {},
            )),
    }
    .expect("the chunks are stored: a report");
    assert_eq!(report.deposited, 250);
    assert_eq!(report.deposit_count, None);
    assert!(
        matches!(report.count_error, Some(card_api::Error::Status { status, .. }) if status == 500),
        "{:?}",
        report.count_error
    );
    assert!(!report.is_complete());
}

#[test]
fn a_failed_count_is_reported_as_a_failure_blocking() {
    a_failed_count_is_reported_as_a_failure(Flavor::Blocking);
}

#[test]
fn a_failed_count_is_reported_as_a_failure_async() {
    a_failed_count_is_reported_as_a_failure(Flavor::Async);
}

/// Every input code counted once in the report.
#[track_caller]
fn assert_accounted(report: &DepositReport) {
    let sum = report.deposited
        + report.already_present
        + report.duplicates
        + report.failed.len() as u64
        + report.verified_missing.len() as u64;
    assert_eq!(sum, report.codes_read, "{report:?}");
}

/// Runs `input` (with `distinct` distinct codes) on a fresh card whose answers are
/// often lost after WeChat acted (1 in 8; the repeatable calls around the deposits,
/// checkcode and the count, are retried by the client), and checks the report against
/// the card.
fn exact_under_lost_answers(
    flavor: Flavor,
    seed: u64,
    input: Vec<String>,
    distinct: usize,
    options: DepositOptions,
) -> (DepositReport, Stats) {
    let sb = sandbox(
        FaultConfig::seeded(seed)
            .drop_after_effect(FaultConfig::one_in(8))
            .drop_before_effect(FaultConfig::one_in(30))
            .system_busy(FaultConfig::one_in(97)),
    );
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let lines = input.len() as u64;
    let (report, progress) = run(flavor, &sb, &card_id, input.into_iter(), options);
    let stats = sb.stats();
    let label = format!("{flavor:?}, {options:?}");
    // the report says what the card holds
    assert_eq!(sb.deposited_count(&card_id), Some(distinct), "{label}");
    assert_eq!(report.deposited, distinct as u64, "{label}: {report:?}");
    assert_eq!(report.deposit_count, Some(distinct as u64));
    assert!(report.is_complete(), "{label}: {report:?}");
    assert_eq!(report.codes_read, lines);
    assert_eq!(
        report.already_present + report.duplicates,
        lines - distinct as u64,
        "{label}: every repeat is counted once"
    );
    assert_accounted(&report);
    assert_eq!(progress.last().map(|p| p.codes_done), Some(lines));
    // no code the card had accepted was sent again
    assert_eq!(stats.codes_stored, distinct as u64, "{label}");
    assert_eq!(
        stats.codes_duplicate, 0,
        "{label}: a stored code was sent again"
    );
    (report, stats)
}

/// The same codes twice, and repeats interleaved over many chunks, while deposit
/// answers are lost after WeChat stored the codes: the counts are the card's, exactly.
fn repeats_across_chunks_with_lost_answers_are_exact(flavor: Flavor) {
    // the same 100 codes twice: the second time they are checked, never sent
    let twice: Vec<String> = codes(100).chain(codes(100)).collect();
    let (report, _) = exact_under_lost_answers(flavor, 31, twice, 100, DepositOptions::new());
    assert_eq!(
        (report.deposited, report.already_present, report.duplicates),
        (100, 100, 0)
    );
    // 1,300 codes spread over 3,000 lines: repeats near and far apart, in many chunks
    let spread: Vec<String> = (0..3_000u64)
        .map(|i| format!("{:012}", (i * 7_919) % 1_300))
        .collect();
    let mut lost = 0;
    for seed in [1, 2, 3] {
        let (_, stats) =
            exact_under_lost_answers(flavor, seed, spread.clone(), 1_300, DepositOptions::new());
        lost += stats.faults.dropped_after_effect;
    }
    assert!(
        lost > 10,
        "{flavor:?}: answers were lost after effect ({lost})"
    );
}

#[test]
fn repeats_across_chunks_with_lost_answers_are_exact_blocking() {
    repeats_across_chunks_with_lost_answers_are_exact(Flavor::Blocking);
}

#[test]
fn repeats_across_chunks_with_lost_answers_are_exact_async() {
    repeats_across_chunks_with_lost_answers_are_exact(Flavor::Async);
}

/// Each chunk repeats half of the chunk before it, so a code sits in chunks that are
/// in flight together on the async client (8 at once): still exact.
fn repeats_across_chunks_in_flight_are_exact(flavor: Flavor) {
    let code = |i: usize| format!("{i:012}");
    let mut input = Vec::new();
    for block in 0..60 {
        for i in 0..50 {
            input.push(code(block * 50 + i)); // new
            if block > 0 {
                input.push(code((block - 1) * 50 + i)); // the block before's
            }
        }
    }
    let options = DepositOptions::new().concurrency(8);
    for seed in [5, 6] {
        let (report, _) = exact_under_lost_answers(flavor, seed, input.clone(), 3_000, options);
        assert_eq!(report.already_present + report.duplicates, 59 * 50);
    }
}

#[test]
fn repeats_across_chunks_in_flight_are_exact_blocking() {
    repeats_across_chunks_in_flight_are_exact(Flavor::Blocking);
}

#[test]
fn repeats_across_chunks_in_flight_are_exact_async() {
    repeats_across_chunks_in_flight_are_exact(Flavor::Async);
}

/// Repeats cost one checkcode per chunk of them, and do not make later chunks check
/// first: 5,000 codes, then the same 5,000 interleaved with 5,000 new ones.
fn repeated_input_traffic(flavor: Flavor) {
    let sb = sandbox(FaultConfig::default());
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let input: Vec<String> = codes(5_000)
        .chain(
            codes(5_000)
                .zip(codes(10_000).skip(5_000))
                .flat_map(|(a, b)| [a, b]),
        )
        .collect();
    let (report, _) = run(
        flavor,
        &sb,
        &card_id,
        input.into_iter(),
        DepositOptions::new(),
    );
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(
        (report.deposited, report.already_present, report.duplicates),
        (10_000, 5_000, 0)
    );
    let stats = sb.stats();
    // 100 chunks of distinct codes: deposit + checkcode each; 50 chunks of repeats:
    // one checkcode each; the count
    assert_eq!(stats.deposit_calls, 100);
    assert_eq!(stats.api_calls, 2 * 100 + 50 + 1, "{flavor:?}");
    assert_eq!(stats.codes_duplicate, 0);
}

#[test]
fn repeated_input_traffic_blocking() {
    repeated_input_traffic(Flavor::Blocking);
}

#[test]
fn repeated_input_traffic_async() {
    repeated_input_traffic(Flavor::Async);
}

/// Every fault at once (42001, -1, 45009, answers lost before and after acting,
/// codes in `fail_code`) on an input whose codes each come three times, near and far
/// apart, one to eight chunks in flight: every line is counted once, `deposited` is what
/// the card gained, and no code the card had stored is sent again.
fn repeats_under_every_fault(flavor: Flavor) {
    let code = |i: u64| format!("R{:011}", (i * 7_919) % 700);
    let input: Vec<String> = (0..2_100u64).map(code).collect();
    for (seed, concurrency) in [(11, 1), (12, 3), (13, 8)] {
        let sb = sandbox(
            FaultConfig::seeded(seed)
                .expire_token_every(7)
                .system_busy(FaultConfig::one_in(11))
                .rate_limited(FaultConfig::one_in(13))
                .drop_after_effect(FaultConfig::one_in(6))
                .drop_before_effect(FaultConfig::one_in(20))
                .code_failure(FaultConfig::one_in(40)),
        );
        let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
        let options = DepositOptions::new()
            .concurrency(concurrency)
            .max_rounds(50)
            .fail_retries(5);
        let (report, progress) = run(flavor, &sb, &card_id, input.clone().into_iter(), options);
        let label = format!("{flavor:?}, seed {seed}, {concurrency} in flight");
        let stored = sb.deposited_count(&card_id).expect("card") as u64;
        assert_accounted(&report);
        assert_eq!(report.codes_read, 2_100, "{label}");
        assert_eq!(report.deposited, stored, "{label}: {report:?}");
        assert_eq!(
            stored + report.failed.len() as u64 + report.verified_missing.len() as u64,
            700,
            "{label}: {report:?}"
        );
        assert_eq!(
            progress.last().map(|p| p.codes_done),
            Some(2_100),
            "{label}"
        );
        let stats = sb.stats();
        assert_eq!(
            stats.codes_duplicate, 0,
            "{label}: a stored code was sent again"
        );
        assert!(stats.faults.dropped_after_effect > 0, "{label}");
    }
}

#[test]
fn repeats_under_every_fault_blocking() {
    repeats_under_every_fault(Flavor::Blocking);
}

#[test]
fn repeats_under_every_fault_async() {
    repeats_under_every_fault(Flavor::Async);
}

/// Inputs with nothing to send or only repeats: no panic, nothing sent twice, every
/// line counted.
fn degenerate_inputs(flavor: Flavor) {
    let cases: Vec<(&str, Vec<String>, u64)> = vec![
        ("empty", Vec::new(), 0),
        (
            "only invalid",
            vec![String::new(), " ".into(), "x".repeat(21)],
            0,
        ),
        ("one code many times", vec!["ONE".to_owned(); 5_000], 1),
        (
            // 150 codes repeated until 200,000 lines: held back, their repeats removed
            // as they come
            "few codes very often",
            (0..200_000u64)
                .map(|i| format!("F{:04}", i % 150))
                .collect(),
            150,
        ),
        (
            "a full chunk, then only its repeats and rejects",
            codes(100)
                .chain(codes(100))
                .chain([String::new()])
                .chain(codes(100).collect::<Vec<_>>().into_iter().rev())
                .collect(),
            100,
        ),
    ];
    for (name, input, distinct) in cases {
        let sb = sandbox(FaultConfig::seeded(3).drop_after_effect(FaultConfig::one_in(4)));
        let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
        let lines = input.len() as u64;
        let (report, _) = run(
            flavor,
            &sb,
            &card_id,
            input.into_iter(),
            DepositOptions::new(),
        );
        assert_accounted(&report);
        assert_eq!(report.codes_read, lines, "{flavor:?} {name}");
        assert_eq!(report.deposited, distinct, "{flavor:?} {name}: {report:?}");
        assert_eq!(sb.deposited_count(&card_id), Some(distinct as usize));
        assert_eq!(sb.stats().codes_duplicate, 0, "{flavor:?} {name}");
    }
}

#[test]
fn degenerate_inputs_blocking() {
    degenerate_inputs(Flavor::Blocking);
}

#[test]
fn degenerate_inputs_async() {
    degenerate_inputs(Flavor::Async);
}

/// A stream that is often pending and ends while chunks are in flight, its tail only
/// repeats: the held-back codes still wait for the chunks before them, and the run
/// ends (it neither hangs nor loses a chunk).
#[test]
fn a_stream_ending_with_chunks_in_flight_and_only_repeats_left() {
    let sb = sandbox(
        FaultConfig::seeded(8)
            .drop_after_effect(FaultConfig::one_in(5))
            .latency(Duration::from_millis(1), Duration::from_millis(2)),
    );
    let card_id = sb.create_card(CardSpec::deposit_mode()).expect("card");
    let client = asynchronous(&sb);
    // 1,000 new codes, then the last 350 of them again
    let stream = futures_util::stream::unfold(0usize, |i| async move {
        if i == 1_350 {
            return None;
        }
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
        let n = if i < 1_000 { i } else { i - 350 };
        Some((format!("{n:012}"), i + 1))
    });
    let mut progress = Vec::new();
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(client.deposit_all_stream(
            &card_id,
            stream,
            &DepositOptions::new().concurrency(4),
            |p| progress.push(p.codes_done),
        ))
        .expect("stream");
    assert_accounted(&report);
    assert_eq!(
        (report.deposited, report.already_present, report.duplicates),
        (1_000, 350, 0),
        "{report:?}"
    );
    assert_eq!(report.chunks, 14);
    assert_eq!(progress.last(), Some(&1_350));
    assert_eq!(sb.deposited_count(&card_id), Some(1_000));
    assert_eq!(sb.stats().codes_duplicate, 0);
}
