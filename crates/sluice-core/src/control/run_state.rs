//! What the process is doing (running or one of the three shutdowns), as
//! every task of the instance sees it. Only the control plane moves it
//! (`control::shutdown`); everyone else reads or subscribes.

use tokio::sync::watch;

/// What the process is doing, as every client task sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// SIGTERM / SHUTDOWN WAIT_FOR_CLIENTS: no new clients; existing ones
    /// carry on until they leave.
    WaitForClients,
    /// SIGINT / SHUTDOWN WAIT_FOR_SERVERS: no new clients; each client is
    /// closed at its next release point.
    WaitForServers,
    /// SIGQUIT / SHUTDOWN: close everything now.
    Immediate,
}

/// The run state of one instance: a watch channel, so tasks that wait
/// for a shutdown wake when it starts instead of polling. The sender is
/// private: a state change always goes through `control::shutdown`,
/// which also does what the new state requires (kill switches, waiters).
#[derive(Debug)]
pub struct RunStateCell {
    tx: watch::Sender<RunState>,
}

impl Default for RunStateCell {
    fn default() -> Self {
        RunStateCell {
            tx: watch::channel(RunState::Running).0,
        }
    }
}

impl RunStateCell {
    pub fn get(&self) -> RunState {
        *self.tx.borrow()
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<RunState> {
        self.tx.subscribe()
    }

    pub(super) fn set(&self, state: RunState) {
        self.tx.send_replace(state);
    }
}

/// Wait until the run state satisfies `f`. (The guard `wait_for`
/// returns is dropped here, so callers stay `Send` across awaits.)
pub async fn until_state(rx: &mut watch::Receiver<RunState>, f: impl FnMut(&RunState) -> bool) {
    if rx.wait_for(f).await.is_err() {
        // Sender gone: the instance is gone; never resolve.
        std::future::pending::<()>().await;
    }
}
