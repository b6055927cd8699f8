//! The ureq agent behind [`UreqTransport`](crate::UreqTransport): host names are looked
//! up when a connection is opened, never for a request that reuses a pooled one.
//!
//! ureq resolves a request's host before it looks in its connection pool, and with a
//! timeout configured its resolver runs every lookup on a new thread so that it can give
//! up in time: one thread (and one lookup) per request, even on a kept-alive connection.
//! Here the agent's resolver answers "no addresses yet" for a direct connection, and the
//! first connector of the chain does the lookup only when the pool has no connection and
//! a new one must be opened. The lookup then counts against the connect timeout (which
//! thus bounds lookup, TCP and TLS together), and the time it took is taken off what is
//! left for TCP and TLS. An IP address in the URL is parsed, never looked up. Through a
//! proxy nothing changes: ureq's own path (the proxy resolves the target, ureq the
//! proxy's name) is kept as it is.
//!
//! Every connection is also wrapped in [`Coalesce`]: ureq transmits a request's head and
//! its body separately, two writes that make the server wake up twice; the wrapper holds
//! the head back and sends it with the body (or before the first read) in one write.

use crate::ureq_mask::MaskConnector;
use crate::ureq_tcp;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, RustlsConnector,
    Transport,
};

use crate::TransportConfig;

/// The agent [`UreqTransport`](crate::UreqTransport) uses: no redirects, every status as
/// a response, the connect and whole-exchange timeouts of `config`, names looked up by
/// the system resolver when a connection is opened.
pub(crate) fn agent(config: &TransportConfig) -> ureq::Agent {
    agent_with_lookup(config, Arc::new(DefaultResolver::default()))
}

/// [`agent`] with `lookup` as the resolver used when a connection is opened.
fn agent_with_lookup(config: &TransportConfig, lookup: Arc<dyn Resolver>) -> ureq::Agent {
    agent_with(config, lookup, |builder| builder)
}

/// ureq's settings as [`agent`] makes them, before they are built.
type Settings = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;

/// [`agent`] whose TLS trusts only the certificate given (DER), for tests against a
/// loopback HTTPS server.
#[cfg(test)]
pub(crate) fn agent_trusting(config: &TransportConfig, certificate: &'static [u8]) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = RootCerts::Specific(Arc::new(vec![Certificate::from_der(certificate)]));
    let tls = TlsConfig::builder().root_certs(roots).build();
    agent_with(config, Arc::new(DefaultResolver::default()), |builder| {
        builder.tls_config(tls)
    })
}

/// [`agent`] going through the HTTP proxy at `proxy` (a URL), for tests.
#[cfg(test)]
pub(crate) fn agent_via_proxy(config: &TransportConfig, proxy: &str) -> ureq::Agent {
    let proxy = ureq::Proxy::new(proxy).expect("a proxy URL");
    agent_with(config, Arc::new(DefaultResolver::default()), |builder| {
        builder.proxy(Some(proxy))
    })
}

/// [`agent_via_proxy`] whose TLS trusts only the certificate given (DER), for tests.
#[cfg(test)]
pub(crate) fn agent_via_proxy_trusting(
    config: &TransportConfig,
    proxy: &str,
    certificate: &'static [u8],
) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let proxy = ureq::Proxy::new(proxy).expect("a proxy URL");
    let roots = RootCerts::Specific(Arc::new(vec![Certificate::from_der(certificate)]));
    let tls = TlsConfig::builder().root_certs(roots).build();
    agent_with(config, Arc::new(DefaultResolver::default()), |builder| {
        builder.proxy(Some(proxy)).tls_config(tls)
    })
}

/// [`agent_with_lookup`], with ureq's settings changed by `adjust` (tests only).
fn agent_with(
    config: &TransportConfig,
    lookup: Arc<dyn Resolver>,
    adjust: impl FnOnce(Settings) -> Settings,
) -> ureq::Agent {
    let builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_global(Some(config.timeout));
    let ureq_config = adjust(builder).build();
    let connector = LookUpOnConnect {
        lookup: Arc::clone(&lookup),
        inner: DefaultConnector::new(),
        tls: RustlsConnector::default(),
    };
    // The masking link goes last, so that ureq's logs never see a query string or a
    // body (see `ureq_mask`); below it the real bytes are coalesced and written.
    // Through an HTTP proxy, ureq opens the connection to the proxy with this same
    // chain and sends its `CONNECT` over it: that link must pass bytes as they are.
    let connector = connector.chain(MaskConnector {
        proxied: ureq_config.proxy().is_some(),
    });
    ureq::Agent::with_parts(ureq_config, connector, LookUpLater { lookup })
}

