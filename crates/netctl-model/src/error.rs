use thiserror::Error;

/// What can be wrong with a request before anything is done about it.
/// Each variant maps to one HTTP status in the daemon (see `ModelError::kind`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

impl ModelError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
}
