//! Taking a server: an idle one, a new one in a free slot, or one handed
//! over while waiting in line (FIFO, `query_wait_timeout`, the reserve
//! after `reserve_pool_timeout`, `server_login_retry` fast failures).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sluice_proto::PgError;
use tokio::sync::oneshot;

use super::{lock, CheckoutError, Grant, Pool, PoolConfig, PoolState, PooledServer, Waiter};
use crate::errors::PoolerError;
use crate::params::VarCache;
use crate::server::{self, ConnIdentity, ServerConn, ServerError};

impl Pool {
    pub(super) fn try_take_slot(&self, st: &mut PoolState, with_reserve: bool) -> bool {
        let limits = &st.config.limits;
        let mut cap = limits.pool_size;
        if with_reserve && cap != 0 {
            cap += limits.reserve_pool_size;
        }
        if cap != 0 && st.open >= cap {
            return false;
        }
        if !self.db_group.try_acquire(limits.max_db_connections) {
            return false;
        }
        if !self.user_group.try_acquire(limits.max_user_connections) {
            self.db_group.release();
            return false;
        }
        st.open += 1;
        st.connecting += 1;
        true
    }

    /// Hand free capacity to waiting clients, oldest first.
    pub(super) fn grant_slots(&self) {
        let mut st = lock(&self.state);
        while !st.waiters.is_empty() {
            if !self.try_take_slot(&mut st, false) {
                return;
            }
            let mut granted = false;
            while let Some(w) = st.waiters.pop_front() {
                if w.tx.send(Grant::Slot).is_ok() {
                    granted = true;
                    break;
                }
            }
            if !granted {
                self.give_back_slot(&mut st);
                return;
            }
        }
    }

    fn give_back_slot(&self, st: &mut PoolState) {
        st.open -= 1;
        st.connecting -= 1;
        self.db_group.release();
        self.user_group.release();
    }

    /// An idle server that can be handed out at once: not paused, not
    /// stale, no check query due, nothing unsolicited from the server.
    /// `None` leaves everything as it was (except closing a server found
    /// dead); the caller then goes through [`Pool::checkout`]. Being
    /// synchronous, it keeps the large checkout future (connect, login,
    /// waiting in line) out of the state an idle session is sized for.
    pub fn checkout_idle(self: &Arc<Self>) -> Option<PooledServer> {
        if self.is_paused() {
            return None;
        }
        let started = Instant::now();
        let mut conn = {
            let mut st = lock(&self.state);
            let conn = st.idle.last()?;
            let limits = &st.config.limits;
            let check_due = limits.server_check_query.is_some()
                && conn.last_used.elapsed() > limits.server_check_delay;
            if check_due || self.is_stale(&st.config, conn) {
                return None;
            }
            let conn = st.idle.pop()?;
            st.linked += 1;
            conn
        };
        if conn.has_unsolicited_data() {
            self.discard(conn, true);
            return None;
        }
        self.stats.record_wait(started.elapsed());
        Some(self.held(conn))
    }

    /// Get a server for a client, waiting in line if the pool is full.
    pub async fn checkout(self: &Arc<Self>) -> Result<PooledServer, CheckoutError> {
        self.wait_unpaused().await;
        let started = Instant::now();
        loop {
            // Whatever is taken is held by a value whose Drop gives it
            // back, so a client that leaves mid-checkout (its future
            // dropped) leaks neither a slot nor a server.
            let attempt = self.try_checkout_now();
            let server = match attempt {
                Attempt::Idle(conn) => self.vet_idle(self.held(conn)).await,
                Attempt::Connect => Some(self.held(self.open_connection().await?)),
                Attempt::Fail(e) => return Err(CheckoutError::Failed(e)),
                Attempt::Wait(id, rx) => {
                    let mut ticket = Ticket { pool: self, id, rx };
                    match self.wait(&mut ticket, started).await? {
                        Grant::Server(conn) => self.vet_idle(self.held(conn)).await,
                        Grant::Slot => Some(self.held(self.open_connection().await?)),
                        Grant::Failed(e) => return Err(CheckoutError::Failed(e)),
                    }
                }
            };
            if let Some(server) = server {
                self.stats.record_wait(started.elapsed());
                return Ok(server);
            }
        }
    }

    /// A linked connection, owned by the guard that closes it if dropped.
    fn held(self: &Arc<Self>, conn: Box<ServerConn>) -> PooledServer {
        PooledServer {
            pool: self.clone(),
            conn: Some(conn),
        }
    }

