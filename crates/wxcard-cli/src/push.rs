//! `wxcard push verify-url | open | seal`: a debugger for WeChat's pushes to a callback
//! URL. Given the Token (and, for encrypted pushes, the EncodingAESKey and AppID), the
//! query parameters and the body as a log shows them, it says whether the signature
//! holds, decrypts, checks the AppID and prints the message and the parsed event as
//! JSON. `seal` builds what WeChat would send (or a sealed passive reply), so a handler
//! can be fed by hand.
//!
//! The Token and the key never reach standard output or standard error: they live in
//! card-push's secret types, the flag values in [`Secret`], and no message names them.

use crate::cli::{PushCommand, PushCredentials, PushOpenArgs, PushQueryArgs, PushSealArgs, Secret};
use crate::error::{CliError, exit};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::Path;
use wxcard::event::{Event, UserGetCard};
use wxcard::push::testing::PushRequest;
use wxcard::push::{EncodingAesKey, PushConfig, PushError, PushQuery, Token, crypto};

/// The environment variable read for the callback Token when `--token` is not given.
pub const TOKEN_ENV: &str = "WECHAT_CALLBACK_TOKEN";
/// The environment variable read for the EncodingAESKey when `--aes-key` is not given.
pub const AES_KEY_ENV: &str = "WECHAT_ENCODING_AES_KEY";

/// The largest body read from a file or standard input (the push itself is refused past
/// card-push's own limit, 64 KiB by default).
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// Runs a `wxcard push` command; `appid` is the global `--appid` (or `$WECHAT_APPID`).
pub fn run(command: &PushCommand, appid: Option<&str>, json_output: bool) -> Result<i32, CliError> {
    match command {
        PushCommand::VerifyUrl(args) => verify_url(args),
        PushCommand::Open(args) => open(args, appid),
        PushCommand::Seal(args) => seal(args, appid, json_output),
    }
}

/// The Token: `--token`, `--token-file`, or `$WECHAT_CALLBACK_TOKEN`.
fn token(creds: &PushCredentials) -> Result<Token, CliError> {
    let text = secret_value(creds.token.as_ref(), creds.token_file.as_deref(), TOKEN_ENV)?
        .ok_or_else(|| {
            CliError::Usage(format!(
                "the callback Token is needed: --token, --token-file or ${TOKEN_ENV}"
            ))
        })?;
    Token::new(text).map_err(|e| CliError::Usage(e.to_string()))
}

/// The EncodingAESKey, if given: `--aes-key`, `--aes-key-file`, or
/// `$WECHAT_ENCODING_AES_KEY`.
fn aes_key(creds: &PushCredentials) -> Result<Option<EncodingAesKey>, CliError> {
    secret_value(
        creds.aes_key.as_ref(),
        creds.aes_key_file.as_deref(),
        AES_KEY_ENV,
    )?
    .map(|k| EncodingAesKey::new(&k).map_err(|e| CliError::Usage(e.to_string())))
    .transpose()
}

/// A secret from its flag, else its file (trimmed), else the environment.
fn secret_value(
    flag: Option<&Secret>,
    file: Option<&Path>,
    env: &str,
) -> Result<Option<String>, CliError> {
    if let Some(s) = flag {
        return Ok(Some(s.0.clone()));
    }
    if let Some(path) = file {
        let text =
            crate::target::read_small_file(path).map_err(|e| CliError::io("reading", path, e))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(CliError::Usage(format!("{} is empty", path.display())));
        }
        return Ok(Some(text.to_owned()));
    }
    Ok(std::env::var(env).ok().filter(|v| !v.is_empty()))
}

/// The configuration that opens a push whose query is (or is not) encrypted.
fn config(
    creds: &PushCredentials,
    appid: Option<&str>,
    encrypted: bool,
) -> Result<PushConfig, CliError> {
    let token = token(creds)?;
    if !encrypted {
        return Ok(PushConfig::plain(token));
    }
    let key = aes_key(creds)?.ok_or_else(|| {
        CliError::Usage(format!(
            "the push is encrypted: the EncodingAESKey is needed (--aes-key, --aes-key-file or ${AES_KEY_ENV})"
        ))
    })?;
    let appid = appid.ok_or_else(|| {
        CliError::Usage(
            "the push is encrypted: the AppID is needed (--appid or $WECHAT_APPID)".to_owned(),
        )
    })?;
    PushConfig::safe(token, key, appid).map_err(|e| CliError::Usage(e.to_string()))
}

