//! The options of the `card-sandbox` binary, as a clap [`Args`](clap::Args) struct that
//! another command line (`wxcard sandbox serve`) can flatten into its own.

use super::{ServerConfig, serve_with};
use crate::{CardSpec, FaultConfig, PushTarget, Sandbox, SandboxError};
use card_model::AppSecret;
use card_push::{EncodingAesKey, PushConfig, Token};
use std::path::PathBuf;
use std::time::Duration;

/// How to run the sandbox over HTTP: the port, the account, faults and limits.
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
/// ```
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; see --port-file).
    #[arg(long, default_value_t = 18080)]
    pub port: u16,
    /// Once listening, write the bound port (and a newline) to this file.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// AppID the token endpoints accept.
    #[arg(long, default_value = Sandbox::DEFAULT_APPID)]
    pub appid: String,
    /// AppSecret the token endpoints accept (default: the published test secret).
    #[arg(long, env = "CARD_SANDBOX_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<AppSecret>,
    /// Seconds a superseded access token keeps working.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub token_grace: i64,
    /// Seed of the fault PRNG; also makes tokens and ids repeat from run to run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Every N-th API call answers 42001 and kills its token.
    #[arg(long, value_name = "N")]
    pub expire_token_every: Option<u64>,
    /// Every N-th API call answers -1.
    #[arg(long, value_name = "N")]
    pub busy_every: Option<u64>,
    /// Every N-th API call answers 45009.
    #[arg(long, value_name = "N")]
    pub rate_limited_every: Option<u64>,
    /// Answer -1 on about one API call in N (random, from --seed).
    #[arg(long, value_name = "N")]
    pub busy_one_in: Option<u32>,
    /// Answer 45009 on about one API call in N (random, from --seed).
    #[arg(long, value_name = "N")]
    pub rate_limited_one_in: Option<u32>,
    /// Drop the connection before processing on about one API call in N.
    #[arg(long, value_name = "N")]
    pub drop_one_in: Option<u32>,
    /// Milliseconds added to every API call.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Create a plain card and a deposit-mode card at start.
    #[arg(long)]
    pub demo_cards: bool,
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
    /// The callback Token pushes are signed with.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CARD_SANDBOX_PUSH_TOKEN",
        hide_env_values = true,
        value_parser = parse_secret_arg,
        help_heading = "Pushes"
    )]
    pub push_token: Option<SecretArg>,
    /// The EncodingAESKey: pushes are sent in safe mode (encrypted, with --appid as the
    /// AppID) instead of plaintext.
    #[arg(
        long,
        value_name = "KEY",
        env = "CARD_SANDBOX_PUSH_AES_KEY",
        hide_env_values = true,
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
            token_grace: 300,
            seed: None,
            expire_token_every: None,
            busy_every: None,
            rate_limited_every: None,
            busy_one_in: None,
            rate_limited_one_in: None,
            drop_one_in: None,
            latency_ms: None,
            demo_cards: false,
            max_connections: 1024,
            request_timeout: 10,
            push_url: None,
            push_token: None,
            push_aes_key: None,
        }
    }
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
    /// [`SandboxError::InvalidPushTarget`] when `--push-url` is given without
    /// `--push-token`, is not an `http://` URL, or the AppID cannot sign safe-mode pushes.
    pub fn push_target(&self) -> Result<Option<PushTarget>, SandboxError> {
        let Some(url) = &self.push_url else {
            return Ok(None);
        };
        let invalid = |e: card_push::ConfigError| SandboxError::InvalidPushTarget(e.to_string());
        let Some(token) = &self.push_token else {
            return Err(SandboxError::InvalidPushTarget(
                "--push-url needs --push-token (or CARD_SANDBOX_PUSH_TOKEN)".to_owned(),
            ));
        };
        let token = Token::new(token.0.as_str()).map_err(invalid)?;
        let config = match &self.push_aes_key {
            None => PushConfig::plain(token),
            Some(key) => {
                let key = EncodingAesKey::new(&key.0).map_err(invalid)?;
                PushConfig::safe(token, key, self.appid.clone()).map_err(invalid)?
            }
        };
        PushTarget::new(url, config).map(Some)
    }

    /// A new sandbox as these options describe (no cards yet). An invalid push target
    /// is left out ([`run`](Self::run) refuses it; see [`push_target`](Self::push_target)).
    pub fn sandbox(&self) -> Sandbox {
        let mut builder = Sandbox::builder()
            .appid(self.appid.clone())
            .token_grace(self.token_grace)
            .faults(self.faults());
        if let Some(secret) = &self.secret {
            builder = builder.secret(secret.clone());
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        if let Ok(Some(target)) = self.push_target() {
            builder = builder.push_target(target);
        }
        builder.build()
    }

    /// The server limits these options describe.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::default()
            .max_connections(self.max_connections)
            .request_timeout(Duration::from_secs(self.request_timeout.max(1)))
    }

    /// Serves a new sandbox on `127.0.0.1:PORT` until SIGTERM or Ctrl-C, then stops
    /// cleanly: prints the address and credentials, writes the port file if asked, and
    /// removes nothing it did not create.
    ///
    /// # Errors
    /// When the port cannot be bound, the port file cannot be written, or the signal
    /// handlers cannot be installed.
    pub fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let stop = StopSignals::listen()?;
        let target = self.push_target()?;
        let sandbox = self.sandbox();
        let server = serve_with(
            sandbox.clone(),
            ("127.0.0.1", self.port),
            self.server_config(),
        )?;
        println!("card-sandbox listening on {}", server.base_url());
        println!("appid  {}", sandbox.appid());
        // The default secret is a published test value, so printing it is the point; a
        // secret given with --secret is not echoed.
        if self.secret.is_none() {
            println!("secret {}", Sandbox::DEFAULT_SECRET);
        } else {
            println!("secret (as given with --secret)");
        }
        if self.demo_cards {
            let plain = sandbox.create_card(CardSpec::new())?;
            let deposit = sandbox.create_card(CardSpec::deposit_mode())?;
            println!("card   {plain} (non-custom-code, stock 100)");
            println!("card   {deposit} (custom code, deposit mode, stock 0)");
        }
        if let Some(target) = &target {
            let mode = if target.config().app_id().is_some() {
                "safe"
            } else {
                "plain"
            };
            println!("pushes {} ({mode} mode)", target.url());
        }
        if let Some(path) = &self.port_file {
            write_port_file(path, server.port())?;
        }
        stop.wait();
        println!("card-sandbox stopping");
        server.shutdown();
        Ok(())
    }
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

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
fn write_port_file(path: &std::path::Path, port: u16) -> std::io::Result<()> {
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
    fn listen() -> std::io::Result<Self> {
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
}
