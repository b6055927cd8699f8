//! Where a command's calls go and with which credentials; the one place a client is
//! built ([`build_client`]).

use crate::error::CliError;
use std::path::Path;
use std::sync::Arc;
use wxcard::redis::{RedisConfig, RedisTokenStore};
use wxcard::sandbox::{CardSpec, Sandbox};
use wxcard::{AppSecret, Client, RetryPolicy};

/// The environment variable holding the AppID.
pub const APPID_ENV: &str = "WECHAT_APPID";
/// The environment variable holding the AppSecret (never a flag).
pub const SECRET_ENV: &str = "WECHAT_APPSECRET";
/// The environment variable holding the Redis URL (`--redis-url`).
pub const REDIS_URL_ENV: &str = "WXCARD_REDIS_URL";

/// The Redis through which the access token is shared with the merchant's servers: from
/// `--redis-url-file` (first line) if given, otherwise from `--redis-url` or
/// `$WXCARD_REDIS_URL`; none when neither is set. The URL may hold a password: no
/// message here quotes it.
///
/// # Errors
/// [`CliError::Usage`] when the file cannot be read or is empty, or the URL is not a
/// usable Redis URL.
pub fn redis_config(
    url: Option<&str>,
    url_file: Option<&Path>,
) -> Result<Option<RedisConfig>, CliError> {
    let (url, from) = match url_file {
        Some(path) => {
            let text = read_small_file(path)
                .map_err(|e| CliError::io("reading the Redis URL file", path, e))?;
            let url = text.lines().next().unwrap_or("").trim().to_owned();
            if url.is_empty() {
                return Err(CliError::Usage(format!(
                    "the Redis URL file {} is empty",
                    path.display()
                )));
            }
            (url, format!("in {}", path.display()))
        }
        None => match url {
            Some(url) if !url.trim().is_empty() => (
                url.trim().to_owned(),
                format!("of --redis-url or ${REDIS_URL_ENV}"),
            ),
            _ => return Ok(None),
        },
    };
    // RedisConfig's error names the kind of problem, never the URL.
    RedisConfig::new(&url)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("the Redis URL {from} is not usable: {e}")))
}

/// Where calls go.
#[derive(Debug, Clone)]
pub enum Target {
    /// A WeChat-compatible HTTP server (WeChat itself, a proxy, `wxcard sandbox serve`).
    Http {
        /// The base URL.
        base_url: String,
        /// The AppID.
        appid: String,
        /// The AppSecret (its `Debug` hides it).
        secret: AppSecret,
    },
    /// A sandbox inside this process (`--sandbox`): nothing leaves the machine, and
    /// nothing outlives the command.
    InProcess(Sandbox),
}

impl Target {
    /// The HTTP target from the flags and the environment.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the AppID or AppSecret is missing, or the secret file
    /// cannot be read or is empty.
    pub fn http(
        base_url: &str,
        appid: Option<&str>,
        secret_file: Option<&Path>,
    ) -> Result<Self, CliError> {
        let appid = match appid {
            Some(a) if !a.trim().is_empty() => a.trim().to_owned(),
            _ => {
                return Err(CliError::Usage(format!(
                    "no AppID: set {APPID_ENV} (or pass --appid), or use --sandbox"
                )));
            }
        };
        let secret = match secret_file {
            Some(path) => {
                let text = read_small_file(path)
                    .map_err(|e| CliError::io("reading the secret file", path, e))?;
                let secret = text.trim();
                if secret.is_empty() {
                    return Err(CliError::Usage(format!(
                        "the secret file {} is empty",
                        path.display()
                    )));
                }
                AppSecret::new(secret)
            }
            None => match std::env::var(SECRET_ENV) {
                Ok(s) if !s.trim().is_empty() => AppSecret::new(s.trim()),
                _ => {
                    return Err(CliError::Usage(format!(
                        "no AppSecret: set {SECRET_ENV} or pass --secret-file FILE, or use --sandbox"
                    )));
                }
            },
        };
        Ok(Self::Http {
            base_url: base_url.to_owned(),
            appid,
            secret,
        })
    }

    /// An in-process sandbox.
    pub fn in_process() -> Self {
        Self::InProcess(Sandbox::new())
    }

    /// For an in-process sandbox: creates the named cards (custom code, deposit mode)
    /// so that a command naming them works. Does nothing for an HTTP target.
    ///
    /// # Errors
    /// [`CliError::Input`] for a card id the sandbox refuses (empty).
    pub fn prepare_cards<'a>(
        &self,
        card_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), CliError> {
        if let Self::InProcess(sandbox) = self {
            for id in card_ids {
                if sandbox.card(id).is_none() {
                    sandbox
                        .create_card(CardSpec::deposit_mode().card_id(id))
                        .map_err(|e| CliError::Input(format!("sandbox: {e}")))?;
                }
            }
        }
        Ok(())
    }

    /// A description without secrets, for `--verbose` and the journal: the base URL and
    /// the AppID.
    pub fn describe(&self) -> String {
        match self {
            Self::Http {
                base_url, appid, ..
            } => format!("{} as {appid}", crate::journal::without_user_info(base_url)),
            Self::InProcess(sandbox) => format!("the in-process sandbox as {}", sandbox.appid()),
        }
    }

    /// Whether calls go to a sandbox that ends with the process.
    pub fn is_in_process(&self) -> bool {
        matches!(self, Self::InProcess(_))
    }
}

/// Builds the blocking client for a target. Every command gets its client here, so a
/// change of the client's construction API is made in this one function. With `redis`,
/// the client keeps its access token in that Redis (shared with every server of the
/// merchant that uses it: one of them refreshes it, the others read it); otherwise in
/// memory, for this command only.
///
/// # Errors
/// [`CliError::Usage`] when the client refuses the configuration (an unusable base URL).
pub fn build_client(target: &Target, redis: Option<&RedisConfig>) -> Result<Client, CliError> {
    let builder = Client::builder().retry(RetryPolicy::new());
    let builder = match redis {
        Some(redis) => builder.token_store(RedisTokenStore::new(redis)),
        None => builder,
    };
    let builder = match target {
        Target::Http {
            base_url,
            appid,
            secret,
        } => builder
            .base_url(base_url.as_str())
            .app_credentials(appid.as_str(), secret.clone()),
        Target::InProcess(sandbox) => builder
            .app_credentials(sandbox.appid(), sandbox.secret())
            .transport(Arc::new(sandbox.clone())),
    };
    builder
        .build()
        .map_err(|e| CliError::Usage(format!("cannot set up the client: {e}")))
}

/// The most a file holding one secret or URL may hold.
const MAX_SMALL_FILE: u64 = 64 * 1024;

/// Reads a file that holds one secret or URL, refusing one larger than
/// [`MAX_SMALL_FILE`] (so that `/dev/zero` or a wrong path is an error, not a process
/// that fills its memory).
pub(crate) fn read_small_file(path: &Path) -> std::io::Result<String> {
    read_capped(std::fs::File::open(path)?, MAX_SMALL_FILE)
}

/// Reads `reader` to the end as UTF-8, refusing more than `cap` bytes.
pub(crate) fn read_capped(reader: impl std::io::Read, cap: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    reader.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(text)
}
