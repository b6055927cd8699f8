//! The floors: the same HTTP requests as the SDK makes, bodies written by hand
//! (`format!`/`push_str`), answers checked minimally (status 200, `"errcode":0`,
//! `succ_code`, `"not_exist_code":[]`, `count`, the `ticket` string), no SDK code.
//!
//! Two kinds, over one [`Floor`]:
//! * through the SDK's own bare transports ([`UreqPost`], [`ReqwestPost`]): what the SDK
//!   adds on top of its transport;
//! * through raw HTTP/1.1 clients that share nothing with the SDK
//!   ([`raw_std::RawStd`] on `std::net::TcpStream`, [`raw_hyper::RawHyper`] on hyper):
//!   what the SDK costs in all, transport included.

pub mod raw_hyper;
pub mod raw_std;

use std::fmt::Write as _;
use std::future::Future;

use card_transport::{AsyncTransport, BlockingTransport, ReqwestTransport, UreqTransport};

use crate::Res;
use crate::workloads::{AsyncApi, BlockingApi, codes};

/// A response as the floors look at it.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `POST {path}?access_token=…` with a JSON `body` and returns the answer.
pub trait Post {
    fn post(&self, path: &str, body: String) -> Res<Answer>;
}

/// [`Post`] for async clients.
pub trait AsyncPost: Send + Sync + 'static {
    fn post(&self, path: &str, body: String) -> impl Future<Output = Res<Answer>> + Send;
}

/// The floor's calls over any way of posting.
pub struct Floor<P>(pub P);

/// The same input as the SDK path gets (the batch's codes as owned `String`s, as they
/// would come from a file or a database), written into the body by hand.
fn codes_body(card: &str, tag: usize, batch: usize, per: usize) -> String {
    let codes = codes(tag, batch, per);
    let mut body = String::with_capacity(40 + card.len() + per * 15);
    let _ = write!(body, r#"{{"card_id":"{card}","code":["#);
    for (i, code) in codes.iter().enumerate() {
        if i != 0 {
            body.push(',');
        }
        body.push('"');
        body.push_str(code);
        body.push('"');
    }
    body.push_str("]}");
    body
}

const DEPOSIT: &str = "/card/code/deposit";
const CHECK: &str = "/card/code/checkcode";
const COUNT: &str = "/card/code/getdepositcount";
const QR: &str = "/card/qrcode/create";

fn count_body(card: &str) -> String {
    format!(r#"{{"card_id":"{card}"}}"#)
}

fn qr_body(card: &str) -> String {
    format!(r#"{{"action_name":"QR_CARD","action_info":{{"card":{{"card_id":"{card}"}}}}}}"#)
}

/// The floor's minimal response check: status 200 and `errcode` 0.
pub fn ok_body(answer: &Answer) -> Res<&str> {
    let body = std::str::from_utf8(&answer.body)?;
    if answer.status != 200 || !body.contains(r#""errcode":0"#) {
        return Err(format!("unexpected answer {}: {body}", answer.status).into());
    }
    Ok(body)
}

fn field<'a>(body: &'a str, name: &str) -> Res<&'a str> {
    let key = format!("\"{name}\":");
    let start = body.find(&key).ok_or(format!("no {name}"))? + key.len();
    let rest = &body[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).ok_or(format!("bad {name}"))?;
    Ok(&rest[..end])
}

fn deposit_ok(answer: &Answer, per: usize) -> Res<()> {
    let succ: usize = field(ok_body(answer)?, "succ_code")?.parse()?;
    if succ != per {
        return Err(format!("deposit stored {succ} of {per}").into());
    }
    Ok(())
}

fn check_ok(answer: &Answer) -> Res<()> {
    if !ok_body(answer)?.contains(r#""not_exist_code":[]"#) {
        return Err("codes missing".into());
    }
    Ok(())
}

fn count_of(answer: &Answer) -> Res<u64> {
    Ok(field(ok_body(answer)?, "count")?.parse()?)
}

fn ticket_of(answer: &Answer) -> Res<String> {
    Ok(field(ok_body(answer)?, "ticket")?.to_owned())
}

impl<P: Post> BlockingApi for Floor<P> {
    fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        deposit_ok(
            &self.0.post(DEPOSIT, codes_body(card, tag, batch, per))?,
            per,
        )
    }
    fn count(&self, card: &str) -> Res<u64> {
        count_of(&self.0.post(COUNT, count_body(card))?)
    }
    fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        check_ok(&self.0.post(CHECK, codes_body(card, tag, batch, per))?)
    }
    fn check_absent(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        ok_body(&self.0.post(CHECK, codes_body(card, tag, batch, per))?).map(drop)
    }
    fn qr(&self, card: &str) -> Res<String> {
        ticket_of(&self.0.post(QR, qr_body(card))?)
    }
}

impl<P: AsyncPost> AsyncApi for Floor<P> {
    async fn deposit(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let body = codes_body(card, tag, batch, per);
        deposit_ok(&self.0.post(DEPOSIT, body).await?, per)
    }
    async fn count(&self, card: &str) -> Res<u64> {
        count_of(&self.0.post(COUNT, count_body(card)).await?)
    }
    async fn check(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let body = codes_body(card, tag, batch, per);
        check_ok(&self.0.post(CHECK, body).await?)
    }
    async fn check_absent(&self, card: &str, tag: usize, batch: usize, per: usize) -> Res<()> {
        let body = codes_body(card, tag, batch, per);
        ok_body(&self.0.post(CHECK, body).await?).map(drop)
    }
    async fn qr(&self, card: &str) -> Res<String> {
        ticket_of(&self.0.post(QR, qr_body(card)).await?)
    }
}

/// `base + path + ?access_token=token` as an `http` request with a JSON body.
fn http_request(
    base: &str,
    token: &str,
    path: &str,
    body: String,
) -> Res<card_transport::HttpRequest> {
    Ok(
        http::Request::post(format!("{base}{path}?access_token={token}"))
            .header("content-type", "application/json")
            .body(body.into_bytes())?,
    )
}

/// Posts through the SDK's bare blocking transport.
pub struct UreqPost {
    pub base: String,
    pub token: String,
    pub transport: UreqTransport,
}

impl Post for UreqPost {
    fn post(&self, path: &str, body: String) -> Res<Answer> {
        let request = http_request(&self.base, &self.token, path, body)?;
        let response = self.transport.send(request)?;
        Ok(Answer {
            status: response.status().as_u16(),
            body: response.into_body(),
        })
    }
}

/// Posts through the SDK's bare async transport.
pub struct ReqwestPost {
    pub base: String,
    pub token: String,
    pub transport: ReqwestTransport,
}

impl AsyncPost for ReqwestPost {
    async fn post(&self, path: &str, body: String) -> Res<Answer> {
        let request = http_request(&self.base, &self.token, path, body)?;
        let response = self.transport.send(request).await?;
        Ok(Answer {
            status: response.status().as_u16(),
            body: response.into_body(),
        })
    }
}
