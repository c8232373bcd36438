//! Sluice's runtime: listeners, client sessions, server pools, the relay,
//! cancel forwarding, reload and shutdown.
//!
//! Entry point: [`Sluice::start`] takes already-bound listeners and the
//! settings, so tests run many instances in one process on port 0 and the
//! binary stays a thin shell.
#![forbid(unsafe_code)]

pub mod cancel;
pub mod client;
pub mod listen;
pub mod params;
pub mod pool;
pub mod relay;
pub mod server;
pub mod settings;
pub mod shared;
pub mod stats;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

pub use listen::Listeners;
pub use settings::Settings;
pub use shared::{RunState, Shared};

/// How often pools are swept for idle timeouts, lifetimes and min_pool_size.
const JANITOR_PERIOD: Duration = Duration::from_millis(500);

/// A running instance.
pub struct Sluice {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

impl Sluice {
    /// Start serving on `listeners`. Must be called inside a tokio runtime.
    pub fn start(listeners: Listeners, settings: Settings) -> Sluice {
        let shared = Shared::new(settings);
        let tasks = TaskTracker::new();
        listen::spawn_accept_loops(listeners, shared.clone(), tasks.clone());
        tasks.spawn(janitor(shared.clone()));
        Sluice { shared, tasks }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Apply new settings without dropping connected clients.
    pub fn reload(&self, settings: Settings) {
        self.shared.reload(settings);
    }

    /// Begin shutting down in `mode` (see [`RunState`]).
    pub fn shutdown(&self, mode: RunState) {
        self.shared.run_state.send_replace(mode);
        if matches!(mode, RunState::Immediate | RunState::WaitForServers) {
            for pool in self.shared.pools() {
                pool.fail_waiters(sluice_proto::PgError::fatal(
                    sluice_proto::SqlState::ADMIN_SHUTDOWN,
                    "pooler is shutting down",
                ));
            }
        }
    }

    /// Wait until every task has finished (after `shutdown`).
    pub async fn wait(self) {
        self.tasks.close();
        self.tasks.wait().await;
        for pool in self.shared.pools() {
            pool.close_idle();
        }
    }
}

/// Periodic upkeep of every pool until shutdown.
async fn janitor(shared: Arc<Shared>) {
    let mut run_state = shared.run_state.subscribe();
    let mut ticker = tokio::time::interval(JANITOR_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = run_state.changed() => {}
        }
        if shared.run_state() != RunState::Running {
            return;
        }
        for pool in shared.pools() {
            let wanted = pool.janitor_pass(
                pool.stats
                    .client_login_count
                    .load(std::sync::atomic::Ordering::Relaxed)
                    > 0,
            );
            for _ in 0..wanted {
                let pool = pool.clone();
                tokio::spawn(async move { pool.prefill_one().await });
            }
        }
    }
}
