//! The command line's grammar (clap derive).

use crate::error::EXIT_CODES_HELP;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Try it offline: `wxcard demo`, or `wxcard --sandbox COMMAND ...`.

Credentials: the AppID comes from WECHAT_APPID (or --appid), the AppSecret from
WECHAT_APPSECRET or --secret-file FILE; the secret is never a flag and never printed.
--sandbox runs the command against a sandbox inside this process instead (no
credentials needed; the cards it names are created in deposit mode).";

/// wxcard: distribute WeChat cards and coupons from the command line.
///
/// Imports custom codes (resumable, verified), checks and counts them, creates QR codes
/// and landing pages, runs the card sandbox as a local server, and debugs WeChat's pushes
/// to your callback URL (signature, decryption, the event inside).
#[derive(Debug, Parser)]
#[command(name = "wxcard", version, after_help = format!("{AFTER_HELP}\n\n{EXIT_CODES_HELP}"))]
pub struct Cli {
    /// Where calls go, with which credentials, and how much is printed.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Base URL of the WeChat API (or of a proxy, or of `wxcard sandbox serve`).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WXCARD_BASE_URL",
        hide_env_values = true,
        default_value = wxcard::DEFAULT_BASE_URL,
        value_name = "URL"
    )]
    pub base_url: String,
    /// The AppID [default: $WECHAT_APPID].
    #[arg(
        long,
        help_heading = "Global options",
        global = true,
        value_name = "APPID"
    )]
    pub appid: Option<String>,
    /// Read the AppSecret from this file instead of $WECHAT_APPSECRET.
    #[arg(
        long,
        help_heading = "Global options",
        global = true,
        value_name = "FILE"
    )]
    pub secret_file: Option<PathBuf>,
    /// Share the access token with the merchant's servers through this Redis
    /// (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for TLS), so that
    /// this command neither fetches a token they hold nor knocks theirs out. A URL with
    /// a password is better given by $WXCARD_REDIS_URL or --redis-url-file; it is never
    /// printed.
    #[arg(
        long,
        help_heading = "Global options",
        global = true,
        env = crate::target::REDIS_URL_ENV,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// Read the Redis URL from this file (its first line) instead of --redis-url.
    #[arg(
        long,
        help_heading = "Global options",
        global = true,
        value_name = "FILE"
    )]
    pub redis_url_file: Option<PathBuf>,
    /// Run against a sandbox inside this process (nothing leaves the machine).
    #[arg(long, help_heading = "Global options", global = true)]
    pub sandbox: bool,
    /// Print machine-readable JSON on standard output.
    #[arg(long, help_heading = "Global options", global = true)]
    pub json: bool,
    /// On failure, print the error's causes too (never a secret).
    #[arg(short, long, help_heading = "Global options", global = true)]
    pub verbose: bool,
    /// No progress display.
    #[arg(short, long, help_heading = "Global options", global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import custom codes from a file into a deposit-mode card, verified and resumable.
    #[command(after_help = DEPOSIT_HELP)]
    Deposit(DepositArgs),
    /// Print how many codes a card holds (getdepositcount).
    Count(CountArgs),
    /// Check which codes of a file a card holds (checkcode), with a report.
    Check(CheckArgs),
    /// Create a QR code for one card, or for several cards (one QR, several cards).
    Qrcode(QrcodeArgs),
    /// Landing pages (card shelves).
    #[command(subcommand)]
    Landing(LandingCommand),
    /// Print the HTML that embeds a card in an article (mpnews).
    Html(CardArgs),
    /// The test whitelist.
    #[command(subcommand)]
    Whitelist(WhitelistCommand),
    /// Send a card preview message to one user.
    Preview(PreviewArgs),
    /// The card sandbox: an offline stand-in for WeChat.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Import 100,000 generated codes into a local sandbox, verify them, create a QR code
    /// and a landing page: the whole flow in seconds, with no account.
    Demo(DemoArgs),
    /// Debug WeChat's pushes to your callback URL: check a signature, decrypt a push and
    /// print its event, or build a signed push to feed your handler.
    #[command(subcommand)]
    Push(PushCommand),
}

