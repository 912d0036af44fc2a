use std::io;

use thiserror::Error;

/// A kernel operation that failed, with what was being done.
#[derive(Debug, Error)]
pub enum KernelError {
    #[error("{op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("{op}: {message}")]
    Other { op: String, message: String },
}

impl KernelError {
    pub(crate) fn netlink(op: impl Into<String>, err: rtnetlink::Error) -> Self {
        let op = op.into();
        match err {
            // Keep the errno so callers can tell "exists" from "not found".
            rtnetlink::Error::NetlinkError(msg) => Self::Netlink { op, source: msg.to_io() },
            other => Self::Other { op, message: other.to_string() },
        }
    }

    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        Self::Netlink { op: op.into(), source }
    }

    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Netlink { source, .. } => source.raw_os_error(),
            Self::Other { .. } => None,
        }
    }

    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(libc::ENODEV) | Some(libc::ENOENT))
    }
}

pub type Result<T> = std::result::Result<T, KernelError>;