/// Whether a request to `uri` under `config` connects to the host itself (no proxy, or
/// the host is on the no-proxy list): only then is the lookup put off until connecting.
fn is_direct(config: &Config, uri: &Uri) -> bool {
    config.proxy().is_none_or(|proxy| proxy.is_no_proxy(uri))
}

/// The agent's resolver: for a direct connection, no addresses yet (the pool is asked
/// first; [`LookUpOnConnect`] looks the name up if a connection must be opened). For
/// anything else (a proxy's own name, a target a proxy wants resolved) it looks up at
/// once, as ureq would.
struct LookUpLater {
    lookup: Arc<dyn Resolver>,
}

impl fmt::Debug for LookUpLater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookUpLater").finish_non_exhaustive()
    }
}

impl Resolver for LookUpLater {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if is_direct(config, uri) {
            Ok(self.empty())
        } else {
            look_up(&*self.lookup, uri, config, timeout)
        }
    }
}

/// The first connector of the chain: when a direct connection is to be opened and its
/// addresses were put off, looks the host up (within the connect timeout) and hands the
/// addresses, with the time left, to ureq's default chain (TCP, then TLS).
struct LookUpOnConnect {
    lookup: Arc<dyn Resolver>,
    /// ureq's own chain, for connections through a proxy.
    inner: DefaultConnector,
    /// TLS over a direct connection's [`ureq_tcp::Tcp`].
    tls: RustlsConnector,
}

impl fmt::Debug for LookUpOnConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookUpOnConnect").finish_non_exhaustive()
    }
}

impl Connector for LookUpOnConnect {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if !is_direct(details.config, details.uri) {
            return Ok(self.inner.connect(details, chained)?.map(Coalesce::wrap));
        }
        let started = std::time::Instant::now();
        let addrs = if details.addrs.is_empty() {
            look_up(&*self.lookup, details.uri, details.config, details.timeout)?
        } else {
            details.addrs.clone()
        };
        let tcp = ureq_tcp::connect(
            &addrs,
            left_after(details.timeout, started.elapsed())?,
            details.config,
        )?;
        (details.register_shutdown)(tcp.shutdown_handle())?;
        // TLS (for https) gets what is left of the connect time.
        let resolved = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: (details.current_time)(),
            timeout: left_after(details.timeout, started.elapsed())?,
            current_time: Arc::clone(&details.current_time),
            run_connector: Arc::clone(&details.run_connector),
            register_shutdown: Arc::clone(&details.register_shutdown),
        };
        let tcp: Box<dyn Transport> = Box::new(tcp);
        Ok(self
            .tls
            .connect(&resolved, Some(tcp))?
            .map(|transport| Coalesce::wrap(Box::new(transport))))
    }
}

/// A connection that sends a request in one write: a transmission is held back (copied
/// aside) and sent together with the next one, or on its own before the connection is
/// read from. ureq always reads the answer after sending, so nothing stays held back.
struct Coalesce {
    inner: Box<dyn Transport>,
    held: Vec<u8>,
}

impl Coalesce {
    fn wrap(inner: Box<dyn Transport>) -> Box<dyn Transport> {
        Box::new(Self {
            inner,
            held: Vec::new(),
        })
    }

    /// Sends what is held back, on its own.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let len = self.held.len();
        self.inner.buffers().output()[..len].copy_from_slice(&self.held);
        self.held.clear();
        self.inner.transmit_output(len, timeout)
    }
}

impl fmt::Debug for Coalesce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalesce")
            .field("inner", &self.inner)
            .field("held", &self.held.len())
            .finish()
    }
}

