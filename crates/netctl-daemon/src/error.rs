use netctl_kernel::KernelError;
use netctl_model::ModelError;
use thiserror::Error;

use crate::store::StoreError;

/// Why a daemon operation failed; the API turns each kind into one HTTP status.
#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Allowed by the model but not on this object (e.g. removing the default network).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

pub type Result<T> = std::result::Result<T, DaemonError>;

pub fn conflict(msg: impl Into<String>) -> DaemonError {
    DaemonError::Model(ModelError::conflict(msg))
}
