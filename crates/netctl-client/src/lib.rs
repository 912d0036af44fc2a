//! The client of netctld's API over its unix socket (HTTP/1.1, one connection per
//! request), shared by the CLI and the CNI plugin.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

pub const DEFAULT_HOST: &str = "unix:///run/netctl/netctl.sock";

pub struct Client {
    socket: PathBuf,
}

/// An error answer of the daemon: its status and `{"message"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl Client {
    pub fn new(host: &str) -> Result<Self> {
        let path = host
            .strip_prefix("unix://")
            .ok_or_else(|| anyhow!("unsupported host {host:?}: only unix:///path/to/socket is supported"))?;
        if path.is_empty() {
            bail!("host {host:?} names no socket path");
        }
        Ok(Self { socket: PathBuf::from(path) })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| {
            anyhow!("cannot connect to netctld at {}: {e}. Is the daemon running?", self.socket.display())
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .header("host", "localhost");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let resp = sender.send_request(req).await.context("request to netctld failed")?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let message = serde_json::from_slice::<netctl_model::api::ErrorResponse>(&bytes)
            .map(|e| e.message)
            .unwrap_or_else(|_| format!("netctld answered {status}: {}", String::from_utf8_lossy(&bytes)));
        Err(ApiError { status, message }.into())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let resp = self.send(method, path, body).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let bytes = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).context("netctld's answer did not parse")
    }

    /// A GET whose answer carries no body worth reading (204).
    pub async fn get_unit(&self, path: &str) -> Result<()> {
        self.call(Method::GET, path, None).await.map(|_| ())
    }

    pub async fn get_value(&self, path: &str) -> Result<serde_json::Value> {
        self.get(path).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let bytes = self.call(Method::POST, path, Some(serde_json::to_vec(body)?)).await?;
        serde_json::from_slice(&bytes).context("netctld's answer did not parse")
    }

    /// A POST whose answer carries no body worth reading.
    pub async fn post_unit<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        self.call(Method::POST, path, Some(serde_json::to_vec(body)?)).await.map(|_| ())
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.call(Method::DELETE, path, None).await.map(|_| ())
    }

    /// Copies a streamed answer (logs) to `out` as it arrives.
    pub async fn stream(&self, path: &str, out: &mut impl Write) -> Result<()> {
        let mut body = self.send(Method::GET, path, None).await?.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data)?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// A path segment with reserved characters escaped.
pub fn seg(s: &str) -> String {
    // Form encoding writes a space as '+', which a path keeps as a '+'; a '+' of
    // the name itself is %2B already.
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>().is_some_and(|e| e.status == StatusCode::NOT_FOUND)
}