impl Transport for Coalesce {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let held = self.held.len();
        let output = self.inner.buffers().output();
        if held == 0 {
            self.held.extend_from_slice(&output[..amount]);
            return Ok(());
        }
        if held + amount <= output.len() {
            // What is held, then this transmission, in one write.
            output.copy_within(..amount, held);
            output[..held].copy_from_slice(&self.held);
            self.held.clear();
            return self.inner.transmit_output(held + amount, timeout);
        }
        // Too large to join: what is held first, then this.
        let this = output[..amount].to_vec();
        self.flush(timeout)?;
        self.inner.buffers().output()[..amount].copy_from_slice(&this);
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// The addresses of `uri`'s host: an IP address is parsed in place (no lookup, no
/// thread); a name goes to `lookup` within `timeout`.
fn look_up(
    lookup: &dyn Resolver,
    uri: &Uri,
    config: &Config,
    timeout: NextTimeout,
) -> Result<ResolvedSocketAddrs, ureq::Error> {
    let host = uri.host().unwrap_or_default();
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if literal.parse::<IpAddr>().is_ok() {
        // Without a timeout ureq's resolver converts on the calling thread; for an IP
        // address that is a parse, not a lookup.
        let untimed = NextTimeout {
            after: Duration::NotHappening,
            ..timeout
        };
        return DefaultResolver::default().resolve(uri, config, untimed);
    }
    // The system resolver reports an unknown name (or an unreachable DNS server) as an
    // I/O error, which would read as a failed exchange; nothing was sent yet.
    lookup
        .resolve(uri, config, timeout)
        .map_err(|error| match error {
            ureq::Error::Io(_) => ureq::Error::HostNotFound,
            other => other,
        })
}

/// What is left of `timeout` once `spent` has passed; a timeout error if nothing is.
fn left_after(
    timeout: NextTimeout,
    spent: std::time::Duration,
) -> Result<NextTimeout, ureq::Error> {
    match timeout.after {
        Duration::NotHappening => Ok(timeout),
        Duration::Exact(left) => {
            let left = left.saturating_sub(spent);
            if left.is_zero() {
                Err(ureq::Error::Timeout(timeout.reason))
            } else {
                Ok(NextTimeout {
                    after: Duration::Exact(left),
                    ..timeout
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::After;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration as StdDuration;

    /// A resolver that maps every name to `addr`, counts its lookups and takes `delay`.
    #[derive(Debug)]
    struct Counting {
        addr: SocketAddr,
        delay: StdDuration,
        lookups: AtomicUsize,
    }

    impl Counting {
        fn new(addr: SocketAddr, delay: StdDuration) -> Arc<Self> {
            Arc::new(Self {
                addr,
                delay,
                lookups: AtomicUsize::new(0),
            })
        }

        fn lookups(&self) -> usize {
            self.lookups.load(Ordering::SeqCst)
        }
    }

    impl Resolver for Counting {
        fn resolve(
            &self,
            _: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            let mut addrs = self.empty();
            addrs.push(self.addr);
            Ok(addrs)
        }
    }

    /// A keep-alive HTTP/1.1 server on 127.0.0.1 answering `ok` to every request; with
    /// `close`, it closes each connection after one answer. Returns its address and the
    /// count of connections it accepted.
    fn server(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let after = if close {
            After::SayClose
        } else {
            After::KeepAlive
        };
        crate::loopback::server(StdDuration::ZERO, after)
    }

    fn config(connect_timeout: StdDuration) -> TransportConfig {
        TransportConfig {
            connect_timeout,
            timeout: StdDuration::from_secs(10),
            ..TransportConfig::default()
        }
    }

    /// What ureq itself reads of the answer `ok`: the agent masks answer bodies from
    /// ureq (`ureq_mask`), and only `UreqTransport` puts the real bytes back.
    const MASKED_OK: &str = "**";

    fn post(agent: &ureq::Agent, url: &str) -> Result<String, ureq::Error> {
        agent.post(url).send("{}")?.body_mut().read_to_string()
    }

    /// Sends `n` requests to `host` (`{port}` replaced by the server's port, `{addr}`
    /// by its address) through an agent whose lookups are counted; the server closes
    /// each connection after one answer when `close`. Returns the connections accepted
    /// and the lookups made.
    fn requests(close: bool, url: &str, n: usize) -> (usize, usize) {
        let (addr, accepted) = server(close);
        let lookup = Counting::new(addr, StdDuration::ZERO);
        let agent = agent_with_lookup(&config(StdDuration::from_secs(5)), lookup.clone());
        let url = url
            .replace("{port}", &addr.port().to_string())
            .replace("{addr}", &addr.to_string());
        for _ in 0..n {
            assert_eq!(post(&agent, &url).expect("answer"), MASKED_OK);
        }
        (accepted.load(Ordering::SeqCst), lookup.lookups())
    }

    #[test]
    fn requests_on_a_kept_alive_connection_look_nothing_up() {
        let url = "http://wxcard.test:{port}/card/qrcode/create";
        assert_eq!(requests(false, url, 50), (1, 1));
    }

    #[test]
    fn each_new_connection_looks_the_name_up_again() {
        assert_eq!(requests(true, "http://wxcard.test:{port}/x", 5), (5, 5));
    }

    #[test]
    fn an_ip_address_is_never_looked_up() {
        let (_, lookups) = requests(false, "http://{addr}/x", 3);
        assert_eq!(lookups, 0);
    }

    #[test]
    fn the_connect_timeout_covers_the_lookup() {
        let (addr, accepted) = server(false);
        // The lookup alone outlasts the connect timeout.
        let lookup = Counting::new(addr, StdDuration::from_millis(300));
        let agent = agent_with_lookup(&config(StdDuration::from_millis(50)), lookup.clone());
        let error = post(&agent, &format!("http://wxcard.test:{}/x", addr.port()))
            .expect_err("connect timeout");
        assert!(
            matches!(error, ureq::Error::Timeout(ureq::Timeout::Connect)),
            "{error:?}"
        );
        assert_eq!(lookup.lookups(), 1);
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
    }

    /// A resolver whose every lookup fails as the system's does for an unknown name.
    #[derive(Debug)]
    struct Unknown;

    impl Resolver for Unknown {
        fn resolve(
            &self,
            _: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            Err(ureq::Error::Io(std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            )))
        }
    }

    #[test]
    fn a_failed_lookup_is_a_host_not_found_not_an_exchange_failure() {
        // Nothing is sent when a name cannot be looked up: the error must say so, so
        // that the call fails over and is never reported as "may have been sent".
        let agent = agent_with_lookup(&config(StdDuration::from_secs(5)), Arc::new(Unknown));
        let error = post(&agent, "http://wxcard.test:9/x").expect_err("no such host");
        assert!(matches!(error, ureq::Error::HostNotFound), "{error:?}");
    }

    /// What a [`Recording`] was asked to send, write by write.
    type Sent = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// A transport that records what it is asked to send.
    #[derive(Debug)]
    struct Recording {
        buffers: ureq::unversioned::transport::LazyBuffers,
        sent: Sent,
    }

    impl Transport for Recording {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let bytes = self.buffers.output()[..amount].to_vec();
            self.sent.lock().unwrap().push(bytes);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            self.sent.lock().unwrap().push(b"<read>".to_vec());
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    /// A [`Coalesce`] over a [`Recording`] with an output buffer of `size` bytes.
    fn coalesce(size: usize) -> (Box<dyn Transport>, Sent) {
        let sent = Arc::default();
        let inner = Recording {
            buffers: ureq::unversioned::transport::LazyBuffers::new(64, size),
            sent: Arc::clone(&sent),
        };
        (Coalesce::wrap(Box::new(inner)), sent)
    }

    fn transmit(t: &mut dyn Transport, bytes: &[u8]) {
        t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        t.transmit_output(bytes.len(), NextTimeout::default())
            .expect("transmit");
    }

    #[test]
    fn head_and_body_go_out_in_one_write_and_all_before_reading() {
        let (mut t, sent) = coalesce(64);
        transmit(&mut *t, b"HEAD;");
        transmit(&mut *t, b"BODY");
        assert_eq!(*sent.lock().unwrap(), vec![b"HEAD;BODY".to_vec()]);
        // A lone head (no body) goes out before the answer is read.
        transmit(&mut *t, b"GET;");
        t.await_input(NextTimeout::default()).expect("read");
        // A body in three parts: two writes, the last part before the read.
        transmit(&mut *t, b"H;");
        transmit(&mut *t, b"a");
        transmit(&mut *t, b"b");
        t.maybe_await_input(NextTimeout::default()).expect("read");
        assert_eq!(
            *sent.lock().unwrap(),
            vec![
                b"HEAD;BODY".to_vec(),
                b"GET;".to_vec(),
                b"<read>".to_vec(),
                b"H;a".to_vec(),
                b"b".to_vec(),
                b"<read>".to_vec(),
            ]
        );
    }

    #[test]
    fn what_does_not_fit_the_buffer_goes_out_in_order() {
        let (mut t, sent) = coalesce(8);
        transmit(&mut *t, b"HEAD;");
        transmit(&mut *t, b"12345678");
        t.await_input(NextTimeout::default()).expect("read");
        assert_eq!(
            *sent.lock().unwrap(),
            vec![b"HEAD;".to_vec(), b"12345678".to_vec(), b"<read>".to_vec()]
        );
    }

    #[test]
    fn what_is_left_of_a_timeout() {
        let timeout = NextTimeout {
            after: Duration::Exact(StdDuration::from_millis(100)),
            reason: ureq::Timeout::Connect,
            per_read: None,
            per_write: None,
        };
        let left = left_after(timeout, StdDuration::from_millis(30)).expect("time left");
        assert_eq!(left.after, Duration::Exact(StdDuration::from_millis(70)));
        assert_eq!(left.reason, ureq::Timeout::Connect);
        assert!(matches!(
            left_after(timeout, StdDuration::from_millis(100)),
            Err(ureq::Error::Timeout(ureq::Timeout::Connect))
        ));
        let never = NextTimeout {
            after: Duration::NotHappening,
            ..timeout
        };
        assert_eq!(
            left_after(never, StdDuration::from_secs(9))
                .expect("no limit")
                .after,
            Duration::NotHappening
        );
    }
}