    /// What a waiter that left was already granted goes back.
    fn return_grant(&self, grant: Grant) {
        match grant {
            // Linked on its way to the waiter; clean, as it was released.
            Grant::Server(conn) => self.checkin(conn),
            Grant::Slot => self.abandon_slot(),
            Grant::Failed(_) => {}
        }
    }

    /// Give back a slot taken for a connection that will not be opened.
    fn abandon_slot(&self) {
        self.give_back_slot(&mut lock(&self.state));
        self.grant_slots();
        self.db_group.wake_waiting_pools();
        self.user_group.wake_waiting_pools();
    }

    fn try_checkout_now(&self) -> Attempt {
        let mut retired = Vec::new();
        let attempt = {
            let mut st = lock(&self.state);
            loop {
                if let Some(conn) = st.idle.pop() {
                    if self.is_stale(&st.config, &conn) {
                        retired.push(conn);
                        continue;
                    }
                    st.linked += 1;
                    break Attempt::Idle(conn);
                }
                if let Some((until, err)) = &st.login_failure {
                    if tokio::time::Instant::now() < *until {
                        break Attempt::Fail(fast_fail(err));
                    }
                    st.login_failure = None;
                }
                if self.try_take_slot(&mut st, false) {
                    break Attempt::Connect;
                }
                let (tx, rx) = oneshot::channel();
                st.next_waiter += 1;
                let id = st.next_waiter;
                st.waiters.push_back(Waiter { id, tx });
                break Attempt::Wait(id, rx);
            }
        };
        for conn in retired {
            // Not linked: it came from the idle list.
            self.discard_unlinked(conn);
        }
        if matches!(attempt, Attempt::Wait(..)) {
            self.evict_for_waiters();
        }
        attempt
    }

    /// Check a server that sat idle: drop it if it died meanwhile, and run
    /// `server_check_query` if it idled past `server_check_delay`.
    /// Returns `None` (and closes it) when it is unfit.
    async fn vet_idle(&self, mut server: PooledServer) -> Option<PooledServer> {
        if server.conn().has_unsolicited_data() {
            server.close_unused();
            return None;
        }
        let config = self.config();
        let limits = &config.limits;
        if let Some(check) = &limits.server_check_query {
            if server.conn().last_used.elapsed() > limits.server_check_delay {
                if let Err(e) = server.conn().simple_query(check).await {
                    tracing::info!(db = %self.key.database, user = %self.key.user, "server check failed: {e}");
                    server.close_unused();
                    return None;
                }
            }
        }
        Some(server)
    }

