//! `/networks`: list with filters, inspect, create, connect, disconnect,
//! remove, prune. Changes go through the daemon's own operations.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use netctl_model::api_containers::{
    EndpointConfig, EndpointIpamConfig, NetworkConnectRequest, NetworkDisconnectRequest,
};
use netctl_model::docker::events::parse_time;
use netctl_model::docker::filters::{label_matches, Filters};
use netctl_model::docker::network::{
    ConnectRequest, CreateRequest, CreateResponse, DisconnectRequest, Inspect, PruneResponse,
};
use netctl_model::filter::NetworkFilters;
use netctl_model::Network;

use super::{convert, docker_error, model_error};
use crate::api::request::{json_body, query_value};
use crate::api::ApiError;
use crate::daemon::Daemon;

pub fn filters(q: Option<&str>, allowed: &[&str]) -> Result<Filters, ApiError> {
    let f = Filters::parse(&query_value(q, "filters").unwrap_or_default()).map_err(model_error)?;
    f.check(allowed).map_err(model_error)?;
    Ok(f)
}

/// Docker's network filters: values of one key are alternatives, except
/// `label`, whose values must all match.
fn matches(f: &Filters, net: &Network, endpoints: usize) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let values = f.get(key);
        values.is_empty() || values.iter().any(|v| pred(v))
    };
    any("name", &|v| net.name.contains(v))
        && any("id", &|v| net.id.starts_with(v))
        && any("driver", &|v| net.driver == v)
        && any("scope", &|v| v == "local")
        && any("type", &|v| (v == "builtin") == net.builtin)
        && any("dangling", &|v| {
            let dangling = !net.builtin && endpoints == 0;
            matches!(v, "true" | "1") == dangling
        })
        && f.labels_match("label", &net.labels)
}

pub async fn list(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<Inspect>>, ApiError> {
    let f = filters(q.as_deref(), &["dangling", "driver", "id", "label", "name", "scope", "type"])?;
    for v in f.get("type") {
        if v != "custom" && v != "builtin" {
            return Err(ApiError::bad_request(format!("invalid filter: 'type'='{v}'")));
        }
    }
    for v in f.get("dangling") {
        if !matches!(v.as_str(), "true" | "1" | "false" | "0") {
            return Err(ApiError::bad_request(format!("invalid filter 'dangling={v}'")));
        }
    }
    let registry = d.registry.lock().await;
    let mut out: Vec<Inspect> = registry
        .networks()
        .filter(|n| matches(&f, n, registry.containers_on(&n.id).count()))
        .map(|n| convert::network(&registry, n, false))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Inspect>, ApiError> {
    // `verbose` adds swarm's peers and services: none here, so it changes nothing.
    if let Some(scope) = query_value(q.as_deref(), "scope").filter(|s| !s.is_empty() && s != "local") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("network {id} not found (scope {scope})")));
    }
    let registry = d.registry.lock().await;
    let net = registry.find_network(&id).map_err(model_error)?;
    Ok(Json(convert::network(&registry, net, true)))
}

pub async fn create(
    State(d): State<Arc<Daemon>>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreateResponse>), ApiError> {
    let req: CreateRequest = json_body(&body)?;
    let net = d.create_network(&req.to_netctl().map_err(model_error)?).await.map_err(docker_error)?;
    Ok((StatusCode::CREATED, Json(CreateResponse { id: net.id, warning: String::new() })))
}

pub async fn remove(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    d.remove_network(&id).await.map_err(docker_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn connect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: ConnectRequest = json_body(&body)?;
    let cfg = req.endpoint_config.unwrap_or_default();
    let ipam = cfg.ipam_config.unwrap_or_default();
    if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::bad_request("link-local addresses (--link-local-ip) are not supported"));
    }
    if cfg.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::bad_request("links on connect are not supported: give --link to netctl run"));
    }
    if cfg.gw_priority != 0 {
        return Err(ApiError::bad_request(
            "--gw-priority is not supported: the first network that is not internal carries the default route",
        ));
    }
    if cfg.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request(
            "endpoint driver options (--driver-opt) are not supported by netctl's bridge driver",
        ));
    }
    let netctl = NetworkConnectRequest {
        container: req.container,
        endpoint_config: Some(EndpointConfig {
            aliases: cfg.aliases.unwrap_or_default(),
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(ipam.ipv4_address).filter(|a| !a.is_empty()),
                ipv6_address: Some(ipam.ipv6_address).filter(|a| !a.is_empty()),
            }),
            mac_address: Some(cfg.mac_address).filter(|m| !m.is_empty()),
        }),
    };
    d.connect(&id, &netctl).await.map_err(docker_error)?;
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: DisconnectRequest = json_body(&body)?;
    let netctl = NetworkDisconnectRequest { container: req.container, force: req.force };
    d.disconnect(&id, &netctl).await.map_err(docker_error)?;
    Ok(StatusCode::OK)
}

/// `until`, `label`, `label!`: Docker's prune filters. The candidates are chosen
/// here; the daemon's prune removes those of them that have no endpoints.
pub async fn prune(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<PruneResponse>, ApiError> {
    let f = filters(q.as_deref(), &["until", "label", "label!"])?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let until = match f.get("until") {
        [] => None,
        [one] => Some(parse_time(one, now).map_err(model_error)?),
        _ => return Err(ApiError::bad_request("more than one until filter specified")),
    };
    let ids: Vec<String> = {
        let registry = d.registry.lock().await;
        registry
            .networks()
            .filter(|n| !n.builtin)
            .filter(|n| until.is_none_or(|u| n.created.timestamp_nanos_opt().unwrap_or(0) < u))
            .filter(|n| f.labels_match("label", &n.labels))
            .filter(|n| f.get("label!").iter().all(|l| !label_matches(l, &n.labels)))
            .map(|n| n.id.clone())
            .collect()
    };
    if ids.is_empty() {
        return Ok(Json(PruneResponse::default()));
    }
    let by_id = NetworkFilters::from_map(BTreeMap::from([("id".to_string(), ids)])).map_err(model_error)?;
    let networks_deleted = d.prune_networks(&by_id).await.map_err(docker_error)?;
    Ok(Json(PruneResponse { networks_deleted }))
}
