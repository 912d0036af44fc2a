//! Writes of /proc/sys/net settings in the calling thread's network namespace.
//!
//! Why a directory descriptor: every namespace has its own `net/ipv6/conf/eth0`,
//! and the kernel's dentry cache keeps them all in one hash chain (same parent,
//! same name, told apart by `proc_sys_compare`), so resolving the path costs more
//! the more namespaces there are (at 1,500: 129 µs for a full path against 37 µs
//! relative to a held directory). The directory is resolved once per change and
//! each key opened relative to it.

use std::io::Write;
use std::os::fd::AsFd;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

use crate::error::{KernelError, Result};

/// Writes each `(key, value)` into the files of directory `dir`, in order.
pub fn write_all(dir: &str, settings: &[(&str, &str)]) -> Result<()> {
    let errno = |op: String| {
        move |e: nix::errno::Errno| KernelError::io(op, std::io::Error::from_raw_os_error(e as i32))
    };
    let dirfd = open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(errno(format!("open {dir}")))?;
    for (key, value) in settings {
        let op = || format!("set {dir}/{key} = {value}");
        let fd = openat(dirfd.as_fd(), *key, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(errno(op()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(value.as_bytes()).map_err(|e| KernelError::io(op(), e))?;
    }
    Ok(())
}
