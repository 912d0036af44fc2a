//! `GET /events`: Docker's event messages as a stream of JSON lines. With
//! `since`, the recent events kept in the daemon's ring come first; with an
//! `until` in the past the stream ends after them, with one in the future it ends
//! then; without `until` it follows until the client hangs up or the daemon stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;
use netctl_model::docker::events::{parse_time, Message};
use netctl_model::docker::filters::Filters;
use tokio::sync::broadcast::error::RecvError;

use super::model_error;
use super::networks::filters;
use crate::api::request::query_value;
use crate::api::ApiError;
use crate::daemon::Daemon;

const FILTERS: [&str; 7] = ["type", "event", "container", "network", "scope", "label", "daemon"];

/// Docker's events filter: exact type, event and scope; container and network by
/// id prefix or name; labels against the attributes.
fn include(f: &Filters, m: &Message) -> bool {
    let exact = |key: &str, value: &str| f.get(key).is_empty() || f.get(key).iter().any(|v| v == value);
    let fuzzy = |key: &str| {
        f.get(key).is_empty()
            || f.get(key).iter().any(|v| {
                m.actor.id.starts_with(v.as_str())
                    || m.actor.attributes.get("name").is_some_and(|n| n.starts_with(v.as_str()))
            })
    };
    exact("type", &m.kind)
        && exact("event", &m.action)
        && exact("scope", &m.scope)
        && fuzzy("container")
        && fuzzy("network")
        && f.labels_match("label", &m.actor.attributes)
}

fn line(m: &Message) -> Result<Bytes, Infallible> {
    let mut bytes = serde_json::to_vec(m).expect("serializable");
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

pub async fn events(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let f = filters(q.as_deref(), &FILTERS)?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let time = |key: &str| {
        query_value(q.as_deref(), key)
            .filter(|s| !s.is_empty())
            .map(|s| parse_time(&s, now).map_err(model_error))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::bad_request("`since` time cannot be after `until` time"));
        }
    }
    let (past, rx) = d.events.subscribe();
    let in_window = move |m: &Message| until.is_none_or(|u| m.time_nano <= u);
    let past: Vec<Result<Bytes, Infallible>> = past
        .iter()
        .filter(|m| since.is_some_and(|s| m.time_nano >= s) && in_window(m) && include(&f, m))
        .map(|m| line(m))
        .collect();
    let deadline = until
        .map(|u| tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now).max(0) as u64));
    let follow = until.is_none_or(|u| u > now);
    let closed = d.events.closed();
    let live = futures::stream::unfold((rx, closed, f), move |(mut rx, mut closed, f)| async move {
        if !follow || *closed.borrow() {
            return None;
        }
        loop {
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => return None,
                // It only ever changes to true.
                _ = closed.changed() => return None,
                got = rx.recv() => match got {
                    Ok(m) if in_window(&m) && include(&f, &m) => return Some((line(&m), (rx, closed, f))),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracing::warn!(lost = n, "an events listener fell behind"),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    });
    let body = Body::from_stream(futures::stream::iter(past).chain(live));
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static response"))
}
