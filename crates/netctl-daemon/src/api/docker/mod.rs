//! Docker's Engine API (1.44 to 1.50) on netctld's socket, beside netctl's own
//! `/v1/` paths, so that the docker CLI and SDKs drive netctl with
//! `DOCKER_HOST=unix:///run/netctl/netctl.sock`: system (`_ping`, `version`,
//! `info`), networks whole, containers' read side and lifecycle, events.
//!
//! Paths come with a version prefix (`/v1.50/networks`) or without one. The
//! prefix has a dot and netctl's own has none (`/v1/networks`), so the two never
//! meet: `strip_version` takes a dotted prefix off before routing, refusing
//! versions outside the range as Docker does, and every Docker path is routed
//! unprefixed.

pub(super) mod containers;
mod convert;
mod events;
mod logs;
mod networks;
mod system;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use netctl_model::docker::{version_text, MAX_API_VERSION, MIN_API_VERSION};
use netctl_model::ModelError;

use super::ApiError;
use crate::daemon::Daemon;
use crate::error::DaemonError;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}", delete(containers::remove))
}

/// `/v1.50/networks` → `/networks`; versions outside 1.44–1.50 get Docker's 400.
/// Every answer to a Docker path carries `Api-Version`, as Docker's do.
pub async fn strip_version(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let docker = match split_version(path) {
        Some((version, rest)) => {
            if version < MIN_API_VERSION {
                return too(version, "old", "Minimum", MIN_API_VERSION);
            }
            if version > MAX_API_VERSION {
                return too(version, "new", "Maximum", MAX_API_VERSION);
            }
            let rest = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_string(),
            };
            *req.uri_mut() = rest.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/"));
            true
        }
        None => !path.starts_with("/v1/"),
    };
    let mut response = next.run(req).await;
    if docker {
        let headers = response.headers_mut();
        headers.insert("Api-Version", HeaderValue::from_str(&version_text(MAX_API_VERSION)).expect("ascii"));
        headers.insert(
            "Server",
            HeaderValue::from_static(concat!("netctld/", env!("CARGO_PKG_VERSION"), " (linux)")),
        );
    }
    response
}

fn too(version: (u32, u32), which: &str, bound: &str, limit: (u32, u32)) -> Response {
    ApiError::bad_request(format!(
        "client version {} is too {which}. {bound} supported API version is {}, please {} your client",
        version_text(version),
        version_text(limit),
        if which == "old" { "upgrade" } else { "use an older version of" },
    ))
    .into_response()
}

/// `/v1.50/rest` → ((1, 50), "/rest").
fn split_version(path: &str) -> Option<((u32, u32), &str)> {
    let after = path.strip_prefix("/v")?;
    let end = after.find('/').unwrap_or(after.len());
    let (major, minor) = after[..end].split_once('.')?;
    let parse =
        |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten();
    let rest = &after[end..];
    Some(((parse(major)?, parse(minor)?), if rest.is_empty() { "/" } else { rest }))
}

/// A daemon error in Docker's words where they differ from netctl's.
fn docker_error(err: DaemonError) -> ApiError {
    if let DaemonError::Model(ModelError::NotFound(msg)) = &err {
        if let Some(name) = msg.strip_prefix("No such network: ") {
            return ApiError::new(StatusCode::NOT_FOUND, format!("network {name} not found"));
        }
    }
    err.into()
}

/// Docker's boolean query values (`httputils.BoolValue`): anything but empty, `0`,
/// `no`, `false` or `none` is true, in any case (the Python SDK sends `False`).
fn flag(query: Option<&str>, key: &str) -> bool {
    crate::api::request::query_value(query, key)
        .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none"))
}

fn model_error(err: ModelError) -> ApiError {
    docker_error(err.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_netctl_paths() {
        assert_eq!(split_version("/v1.50/networks/x"), Some(((1, 50), "/networks/x")));
        assert_eq!(split_version("/v1.44/_ping"), Some(((1, 44), "/_ping")));
        assert_eq!(split_version("/v1/networks"), None, "netctl's own API has no dot");
        assert_eq!(split_version("/networks"), None);
        assert_eq!(split_version("/v1.x/networks"), None);
        assert!((1, 9) < MIN_API_VERSION && (1, 100) > MAX_API_VERSION);
    }
}