const PUSH_HELP: &str = "\
Paste the values from your server's log: the query parameters as flags (named after
WeChat's: --signature, --timestamp, --nonce, --encrypt-type, --msg-signature) or the whole
query string with --query, and the body as a file or on standard input (-).

The callback Token comes from --token, --token-file FILE or $WECHAT_CALLBACK_TOKEN; the
EncodingAESKey from --aes-key, --aes-key-file FILE or $WECHAT_ENCODING_AES_KEY; the AppID
from --appid or $WECHAT_APPID. The Token and the key are never printed, not even with
--verbose.

Exit code 0 when the push checks out; 3 with a one-line reason when the signature, the
decryption or the AppID check fails; 2 when a Token, key or AppID is missing.";

/// `wxcard push ...`.
#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Check WeChat's GET verification of the callback URL and print the echostr to
    /// answer.
    #[command(after_help = format!("{PUSH_HELP}\n\nExample:\n  wxcard push verify-url --token T --signature S --timestamp 1714036504 --nonce 1514711492 --echostr 5837397520665436492"))]
    VerifyUrl(PushVerifyUrlArgs),
    /// Check a push's signature, decrypt it, check its AppID, and print the message and
    /// its parsed event as JSON.
    #[command(after_help = format!("{PUSH_HELP}\n\nExamples:\n  wxcard push open --token T --aes-key K --appid A --timestamp TS --nonce N \\\n      --msg-signature S --encrypt-type aes body.xml\n  wxcard push open --token T --signature S --timestamp TS --nonce N - < body.xml\n  wxcard push open --query 'signature=...&timestamp=...&nonce=...' body.xml"))]
    Open(PushOpenArgs),
    /// Build the push WeChat would send for a message (signed; encrypted when an
    /// EncodingAESKey is given), or with --reply seal a passive reply.
    #[command(after_help = format!("{PUSH_HELP}\n\nPrints the query string on the first line and the body after it (--json: both as\nJSON). Example:\n  wxcard push seal --token T --aes-key K --appid A event.xml"))]
    Seal(PushSealArgs),
}

/// Where the callback Token and the EncodingAESKey come from.
#[derive(Debug, Args)]
pub struct PushCredentials {
    /// The callback Token [default: $WECHAT_CALLBACK_TOKEN].
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub token: Option<Secret>,
    /// Read the callback Token from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The EncodingAESKey, 43 characters [default: $WECHAT_ENCODING_AES_KEY].
    #[arg(long, value_name = "KEY", value_parser = secret)]
    pub aes_key: Option<Secret>,
    /// Read the EncodingAESKey from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "aes_key")]
    pub aes_key_file: Option<PathBuf>,
}

/// The query parameters of a push, as WeChat names them.
#[derive(Debug, Args)]
pub struct PushQueryArgs {
    /// The whole query string (or URL) as logged; the flags below override its values.
    #[arg(long, value_name = "QUERY")]
    pub query: Option<String>,
    /// `signature`: SHA-1 over the Token, timestamp and nonce.
    #[arg(long, value_name = "SIG")]
    pub signature: Option<String>,
    /// `timestamp`.
    #[arg(long, value_name = "TS")]
    pub timestamp: Option<String>,
    /// `nonce`.
    #[arg(long, value_name = "N")]
    pub nonce: Option<String>,
    /// `encrypt_type`: `aes` for an encrypted push.
    #[arg(long, value_name = "TYPE")]
    pub encrypt_type: Option<String>,
    /// `msg_signature`: SHA-1 over the Token, timestamp, nonce and encrypted message.
    #[arg(long, value_name = "SIG")]
    pub msg_signature: Option<String>,
}

/// `wxcard push verify-url`.
#[derive(Debug, Args)]
pub struct PushVerifyUrlArgs {
    /// The Token.
    #[command(flatten)]
    pub credentials: PushCredentials,
    /// The query.
    #[command(flatten)]
    pub query: PushQueryArgs,
    /// `echostr`: what to answer when the signature holds.
    #[arg(long, value_name = "TEXT")]
    pub echostr: Option<String>,
}

