//! The options of the `card-sandbox` binary and of `wxcard sandbox serve`: one clap
//! [`Args`](clap::Args) struct that both command lines flatten, and the one server loop
//! ([`ServeArgs::run`]) both run.

use super::{ServerConfig, serve_with};
use crate::{CardSpec, FaultConfig, PushTarget, Sandbox, SandboxError};
use card_model::AppSecret;
use card_push::{EncodingAesKey, PushConfig, Token};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to run the sandbox over HTTP: the port, the account, cards, faults, limits and
/// pushes.
///
/// The `card-sandbox` binary and `wxcard sandbox serve` both flatten this struct, so
/// their flags are the same. Three arguments have the ids of options that the `wxcard`
/// command line declares global (`appid`, `secret_file`, `json`, with the same value
/// types), so that there they are one option each, given before or after `sandbox serve`.
///
/// ```
/// use card_sandbox::ServeArgs;
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     serve: ServeArgs,
/// }
///
/// let cli = Cli::parse_from(["x", "--port", "0", "--expire-token-every", "50", "--busy-every", "97"]);
/// assert_eq!(cli.serve.port, 0);
/// let sandbox = cli.serve.sandbox();
/// assert_eq!(sandbox.faults().expire_token_every, Some(50));
/// assert_eq!(sandbox.faults().system_busy_every, Some(97));
///
/// // A secret given on the command line stays out of Debug output.
/// let cli = Cli::parse_from(["x", "--secret", "s3cr3t-value"]);
/// assert!(!format!("{:?}", cli.serve).contains("s3cr3t-value"));
/// assert_eq!(cli.serve.sandbox().secret().expose(), "s3cr3t-value");
///
/// // The names `wxcard sandbox serve` used to have still work.
/// let cli = Cli::parse_from(["x", "--accept-appid", "wxOther", "--card", "pA", "--card", "pB"]);
/// assert_eq!(cli.serve.appid, "wxOther");
/// assert_eq!(cli.serve.cards, ["pA", "pB"]);
/// ```
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; see --port-file).
    #[arg(long, value_name = "N", default_value_t = 18080)]
    pub port: u16,
    /// Once listening, write the bound port (and a newline) to this file.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// AppID the token endpoints accept (also the AppID of safe-mode pushes).
    #[arg(long, alias = "accept-appid", value_name = "APPID", default_value = Sandbox::DEFAULT_APPID)]
    pub appid: String,
    /// AppSecret the token endpoints accept [default: the published test secret]. A
    /// flag value shows in the process list: prefer --secret-file or the environment.
    /// A value starting with '-' is taken as it is (an error never repeats it).
    #[arg(
        long,
        value_name = "SECRET",
        env = "CARD_SANDBOX_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_parser = parse_secret
    )]
    pub secret: Option<AppSecret>,
    /// Read the AppSecret the token endpoints accept from this file (surrounding white
    /// space is ignored).
    #[arg(
        long,
        alias = "accept-secret-file",
        value_name = "FILE",
        conflicts_with = "secret"
    )]
    pub secret_file: Option<PathBuf>,
    /// Seconds a superseded access token keeps working.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub token_grace: i64,
    /// Seed of the random faults; also makes tokens and ids repeat from run to run
    /// (without it, each run issues different ones).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Create a deposit-mode card (custom codes, stock 0) with this id; repeat for more.
    #[arg(long = "card", value_name = "ID")]
    pub cards: Vec<String>,
    /// Create a plain card (stock 100) and a deposit-mode card with generated ids.
    #[arg(long)]
    pub demo_cards: bool,
    /// Print the address, AppID and cards as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Every N-th API call answers 42001 and kills its token.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub expire_token_every: Option<u64>,
    /// Every N-th API call answers -1 (system busy).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub busy_every: Option<u64>,
    /// Every N-th API call answers 45009 (rate limited).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub rate_limited_every: Option<u64>,
    /// Answer -1 (system busy) on about one API call in N (random, from --seed).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub busy_one_in: Option<u32>,
    /// Answer 45009 (rate limited) on about one API call in N (random, from --seed).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub rate_limited_one_in: Option<u32>,
    /// Drop the connection before processing on about one API call in N.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub drop_one_in: Option<u32>,
    /// Milliseconds added to every API call.
    #[arg(long, value_name = "MS", help_heading = "Faults")]
    pub latency_ms: Option<u64>,
    /// Connections served at once (more are answered 503).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has for a request head, and again for its body.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub request_timeout: u64,
    /// Push each claim's `user_get_card` event to this http:// URL (claims come from
    /// POST /sandbox/events/user_get_card); needs --push-token.
    #[arg(long, value_name = "URL", help_heading = "Pushes")]
    pub push_url: Option<String>,
    /// The callback Token pushes are signed with (never printed).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CARD_SANDBOX_PUSH_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_parser = parse_secret_arg,
        help_heading = "Pushes"
    )]
    pub push_token: Option<SecretArg>,
    /// The EncodingAESKey, 43 characters: pushes are sent in safe mode (encrypted, with
    /// --appid as the AppID) instead of plaintext (never printed).
    #[arg(
        long,
        value_name = "KEY",
        env = "CARD_SANDBOX_PUSH_AES_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_parser = parse_secret_arg,
        help_heading = "Pushes"
    )]
    pub push_aes_key: Option<SecretArg>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            port: 18080,
            port_file: None,
            appid: Sandbox::DEFAULT_APPID.to_owned(),
            secret: None,
            secret_file: None,
            token_grace: 300,
            seed: None,
            cards: Vec::new(),
            demo_cards: false,
            json: false,
            expire_token_every: None,
            busy_every: None,
            rate_limited_every: None,
            busy_one_in: None,
            rate_limited_one_in: None,
            drop_one_in: None,
            latency_ms: None,
            max_connections: 1024,
            request_timeout: 10,
            push_url: None,
            push_token: None,
            push_aes_key: None,
        }
    }
}

