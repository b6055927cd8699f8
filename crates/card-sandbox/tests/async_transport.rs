//! The sandbox as an `AsyncTransport`, driven by a minimal executor (no runtime needed).

mod common;

use card_sandbox::{CardSpec, Fault};
use card_transport::{AsyncTransport, HttpRequest, TransportErrorKind};
use common::*;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

fn post(path: &str, token: &str, body: Value) -> HttpRequest {
    http::Request::post(format!(
        "https://api.weixin.qq.com{path}?access_token={token}"
    ))
    .body(body.to_string().into_bytes())
    .unwrap()
}

#[test]
fn async_send_answers_like_the_blocking_one() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let token = sb.issue_token();
    let transport: Arc<dyn AsyncTransport> = Arc::new(sb.clone());
    let answer = block_on(async {
        let r = transport
            .send(post(
                "/card/code/deposit",
                token.expose(),
                json!({"card_id": card, "code": ["1", "2"]}),
            ))
            .await
            .unwrap();
        serde_json::from_slice::<Value>(r.body()).unwrap()
    });
    expect_code(&answer, 0);
    assert_eq!(answer["succ_code"], 2);
    assert_eq!(sb.deposited_count(&card), Some(2));
}

#[test]
fn async_faults_and_latency() {
    let sb = sandbox();
    let card = sb.create_card(CardSpec::deposit_mode()).unwrap();
    let token = sb.issue_token();
    sb.push_fault(Fault::DropBeforeEffect);
    sb.push_fault(Fault::Latency(Duration::from_millis(20)));
    sb.push_fault(Fault::DropAfterEffect);
    sb.push_fault(Fault::SystemBusy);
    let body = json!({"card_id": card, "code": ["A"]});
    let results = block_on(async {
        let mut out = Vec::new();
        for _ in 0..5 {
            out.push(
                AsyncTransport::send(
                    &sb,
                    post("/card/code/deposit", token.expose(), body.clone()),
                )
                .await
                .map(|r| errcode(&serde_json::from_slice(r.body()).unwrap()))
                .map_err(|e| e.kind()),
            );
        }
        out
    });
    assert_eq!(
        results,
        [
            Err(TransportErrorKind::Io),
            Ok(0),
            Err(TransportErrorKind::Io),
            Ok(-1),
            Ok(0)
        ]
    );
    assert_eq!(sb.deposited_count(&card), Some(1));
    assert_eq!(sb.stats().codes_duplicate, 2);
}

#[test]
fn latency_does_not_block_the_executor() {
    // A delayed request is Pending on its first poll (a blocking sleep would return Ready),
    // and two of them polled together on one thread both finish.
    let sb = sandbox();
    let token = sb.issue_token();
    sb.push_fault(Fault::Latency(Duration::from_millis(30)));
    sb.push_fault(Fault::Latency(Duration::from_millis(30)));
    let url = format!(
        "http://h/cgi-bin/ticket/getticket?type=wx_card&access_token={}",
        token.expose()
    );
    let get = || http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    let mut fa = pin!(AsyncTransport::send(&sb, get()));
    let mut fb = pin!(AsyncTransport::send(&sb, get()));
    let noop = Waker::noop();
    let mut cx = Context::from_waker(noop);
    assert!(fa.as_mut().poll(&mut cx).is_pending());
    assert!(fb.as_mut().poll(&mut cx).is_pending());
    let a = block_on(fa);
    let b = block_on(fb);
    expect_code(&serde_json::from_slice(a.unwrap().body()).unwrap(), 0);
    expect_code(&serde_json::from_slice(b.unwrap().body()).unwrap(), 0);
}
