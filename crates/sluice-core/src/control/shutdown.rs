//! Shutdown (SIGTERM / SIGINT / SIGQUIT, the console's SHUTDOWN,
//! `Sluice::shutdown`): the one place the run state changes, and what each
//! new state needs done so nobody waits for something that will not come.

use super::RunState;
use crate::errors::PoolerError;
use crate::shared::Shared;

/// Begin a shutdown in `mode` (see [`RunState`]).
pub fn shutdown(shared: &Shared, mode: RunState) {
    tracing::info!("SHUTDOWN requested ({mode:?})");
    shared.run_state.set(mode);
    if mode == RunState::Immediate {
        // Sessions do not watch the run state while linked (that would
        // cost a wake-up registration per transaction); end them through
        // their kill switch. One registering after this sees the state.
        for client in shared.control.registry.clients() {
            client.shut_down();
        }
    }
    if matches!(mode, RunState::Immediate | RunState::WaitForServers) {
        for pool in shared.pools() {
            pool.fail_waiters(PoolerError::PoolerShuttingDown.to_pg());
        }
    }
    // Held clients must see the shutdown rather than wait for a RESUME.
    for pool in shared.pools() {
        pool.resume();
    }
}
