use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use netctl_model::api_containers::{
    Attachment, AttachmentDetachRequest, ContainerAttachRequest, ContainerCreateRequest,
    ContainerCreateResponse, ContainerInspect, ProcessExited, ProcessStarted,
};

use super::request::{json_body, query_flag, query_value};
use super::ApiError;
use crate::daemon::Daemon;

pub async fn list(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<ContainerInspect>>, ApiError> {
    // Docker's filters, as `docker ps` has them through the Engine API.
    let f = super::docker::containers::list_filters(q.as_deref())?;
    let all = query_flag(q.as_deref(), "all")? || !f.get("status").is_empty() || !f.get("exited").is_empty();
    let mut list = d.list_containers(all).await;
    if !f.0.is_empty() {
        let registry = d.registry.lock().await;
        list.retain(|v| {
            registry.find_container(&v.id).is_ok_and(|c| super::docker::containers::matches(&f, &registry, c))
        });
    }
    Ok(Json(list))
}

pub async fn create(
    State(d): State<Arc<Daemon>>,
    body: Bytes,
) -> Result<(StatusCode, Json<ContainerCreateResponse>), ApiError> {
    let req: ContainerCreateRequest = json_body(&body)?;
    let c = d.create_container(&req).await?;
    Ok((StatusCode::CREATED, Json(ContainerCreateResponse { id: c.id, warnings: Vec::new() })))
}

/// 201 with the attachment (a superset of create's `{Id, Warnings}`).
pub async fn attach(
    State(d): State<Arc<Daemon>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let req: ContainerAttachRequest = json_body(&body)?;
    Ok((StatusCode::CREATED, Json(d.attach_container(&req).await?)))
}

/// `GET /v1/attachments[?id=KEY]`: attached containers that carry a runtime's key.
pub async fn attachments(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    let key = query_value(q.as_deref(), "id");
    Ok(Json(d.list_attachments(key.as_deref()).await))
}

/// `POST /v1/attachments/detach`: 204 also when there was nothing to undo.
pub async fn detach_attachment(State(d): State<Arc<Daemon>>, body: Bytes) -> Result<StatusCode, ApiError> {
    let req: AttachmentDetachRequest = json_body(&body)?;
    d.detach_attachment(&req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/attachments/check?id=KEY&network=NET`: 204 when all is in place.
pub async fn check_attachment(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let (Some(key), Some(net)) = (query_value(q.as_deref(), "id"), query_value(q.as_deref(), "network"))
    else {
        return Err(ApiError::bad_request("check needs id=KEY and network=NET"));
    };
    d.check_attachment(&key, &net).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Json<ContainerInspect>, ApiError> {
    Ok(Json(d.inspect_container(&id).await?))
}

pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let force = query_flag(q.as_deref(), "force")?;
    d.remove_container(&id, force).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn start(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    d.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn stop(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let secs = match query_value(q.as_deref(), "t") {
        None => 10,
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid timeout t={t}: seconds expected")))?,
    };
    d.stop_container(&id, Duration::from_secs(secs)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn started(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: ProcessStarted = json_body(&body)?;
    d.container_started(&id, req.pid).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn exited(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: ProcessExited = json_body(&body)?;
    d.container_exited(&id, req.exit_code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The log as plain bytes; with `follow=1` the body stays open and grows until
/// the container stops.
pub async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let follow = query_flag(q.as_deref(), "follow")?;
    let c = d.inspect_container(&id).await?;
    let path = d.log_path(&c.id);
    let stream = crate::logs::stream(d.clone(), c.id.clone(), path, follow);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from_stream(stream))
        .expect("static response"))
}