/// The query string: `--query` with the individual flags added (a flag wins).
fn query_string(q: &PushQueryArgs, echostr: Option<&str>) -> Result<String, CliError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(raw) = &q.query {
        let raw = raw.trim();
        let raw = raw.rsplit_once('?').map_or(raw, |(_, q)| q);
        pairs.extend(form_urlencoded::parse(raw.as_bytes()).into_owned());
    }
    let flags = [
        ("signature", q.signature.as_deref()),
        ("timestamp", q.timestamp.as_deref()),
        ("nonce", q.nonce.as_deref()),
        ("encrypt_type", q.encrypt_type.as_deref()),
        ("msg_signature", q.msg_signature.as_deref()),
        ("echostr", echostr),
    ];
    for (name, value) in flags {
        if let Some(value) = value {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &pairs {
        out.append_pair(name, value);
    }
    Ok(out.finish())
}

/// A refusal as one line, with what to check.
fn refusal(e: &PushError) -> CliError {
    let hint = match e {
        PushError::BadSignature => {
            " (check the Token, and that timestamp, nonce and body are exactly as received)"
        }
        PushError::InvalidPadding | PushError::InvalidLengthField => " (check the EncodingAESKey)",
        PushError::AppIdMismatch => " (check --appid)",
        PushError::MissingParameter { .. } => " (give it as a flag or in --query)",
        _ => "",
    };
    CliError::Input(format!("{e}{hint}"))
}

/// `wxcard push verify-url`.
fn verify_url(args: &crate::cli::PushVerifyUrlArgs) -> Result<i32, CliError> {
    let query = query_string(&args.query, args.echostr.as_deref())?;
    let config = config(&args.credentials, None, false)?;
    let parsed = PushQuery::parse(&query).map_err(|e| refusal(&e))?;
    let echostr = config.verify_url(&parsed).map_err(|e| refusal(&e))?;
    print_json(&json!({"signature": "valid", "echostr": echostr}));
    Ok(exit::OK)
}

/// `wxcard push open`.
fn open(args: &PushOpenArgs, appid: Option<&str>) -> Result<i32, CliError> {
    let query = query_string(&args.query, None)?;
    let parsed = PushQuery::parse(&query).map_err(|e| refusal(&e))?;
    let encrypted = parsed.is_encrypted();
    let config = config(&args.credentials, appid, encrypted)?;
    let body = read_body(&args.file)?;
    let push = config.open(&parsed, &body).map_err(|e| match e {
        PushError::AppIdMismatch => app_id_mismatch(&args.credentials, &body, appid),
        other => refusal(&other),
    })?;
    let message = if encrypted {
        decrypted_message(&args.credentials, &body).unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let mut out = Map::new();
    out.insert(
        "signature".into(),
        if encrypted {
            "valid (msg_signature)"
        } else {
            "valid"
        }
        .into(),
    );
    out.insert("encrypted".into(), encrypted.into());
    if encrypted {
        out.insert("appid".into(), config.app_id().unwrap_or_default().into());
    }
    out.insert("message".into(), message.into());
    out.insert("event".into(), event_json(push.event()));
    out.insert("dedup_key".into(), push.dedup_key().as_str().into());
    print_json(&Value::Object(out));
    Ok(exit::OK)
}

/// The `<Encrypt>` text of a body (CDATA removed).
fn encrypt_element(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Encrypt>")? + "<Encrypt>".len();
    let len = text[start..].find("</Encrypt>")?;
    let inner = text[start..start + len].trim();
    let inner = inner
        .strip_prefix("<![CDATA[")
        .and_then(|t| t.strip_suffix("]]>"))
        .unwrap_or(inner);
    Some(inner.trim().to_owned())
}

/// The decrypted message of an encrypted body (already checked by `open`).
fn decrypted_message(creds: &PushCredentials, body: &[u8]) -> Option<String> {
    let key = aes_key(creds).ok()??;
    let decrypted = crypto::decrypt(&key, &encrypt_element(body)?).ok()?;
    Some(String::from_utf8_lossy(decrypted.message()).into_owned())
}

/// The AppID refusal, naming the AppID the message carries (not a secret).
fn app_id_mismatch(creds: &PushCredentials, body: &[u8], expected: Option<&str>) -> CliError {
    let found = aes_key(creds).ok().flatten().and_then(|key| {
        let decrypted = crypto::decrypt(&key, &encrypt_element(body)?).ok()?;
        Some(String::from_utf8_lossy(decrypted.app_id()).into_owned())
    });
    match found {
        Some(found) => CliError::Input(format!(
            "decrypted AppID is {found:?}, not the configured {:?} (check --appid)",
            expected.unwrap_or_default()
        )),
        None => refusal(&PushError::AppIdMismatch),
    }
}

/// `wxcard push seal`.
fn seal(args: &PushSealArgs, appid: Option<&str>, json_output: bool) -> Result<i32, CliError> {
    let encrypted = aes_key(&args.credentials)?.is_some();
    let config = config(&args.credentials, appid, encrypted)?;
    let message = read_body(&args.file)?;
    let message = String::from_utf8(message)
        .map_err(|_| CliError::Input("the message is not UTF-8".to_owned()))?;
    let timestamp = match &args.timestamp {
        Some(t) => t.clone(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string(),
    };
    let random = |e: PushError| CliError::Local(e.to_string());
    let nonce = match &args.nonce {
        Some(n) => n.clone(),
        None => u32::from_le_bytes(wxcard::push::random_bytes().map_err(random)?).to_string(),
    };
    let prefix: [u8; 16] = wxcard::push::random_bytes().map_err(random)?;
    if timestamp.is_empty() || nonce.is_empty() {
        return Err(CliError::Usage(
            "--timestamp and --nonce may not be empty".to_owned(),
        ));
    }
    if args.reply {
        let sealed = config
            .seal_reply(&message, &timestamp, &nonce, &prefix)
            .map_err(|e| refusal(&e))?;
        if json_output {
            print_json(&json!({"reply": sealed}));
        } else {
            println!("{sealed}");
        }
        return Ok(exit::OK);
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| CliError::Usage("--timestamp must be a whole number of seconds".to_owned()))?;
    let request = PushRequest::new(&config, &message, ts, &nonce, &prefix);
    if json_output {
        let params: Map<String, Value> = form_urlencoded::parse(request.query_string().as_bytes())
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        print_json(&json!({
            "query": request.query_string(),
            "params": params,
            "body": request.body(),
        }));
    } else {
        println!("{}", request.query_string());
        println!("{}", request.body());
    }
    Ok(exit::OK)
}

/// The body from a file or, for `-`, standard input.
fn read_body(file: &Path) -> Result<Vec<u8>, CliError> {
    let mut body = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut body)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut body))
    };
    read.map_err(|e| CliError::io("reading", file, e))?;
    if body.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::Input(format!(
            "{} is larger than {MAX_INPUT_BYTES} bytes",
            file.display()
        )));
    }
    Ok(body)
}

/// An event as JSON: every field `card_model` read.
fn event_json(event: &Event) -> Value {
    match event {
        Event::UserGetCard(c) => user_get_card_json(c),
        Event::Other {
            msg_type,
            event,
            fields,
        } => json!({"type": "other", "msg_type": msg_type, "event": event, "fields": fields}),
        _ => json!({"type": "unknown", "msg_type": event.msg_type()}),
    }
}

fn user_get_card_json(c: &UserGetCard) -> Value {
    json!({
        "type": "user_get_card",
        "to_user_name": c.to_user_name,
        "from_user_name": c.from_user_name,
        "create_time": c.create_time,
        "card_id": c.card_id,
        "user_card_code": c.user_card_code,
        "outer_id": c.outer_id,
        "outer_str": c.outer_str,
        "is_give_by_friend": c.is_give_by_friend,
        "friend_user_name": c.friend_user_name,
        "old_user_card_code": c.old_user_card_code,
        "is_restore_member_card": c.is_restore_member_card,
        "is_recommend_by_friend": c.is_recommend_by_friend,
        "union_id": c.union_id,
        "source_scene": c.source_scene,
    })
}

fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("wxcard: could not encode the result as JSON: {e}"),
    }
}
