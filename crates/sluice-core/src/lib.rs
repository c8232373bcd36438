//! Sluice's runtime: listeners, client sessions, server pools, the relay,
//! cancel forwarding, and the control plane (pause, kill, reload,
//! shutdown) that the admin console, metrics and signals call.
//!
//! Entry point: [`Sluice::start`] takes already-bound listeners and the
//! settings, so tests run many instances in one process on port 0 and the
//! binary stays a thin shell.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cancel;
pub mod client;
pub mod connector;
pub mod control;
pub mod errors;
pub mod listen;
pub mod metrics;
pub mod params;
pub mod pool;
pub mod prepared;
pub mod relay;
pub mod server;
pub mod settings;
pub mod shared;
pub mod stats;
pub mod stream;
#[cfg(test)]
mod testing;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

pub use connector::{Connector, SocketConnector};
pub use control::RunState;
pub use listen::Listeners;
pub use settings::Settings;
pub use shared::Shared;

/// How often pools are swept for idle timeouts, lifetimes and min_pool_size.
const JANITOR_PERIOD: Duration = Duration::from_millis(500);

/// A running instance.
pub struct Sluice {
    shared: Arc<Shared>,
    tasks: TaskTracker,
    /// Where `/metrics` listens, when `metrics_addr` is set and bound.
    metrics_addr: Option<std::net::SocketAddr>,
    /// Not in `tasks`: it must keep answering `/readyz` (503) while
    /// clients drain, so `wait` aborts it at the very end.
    metrics_task: Option<tokio::task::AbortHandle>,
}

impl Sluice {
    /// Start serving on `listeners`. Must be called inside a tokio runtime.
    pub fn start(listeners: Listeners, settings: Settings) -> Sluice {
        Sluice::start_with(listeners, settings, Arc::new(SocketConnector))
    }

    /// Start with servers reached through `connector` instead of plain
    /// sockets (TLS, or the scripted backends of unit tests).
    pub fn start_with(
        listeners: Listeners,
        settings: Settings,
        connector: Arc<dyn Connector>,
    ) -> Sluice {
        let shared = Shared::with_connector(settings, connector);
        let tasks = TaskTracker::new();
        listen::spawn_accept_loops(listeners, shared.clone(), tasks.clone());
        tasks.spawn(janitor(shared.clone()));
        tasks.spawn(admin::periodic::stats_loop(shared.clone()));
        let (metrics_addr, metrics_task) = start_metrics(&shared);
        Sluice {
            shared,
            tasks,
            metrics_addr,
            metrics_task,
        }
    }

    /// The bound Prometheus address (useful with port 0).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Apply new settings without dropping connected clients.
    pub fn reload(&self, settings: Settings) {
        control::reload::apply(&self.shared, settings);
    }

    /// Begin shutting down in `mode` (see [`RunState`]).
    pub fn shutdown(&self, mode: RunState) {
        // The same as the console's SHUTDOWN and the signals.
        control::shutdown::shutdown(&self.shared, mode);
    }

    /// Wait until every task has finished (after `shutdown`).
    pub async fn wait(self) {
        self.tasks.close();
        self.tasks.wait().await;
        for pool in self.shared.pools() {
            pool.close_idle();
        }
        if let Some(task) = self.metrics_task {
            task.abort();
        }
    }
}

/// Bind `metrics_addr` now (so its port is known when `start` returns)
/// and serve it. A bind failure is logged, not fatal: pooling matters more.
fn start_metrics(
    shared: &Arc<Shared>,
) -> (
    Option<std::net::SocketAddr>,
    Option<tokio::task::AbortHandle>,
) {
    let settings = shared.settings();
    let Some(addr) = settings.config.general.metrics_addr.as_deref() else {
        return (None, None);
    };
    match metrics::bind(addr) {
        Ok((listener, local)) => {
            tracing::info!("metrics listening on {local}");
            let task = tokio::spawn(metrics::serve(listener, shared.clone()));
            (Some(local), Some(task.abort_handle()))
        }
        Err(e) => {
            tracing::error!("cannot listen for metrics on {addr}: {e}");
            (None, None)
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
            // A paused pool must stay empty until RESUME.
            if pool.is_paused() {
                continue;
            }
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