/// Largest `--secret-file` read: a wrong path (`/dev/zero`) is an error, not a process
/// that fills its memory.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// What [`ServeArgs::run`] set up before serving.
struct Prepared {
    sandbox: Sandbox,
    /// Each card made at start, with its kind.
    cards: Vec<(String, &'static str)>,
    target: Option<PushTarget>,
    /// What to print for the secret: the published default, or where it came from.
    secret_shown: &'static str,
}

impl ServeArgs {
    /// The fault configuration these options describe.
    pub fn faults(&self) -> FaultConfig {
        let mut f = FaultConfig::seeded(self.seed.unwrap_or(0))
            .expire_token_every(self.expire_token_every.unwrap_or(0))
            .system_busy_every(self.busy_every.unwrap_or(0))
            .rate_limited_every(self.rate_limited_every.unwrap_or(0))
            .system_busy(FaultConfig::one_in(self.busy_one_in.unwrap_or(0)))
            .rate_limited(FaultConfig::one_in(self.rate_limited_one_in.unwrap_or(0)))
            .drop_before_effect(FaultConfig::one_in(self.drop_one_in.unwrap_or(0)));
        if let Some(ms) = self.latency_ms {
            f = f.latency(Duration::from_millis(ms), Duration::ZERO);
        }
        f
    }

