//! Server pools keyed by (database, user).
//!
//! A pool owns its idle connections and a FIFO queue of waiting clients.
//! Capacity is counted in "slots": a slot is taken before a connection is
//! opened and given back when it closes, and it must fit the pool size
//! (plus the reserve, for clients that waited long enough), the database's
//! `max_db_connections` and the user's `max_user_connections`.
//!
//! A checked-out server is a `PooledServer`: a value that moves into the
//! client's session. Giving it back is explicit (`release`); dropping it
//! closes the connection, so a server in an unknown state can never be
//! returned by accident (invariants 1 and 3).
//!
//! The critical section is tiny: pop or push one connection, or queue one
//! waiter. No lock is held across an await.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use sluice_proto::{PgError, SqlState};
use tokio::sync::{oneshot, watch};

use crate::cancel::CancelTarget;
use crate::connector::Connector;
use crate::params::VarCache;
use crate::registry::ServerInfo;
use crate::server::{self, ConnIdentity, ServerConn, ServerCredential, ServerError};
use crate::settings::{PoolLimits, ServerTarget};
use crate::stats::PoolStats;

/// Connection counter shared by every pool of one database (or user),
/// enforcing `max_db_connections` (or `max_user_connections`).
#[derive(Debug, Default)]
pub struct ConnGroup {
    count: AtomicUsize,
    pools: Mutex<Vec<Weak<Pool>>>,
}

impl ConnGroup {
    fn try_acquire(&self, max: usize) -> bool {
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

    fn release(&self) {
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
    fn is_full(&self, max: usize) -> bool {
        max != 0 && self.current() >= max
    }

    fn others(&self, me: &Pool) -> Vec<Arc<Pool>> {
        lock(&self.pools)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| !std::ptr::eq(Arc::as_ptr(p), me))
            .collect()
    }

    /// Another pool of this group has clients waiting for a server.
    fn others_waiting(&self, me: &Pool) -> bool {
        self.others(me).iter().any(|p| p.has_waiters())
    }

    /// Close one idle server of another pool so its slot can go to a
    /// waiter here (PgBouncer's evict_connection for max_db_connections /
    /// max_user_connections). Whether one was closed.
    fn evict_idle_elsewhere(&self, me: &Pool) -> bool {
        self.others(me).iter().any(|p| p.close_one_idle())
    }

    /// A slot of this group came free: let pools with waiters take it.
    fn wake_waiting_pools(&self) {
        let pools: Vec<Arc<Pool>> = lock(&self.pools).iter().filter_map(Weak::upgrade).collect();
        for pool in pools {
            pool.grant_slots();
        }
    }
}

/// Give `conn` to the oldest waiter still waiting; back if there is none.
fn hand_to_waiter(st: &mut PoolState, mut conn: Box<ServerConn>) -> Option<Box<ServerConn>> {
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

/// Settings a pool runs with; replaced whole on reload.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub target: ServerTarget,
    pub limits: PoolLimits,
    /// Bumped when the target changes: older connections close on release.
    pub generation: u64,
}

/// What a waiting client is handed.
enum Grant {
    Server(Box<ServerConn>),
    /// Permission to open one new connection (a slot is reserved for it).
    Slot,
    Failed(PgError),
}

struct Waiter {
    id: u64,
    tx: oneshot::Sender<Grant>,
}

struct PoolState {
    config: Arc<PoolConfig>,
    /// LIFO, so few connections carry the load and the rest idle out.
    /// Boxed once at connect, so checkout and checkin move a pointer
    /// (a `ServerConn` is several hundred bytes).
    #[allow(clippy::vec_box)]
    idle: Vec<Box<ServerConn>>,
    waiters: VecDeque<Waiter>,
    /// Slots taken: idle + linked + logging in.
    open: usize,
    linked: usize,
    connecting: usize,
    next_waiter: u64,
    /// The last login failure, served to new clients until it expires
    /// (`server_login_retry`), so they fail fast instead of queueing.
    login_failure: Option<(tokio::time::Instant, PgError)>,
    /// ParameterStatus set of the first server, sent to clients at login.
    welcome: Option<Arc<Vec<(String, String)>>>,
    credential: ServerCredential,
}

/// Why no server could be had.
#[derive(Debug, Clone)]
pub enum CheckoutError {
    WaitTimeout,
    Failed(PgError),
}

impl CheckoutError {
    pub fn to_client_error(&self) -> PgError {
        match self {
            CheckoutError::WaitTimeout => {
                PgError::fatal(SqlState::PROTOCOL_VIOLATION, "query_wait_timeout")
            }
            CheckoutError::Failed(e) => e.clone(),
        }
    }
}

/// Identity of a pool: the database name clients use, and the user the
/// servers log in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub database: String,
    pub user: String,
}

