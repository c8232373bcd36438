//! Listening sockets (TCP per `listen_addr`, and the Unix socket
//! `.s.PGSQL.<port>` in `unix_socket_dir`) and their accept loops.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use sluice_config::General;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::task::TaskTracker;

use crate::shared::{RunState, Shared};
use crate::stream::Stream;

/// Bound sockets, handed to [`crate::Sluice::start`].
#[derive(Debug, Default)]
pub struct Listeners {
    pub tcp: Vec<TcpListener>,
    pub unix: Option<(UnixListener, PathBuf)>,
}

impl Listeners {
    /// Bind what the `[pgbouncer]` section asks for.
    pub async fn bind(general: &General) -> io::Result<Listeners> {
        let mut listeners = Listeners::default();
        for addr in &general.listen_addr {
            let host = if addr == "*" {
                "0.0.0.0"
            } else {
                addr.as_str()
            };
            listeners
                .tcp
                .push(TcpListener::bind((host, general.listen_port)).await?);
        }
        if !general.unix_socket_dir.is_empty() {
            let path = PathBuf::from(&general.unix_socket_dir)
                .join(format!(".s.PGSQL.{}", general.listen_port));
            // A stale socket from a crashed run would make bind fail.
            if path.exists() {
                std::fs::remove_file(&path)?;
            }
            let listener = UnixListener::bind(&path)?;
            std::fs::set_permissions(
                &path,
                std::fs::Permissions::from_mode(general.unix_socket_mode),
            )?;
            listeners.unix = Some((listener, path));
        }
        Ok(listeners)
    }
}

pub fn spawn_accept_loops(listeners: Listeners, shared: Arc<Shared>, tasks: TaskTracker) {
    for listener in listeners.tcp {
        let (shared, inner) = (shared.clone(), tasks.clone());
        tasks.spawn(async move {
            accept_loop(&shared, &inner, || async {
                let (s, _) = listener.accept().await?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            })
            .await;
        });
    }
    if let Some((listener, path)) = listeners.unix {
        let (shared, inner) = (shared.clone(), tasks.clone());
        tasks.spawn(async move {
            accept_loop(&shared, &inner, || async {
                let (s, _) = listener.accept().await?;
                Ok(Stream::Unix(s))
            })
            .await;
            let _ = std::fs::remove_file(&path);
        });
    }
}

async fn accept_loop<F, Fut>(shared: &Arc<Shared>, tasks: &TaskTracker, mut accept: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = io::Result<Stream>>,
{
    let mut run_state = shared.run_state.subscribe();
    loop {
        tokio::select! {
            accepted = accept() => match accepted {
                Ok(stream) => {
                    tasks.spawn(crate::client::serve(stream, shared.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = run_state.changed() => {
                if *run_state.borrow() != RunState::Running {
                    return;
                }
            }
        }
    }
}