    /// The push target these options describe: `None` without `--push-url`.
    ///
    /// # Errors
    /// [`SandboxError::InvalidPushTarget`], naming the flag (never its value), when
    /// `--push-url` is given without `--push-token`, is not an `http://` URL, or the
    /// Token, the key or the AppID cannot sign pushes.
    pub fn push_target(&self) -> Result<Option<PushTarget>, SandboxError> {
        let Some(url) = &self.push_url else {
            return Ok(None);
        };
        let invalid = |flag: &str, e: &dyn fmt::Display| {
            SandboxError::InvalidPushTarget(format!("{flag}: {e}"))
        };
        let Some(token) = &self.push_token else {
            return Err(SandboxError::InvalidPushTarget(
                "--push-url needs --push-token (or CARD_SANDBOX_PUSH_TOKEN)".to_owned(),
            ));
        };
        let token = Token::new(token.0.as_str()).map_err(|e| invalid("--push-token", &e))?;
        let config = match &self.push_aes_key {
            None => PushConfig::plain(token),
            Some(key) => {
                let key = EncodingAesKey::new(&key.0).map_err(|e| invalid("--push-aes-key", &e))?;
                PushConfig::safe(token, key, self.appid.clone())
                    .map_err(|e| invalid("--push-aes-key with --appid", &e))?
            }
        };
        PushTarget::new(url, config).map(Some)
    }

    /// A new sandbox as the flags alone describe (no cards yet, no file read): an
    /// invalid push target is left out and `--secret-file` is not read. [`run`](Self::run)
    /// refuses an invalid push target and reads the secret file (see
    /// [`push_target`](Self::push_target) and [`accepted_secret`](Self::accepted_secret)).
    pub fn sandbox(&self) -> Sandbox {
        self.builder(self.secret.clone())
    }

    fn builder(&self, secret: Option<AppSecret>) -> Sandbox {
        let mut builder = Sandbox::builder()
            .appid(self.appid.clone())
            .token_grace(self.token_grace)
            .faults(self.faults());
        if let Some(secret) = secret {
            builder = builder.secret(secret);
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        if let Ok(Some(target)) = self.push_target() {
            builder = builder.push_target(target);
        }
        builder.build()
    }

    /// The AppSecret the sandbox accepts: from `--secret` (or `CARD_SANDBOX_SECRET`), or
    /// read from `--secret-file`; `None` for the published test secret.
    ///
    /// # Errors
    /// [`ServeError::Usage`] when both are given, or the secret given or the file holds
    /// only white space;
    /// [`ServeError::Io`] when the file cannot be read (or is larger than 64 KiB, or not
    /// UTF-8).
    pub fn accepted_secret(&self) -> Result<Option<AppSecret>, ServeError> {
        match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => Err(ServeError::Usage(
                "give the AppSecret with --secret (or CARD_SANDBOX_SECRET) or with \
                 --secret-file, not both"
                    .to_owned(),
            )),
            (Some(secret), None) if secret.expose().trim().is_empty() => Err(ServeError::Usage(
                "the AppSecret given with --secret or CARD_SANDBOX_SECRET is empty".to_owned(),
            )),
            (Some(secret), None) => Ok(Some(secret.clone())),
            (None, Some(path)) => {
                let text = read_capped(path, MAX_SECRET_FILE).map_err(|source| ServeError::Io {
                    context: format!("reading the secret file {}", path.display()),
                    source,
                })?;
                let secret = text.trim();
                if secret.is_empty() {
                    return Err(ServeError::Usage(format!(
                        "the secret file {} is empty",
                        path.display()
                    )));
                }
                Ok(Some(AppSecret::new(secret)))
            }
            (None, None) => Ok(None),
        }
    }

    /// The server limits these options describe.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::default()
            .max_connections(self.max_connections)
            .request_timeout(Duration::from_secs(self.request_timeout.max(1)))
    }

