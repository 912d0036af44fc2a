use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netctl_model::api::ErrorResponse;
use netctl_model::ModelError;

use crate::error::DaemonError;

/// An error answered as `{"message": ...}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// Attached to error responses so the request log can show the message.
#[derive(Clone)]
pub(crate) struct ErrorMessage(pub String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<DaemonError> for ApiError {
    fn from(err: DaemonError) -> Self {
        let status = match &err {
            DaemonError::Model(ModelError::Invalid(_)) => StatusCode::BAD_REQUEST,
            DaemonError::Model(ModelError::NotFound(_)) => StatusCode::NOT_FOUND,
            DaemonError::Model(ModelError::Conflict(_)) => StatusCode::CONFLICT,
            DaemonError::Forbidden(_) => StatusCode::FORBIDDEN,
            DaemonError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DaemonError::Kernel(_)
            | DaemonError::Store(_)
            | DaemonError::Io(..)
            | DaemonError::Teardown(_)
            | DaemonError::Injected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.to_string())
    }
}

impl From<ModelError> for ApiError {
    fn from(err: ModelError) -> Self {
        DaemonError::from(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(ErrorResponse { message: self.message.clone() })).into_response();
        response.extensions_mut().insert(ErrorMessage(self.message));
        response
    }
}