    async fn wait(
        &self,
        ticket: &mut Ticket<'_>,
        started: Instant,
    ) -> Result<Grant, CheckoutError> {
        let (id, rx) = (ticket.id, &mut ticket.rx);
        let config = self.config();
        let limits = &config.limits;
        let deadline = if limits.query_wait_timeout.is_zero() {
            None
        } else {
            Some(started + limits.query_wait_timeout)
        };
        if limits.reserve_pool_size > 0 {
            let reserve_at = started + limits.reserve_pool_timeout;
            let until = deadline.map_or(reserve_at, |d| d.min(reserve_at));
            if let Ok(grant) = tokio::time::timeout_at(until.into(), &mut *rx).await {
                return grant.map_err(|_| CheckoutError::WaitTimeout);
            }
            if let Some(grant) = self.take_reserve(id, rx) {
                return Ok(grant);
            }
        }
        let granted = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), &mut *rx).await.ok(),
            None => Some((&mut *rx).await),
        };
        match granted {
            Some(Ok(grant)) => Ok(grant),
            Some(Err(_)) => Err(CheckoutError::WaitTimeout),
            None => {
                // Leave the queue; a grant may have raced our timeout.
                lock(&self.state).waiters.retain(|w| w.id != id);
                match rx.try_recv() {
                    Ok(grant) => Ok(grant),
                    Err(_) => Err(CheckoutError::WaitTimeout),
                }
            }
        }
    }

    /// After `reserve_pool_timeout`, a waiter may open a reserve connection.
    fn take_reserve(&self, id: u64, rx: &mut oneshot::Receiver<Grant>) -> Option<Grant> {
        let mut st = lock(&self.state);
        if !st.waiters.iter().any(|w| w.id == id) {
            drop(st);
            // Already granted: the grant is in the channel.
            return rx.try_recv().ok();
        }
        if self.try_take_slot(&mut st, true) {
            st.waiters.retain(|w| w.id != id);
            tracing::info!(db = %self.key.database, user = %self.key.user, "taking connection from reserve_pool");
            return Some(Grant::Slot);
        }
        None
    }

    /// Open a connection in a slot already taken. Abandoned half way (the
    /// future dropped), the slot is given back.
    pub(super) async fn open_connection(&self) -> Result<Box<ServerConn>, CheckoutError> {
        let mut opening = Opening {
            pool: self,
            done: false,
        };
        let (config, credential) = {
            let st = lock(&self.state);
            (st.config.clone(), st.credential.clone())
        };
        let identity = ConnIdentity {
            id: self.ids.fetch_add(1, Ordering::Relaxed),
            generation: config.generation,
        };
        let result = server::connect(
            (&self.connector, &self.tls_handshakes),
            &config.target,
            &credential,
            VarCache::new(self.tracked.clone()),
            identity,
            config.limits.server_connect_timeout,
        )
        .await;
        // From here the slot is accounted for either way.
        opening.done = true;
        match result {
            Ok(conn) => {
                let mut st = lock(&self.state);
                st.connecting -= 1;
                st.linked += 1;
                st.login_failure = None;
                if st.welcome.is_none() {
                    st.welcome = Some(Arc::new(conn.login_params.clone()));
                }
                Ok(Box::new(conn))
            }
            Err(e) => Err(CheckoutError::Failed(self.login_failed(&e, &config))),
        }
    }

    /// A login failed: free the slot, remember the error for
    /// `server_login_retry`, and answer everyone already waiting.
    fn login_failed(&self, e: &ServerError, config: &PoolConfig) -> PgError {
        tracing::warn!(db = %self.key.database, user = %self.key.user, "server login failed: {e}");
        let client_error = e.to_client_error();
        let waiters = {
            let mut st = lock(&self.state);
            self.give_back_slot(&mut st);
            if !config.limits.server_login_retry.is_zero() {
                st.login_failure = Some((
                    tokio::time::Instant::now() + config.limits.server_login_retry,
                    client_error.clone(),
                ));
            }
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            let _ = w.tx.send(Grant::Failed(client_error.clone()));
        }
        self.db_group.wake_waiting_pools();
        self.user_group.wake_waiting_pools();
        client_error
    }
}

/// Give `conn` to the oldest waiter still waiting; back if there is none.
pub(super) fn hand_to_waiter(
    st: &mut PoolState,
    mut conn: Box<ServerConn>,
) -> Option<Box<ServerConn>> {
    while let Some(w) = st.waiters.pop_front() {
        match w.tx.send(Grant::Server(conn)) {
            Ok(()) => {
                st.linked += 1;
                return None;
            }
            Err(Grant::Server(back)) => conn = back,
            // A send hands back what it was given; nothing else can come back.
            Err(_) => return None,
        }
    }
    Some(conn)
}

/// What clients get while `server_login_retry` holds a failure: the
/// cached error's text, shortened, under its own SQLSTATE.
fn fast_fail(cached: &PgError) -> PgError {
    let mut cached_text: String = cached.message.chars().take(99).collect();
    if cached_text.len() < cached.message.len() {
        cached_text.push('…');
    }
    PgError {
        code: cached.code,
        ..PoolerError::LoginFailing(cached_text).to_pg()
    }
}

/// A waiter's place in line. Dropped with a grant still in its channel
/// (the client left just as its turn came), it hands the grant back;
/// in any case it leaves the queue.
struct Ticket<'a> {
    pool: &'a Pool,
    id: u64,
    rx: oneshot::Receiver<Grant>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // No grant can arrive after close; one that came before is ours.
        self.rx.close();
        let grant = self.rx.try_recv().ok();
        lock(&self.pool.state).waiters.retain(|w| w.id != self.id);
        if let Some(grant) = grant {
            self.pool.return_grant(grant);
        }
    }
}

/// A slot taken for a connection being opened, until the login ends.
struct Opening<'a> {
    pool: &'a Pool,
    done: bool,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pool.abandon_slot();
        }
    }
}

enum Attempt {
    Idle(Box<ServerConn>),
    Connect,
    Wait(u64, oneshot::Receiver<Grant>),
    Fail(PgError),
}
