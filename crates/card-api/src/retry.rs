//! The retry policy: how many attempts, and how long to wait between them. Pure: the
//! jitter comes from a seeded generator, so every delay is reproducible in tests.

use std::time::Duration;

/// How a call is retried after a transient failure (errcode -1 or 45009, a connect
/// failure, a timeout, a 5xx status).
///
/// Delays grow exponentially from a base (`base_delay` for most failures, the longer
/// `rate_limit_delay` for 45009), are capped at `max_delay`, and are jittered into
/// `[d/2, d]` so that many clients do not retry in step. Whether a failure may be
/// retried at all also depends on the endpoint (see
/// [`Endpoint::repeatable`](card_model::Endpoint::repeatable)); the policy decides only
/// how often and how long.
///
/// ```
/// use card_api::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new()
///     .max_attempts(5)
///     .base_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(2));
/// assert_eq!(policy.attempts(), 5);
/// assert_eq!(RetryPolicy::disabled().attempts(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    rate_limit_delay: Duration,
    max_delay: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// 3 attempts, 200 ms base delay, 2 s base delay after 45009, at most 4 s between
    /// two attempts, jitter on. See [`worst_case`](Self::worst_case) for how long a
    /// call can take with these.
    pub fn new() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            rate_limit_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(4),
            jitter: true,
        }
    }

    /// No retries: every call is sent once. (A connect failure, where nothing was sent,
    /// still moves on to the next failover host.)
    pub fn disabled() -> Self {
        Self::new().max_attempts(1)
    }

    /// Total attempts per call, the first included (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry; it doubles for each further retry.
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The base delay after errcode 45009 (rate limited), which should be longer.
    #[must_use]
    pub fn rate_limit_delay(mut self, delay: Duration) -> Self {
        self.rate_limit_delay = delay;
        self
    }

    /// The longest delay between two attempts (default 4 s); also the longest
    /// `Retry-After` honoured: a server asking for more makes the call give up.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Turns jitter on (default) or off.
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Total attempts per call.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest delay between two attempts ([`max_delay`](Self::max_delay)). A
    /// server's `Retry-After` asking for more makes the call give up.
    pub(crate) fn longest_delay(&self) -> Duration {
        self.max_delay
    }

    /// The longest one call can take with `transport`'s timeouts and `hosts` hosts:
    /// every attempt waits out each host's connect timeout and then the whole
    /// exchange, and every retry waits the longest delay allowed (a server's
    /// `Retry-After` may ask for up to [`max_delay`](Self::max_delay)). A call that
    /// must first fetch the access token (an empty or expired cache) can take this
    /// twice: once for the fetch, once for the call.
    ///
    /// With the defaults ([`RetryPolicy::new`] and the client's 2 s connect and 5 s
    /// exchange timeouts) and one host: 3 × (2 s + 5 s) + 2 × 4 s = 29 s. A server
    /// that accepts the connection and stays silent holds a call 3 × 5 s plus the
    /// backoff (about 15.6 s); one that cannot be reached, 3 × 2 s plus the backoff.
    ///
    /// ```
    /// use card_api::RetryPolicy;
    /// use card_transport::TransportConfig;
    /// use std::time::Duration;
    ///
    /// let transport = TransportConfig {
    ///     connect_timeout: Duration::from_secs(2),
    ///     timeout: Duration::from_secs(5),
    ///     ..TransportConfig::default()
    /// };
    /// assert_eq!(RetryPolicy::new().worst_case(&transport, 1), Duration::from_secs(29));
    /// ```
    pub fn worst_case(
        &self,
        transport: &card_transport::TransportConfig,
        hosts: usize,
    ) -> Duration {
        let hosts = u32::try_from(hosts.max(1)).unwrap_or(u32::MAX);
        let round = transport
            .connect_timeout
            .saturating_mul(hosts)
            .saturating_add(transport.timeout);
        round
            .saturating_mul(self.max_attempts)
            .saturating_add(self.max_delay.saturating_mul(self.max_attempts - 1))
    }

    /// The delay before retry number `retry` (1 for the first retry), drawing jitter
    /// from `rng`.
    pub fn delay(&self, retry: u32, rate_limited: bool, rng: &mut Jitter) -> Duration {
        let base = if rate_limited {
            self.rate_limit_delay
        } else {
            self.base_delay
        };
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        let full = base.saturating_mul(factor).min(self.max_delay);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        let span = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.next_u64() % span.saturating_add(1))
    }
}

/// A small deterministic generator (SplitMix64) for jitter and nonces. Not for
/// cryptography.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy::new()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(350))
            .jitter(false);
        let mut rng = Jitter::new(1);
        let d: Vec<_> = (1..=4).map(|r| p.delay(r, false, &mut rng)).collect();
        assert_eq!(d, [100, 200, 350, 350].map(Duration::from_millis).to_vec());
        let j = p.clone().jitter(true);
        for seed in 0..50 {
            let mut rng = Jitter::new(seed);
            for r in 1..=4 {
                let full = p.delay(r, false, &mut Jitter::new(0));
                let x = j.delay(r, false, &mut rng);
                assert!(x >= full / 2 && x <= full, "{x:?} vs {full:?}");
            }
        }
        // same seed, same delays
        let a = j.delay(2, false, &mut Jitter::new(7));
        assert_eq!(a, j.delay(2, false, &mut Jitter::new(7)));
    }

    #[test]
    fn rate_limit_waits_longer_and_huge_retry_numbers_do_not_overflow() {
        let p = RetryPolicy::new().jitter(false);
        let mut rng = Jitter::new(0);
        assert!(p.delay(1, true, &mut rng) > p.delay(1, false, &mut rng));
        assert_eq!(p.delay(u32::MAX, false, &mut rng), Duration::from_secs(4));
        assert_eq!(RetryPolicy::new().max_attempts(0).attempts(), 1);
    }
}