/// `wxcard push open`.
#[derive(Debug, Args)]
pub struct PushOpenArgs {
    /// The Token and key.
    #[command(flatten)]
    pub credentials: PushCredentials,
    /// The query.
    #[command(flatten)]
    pub query: PushQueryArgs,
    /// The body as received; `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
}

/// `wxcard push seal`.
#[derive(Debug, Args)]
pub struct PushSealArgs {
    /// The Token and key (with a key the push is encrypted, in safe mode).
    #[command(flatten)]
    pub credentials: PushCredentials,
    /// The `timestamp` to sign with [default: now].
    #[arg(long, value_name = "TS")]
    pub timestamp: Option<String>,
    /// The `nonce` to sign with [default: random].
    #[arg(long, value_name = "N")]
    pub nonce: Option<String>,
    /// Seal a passive reply (the envelope your server answers with) instead of a push.
    #[arg(long)]
    pub reply: bool,
    /// The message XML; `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
}

const DEPOSIT_HELP: &str = "\
The file holds one code per line (UTF-8; surrounding white space is ignored). It is
checked first: a bad line (invalid UTF-8, a code over 20 characters, a blank line without
--skip-blank) stops the command before anything is sent, naming the line. A code that
repeats an earlier line is reported and deposited once.

Codes go in batches of 1,000; each batch is deposited (100 codes a call), verified
(checkcode) and then recorded in the journal (FILE.wxcard-journal unless --journal; none
with --sandbox, whose sandbox ends with the run). If the command is killed, run it again
with the same arguments: recorded batches are neither sent nor checked again, the others
are checked before anything is deposited, so no code WeChat accepted is sent twice. Codes still rejected or missing are tried again on the next run.

Exit code 1 when any code is rejected or missing at the end.

Example:
  export WECHAT_APPID=wx1234567890abcdef WECHAT_APPSECRET=...
  wxcard deposit --card-id pFS7Fjg8kV1IdDz01r4SQwMkuCKc --header codes.csv --report report.json";

/// `wxcard deposit`.
#[derive(Debug, Args)]
pub struct DepositArgs {
    /// The card (created with quantity 0, custom codes, deposit mode).
    #[arg(long, value_name = "ID")]
    pub card_id: String,
    /// The code file, `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Skip the first line (a header).
    #[arg(long)]
    pub header: bool,
    /// Skip blank lines instead of refusing them.
    #[arg(long)]
    pub skip_blank: bool,
    /// The journal file [default: FILE.wxcard-journal; none for standard input].
    #[arg(long, value_name = "PATH", conflicts_with = "no_journal")]
    pub journal: Option<PathBuf>,
    /// Keep no journal (a killed run starts over, checking every code).
    #[arg(long)]
    pub no_journal: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Batches of 1,000 codes in flight at once.
    #[arg(long, default_value_t = crate::deposit::DEFAULT_CONCURRENCY, value_parser = concurrency, value_name = "N")]
    pub concurrency: usize,
}

/// A card.
#[derive(Debug, Args)]
pub struct CardArgs {
    /// The card.
    #[arg(long, value_name = "ID")]
    pub card_id: String,
}

/// `wxcard count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// The card.
    #[arg(long, value_name = "ID")]
    pub card_id: String,
}

