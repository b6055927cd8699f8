//! Faults on demand: a seeded configuration of random faults, a queue of scripted
//! faults, and the small PRNG that makes both deterministic.

use std::collections::VecDeque;
use std::time::Duration;

/// One fault, as scripted with [`Sandbox::push_fault`](crate::Sandbox::push_fault) or
/// drawn at random from a [`FaultConfig`].
///
/// Faults apply to the API endpoints that carry an `access_token` (everything except
/// `/cgi-bin/token`, `/cgi-bin/stable_token` and the `/sandbox/...` admin routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `{"errcode":-1,"errmsg":"system error"}`. The request has no effect.
    SystemBusy,
    /// Answer `{"errcode":45009,"errmsg":"api freq out of limit"}`. The request has no
    /// effect.
    RateLimited,
    /// Answer 42001 and kill the access token the request carried (it answers 42001 from
    /// then on). The request has no effect.
    ExpireToken,
    /// Drop the connection before the request is processed: no effect, no answer. The
    /// transports return a [`TransportErrorKind::Io`](card_transport::TransportErrorKind::Io)
    /// error; the HTTP server closes the socket.
    DropBeforeEffect,
    /// Process the request (its effect is applied), then drop the connection so the answer
    /// is lost: what a real network does when it fails mid-response.
    DropAfterEffect,
    /// Delay the answer by this long. The request is processed normally.
    Latency(Duration),
}

/// Faults of API calls: periodic ones (every N-th call) and random ones drawn
/// deterministically from `seed`.
///
/// An API call is a request to any endpoint that carries an access token. Calls are
/// counted from when the configuration was set, so "expire every 50, -1 every 97" answers
/// 42001 on calls 50, 100, 150, ... and -1 on calls 97, 194, ... exactly. Each call also
/// draws from the PRNG in a fixed order, so the same sequence of calls against the same
/// configuration meets the same random faults. Probabilities are in `0.0..=1.0`;
/// [`FaultConfig::one_in`] turns "about 1 call in 97" into one. When two faults fall on
/// one call, 42001 wins over -1, and -1 over 45009.
///
/// ```
/// use card_sandbox::FaultConfig;
///
/// let faults = FaultConfig::seeded(7)
///     .expire_token_every(50)
///     .system_busy_every(97)
///     .rate_limited(FaultConfig::one_in(200));
/// assert_eq!(faults.expire_token_every, Some(50));
/// assert_eq!(faults.system_busy_every, Some(97));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FaultConfig {
    /// The PRNG seed.
    pub seed: u64,
    /// Every N-th API call answers 42001 and kills its token.
    pub expire_token_every: Option<u64>,
    /// Every N-th API call answers -1 (no effect).
    pub system_busy_every: Option<u64>,
    /// Every N-th API call answers 45009 (no effect).
    pub rate_limited_every: Option<u64>,
    /// Probability of answering -1 (no effect).
    pub system_busy: f64,
    /// Probability of answering 45009 (no effect).
    pub rate_limited: f64,
    /// Probability of dropping the connection before processing (no effect).
    pub drop_before_effect: f64,
    /// Probability of dropping the connection after processing (effect applied).
    pub drop_after_effect: f64,
    /// Probability, per code in a deposit, that the code fails (is not stored and counts in
    /// `fail_code`), as if WeChat rejected it.
    pub code_failure: f64,
    /// Latency added to every API call.
    pub latency: Duration,
    /// Extra latency, uniform in `0..=latency_jitter`, added to every API call.
    pub latency_jitter: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::seeded(0)
    }
}

impl FaultConfig {
    /// No faults, with this seed.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            expire_token_every: None,
            system_busy_every: None,
            rate_limited_every: None,
            system_busy: 0.0,
            rate_limited: 0.0,
            drop_before_effect: 0.0,
            drop_after_effect: 0.0,
            code_failure: 0.0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
        }
    }

    /// The probability "one in `n`" (`n` = 0 means never).
    pub fn one_in(n: u32) -> f64 {
        if n == 0 { 0.0 } else { 1.0 / f64::from(n) }
    }

    /// Sets [`expire_token_every`](Self::expire_token_every) (0 turns it off).
    pub fn expire_token_every(mut self, n: u64) -> Self {
        self.expire_token_every = (n > 0).then_some(n);
        self
    }

    /// Sets [`system_busy_every`](Self::system_busy_every) (0 turns it off).
    pub fn system_busy_every(mut self, n: u64) -> Self {
        self.system_busy_every = (n > 0).then_some(n);
        self
    }

    /// Sets [`rate_limited_every`](Self::rate_limited_every) (0 turns it off).
    pub fn rate_limited_every(mut self, n: u64) -> Self {
        self.rate_limited_every = (n > 0).then_some(n);
        self
    }

    /// Sets [`system_busy`](Self::system_busy).
    pub fn system_busy(mut self, p: f64) -> Self {
        self.system_busy = p;
        self
    }

    /// Sets [`rate_limited`](Self::rate_limited).
    pub fn rate_limited(mut self, p: f64) -> Self {
        self.rate_limited = p;
        self
    }

    /// Sets [`drop_before_effect`](Self::drop_before_effect).
    pub fn drop_before_effect(mut self, p: f64) -> Self {
        self.drop_before_effect = p;
        self
    }

    /// Sets [`drop_after_effect`](Self::drop_after_effect).
    pub fn drop_after_effect(mut self, p: f64) -> Self {
        self.drop_after_effect = p;
        self
    }

    /// Sets [`code_failure`](Self::code_failure).
    pub fn code_failure(mut self, p: f64) -> Self {
        self.code_failure = p;
        self
    }

    /// Sets [`latency`](Self::latency) and [`latency_jitter`](Self::latency_jitter).
    pub fn latency(mut self, fixed: Duration, jitter: Duration) -> Self {
        self.latency = fixed;
        self.latency_jitter = jitter;
        self
    }
}