    /// The sandbox with its secret, push target and cards, or why not.
    fn prepare(&self) -> Result<Prepared, ServeError> {
        let secret = self.accepted_secret()?;
        let target = self
            .push_target()
            .map_err(|e| ServeError::Usage(e.to_string()))?;
        let secret_shown = match (&secret, &self.secret_file) {
            (None, _) => Sandbox::DEFAULT_SECRET,
            (Some(_), Some(_)) => "(as read from --secret-file)",
            (Some(_), None) => "(as given with --secret or CARD_SANDBOX_SECRET)",
        };
        let sandbox = self.builder(secret);
        let mut cards = Vec::new();
        for id in &self.cards {
            let made = sandbox
                .create_card(CardSpec::deposit_mode().card_id(id))
                .map_err(|source| ServeError::Card {
                    context: format!("--card {id:?}"),
                    source,
                })?;
            cards.push((made, "deposit mode"));
        }
        if self.demo_cards {
            for (spec, kind) in [
                (CardSpec::new(), "plain, stock 100"),
                (CardSpec::deposit_mode(), "deposit mode"),
            ] {
                let made = sandbox
                    .create_card(spec)
                    .map_err(|source| ServeError::Card {
                        context: "--demo-cards".to_owned(),
                        source,
                    })?;
                cards.push((made, kind));
            }
        }
        Ok(Prepared {
            sandbox,
            cards,
            target,
            secret_shown,
        })
    }

    /// Serves a new sandbox on `127.0.0.1:PORT` until SIGTERM or Ctrl-C, then stops
    /// cleanly (requests in flight finish) and returns.
    ///
    /// Before serving it creates the cards of `--card` and `--demo-cards`; once
    /// listening it prints the address, the AppID, the secret (the published test
    /// secret only; a secret given by flag, environment or file is never printed), the
    /// cards and the push target, as text or (`--json`) one JSON object, then writes the
    /// port file if asked. On the stop signal it prints `card sandbox stopping` (to
    /// standard error with `--json`, so that standard output is the JSON alone). Both
    /// signals are caught before the port file is written, so a script may stop the
    /// server as soon as it reads the port.
    ///
    /// # Errors
    /// [`ServeError::Usage`] for options that do not fit together or a refused push
    /// target, [`ServeError::Card`] when a card cannot be created, [`ServeError::Io`]
    /// when the secret file cannot be read, the port cannot be bound, the port file
    /// cannot be written, or the signal handlers cannot be installed.
    pub fn run(&self) -> Result<(), ServeError> {
        let Prepared {
            sandbox,
            cards,
            target,
            secret_shown,
        } = self.prepare()?;
        // Caught from here on, not earlier: while the secret file is read (a FIFO or a
        // terminal may block) the signals keep their default action, so they still end
        // the process.
        let stop = StopSignals::listen().map_err(|source| ServeError::Io {
            context: "installing the SIGTERM and SIGINT handlers".to_owned(),
            source,
        })?;
        let server = serve_with(
            sandbox.clone(),
            ("127.0.0.1", self.port),
            self.server_config(),
        )
        .map_err(|source| ServeError::Io {
            context: format!("listening on 127.0.0.1:{}", self.port),
            source,
        })?;
        let push_mode = target.as_ref().map(|t| {
            if t.config().app_id().is_some() {
                "safe"
            } else {
                "plain"
            }
        });
        if self.json {
            let cards: Vec<_> = cards
                .iter()
                .map(|(id, kind)| serde_json::json!({"card_id": id, "kind": kind}))
                .collect();
            let value = serde_json::json!({
                "base_url": server.base_url(),
                "port": server.port(),
                "appid": sandbox.appid(),
                "secret": secret_shown,
                "cards": cards,
                "push_url": target.as_ref().map(PushTarget::url),
                "push_mode": push_mode,
            });
            println!("{value:#}");
        } else {
            let mut s = format!(
                "card sandbox listening on {}\nappid   {}\nsecret  {secret_shown}\n",
                server.base_url(),
                sandbox.appid()
            );
            for (id, kind) in &cards {
                s.push_str(&format!("card    {id} ({kind})\n"));
            }
            if let (Some(target), Some(mode)) = (&target, push_mode) {
                s.push_str(&format!("pushes  {} ({mode} mode)\n", target.url()));
            }
            s.push_str("SIGTERM or Ctrl-C stops it.\n");
            print!("{s}");
        }
        if let Some(path) = &self.port_file {
            write_port_file(path, server.port()).map_err(|source| ServeError::Io {
                context: format!("writing the port file {}", path.display()),
                source,
            })?;
        }
        stop.wait();
        if self.json {
            eprintln!("card sandbox stopping");
        } else {
            println!("card sandbox stopping");
        }
        server.shutdown();
        Ok(())
    }
}