pub struct Pool {
    pub key: PoolKey,
    state: Mutex<PoolState>,
    db_group: Arc<ConnGroup>,
    user_group: Arc<ConnGroup>,
    tracked: Arc<[String]>,
    ids: Arc<AtomicU64>,
    /// How servers are reached (sockets; scripted backends in unit tests).
    connector: Arc<dyn Connector>,
    pub stats: PoolStats,
    /// PAUSE: while true, checkouts wait (admin console, SIGUSR1).
    paused: watch::Sender<bool>,
    /// Bumped after every change of `config` (reload, RECONNECT), so a
    /// session can keep its copy of the `Arc` and check one integer per
    /// transaction instead of taking the pool lock.
    config_version: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("key", &self.key).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a pool lock must not wedge every later client.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a pool shares with the rest of the instance.
pub struct PoolWorld {
    /// Counts this pool's connections against `max_db_connections`.
    pub db_group: Arc<ConnGroup>,
    /// Counts them against `max_user_connections`.
    pub user_group: Arc<ConnGroup>,
    /// Parameter names tracked per connection (invariant 4).
    pub tracked: Arc<[String]>,
    /// Source of process-unique connection ids.
    pub ids: Arc<AtomicU64>,
    pub connector: Arc<dyn Connector>,
}

/// Counts for SHOW POOLS.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolCounts {
    pub idle: usize,
    pub linked: usize,
    pub connecting: usize,
    pub waiting: usize,
    pub open: usize,
}

impl Pool {
    pub fn new(
        key: PoolKey,
        config: PoolConfig,
        credential: ServerCredential,
        world: PoolWorld,
    ) -> Arc<Pool> {
        let PoolWorld {
            db_group,
            user_group,
            tracked,
            ids,
            connector,
        } = world;
        let pool = Arc::new(Pool {
            key,
            state: Mutex::new(PoolState {
                config: Arc::new(config),
                idle: Vec::new(),
                waiters: VecDeque::new(),
                open: 0,
                linked: 0,
                connecting: 0,
                next_waiter: 0,
                login_failure: None,
                welcome: None,
                credential,
            }),
            db_group,
            user_group,
            tracked,
            ids,
            connector,
            stats: PoolStats::default(),
            paused: watch::channel(false).0,
            config_version: AtomicU64::new(0),
        });
        pool.db_group.register(&pool);
        pool.user_group.register(&pool);
        pool
    }

    pub fn config(&self) -> Arc<PoolConfig> {
        lock(&self.state).config.clone()
    }

    /// Changes whenever [`Pool::config`] would return a new value. Read it
    /// before `config()`: a copy taken after reading version `v` is at
    /// least as new as `v`.
    pub fn config_version(&self) -> u64 {
        self.config_version.load(Ordering::Acquire)
    }

    pub fn counts(&self) -> PoolCounts {
        let st = lock(&self.state);
        PoolCounts {
            idle: st.idle.len(),
            linked: st.linked,
            connecting: st.connecting,
            waiting: st.waiters.len(),
            open: st.open,
        }
    }

    pub fn welcome(&self) -> Option<Arc<Vec<(String, String)>>> {
        lock(&self.state).welcome.clone()
    }

    pub fn tracked(&self) -> &Arc<[String]> {
        &self.tracked
    }

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

    /// Record SCRAM keys from a client login, for pass-through.
    pub fn offer_credential(&self, credential: ServerCredential) {
        let mut st = lock(&self.state);
        let upgrade = matches!(
            st.credential,
            ServerCredential::ScramSecretWithoutKeys | ServerCredential::None
        ) || matches!(credential, ServerCredential::ScramKeys { .. });
        if upgrade {
            st.credential = credential;
            st.login_failure = None;
        }
    }

