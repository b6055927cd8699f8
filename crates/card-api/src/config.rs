//! The settled configuration of a client, and the values a builder chooses between.
//! (The builders themselves live in `builder.rs`; this module knows no client.)

use crate::error::Error;
use crate::retry::RetryPolicy;
use card_model::{AccessToken, AppSecret};
use card_transport::TransportConfig;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The API host WeChat routes to the nearest access point.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// WeChat's documented backup hosts, in a sensible failover order: the general
/// disaster-recovery host, then the Shanghai, Shenzhen and Hong Kong access points.
/// Pass them to [`ClientBuilder::failover`](crate::ClientBuilder::failover).
pub const BACKUP_BASE_URLS: [&str; 4] = [
    "https://api2.weixin.qq.com",
    "https://sh.api.weixin.qq.com",
    "https://sz.api.weixin.qq.com",
    "https://hk.api.weixin.qq.com",
];

/// Which endpoint fetches access tokens from app credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// `GET /cgi-bin/token`: each fetch replaces the previous token.
    #[default]
    Token,
    /// `POST /cgi-bin/stable_token`: returns the token in force while it lives.
    StableToken,
}

/// Where access tokens come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum TokenSource {
    /// A token the application manages elsewhere. It is used as given and never
    /// refreshed: a token error is returned to the caller.
    Fixed(AccessToken),
    /// App credentials: the client fetches, caches and refreshes tokens itself.
    Credentials {
        /// The AppID.
        appid: String,
        /// The AppSecret.
        secret: AppSecret,
        /// Which endpoint to fetch from.
        endpoint: TokenEndpoint,
    },
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(_) => f.write_str("Fixed([redacted])"),
            Self::Credentials {
                appid, endpoint, ..
            } => f
                .debug_struct("Credentials")
                .field("appid", appid)
                .field("secret", &"[redacted]")
                .field("endpoint", endpoint)
                .finish(),
        }
    }
}

/// The settled configuration of a client (see [`ClientBuilder`](crate::ClientBuilder)).
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) hosts: Arc<[String]>,
    pub(crate) token_source: TokenSource,
    pub(crate) retry: RetryPolicy,
    pub(crate) refresh_margin: Duration,
    pub(crate) transport: TransportConfig,
    pub(crate) lease_ttl: Duration,
    pub(crate) lease_poll: Duration,
    pub(crate) namespace: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("hosts", &RedactedUrls(&self.hosts))
            .field("token_source", &self.token_source)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("transport", &self.transport)
            .field("lease_ttl", &self.lease_ttl)
            .field("lease_poll", &self.lease_poll)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// `url` with the password of its user information (`https://user:pass@host`) replaced
/// by `[redacted]`, for Debug output and error texts.
///
/// A URL that is not well formed is redacted too: a password holding an unencoded `/`,
/// `?` or `#` (which cuts the authority short), or a scheme missing a slash. Whatever
/// stands between the scheme and the last `@` is then taken as `user:password`.
pub(crate) fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let scheme_end = match url.find("://") {
        Some(i) => i + 3,
        None => match url.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                scheme.len() + 1
            }
            _ => return url.into(),
        },
    };
    // `http:/host` and `http:///host` are not URLs, but their errors show them.
    let scheme_end = url.len() - url[scheme_end..].trim_start_matches('/').len();
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = match rest[..authority_end].rfind('@') {
        Some(at) => at,
        // `user:pa?ss@host`: the password ends the authority early. (A port is not
        // told from a password starting with digits: `host:8080/p@q` is redacted too.)
        None => match rest.rfind('@') {
            Some(at) if rest[..authority_end].contains(':') => at,
            _ => return url.into(),
        },
    };
    let user = rest[..at].split(':').next().unwrap_or_default();
    format!("{}{user}:[redacted]{}", &url[..scheme_end], &rest[at..]).into()
}

/// A list of URLs whose Debug output hides their passwords.
pub(crate) struct RedactedUrls<'a>(pub(crate) &'a [String]);

impl fmt::Debug for RedactedUrls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| redact_url(u)))
            .finish()
    }
}

impl ClientConfig {
    /// The base URLs in failover order, the primary first.
    pub fn base_urls(&self) -> &[String] {
        &self.hosts
    }

    /// The token source.
    pub fn token_source(&self) -> &TokenSource {
        &self.token_source
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// How long before WeChat's `expires_in` ends a cached token or ticket is replaced.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The settings for the default transports.
    pub fn transport_config(&self) -> &TransportConfig {
        &self.transport
    }

    /// The prefix of this client's keys in the token store (`wxcard:<kind>:<namespace>`).
    pub fn store_namespace(&self) -> &str {
        &self.namespace
    }
}

/// The client's default transport settings: timeouts a request handler can wait for
/// (see [`ClientBuilder::transport_config`](crate::ClientBuilder::transport_config)).
pub(crate) fn default_transport() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    }
}

/// Checks a base URL (http/https, a host, no query) and drops a trailing `/`.
pub(crate) fn normalize_base_url(url: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("base URL {:?}: {why}", redact_url(url)));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.authority().is_none() {
        return Err(bad("no host"));
    }
    if uri.query().is_some() {
        return Err(bad("a base URL takes no query"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        assert_eq!(
            normalize_base_url("https://api.weixin.qq.com/").unwrap(),
            "https://api.weixin.qq.com"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:8080/wx").unwrap(),
            "http://127.0.0.1:8080/wx"
        );
        for bad in ["api.weixin.qq.com", "ftp://x", "https://x/?a=1", ""] {
            assert!(
                matches!(normalize_base_url(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