/// Why [`ServeArgs::run`] could not serve. No variant holds a secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The options do not fit together, or a value is refused (a push target, an empty
    /// secret file); the message names the flag, never a secret.
    Usage(String),
    /// A card of `--card` or `--demo-cards` could not be created.
    Card {
        /// The flag (and the id).
        context: String,
        /// Why.
        source: SandboxError,
    },
    /// A local failure: reading the secret file, binding the port, writing the port
    /// file, installing the signal handlers.
    Io {
        /// What was being done (names the file or address).
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) => f.write_str(m),
            Self::Card { context, source } => write!(f, "{context}: {source}"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Usage(_) => None,
            Self::Card { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
        }
    }
}

/// Reads `path` as UTF-8, refusing more than `cap` bytes.
fn read_capped(path: &Path, cap: u64) -> io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(text)
}

/// A secret given on the command line (the push Token or EncodingAESKey): kept as
/// given, checked when the push target is made (so that a parse error cannot repeat it),
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(String);

impl SecretArg {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg([redacted])")
    }
}

fn parse_secret_arg(s: &str) -> Result<SecretArg, std::convert::Infallible> {
    Ok(SecretArg(s.to_owned()))
}

/// An AppSecret from the command line, kept out of `Debug`.
fn parse_secret(s: &str) -> Result<AppSecret, std::convert::Infallible> {
    Ok(AppSecret::new(s))
}

