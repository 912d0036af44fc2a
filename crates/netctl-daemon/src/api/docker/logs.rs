//! `GET /containers/{id}/logs`: a detached container's log (what `netctl logs`
//! shows) in Docker's framing, so `docker logs [-f] [-n N]` and the SDK's
//! `container.logs()` read it. netctl keeps one log of stdout and stderr together,
//! so it all comes as stdout; timestamps are not recorded, so `-t`, `--since` and
//! `--until` are refused rather than ignored.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;

use super::flag;
use crate::api::request::query_value;
use crate::api::ApiError;
use crate::daemon::Daemon;

/// Docker's multiplexed stream: a header of stream type (1 = stdout), three zero
/// bytes and the big-endian length, then the bytes.
fn frame(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    Bytes::from(out)
}

/// The last `n` lines of `text`.
fn tail(text: &[u8], n: usize) -> &[u8] {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n.saturating_sub(1))
        .map(|(i, _)| i + 1);
    match (n, start) {
        (0, _) => &[],
        (_, Some(i)) => &text[i..],
        (_, None) => text,
    }
}

pub async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let follow = flag(q, "follow");
    if !flag(q, "stdout") && !flag(q, "stderr") {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    if flag(q, "timestamps") {
        return Err(ApiError::bad_request(
            "netctl does not record the time of log lines: --timestamps is not supported",
        ));
    }
    for key in ["since", "until"] {
        if query_value(q, key).is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(ApiError::bad_request(format!(
                "netctl does not record the time of log lines: --{key} is not supported"
            )));
        }
    }
    let lines = match query_value(q, "tail").as_deref() {
        None | Some("") | Some("all") => None,
        Some(n) => {
            Some(n.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid tail {n:?}")))?)
        }
    };
    let c = d.inspect_container(&id).await.map_err(super::docker_error)?;
    let tty = c.config.tty;
    let path = d.log_path(&c.id);
    let body = match lines {
        Some(_) if follow => {
            return Err(ApiError::bad_request("--tail with --follow is not supported: use one or the other"))
        }
        Some(n) => {
            let text = tokio::fs::read(&path).await.unwrap_or_default();
            let part = tail(&text, n);
            let chunk = if tty { Bytes::copy_from_slice(part) } else { frame(part) };
            Body::from(if part.is_empty() { Bytes::new() } else { chunk })
        }
        None => {
            let stream = crate::logs::stream(d.clone(), c.id.clone(), path, follow)
                .filter(|chunk| std::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
                .map(move |chunk| chunk.map(|b| if tty { b } else { frame(&b) }));
            Body::from_stream(stream)
        }
    };
    let kind =
        if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    Ok(Response::builder().header(header::CONTENT_TYPE, kind).body(body).expect("static response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_frames() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 1), b"c");
        assert_eq!(tail(b"a\n", 5), b"a\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
        assert_eq!(&frame(b"hi")[..], &[1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
