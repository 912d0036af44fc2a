//! The HTTP/JSON API on the unix socket (see docs/api.md).

mod containers;
mod docker;
mod error;
mod networks;
mod request;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use netctl_model::api::VersionResponse;

use crate::daemon::Daemon;
pub use error::ApiError;

pub fn router(daemon: Arc<Daemon>) -> Router {
    let inner = Router::new()
        .route("/v1/version", get(version))
        .route("/v1/networks", get(networks::list).post(networks::create))
        .route("/v1/networks/prune", post(networks::prune))
        .route("/v1/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/v1/networks/{id}/connect", post(networks::connect))
        .route("/v1/networks/{id}/disconnect", post(networks::disconnect))
        .route("/v1/containers", get(containers::list).post(containers::create))
        .route("/v1/containers/attach", post(containers::attach))
        .route("/v1/attachments", get(containers::attachments))
        .route("/v1/attachments/detach", post(containers::detach_attachment))
        .route("/v1/attachments/check", get(containers::check_attachment))
        .route("/v1/containers/{id}", get(containers::inspect).delete(containers::remove))
        .route("/v1/containers/{id}/start", post(containers::start))
        .route("/v1/containers/{id}/stop", post(containers::stop))
        .route("/v1/containers/{id}/started", post(containers::started))
        .route("/v1/containers/{id}/exited", post(containers::exited))
        .route("/v1/containers/{id}/logs", get(containers::logs))
        .route("/v1/firewall/reload", post(firewall_reload))
        .merge(docker::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(daemon);
    // Outside the router that routes: a version prefix comes off before routing.
    Router::new().fallback_service(inner).layer(middleware::from_fn(docker::strip_version))
}

async fn version() -> Json<VersionResponse> {
    Json(VersionResponse {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: netctl_model::api::API_VERSION.into(),
    })
}

/// Writes netctl's nftables table again (after `nft flush ruleset`, say).
async fn firewall_reload(
    axum::extract::State(d): axum::extract::State<Arc<Daemon>>,
) -> Result<axum::http::StatusCode, ApiError> {
    d.reload_firewall().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, format!("page not found: {}", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("method {} not allowed on {}", req.method(), req.uri().path()),
    )
}

/// One line per request at info, errors with their message.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let start = Instant::now();
    let response = next.run(req).await.into_response();
    let status = response.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match response.extensions().get::<error::ErrorMessage>() {
        Some(msg) => {
            tracing::info!(%method, uri = %uri, status, ms = format_args!("{ms:.2}"), error = %msg.0, "request")
        }
        None => tracing::info!(%method, uri = %uri, status, ms = format_args!("{ms:.2}"), "request"),
    }
    response
}
