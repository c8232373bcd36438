//! Periodic and operator-driven upkeep: the janitor pass (lifetimes, idle
//! timeouts, dead idle servers, surplus after a reload, min_pool_size),
//! prefill, PAUSE/RESUME, RECONNECT and reload.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sluice_proto::PgError;

use super::{lock, over_capacity, Grant, Pool};
use crate::settings::{PoolLimits, ServerTarget};

impl Pool {
    /// Apply a reload. A changed target retires every existing connection
    /// (closed when next released); new limits take effect at once.
    pub fn reconfigure(&self, target: ServerTarget, limits: PoolLimits) {
        let retired = {
            let mut st = lock(&self.state);
            let mut config = (*st.config).clone();
            let mut retired = Vec::new();
            if config.target != target {
                config.generation += 1;
                config.target = target;
                st.welcome = None;
                retired = std::mem::take(&mut st.idle);
            }
            config.limits = limits;
            st.config = Arc::new(config);
            self.config_version.fetch_add(1, Ordering::Release);
            retired
        };
        for conn in retired {
            self.discard(conn, false);
        }
        self.grant_slots();
    }

    /// Mark every connection as needing to close (RECONNECT).
    pub fn retire_all(&self) {
        let retired = {
            let mut st = lock(&self.state);
            let mut config = (*st.config).clone();
            config.generation += 1;
            st.config = Arc::new(config);
            self.config_version.fetch_add(1, Ordering::Release);
            std::mem::take(&mut st.idle)
        };
        for conn in retired {
            self.discard(conn, false);
        }
        self.grant_slots();
    }

    /// Periodic upkeep: idle timeouts, lifetimes, dead idle servers, and
    /// `min_pool_size`. Returns how many connections to open.
    pub fn janitor_pass(&self, has_clients: bool) -> usize {
        let (retired, want) = {
            let mut st = lock(&self.state);
            let config = st.config.clone();
            let idle_timeout = config.limits.server_idle_timeout;
            let mut retired = Vec::new();
            let mut keep = Vec::with_capacity(st.idle.len());
            for mut conn in st.idle.drain(..) {
                let idle_too_long =
                    !idle_timeout.is_zero() && conn.last_used.elapsed() > idle_timeout;
                if self.is_stale(&config, &conn) || idle_too_long || conn.has_unsolicited_data() {
                    retired.push(conn);
                } else {
                    keep.push(conn);
                }
            }
            // A reload made the pool smaller: close the least recently
            // used idle servers beyond the new size (PgBouncer's
            // check_pool_size); linked ones close as they come back.
            let excess = over_capacity(&st).saturating_sub(retired.len());
            let surplus = excess.min(keep.len());
            retired.extend(keep.drain(..surplus));
            st.idle = keep;
            let min = config.limits.min_pool_size;
            let wants_min = has_clients || config.target.forced_user;
            let want = if wants_min && st.open < min {
                min - st.open
            } else {
                0
            };
            (retired, want)
        };
        for conn in retired {
            self.discard_unlinked(conn);
        }
        want
    }

    /// Open one connection straight into the idle list (min_pool_size).
    pub async fn prefill_one(self: &Arc<Self>) {
        {
            let mut st = lock(&self.state);
            if !self.try_take_slot(&mut st, false) {
                return;
            }
        }
        if let Ok(conn) = self.open_connection().await {
            self.checkin(conn);
        }
    }

    /// Close every idle connection now (PAUSE, shutdown).
    pub fn close_idle(&self) {
        let idle = std::mem::take(&mut lock(&self.state).idle);
        for conn in idle {
            self.discard_unlinked(conn);
        }
    }

    /// Hold new checkouts until [`Pool::resume`] (PAUSE).
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Paused clients queue here rather than in the waiter list, so a
    /// PAUSE never hands them an error and their wait is not counted
    /// against query_wait_timeout.
    pub(super) async fn wait_unpaused(&self) {
        let mut rx = self.paused.subscribe();
        // The sender lives as long as the pool, so wait_for only fails if
        // the pool is gone, and then there is nothing to wait for.
        let _ = rx.wait_for(|paused| !paused).await;
    }

    /// Make every idle server look `by` older (created and last used), so
    /// lifetimes and idle timeouts can be tested without waiting.
    #[cfg(test)]
    pub(crate) fn age_idle(&self, by: std::time::Duration) {
        for conn in lock(&self.state).idle.iter_mut() {
            conn.created -= by;
            conn.last_used -= by;
        }
    }

    /// Fail every waiting client (KILL, shutdown).
    pub fn fail_waiters(&self, error: PgError) {
        let waiters = std::mem::take(&mut lock(&self.state).waiters);
        for w in waiters {
            let _ = w.tx.send(Grant::Failed(error.clone()));
        }
    }
}
