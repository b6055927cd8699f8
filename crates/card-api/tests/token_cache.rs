//! The blocking client over closure transports: token expiry by an injected clock, a
//! store shared by two clients, another server's refresh lease, and what tracing sees.
#![cfg(feature = "blocking")]

use card_api::{Client, ManualClock, MemoryTokenStore, RetryPolicy, StoredSecret, TokenStore};
use card_model::AppSecret;
use card_model::token::GetCardApiTicket;
use card_transport::{HttpRequest, HttpResponse, TransportError};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "SECRET-never-shown";

/// A fake WeChat: counts token fetches, hands out `TOKEN-<n>`, answers the ticket call
/// with `errcodes` in turn (0 once they run out).
struct Fake {
    token_fetches: AtomicUsize,
    errcodes: Mutex<Vec<i64>>,
    seen_tokens: Mutex<Vec<String>>,
    /// Runs once, when the first non-zero errcode is answered.
    on_error: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Fake {
    fn new(errcodes: &[i64]) -> Arc<Self> {
        Arc::new(Self {
            token_fetches: AtomicUsize::new(0),
            errcodes: Mutex::new(errcodes.iter().rev().copied().collect()),
            seen_tokens: Mutex::new(Vec::new()),
            on_error: Mutex::new(None),
        })
    }

    fn answer(&self, req: &HttpRequest) -> HttpResponse {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = if req.uri().path() == "/cgi-bin/token" {
            assert!(query.contains(&format!("secret={SECRET}")));
            let n = self.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
            format!(r#"{{"access_token":"TOKEN-{n}","expires_in":7200}}"#)
        } else {
            let token = query
                .split('&')
                .find_map(|p| p.strip_prefix("access_token="))
                .unwrap_or_default();
            self.seen_tokens.lock().unwrap().push(token.to_owned());
            let code = self.errcodes.lock().unwrap().pop().unwrap_or(0);
            if code != 0 {
                if let Some(hook) = self.on_error.lock().unwrap().take() {
                    hook();
                }
            }
            format!(
                r#"{{"errcode":{code},"errmsg":"e","ticket":"TICKET-secret","expires_in":7200}}"#
            )
        };
        HttpResponse::new(body.into_bytes())
    }

    fn client(
        self: &Arc<Self>,
        clock: &Arc<ManualClock>,
        store: Option<Arc<dyn TokenStore>>,
    ) -> Client {
        let fake = Arc::clone(self);
        let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(fake.answer(&req))
        };
        let mut b = Client::builder()
            .base_url("http://127.0.0.1:9")
            .app_credentials("wxAPP", AppSecret::new(SECRET))
            .retry(RetryPolicy::new().base_delay(Duration::ZERO))
            .refresh_margin(Duration::from_secs(300))
            .clock(clock.clone())
            .refresh_lease(Duration::from_secs(5), Duration::from_millis(2))
            .transport(transport);
        if let Some(store) = store {
            b = b.token_store(store);
        }
        b.build().unwrap()
    }
}

#[test]
fn cached_token_is_reused_until_shortly_before_expiry() {
    let fake = Fake::new(&[]);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let client = fake.client(&clock, None);
    client.call(&GetCardApiTicket).unwrap();
    clock.advance(Duration::from_secs(7200 - 301));
    client.call(&GetCardApiTicket).unwrap();
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 1);
    // inside the refresh margin: refreshed before WeChat expires it
    clock.advance(Duration::from_secs(2));
    client.call(&GetCardApiTicket).unwrap();
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        *fake.seen_tokens.lock().unwrap(),
        ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    );
}

#[test]
fn api_ticket_is_cached_and_access_token_is_exposed_on_request() {
    let fake = Fake::new(&[]);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let client = fake.client(&clock, None);
    assert_eq!(client.api_ticket().unwrap().expose(), "TICKET-secret");
    assert_eq!(client.api_ticket().unwrap().expose(), "TICKET-secret");
    assert_eq!(
        fake.seen_tokens.lock().unwrap().len(),
        1,
        "one ticket fetch"
    );
    assert_eq!(client.access_token().unwrap().expose(), "TOKEN-1");
}

