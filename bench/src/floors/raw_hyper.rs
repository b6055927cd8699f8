//! The raw async floor: a bare hyper 1 HTTP/1.1 client on tokio, with a minimal pool
//! (idle connections in a `Vec`; a call takes one or opens one, and puts it back after
//! reading the whole body). One call at a time uses one connection; 16 in flight use up
//! to 16. Nothing of reqwest or of the SDK.

use std::net::SocketAddr;
use std::sync::Mutex;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::{Answer, AsyncPost};
use crate::Res;

pub struct RawHyper {
    addr: SocketAddr,
    host: http::HeaderValue,
    token: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl RawHyper {
    /// A client of `authority` (`ip:port`) sending `token` as the access token.
    pub fn new(authority: &str, token: &str) -> Res<Self> {
        Ok(Self {
            addr: authority.parse()?,
            host: http::HeaderValue::from_str(authority)?,
            token: token.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Res<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

impl AsyncPost for RawHyper {
    async fn post(&self, path: &str, body: String) -> Res<Answer> {
        let idle = self.idle.lock().map_err(|_| "poisoned")?.pop();
        let mut sender = match idle {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        sender.ready().await?;
        let request = http::Request::post(format!("{path}?access_token={}", self.token))
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = Vec::from(response.into_body().collect().await?.to_bytes());
        self.idle.lock().map_err(|_| "poisoned")?.push(sender);
        Ok(Answer { status, body })
    }
}