/// `wxcard check`.
#[derive(Debug, Args)]
#[command(after_help = "Exit code 1 when any code of the file is not stored.")]
pub struct CheckArgs {
    /// The card.
    #[arg(long, value_name = "ID")]
    pub card_id: String,
    /// The code file, `-` for standard input (the same format as for deposit).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Skip the first line (a header).
    #[arg(long)]
    pub header: bool,
    /// Skip blank lines instead of refusing them.
    #[arg(long)]
    pub skip_blank: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

/// `wxcard qrcode`.
#[derive(Debug, Args)]
#[command(after_help = "\
One --card-id makes a QR_CARD code; several make a QR_MULTIPLE_CARD code, where --code may
be given once per card (in the same order), --outer-str applies to every card, and --openid,
--unique and --outer-id do not apply.

Example:
  wxcard qrcode --card-id pFS7Fjg8kV1IdDz01r4SQwMkuCKc --expire 1800 --outer-str poster-a")]
pub struct QrcodeArgs {
    /// The card; repeat for a multi-card QR code.
    #[arg(long = "card-id", value_name = "ID", required = true)]
    pub card_ids: Vec<String>,
    /// The code to bind (a custom-code card); repeat once per card for a multi-card QR code.
    #[arg(long = "code", value_name = "CODE")]
    pub codes: Vec<String>,
    /// Only this user may claim the card.
    #[arg(long, value_name = "OPENID")]
    pub openid: Option<String>,
    /// Lifetime in seconds (60..=1800); without it the QR code is long-lived.
    #[arg(long, value_name = "SECS")]
    pub expire: Option<u32>,
    /// A value of yours returned in the claim event (outer_str).
    #[arg(long, value_name = "S")]
    pub outer_str: Option<String>,
    /// A number of yours returned in the claim event (outer_id).
    #[arg(long, value_name = "N")]
    pub outer_id: Option<i64>,
    /// The QR code may be scanned once (is_unique_code).
    #[arg(long)]
    pub unique: bool,
}

/// `wxcard landing ...`.
#[derive(Debug, Subcommand)]
pub enum LandingCommand {
    /// Create a landing page from a JSON file in WeChat's request format
    /// (banner, page_title, can_share, scene, card_list of {card_id, thumb_url}).
    Create(LandingCreateArgs),
}

/// `wxcard landing create`.
#[derive(Debug, Args)]
pub struct LandingCreateArgs {
    /// The page's JSON, `-` for standard input.
    #[arg(value_name = "SPEC.json")]
    pub spec: PathBuf,
}

/// `wxcard whitelist ...`.
#[derive(Debug, Subcommand)]
pub enum WhitelistCommand {
    /// Replace the test whitelist (at most 10 entries in total).
    Set(WhitelistSetArgs),
}

/// `wxcard whitelist set`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("who").required(true).multiple(true).args(["openid", "username"]))]
pub struct WhitelistSetArgs {
    /// A tester's OpenID; repeat for more.
    #[arg(long, value_name = "OPENID")]
    pub openid: Vec<String>,
    /// A tester's WeChat ID; repeat for more.
    #[arg(long, value_name = "NAME")]
    pub username: Vec<String>,
}

/// `wxcard preview`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("to").required(true).args(["openid", "wxname"]))]
pub struct PreviewArgs {
    /// The card.
    #[arg(long, value_name = "ID")]
    pub card_id: String,
    /// The user's OpenID.
    #[arg(long, value_name = "OPENID")]
    pub openid: Option<String>,
    /// The user's WeChat ID (instead of --openid).
    #[arg(long, value_name = "NAME")]
    pub wxname: Option<String>,
}

/// `wxcard sandbox ...`.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the sandbox over HTTP on 127.0.0.1 until SIGTERM or Ctrl-C.
    ///
    /// The flags are the same as the `card-sandbox` binary's. --accept-appid and
    /// --accept-secret-file, this command's former names for --appid and --secret-file,
    /// still work.
    #[command(after_help = SERVE_HELP)]
    Serve(wxcard::sandbox::ServeArgs),
}

const SERVE_HELP: &str = "\
Point a client at the printed URL with the printed AppID and secret (the default secret is a
published test value; a secret given with --secret, $CARD_SANDBOX_SECRET or --secret-file is
never printed). Faults are random but repeat with the same --seed. --appid, --secret-file
and --json may also come before `sandbox serve`. SIGTERM or Ctrl-C stops the server
cleanly (exit code 0).

Example:
  wxcard sandbox serve --port 0 --port-file /tmp/port --card pTest --busy-one-in 20";

/// A secret flag value (a push Token or EncodingAESKey): `Debug` never shows it and,
/// being parsed without a check, clap never repeats it in an error.
#[derive(Clone)]
pub struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The clap parser of a [`Secret`]: accepts anything; checked later without echoing it.
pub fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret(value.to_owned()))
}

/// `wxcard demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many codes to generate.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub codes: u64,
    /// Write the code file, journal and report here instead of a temporary directory
    /// (kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `--concurrency`: 1..=64.
fn concurrency(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n @ 1..=64) => Ok(n),
        _ => Err("a number from 1 to 64".to_owned()),
    }
}
