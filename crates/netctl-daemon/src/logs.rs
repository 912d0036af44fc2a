//! Streaming a detached container's log file, optionally following it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use tokio::io::AsyncReadExt;

use crate::daemon::Daemon;

const CHUNK: usize = 64 * 1024;

pub fn stream(
    daemon: Arc<Daemon>,
    id: String,
    path: PathBuf,
    follow: bool,
) -> impl Stream<Item = std::io::Result<Bytes>> {
    futures::stream::unfold(None::<tokio::fs::File>, move |file| {
        let (daemon, id, path) = (daemon.clone(), id.clone(), path.clone());
        async move {
            let mut file = match file {
                Some(f) => f,
                None => match tokio::fs::File::open(&path).await {
                    Ok(f) => f,
                    // No log yet (never started detached): an empty log.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return None,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if !daemon.is_running(&id).await {
                            return None;
                        }
                        return Some((Ok(Bytes::new()), None));
                    }
                    Err(e) => return Some((Err(e), None)),
                },
            };
            let mut buf = vec![0u8; CHUNK];
            loop {
                match file.read(&mut buf).await {
                    Ok(0) if !follow => return None,
                    Ok(0) => {
                        // Read once more after the process is seen stopped, so
                        // its last words are not lost.
                        let running = daemon.is_running(&id).await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if !running {
                            match file.read(&mut buf).await {
                                Ok(n) if n > 0 => {
                                    buf.truncate(n);
                                    return Some((Ok(Bytes::from(buf)), Some(file)));
                                }
                                _ => return None,
                            }
                        }
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        return Some((Ok(Bytes::from(buf)), Some(file)));
                    }
                    Err(e) => return Some((Err(e), None)),
                }
            }
        }
    })
}

impl Daemon {
    pub async fn is_running(&self, id: &str) -> bool {
        self.registry.lock().await.container(id).is_some_and(|c| c.is_running())
    }
}
