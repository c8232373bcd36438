//! The `PooledServer` guard, and what taking a server back does: checkin
//! (to the oldest waiter, the idle list, or closed when stale, surplus or
//! needed by another pool) or closing it.

use std::sync::Arc;
use std::time::Instant;

use super::checkout::hand_to_waiter;
use super::{lock, over_capacity, Pool};
use crate::cancel::CancelTarget;
use crate::relay::CleanPoint;
use crate::server::ServerConn;

/// A server owned by one client. `release` returns it to the pool;
/// dropping it closes it.
pub struct PooledServer {
    pub(super) pool: Arc<Pool>,
    pub(super) conn: Option<Box<ServerConn>>,
}

impl PooledServer {
    pub fn conn(&mut self) -> &mut ServerConn {
        // The Option is only None inside release/discard, which consume self.
        self.conn.as_mut().expect("PooledServer used after release")
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Give the server back from the clean point the relay proved
    /// (invariant 1: ReadyForQuery 'I', nothing owed, nothing half-sent).
    pub fn release(mut self, _proof: CleanPoint) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }

    /// Give back a server no client traffic went through (the login
    /// that only wanted its parameters): as clean as when checked out.
    pub fn release_unused(self) {
        self.release(CleanPoint::witnessed());
    }

    /// Close a server no client has used since it was linked (found dead
    /// or failing its check at checkout): nothing to cancel.
    pub(super) fn close_unused(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.discard(conn, true);
        }
    }

    /// Close the server (it is broken or in an unknown state).
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.discard_held(conn);
        }
    }
}

impl Drop for PooledServer {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.discard_held(conn);
        }
    }
}

impl Pool {
    /// Take back a clean server (invariant 1 holds: the caller checked).
    pub(super) fn checkin(&self, mut conn: Box<ServerConn>) {
        conn.last_used = Instant::now();
        // A Terminate leaves its half "stopped"; the next client starts fresh.
        conn.c2s.reset();
        conn.s2c.reset();
        conn.c2s.shrink();
        conn.s2c.shrink();
        let mut st = lock(&self.state);
        st.linked -= 1;
        // Stale, or the pool shrank by reload: close rather than keep.
        if self.is_stale(&st.config, &conn) || over_capacity(&st) > 0 {
            drop(st);
            self.discard_unlinked(conn);
            return;
        }
        let Some(conn) = hand_to_waiter(&mut st, conn) else {
            return;
        };
        let caps = (
            st.config.limits.max_db_connections,
            st.config.limits.max_user_connections,
        );
        // Other pools' state is locked to look for their waiters: never
        // while holding ours.
        drop(st);
        if self.needed_elsewhere(caps) {
            self.discard_unlinked(conn);
            return;
        }
        let mut st = lock(&self.state);
        // A waiter of ours may have queued while we looked elsewhere.
        if let Some(conn) = hand_to_waiter(&mut st, conn) {
            st.idle.push(conn);
        }
    }

    /// Close a connection that was linked to a client.
    pub(super) fn discard(&self, conn: Box<ServerConn>, linked: bool) {
        {
            let mut st = lock(&self.state);
            if linked {
                st.linked -= 1;
            }
            st.open -= 1;
        }
        self.after_close(conn);
    }

    /// Close a server a client held, in whatever state: it may still be
    /// running the client's query (holding its locks) and would not read
    /// our Terminate until that ends, so cancel that query as well. Our
    /// own key for a backend that is going away: no other client can be
    /// hit, and a backend that is idle ignores it.
    pub(super) fn discard_held(&self, conn: Box<ServerConn>) {
        let interrupt = conn.key.map(|key| CancelTarget {
            route: conn.route.clone(),
            key,
        });
        let limit = self.config().limits.server_connect_timeout;
        self.discard(conn, true);
        if let (Some(target), Ok(handle)) = (interrupt, tokio::runtime::Handle::try_current()) {
            handle.spawn(async move {
                let _ = tokio::time::timeout(limit, crate::cancel::forward(&target)).await;
            });
        }
    }

    pub(super) fn discard_unlinked(&self, conn: Box<ServerConn>) {
        self.discard(conn, false);
    }

    /// The connection's slot in the pool is free at once; its slots in
    /// the database and user groups only once the server has hung up
    /// (or after a bound): a backend leaves Postgres' process table just
    /// before it closes its socket, so a freed `max_db_connections` /
    /// `max_user_connections` slot never lets Postgres see one backend
    /// more than the cap (`pool_limits::database_and_user_caps_span_their_pools`
    /// counts backends in pg_stat_activity).
    pub(super) fn after_close(&self, conn: Box<ServerConn>) {
        let groups = (self.db_group.clone(), self.user_group.clone());
        let free_groups = move || {
            groups.0.release();
            groups.1.release();
            groups.0.wake_waiting_pools();
            groups.1.wake_waiting_pools();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    conn.terminate().await;
                    free_groups();
                });
            }
            // No runtime left (process exit): nobody will connect again.
            Err(_) => free_groups(),
        }
        self.grant_slots();
    }
}
