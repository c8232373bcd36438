//! Connection caps shared by the pools of one database or one user
//! (`max_db_connections`, `max_user_connections`), and the eviction that
//! moves a slot to the pool whose clients wait for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::{lock, Pool};

/// Connection counter shared by every pool of one database (or user),
/// enforcing `max_db_connections` (or `max_user_connections`).
#[derive(Debug, Default)]
pub struct ConnGroup {
    count: AtomicUsize,
    pools: Mutex<Vec<Weak<Pool>>>,
}

impl ConnGroup {
    pub(super) fn try_acquire(&self, max: usize) -> bool {
        let mut current = self.count.load(Ordering::Relaxed);
        loop {
            if max != 0 && current >= max {
                return false;
            }
            match self.count.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    pub(super) fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn current(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn register(&self, pool: &Arc<Pool>) {
        let mut pools = lock(&self.pools);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    /// At `max` (0 = no cap): a pool of the group can open nothing more.
    pub(super) fn is_full(&self, max: usize) -> bool {
        max != 0 && self.current() >= max
    }

    pub(super) fn others(&self, me: &Pool) -> Vec<Arc<Pool>> {
        lock(&self.pools)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| !std::ptr::eq(Arc::as_ptr(p), me))
            .collect()
    }

    /// Another pool of this group has clients waiting for a server.
    pub(super) fn others_waiting(&self, me: &Pool) -> bool {
        self.others(me).iter().any(|p| p.has_waiters())
    }

    /// Close one idle server of another pool so its slot can go to a
    /// waiter here (PgBouncer's evict_connection for max_db_connections /
    /// max_user_connections). Whether one was closed.
    pub(super) fn evict_idle_elsewhere(&self, me: &Pool) -> bool {
        self.others(me).iter().any(|p| p.close_one_idle())
    }

    /// A slot of this group came free: let pools with waiters take it.
    pub(super) fn wake_waiting_pools(&self) {
        let pools: Vec<Arc<Pool>> = lock(&self.pools).iter().filter_map(Weak::upgrade).collect();
        for pool in pools {
            pool.grant_slots();
        }
    }
}

impl Pool {
    pub(super) fn has_waiters(&self) -> bool {
        !lock(&self.state).waiters.is_empty()
    }

    /// Close this pool's longest-idle server, if it has one.
    pub(super) fn close_one_idle(&self) -> bool {
        let conn = {
            let mut st = lock(&self.state);
            if st.idle.is_empty() {
                return false;
            }
            st.idle.remove(0)
        };
        self.discard_unlinked(conn);
        true
    }

    /// Our clients wait, our own pool has room, but a database or user
    /// cap shared with other pools is reached: close an idle server of one
    /// of those pools, so the freed slot comes to us (through
    /// `wake_waiting_pools`) instead of everyone waiting for ever.
    pub(super) fn evict_for_waiters(&self) {
        let (max_db, max_user, own_room) = {
            let st = lock(&self.state);
            let limits = &st.config.limits;
            (
                limits.max_db_connections,
                limits.max_user_connections,
                limits.pool_size == 0 || st.open < limits.pool_size,
            )
        };
        if !own_room {
            return;
        }
        if self.db_group.is_full(max_db) && self.db_group.evict_idle_elsewhere(self) {
            return;
        }
        if self.user_group.is_full(max_user) {
            self.user_group.evict_idle_elsewhere(self);
        }
    }

    /// Whether a released server of ours should close instead of idling:
    /// a shared cap is reached and another pool of it has clients waiting.
    /// Costs nothing while no database/user cap is set or reached.
    pub(super) fn needed_elsewhere(&self, (max_db, max_user): (usize, usize)) -> bool {
        (self.db_group.is_full(max_db) && self.db_group.others_waiting(self))
            || (self.user_group.is_full(max_user) && self.user_group.others_waiting(self))
    }
}