    pub fn set_credential(&self, credential: ServerCredential) {
        lock(&self.state).credential = credential;
    }

    fn try_take_slot(&self, st: &mut PoolState, with_reserve: bool) -> bool {
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
    fn grant_slots(&self) {
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
        Some(PooledServer {
            pool: self.clone(),
            conn: Some(conn),
        })
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

    fn is_stale(&self, config: &PoolConfig, conn: &ServerConn) -> bool {
        let lifetime = config.limits.server_lifetime;
        conn.generation != config.generation
            || (!lifetime.is_zero() && conn.created.elapsed() > lifetime)
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
    async fn open_connection(&self) -> Result<Box<ServerConn>, CheckoutError> {
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
            &self.connector,
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

    fn has_waiters(&self) -> bool {
        !lock(&self.state).waiters.is_empty()
    }

    /// Close this pool's longest-idle server, if it has one.
    fn close_one_idle(&self) -> bool {
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
    fn evict_for_waiters(&self) {
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
    fn needed_elsewhere(&self, (max_db, max_user): (usize, usize)) -> bool {
        (self.db_group.is_full(max_db) && self.db_group.others_waiting(self))
            || (self.user_group.is_full(max_user) && self.user_group.others_waiting(self))
    }

    /// Take back a clean server (invariant 1 holds: the caller checked).
    fn checkin(&self, mut conn: Box<ServerConn>) {
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
    fn discard(&self, conn: Box<ServerConn>, linked: bool) {
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
    fn discard_held(&self, conn: Box<ServerConn>) {
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

    fn discard_unlinked(&self, conn: Box<ServerConn>) {
        self.discard(conn, false);
    }

    fn after_close(&self, conn: Box<ServerConn>) {
        self.db_group.release();
        self.user_group.release();
        close_in_background(conn);
        self.grant_slots();
        self.db_group.wake_waiting_pools();
        self.user_group.wake_waiting_pools();
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
    async fn wait_unpaused(&self) {
        let mut rx = self.paused.subscribe();
        // The sender lives as long as the pool, so wait_for only fails if
        // the pool is gone, and then there is nothing to wait for.
        let _ = rx.wait_for(|paused| !paused).await;
    }

    /// The idle servers, for SHOW SERVERS / SHOW POOLS.
    pub fn idle_servers(&self) -> Vec<ServerInfo> {
        lock(&self.state)
            .idle
            .iter()
            .map(|c| ServerInfo::of(c))
            .collect()
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

/// How many connections the pool has beyond `pool_size +
/// reserve_pool_size` (after a reload shrank it); 0 for an unlimited pool.
fn over_capacity(st: &PoolState) -> usize {
    let limits = &st.config.limits;
    if limits.pool_size == 0 {
        return 0;
    }
    st.open
        .saturating_sub(limits.pool_size + limits.reserve_pool_size)
}

/// What clients get while `server_login_retry` holds a failure.
fn fast_fail(cached: &PgError) -> PgError {
    let mut cached_text: String = cached.message.chars().take(99).collect();
    if cached_text.len() < cached.message.len() {
        cached_text.push('…');
    }
    PgError {
        message: format!(
            "server login has been failing, cached error: {cached_text} (server_login_retry)"
        ),
        ..cached.clone()
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

/// Terminate politely without making anyone wait for it.
fn close_in_background(conn: Box<ServerConn>) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(conn.terminate());
    }
}

/// A server owned by one client. `release` returns it to the pool;
/// dropping it closes it.
pub struct PooledServer {
    pool: Arc<Pool>,
    conn: Option<Box<ServerConn>>,
}

impl PooledServer {
    pub fn conn(&mut self) -> &mut ServerConn {
        // The Option is only None inside release/discard, which consume self.
        self.conn.as_mut().expect("PooledServer used after release")
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Give the server back. The caller guarantees it is at a release
    /// point (ReadyForQuery 'I', nothing owed, nothing half-sent).
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }

    /// Close a server no client has used since it was linked (found dead
    /// or failing its check at checkout): nothing to cancel.
    fn close_unused(mut self) {
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