/// splitmix64: tiny, fast, good enough to spread faults; not for secrets.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p` (always draws, so the sequence does not depend on `p`).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let x = self.next_f64();
        p > 0.0 && x < p
    }
}

/// The splitmix64 finaliser, also used to make ids look random.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The faults decided for one API call, before it is processed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) drop_before: bool,
    pub(crate) expire_token: bool,
    pub(crate) busy: bool,
    pub(crate) rate_limited: bool,
    pub(crate) drop_after: bool,
    pub(crate) latency: Duration,
}

/// The fault state of a sandbox: configuration, PRNG, scripted queue, call counter.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) config: FaultConfig,
    rng: SplitMix64,
    queue: VecDeque<Fault>,
    authed_calls: u64,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig) -> Self {
        Self {
            rng: SplitMix64::new(config.seed),
            config,
            queue: VecDeque::new(),
            authed_calls: 0,
        }
    }

    pub(crate) fn reset(&mut self, config: FaultConfig) {
        let queue = std::mem::take(&mut self.queue);
        *self = Self::new(config);
        self.queue = queue;
    }

    pub(crate) fn push(&mut self, fault: Fault) {
        self.queue.push_back(fault);
    }

    pub(crate) fn clear_queue(&mut self) {
        self.queue.clear();
    }

    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }

    /// API calls counted since the configuration was set.
    pub(crate) fn calls(&self) -> u64 {
        self.authed_calls
    }

    /// Decides the faults of the next API call. A scripted fault, if any, replaces the
    /// random draw for that call (the PRNG does not advance), so scripts stay exact.
    pub(crate) fn plan(&mut self) -> Plan {
        self.authed_calls += 1;
        let mut plan = Plan::default();
        if let Some(fault) = self.queue.pop_front() {
            match fault {
                Fault::SystemBusy => plan.busy = true,
                Fault::RateLimited => plan.rate_limited = true,
                Fault::ExpireToken => plan.expire_token = true,
                Fault::DropBeforeEffect => plan.drop_before = true,
                Fault::DropAfterEffect => plan.drop_after = true,
                Fault::Latency(d) => plan.latency = d,
            }
            return plan;
        }
        let c = &self.config;
        let calls = self.authed_calls;
        let every = |n: Option<u64>| n.is_some_and(|n| n > 0 && calls % n == 0);
        plan.expire_token = every(c.expire_token_every);
        // Always draw the same number of values per call, so one knob does not shift the
        // sequence of another.
        plan.drop_before = self.rng.chance(c.drop_before_effect);
        plan.busy = self.rng.chance(c.system_busy) | every(c.system_busy_every);
        plan.rate_limited = self.rng.chance(c.rate_limited) | every(c.rate_limited_every);
        plan.drop_after = self.rng.chance(c.drop_after_effect);
        let jitter = self.rng.next_f64();
        plan.latency = c.latency.saturating_add(c.latency_jitter.mul_f64(jitter));
        plan
    }

    /// Whether one deposited code fails (draws only when the knob is on, so deposits do
    /// not disturb the call-level sequence otherwise).
    pub(crate) fn code_fails(&mut self) -> bool {
        self.config.code_failure > 0.0 && self.rng.chance(self.config.code_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let cfg = FaultConfig::seeded(42)
            .system_busy(0.1)
            .rate_limited(0.05)
            .expire_token_every(7);
        let mut a = Faults::new(cfg.clone());
        let mut b = Faults::new(cfg);
        let pa: Vec<Plan> = (0..1000).map(|_| a.plan()).collect();
        let pb: Vec<Plan> = (0..1000).map(|_| b.plan()).collect();
        assert_eq!(pa, pb);
        let busy = pa.iter().filter(|p| p.busy).count();
        assert!((50..150).contains(&busy), "{busy}");
        assert_eq!(pa.iter().filter(|p| p.expire_token).count(), 1000 / 7);
    }

    #[test]
    fn scripted_faults_come_first_and_do_not_advance_rng() {
        let cfg = FaultConfig::seeded(1).system_busy(0.5);
        let mut plain = Faults::new(cfg.clone());
        let mut scripted = Faults::new(cfg);
        scripted.push(Fault::RateLimited);
        let first = scripted.plan();
        assert!(first.rate_limited && !first.busy);
        assert_eq!(plain.plan(), scripted.plan());
    }

    #[test]
    fn periodic_faults_fall_on_exact_calls() {
        let cfg = FaultConfig::seeded(0)
            .expire_token_every(50)
            .system_busy_every(97)
            .rate_limited_every(300);
        let mut f = Faults::new(cfg);
        let plans: Vec<Plan> = (0..970).map(|_| f.plan()).collect();
        let at = |pick: fn(&Plan) -> bool| -> Vec<usize> {
            (0..plans.len())
                .filter(|&i| pick(&plans[i]))
                .map(|i| i + 1)
                .collect()
        };
        assert_eq!(
            at(|p| p.expire_token),
            (1..=19).map(|k| k * 50).collect::<Vec<_>>()
        );
        assert_eq!(at(|p| p.busy), (1..=10).map(|k| k * 97).collect::<Vec<_>>());
        assert_eq!(at(|p| p.rate_limited), vec![300, 600, 900]);
    }

    #[test]
    fn zero_probability_never_fires() {
        let mut f = Faults::new(FaultConfig::seeded(3));
        assert!((0..10_000).all(|_| {
            let p = f.plan();
            !(p.busy || p.rate_limited || p.drop_before || p.drop_after || p.expire_token)
        }));
    }
}