#[test]
fn two_clients_sharing_a_store_share_one_token() {
    let fake = Fake::new(&[]);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
    let a = fake.client(&clock, Some(Arc::clone(&store)));
    let b = fake.client(&clock, Some(Arc::clone(&store)));
    a.call(&GetCardApiTicket).unwrap();
    b.call(&GetCardApiTicket).unwrap();
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn a_token_error_replaces_only_the_token_that_failed() {
    // a's call fails with 40001 on TOKEN-1; meanwhile another server has stored a newer
    // token: a must use that one rather than fetch again.
    let fake = Fake::new(&[40001]);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
    let key = "wxcard:access_token:wxAPP";
    assert!(
        store
            .compare_and_set(key, None, StoredSecret::new("TOKEN-1", u64::MAX))
            .unwrap()
    );
    let other = Arc::clone(&store);
    *fake.on_error.lock().unwrap() = Some(Box::new(move || {
        let newer = StoredSecret::new("TOKEN-from-b", u64::MAX);
        assert!(other.compare_and_set(key, Some("TOKEN-1"), newer).unwrap());
    }));
    let a = fake.client(&clock, Some(Arc::clone(&store)));
    a.call(&GetCardApiTicket).unwrap();
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 0);
    assert_eq!(
        *fake.seen_tokens.lock().unwrap(),
        ["TOKEN-1", "TOKEN-from-b"]
    );
}

#[test]
fn a_caller_waits_for_another_servers_refresh() {
    let fake = Fake::new(&[]);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
    let key = "wxcard:access_token:wxAPP";
    assert!(
        store
            .try_lease(key, "other-server", Duration::from_secs(60))
            .unwrap()
    );
    let client = fake.client(&clock, Some(Arc::clone(&store)));
    let other = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                store
                    .compare_and_set(key, None, StoredSecret::new("TOKEN-other", u64::MAX))
                    .unwrap()
            );
            store.release_lease(key, "other-server").unwrap();
        })
    };
    client.call(&GetCardApiTicket).unwrap();
    other.join().unwrap();
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 0);
    assert_eq!(*fake.seen_tokens.lock().unwrap(), ["TOKEN-other"]);
}

/// Records every span field and event of the calls made on one thread.
///
/// It is the process's global subscriber, not a thread's default: tracing caches each
/// call site's interest for the whole process, and a call site that another test's
/// thread (with no subscriber) reaches first while a thread-local capture is the only
/// subscriber would be cached as "never" and missed.
struct Capture {
    text: Mutex<String>,
    ids: AtomicUsize,
    thread: std::thread::ThreadId,
}

impl Capture {
    fn mine(&self) -> bool {
        std::thread::current().id() == self.thread
    }
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        if self.mine() {
            let mut text = self.text.lock().unwrap();
            let _ = write!(text, "\nspan {}", span.metadata().name());
            span.record(&mut Fields(&mut text));
        }
        tracing::span::Id::from_u64(self.ids.fetch_add(1, Ordering::SeqCst) as u64 + 1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        if !self.mine() {
            return;
        }
        let mut text = self.text.lock().unwrap();
        text.push_str("\nrecord");
        values.record(&mut Fields(&mut text));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if !self.mine() {
            return;
        }
        let mut text = self.text.lock().unwrap();
        text.push_str("\nevent");
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn tracing_shows_path_attempt_and_errcode_but_no_secret() {
    let fake = Fake::new(&[-1, 42001]);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let client = fake.client(&clock, None);
    let capture = Arc::new(Capture {
        text: Mutex::default(),
        ids: AtomicUsize::new(0),
        thread: std::thread::current().id(),
    });
    tracing::subscriber::set_global_default(Arc::clone(&capture)).expect("the only subscriber");
    client.call(&GetCardApiTicket).unwrap();
    let text = capture.text.lock().unwrap().clone();
    assert!(
        text.contains("span wxcard_call path=\"/cgi-bin/ticket/getticket\""),
        "{text}"
    );
    assert!(text.contains("path=\"/cgi-bin/token\""), "{text}");
    assert!(text.contains("attempt=2"), "{text}");
    assert!(text.contains("errcode=-1"), "{text}");
    assert!(text.contains("errcode=42001"), "{text}");
    assert!(
        text.ends_with("errcode=0"),
        "the call succeeded in the end: {text}"
    );
    for secret in [
        SECRET,
        "TOKEN-1",
        "TOKEN-2",
        "TICKET-secret",
        "access_token=",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn callers_waiting_for_a_failed_refresh_share_its_error() {
    // The token endpoint refuses the credentials, slowly; 8 threads queue behind the
    // one fetch and all get its error instead of fetching again one after another.
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let transport = move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
        counter.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        Ok(HttpResponse::new(
            br#"{"errcode":40013,"errmsg":"invalid appid"}"#.to_vec(),
        ))
    };
    let client = Client::builder()
        .base_url("http://127.0.0.1:9")
        .app_credentials("wxAPP", AppSecret::new(SECRET))
        .transport(transport)
        .build()
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                client.call(&GetCardApiTicket)
            })
        })
        .collect();
    for t in threads {
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(
            e.errcode(),
            Some(card_model::ErrCode::InvalidAppId),
            "{e:?}"
        );
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // a later call tries again
    client.call(&GetCardApiTicket).unwrap_err();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}
