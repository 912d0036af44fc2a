use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use netctl_model::api::{NetworkCreateRequest, NetworkCreateResponse, NetworkInspect, NetworkPruneResponse};

use super::request::{filters, json_body};
use super::ApiError;
use crate::daemon::Daemon;

pub async fn list(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<NetworkInspect>>, ApiError> {
    let filters = filters(q.as_deref())?;
    Ok(Json(d.list_networks(&filters).await))
}

pub async fn create(
    State(d): State<Arc<Daemon>>,
    body: Bytes,
) -> Result<(StatusCode, Json<NetworkCreateResponse>), ApiError> {
    let req: NetworkCreateRequest = json_body(&body)?;
    let net = d.create_network(&req).await?;
    Ok((StatusCode::CREATED, Json(NetworkCreateResponse { id: net.id, warning: String::new() })))
}

pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Json<NetworkInspect>, ApiError> {
    Ok(Json(d.inspect_network(&id).await?))
}

pub async fn remove(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    d.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<NetworkPruneResponse>, ApiError> {
    let filters = filters(q.as_deref())?;
    let networks_deleted = d.prune_networks(&filters).await?;
    Ok(Json(NetworkPruneResponse { networks_deleted }))
}

pub async fn connect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: netctl_model::api_containers::NetworkConnectRequest = json_body(&body)?;
    d.connect(&id, &req).await?;
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: netctl_model::api_containers::NetworkDisconnectRequest = json_body(&body)?;
    d.disconnect(&id, &req).await?;
    Ok(StatusCode::OK)
}
