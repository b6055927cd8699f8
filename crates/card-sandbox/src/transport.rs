//! The sandbox as a transport for both clients: requests are answered in process,
//! with any injected latency slept (blocking) or awaited on a runtime-free timer (async).

use super::*;

fn into_result(reply: Reply) -> Result<HttpResponse, TransportError> {
    match reply {
        Reply::Respond(response) => Ok(response),
        Reply::Drop => Err(TransportError::new(
            TransportErrorKind::Io,
            "sandbox: connection dropped (injected fault)",
        )),
    }
}

impl BlockingTransport for Sandbox {
    /// Answers as WeChat would, sleeping for any injected latency.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let Processed { reply, delay } = self.process_in_process(&request);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        into_result(reply)
    }
}

#[async_trait::async_trait]
impl AsyncTransport for Sandbox {
    /// Answers as WeChat would, waiting for any injected latency without blocking the
    /// executor.
    ///
    /// Every request first gives the executor a turn, as a request over a network does:
    /// without it, a task whose calls all answer at once would never yield, and tasks
    /// queued behind it on the same worker (woken, say, by a token refresh) would wait
    /// until it ends, an unfairness no real transport has.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        YieldOnce(false).await;
        let Processed { reply, delay } = self.process_in_process(&request);
        if !delay.is_zero() {
            timer::Delay::new(delay).await;
        }
        into_result(reply)
    }
}

/// A future that is pending once (waking its task at once), then ready: a turn for the
/// executor's other tasks, on any runtime.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

mod timer {
    //! A runtime-free delay: a short-lived thread sleeps and wakes the task. Used only when
    //! latency is injected, so the sandbox needs no async runtime.

    use super::Duration;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll, Waker};

    #[derive(Default)]
    struct Shared {
        done: bool,
        waker: Option<Waker>,
    }

    pub(crate) struct Delay {
        duration: Duration,
        shared: Option<Arc<Mutex<Shared>>>,
    }

    impl Delay {
        pub(crate) fn new(duration: Duration) -> Self {
            Self {
                duration,
                shared: None,
            }
        }
    }

    impl Future for Delay {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let duration = self.duration;
            let shared = self.shared.get_or_insert_with(|| {
                let shared = Arc::new(Mutex::new(Shared::default()));
                let theirs = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name("card-sandbox-delay".into())
                    .spawn(move || {
                        std::thread::sleep(duration);
                        let mut s = theirs.lock().unwrap_or_else(PoisonError::into_inner);
                        s.done = true;
                        if let Some(w) = s.waker.take() {
                            w.wake();
                        }
                    });
                if spawned.is_err() {
                    // No thread to wait on: answer without the delay rather than hang.
                    shared.lock().unwrap_or_else(PoisonError::into_inner).done = true;
                }
                shared
            });
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            if s.done {
                Poll::Ready(())
            } else {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
