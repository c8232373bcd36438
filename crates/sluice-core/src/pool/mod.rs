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
//!
//! By job: this file holds the pool's state and what it shows; `group`
//! the caps shared across pools and the eviction that moves slots
//! between them; `checkout` taking a server (idle, new, or by waiting in
//! line, reserve included); `guard` the `PooledServer` and taking servers
//! back or closing them; `upkeep` the janitor, prefill, pause and reload.

mod checkout;
mod group;
mod guard;
mod upkeep;

pub use group::ConnGroup;
pub use guard::PooledServer;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sluice_proto::PgError;
use tokio::sync::{oneshot, watch};

use crate::connector::Connector;
use crate::control::registry::ServerInfo;
use crate::errors::PoolerError;
use crate::server::{ServerConn, ServerCredential};
use crate::settings::{PoolLimits, ServerTarget};
use crate::stats::PoolStats;
use crate::tls::accept::HandshakeCounters;

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
            CheckoutError::WaitTimeout => PoolerError::QueryWaitTimeout.to_pg(),
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
    /// Server-leg TLS handshakes, instance-wide (for /metrics).
    tls_handshakes: Arc<HandshakeCounters>,
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
    /// Server-leg TLS handshakes, shared by every pool.
    pub tls_handshakes: Arc<HandshakeCounters>,
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
            tls_handshakes,
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
            tls_handshakes,
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

    /// The idle servers, for SHOW SERVERS / SHOW POOLS.
    pub fn idle_servers(&self) -> Vec<ServerInfo> {
        lock(&self.state)
            .idle
            .iter()
            .map(|c| ServerInfo::of(c))
            .collect()
    }

    fn is_stale(&self, config: &PoolConfig, conn: &ServerConn) -> bool {
        let lifetime = config.limits.server_lifetime;
        conn.generation != config.generation
            || (!lifetime.is_zero() && conn.created.elapsed() > lifetime)
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
