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
    /// What a teardown could not remove; the change itself went through.
    #[error("cannot remove all of {0}")]
    Teardown(String),
    /// Something this host depends on does not answer (the cluster's etcd).
    #[error("{0}")]
    Unavailable(String),
    /// A failure injected by a failpoint (the crash tests' FAILPOINTS).
    #[error("injected failure at {0}")]
    Injected(String),
}

/// A step of a change where the crash tests inject a failure or a crash:
/// `FAILPOINTS=<name>=return` makes the enclosing function fail there,
/// `FAILPOINTS=<name>=return(crash)` aborts the daemon there, as kill -9 would.
#[macro_export]
macro_rules! step {
    ($name:literal) => {
        fail::fail_point!($name, |arg: Option<String>| {
            if arg.as_deref() == Some("crash") {
                std::process::abort();
            }
            Err($crate::error::DaemonError::Injected($name.into()))
        })
    };
}

pub type Result<T> = std::result::Result<T, DaemonError>;

pub fn conflict(msg: impl Into<String>) -> DaemonError {
    DaemonError::Model(ModelError::conflict(msg))
}