/// Writes the port to a temporary file beside `path`, then renames it, so a reader never
/// sees a half-written file.
fn write_port_file(path: &Path, port: u16) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path)
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment this is made: made before the
/// port file is written, so a script that stops the server as soon as it reads the port
/// never meets the default action (or a signal lost to an inherited "ignore").
struct StopSignals {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let _entered = runtime.enter();
            let term = signal(SignalKind::terminate())?;
            let interrupt = signal(SignalKind::interrupt())?;
            drop(_entered);
            Ok(Self {
                runtime,
                term,
                interrupt,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self { runtime })
        }
    }

    /// Blocks until one of the signals arrives (or has arrived since [`Self::listen`]).
    #[cfg(unix)]
    fn wait(self) {
        let Self {
            runtime,
            mut term,
            mut interrupt,
        } = self;
        runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        });
    }

    /// Blocks until Ctrl-C.
    #[cfg(not(unix))]
    fn wait(self) {
        let _ = self.runtime.block_on(tokio::signal::ctrl_c());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn a_blank_secret_is_refused_and_secrets_starting_with_a_dash_are_values() {
        for blank in ["", "  "] {
            let args = Cli::try_parse_from(["x", "--secret", blank]).unwrap().serve;
            let e = args.accepted_secret().unwrap_err();
            assert!(matches!(e, ServeError::Usage(_)), "{e:?}");
            assert!(e.to_string().contains("--secret"), "{e}");
        }
        // Taken as the values they are, not parsed as flags (clap would repeat them in
        // an "unexpected argument" error).
        let args = Cli::try_parse_from([
            "x",
            "--secret",
            "-S3cr3t-flag",
            "--push-url",
            "http://127.0.0.1:9/w",
            "--push-token",
            "--tok-SECRET",
            "--push-aes-key",
            "-key-SECRET",
        ])
        .unwrap()
        .serve;
        assert_eq!(
            args.accepted_secret().unwrap().unwrap().expose(),
            "-S3cr3t-flag"
        );
        assert_eq!(args.push_token, Some(SecretArg::new("--tok-SECRET")));
        assert_eq!(args.push_aes_key, Some(SecretArg::new("-key-SECRET")));
        let e = args.push_target().unwrap_err().to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn defaults_match_the_command_line_defaults() {
        let parsed = Cli::try_parse_from(["x"]).unwrap().serve;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", ServeArgs::default()));
        let config = parsed.server_config();
        let default = ServerConfig::default();
        assert_eq!(config.max_connections, default.max_connections);
        assert_eq!(config.request_timeout, default.request_timeout);
    }

    #[test]
    fn options_reach_the_sandbox() {
        let args = Cli::try_parse_from([
            "x",
            "--seed",
            "9",
            "--rate-limited-every",
            "3",
            "--drop-one-in",
            "4",
            "--latency-ms",
            "2",
            "--token-grace",
            "0",
            "--appid",
            "wxOther",
        ])
        .unwrap()
        .serve;
        let f = args.faults();
        assert_eq!(f.seed, 9);
        assert_eq!(f.rate_limited_every, Some(3));
        assert_eq!(f.drop_before_effect, 0.25);
        assert_eq!(f.latency, Duration::from_millis(2));
        let sandbox = args.sandbox();
        assert_eq!(sandbox.appid(), "wxOther");
        assert_eq!(sandbox.secret().expose(), Sandbox::DEFAULT_SECRET);
        assert!(Cli::try_parse_from(["x", "--port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["x", "--nonsense"]).is_err());
    }

    #[test]
    fn push_options_make_a_target_and_stay_secret() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let args = Cli::try_parse_from([
            "x",
            "--push-url",
            "http://127.0.0.1:8080/wechat",
            "--push-token",
            "tok-secret-1",
            "--push-aes-key",
            key,
        ])
        .unwrap()
        .serve;
        assert!(!format!("{args:?}").contains("tok-secret-1"));
        assert!(!format!("{args:?}").contains(key));
        let target = args.push_target().unwrap().unwrap();
        assert_eq!(target.url(), "http://127.0.0.1:8080/wechat");
        assert_eq!(target.config().app_id(), Some(Sandbox::DEFAULT_APPID));
        assert!(args.sandbox().push_target().is_some());

        let plain = Cli::try_parse_from(["x", "--push-url", "http://h/w", "--push-token", "t"])
            .unwrap()
            .serve;
        assert_eq!(
            plain.push_target().unwrap().unwrap().config().app_id(),
            None
        );
        let no_token = Cli::try_parse_from(["x", "--push-url", "http://h/w"])
            .unwrap()
            .serve;
        assert!(matches!(
            no_token.push_target(),
            Err(SandboxError::InvalidPushTarget(_))
        ));
        assert!(no_token.sandbox().push_target().is_none());
        // A bad key or Token is refused without repeating it.
        for bad in [
            ["--push-token", "t", "--push-aes-key", "not-a-good-key"],
            ["--push-token", "bad token with spaces", "--port", "0"],
        ] {
            let args =
                Cli::try_parse_from(["x", "--push-url", "http://h/w"].into_iter().chain(bad))
                    .unwrap()
                    .serve;
            let err = args.push_target().unwrap_err().to_string();
            assert!(
                !err.contains("not-a-good") && !err.contains("spaces"),
                "{err}"
            );
            assert!(args.sandbox().push_target().is_none());
        }
        assert!(
            Cli::try_parse_from(["x"])
                .unwrap()
                .serve
                .push_target()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_flags_of_wxcard_sandbox_serve_parse_here_with_their_old_names() {
        let parse = |appid: &str, secret_file: &str| {
            Cli::try_parse_from([
                "x",
                appid,
                "wxNew",
                secret_file,
                "/tmp/secret",
                "--card",
                "pA",
                "--card",
                "pB",
                "--json",
            ])
            .unwrap()
            .serve
        };
        let new = parse("--appid", "--secret-file");
        let old = parse("--accept-appid", "--accept-secret-file");
        assert_eq!(format!("{new:?}"), format!("{old:?}"));
        assert_eq!(new.appid, "wxNew");
        assert_eq!(new.cards, ["pA", "pB"]);
        assert_eq!(new.secret_file, Some(PathBuf::from("/tmp/secret")));
        assert!(new.json);
        // One way to give the secret at a time.
        assert!(
            Cli::try_parse_from(["x", "--secret", "s", "--secret-file", "/tmp/secret"]).is_err()
        );
        let both = ServeArgs {
            secret: Some(AppSecret::new("s")),
            secret_file: Some(PathBuf::from("/tmp/secret")),
            ..ServeArgs::default()
        };
        assert!(matches!(both.accepted_secret(), Err(ServeError::Usage(_))));
    }

    #[test]
    fn the_secret_file_is_read_trimmed_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("card-sandbox-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "  file-secret-9c1e  \n").unwrap();
        let args = Cli::try_parse_from(["x", "--secret-file"].into_iter().chain(file.to_str()))
            .unwrap()
            .serve;
        let secret = args.accepted_secret().unwrap().unwrap();
        assert_eq!(secret.expose(), "file-secret-9c1e");
        let prepared = args.prepare().unwrap();
        assert_eq!(prepared.sandbox.secret().expose(), "file-secret-9c1e");
        assert_eq!(prepared.secret_shown, "(as read from --secret-file)");
        assert!(!format!("{args:?}").contains("file-secret"));
        // The flags alone read no file.
        assert_eq!(args.sandbox().secret().expose(), Sandbox::DEFAULT_SECRET);

        std::fs::write(&file, "\n \n").unwrap();
        let e = args.accepted_secret().unwrap_err();
        assert!(matches!(e, ServeError::Usage(_)), "{e:?}");
        assert!(e.to_string().contains("is empty"), "{e}");
        std::fs::write(&file, vec![b'x'; 64 * 1024 + 1]).unwrap();
        let e = args.accepted_secret().unwrap_err();
        assert!(matches!(e, ServeError::Io { .. }), "{e:?}");
        std::fs::remove_file(&file).unwrap();
        let e = args.accepted_secret().unwrap_err();
        assert!(e.to_string().starts_with("reading the secret file "), "{e}");
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn cards_are_made_before_serving_and_a_bad_one_is_refused() {
        let args = Cli::try_parse_from(["x", "--card", "pOne", "--card", "pTwo", "--demo-cards"])
            .unwrap()
            .serve;
        let prepared = args.prepare().unwrap();
        let kinds: Vec<_> = prepared.cards.iter().map(|(_, k)| *k).collect();
        assert_eq!(
            kinds,
            [
                "deposit mode",
                "deposit mode",
                "plain, stock 100",
                "deposit mode"
            ]
        );
        assert_eq!(prepared.cards[0].0, "pOne");
        assert_eq!(prepared.cards[1].0, "pTwo");
        assert_eq!(prepared.sandbox.cards().len(), 4);
        assert_eq!(prepared.secret_shown, Sandbox::DEFAULT_SECRET);

        let twice = Cli::try_parse_from(["x", "--card", "pOne", "--card", "pOne"])
            .unwrap()
            .serve;
        let e = twice.prepare().err().expect("a duplicate card is refused");
        assert!(
            matches!(
                &e,
                ServeError::Card {
                    source: SandboxError::DuplicateCard(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("--card \"pOne\": "), "{e}");

        // A refused push target stops the start, naming the flag.
        let e = Cli::try_parse_from(["x", "--push-url", "http://127.0.0.1:9/w"])
            .unwrap()
            .serve
            .prepare()
            .err()
            .expect("refused");
        assert!(
            matches!(&e, ServeError::Usage(m) if m.contains("--push-token")),
            "{e:?}"
        );
        // A secret given by flag is not shown.
        let given = Cli::try_parse_from(["x", "--secret", "flag-secret-77"])
            .unwrap()
            .serve
            .prepare()
            .unwrap();
        assert!(!given.secret_shown.contains("flag-secret-77"));
    }
}
