use rtnetlink::Handle;

use crate::error::{KernelError, Result};

/// A route-netlink connection bound to the network namespace of the thread that
/// opened it. The daemon opens one for the host namespace at start.
#[derive(Clone)]
pub struct Netlink {
    pub(crate) handle: Handle,
}

impl Netlink {
    /// Opens a connection and drives it on the current tokio runtime.
    pub fn connect() -> Result<Self> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| KernelError::io("open netlink socket", e))?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }
}
