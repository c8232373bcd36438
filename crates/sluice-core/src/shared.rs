//! State shared by every task of one Sluice instance: settings, pools,
//! cancel keys, counters, the control plane's state and the run state.
//! One value, passed by `Arc`; nothing here is global, so tests can run
//! many instances in a process. This sits below the admin console and
//! imports nothing from it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use sluice_config::{Database, Secret};

use crate::cancel::CancelRegistry;
use crate::connector::Connector;
use crate::control::{Control, RunStateCell};
use crate::pool::{ConnGroup, Pool, PoolConfig, PoolKey, PoolWorld};
use crate::server::ServerCredential;
use crate::settings::Settings;

/// Where it always was for `use crate::shared::RunState`; the control
/// plane owns it.
pub use crate::control::RunState;

pub struct Shared {
    settings: RwLock<Arc<Settings>>,
    tracked: RwLock<Arc<[String]>>,
    pools: Mutex<HashMap<PoolKey, Arc<Pool>>>,
    db_groups: Mutex<HashMap<String, Arc<ConnGroup>>>,
    user_groups: Mutex<HashMap<String, Arc<ConnGroup>>>,
    pub cancels: Arc<CancelRegistry>,
    /// Connected clients (logged in or logging in), for max_client_conn.
    pub clients: AtomicUsize,
    /// Source of process-unique connection ids.
    pub ids: Arc<AtomicU64>,
    /// Running or shutting down; changed only by `control::shutdown`.
    pub run_state: RunStateCell,
    /// Random per process: salts mock SCRAM exchanges for unknown users.
    pub mock_seed: [u8; 32],
    /// Client registry and pause/disable state (the control plane's).
    pub control: Control,
    /// CancelRequests received (for metrics).
    pub cancel_requests: AtomicU64,
    /// Client-leg TLS handshakes, completed and failed (for metrics).
    pub tls_handshakes: crate::tls::accept::HandshakeCounters,
    /// Server-leg TLS handshakes (logins and cancels), completed and failed.
    pub server_tls_handshakes: Arc<crate::tls::accept::HandshakeCounters>,
    /// Stats averages of the last complete `stats_period`.
    pub averages: crate::stats::PeriodAverages,
    /// How pools reach their servers.
    pub connector: Arc<dyn Connector>,
    /// Protocol-level prepared statements shared by all pools
    /// (`prepared::Registry::usage()` for entries and bytes).
    pub prepared: crate::prepared::Registry,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// An instance whose pools reach servers over plain sockets.
    pub fn new(settings: Settings) -> Arc<Shared> {
        Shared::with_connector(settings, Arc::new(crate::connector::SocketConnector))
    }

    pub fn with_connector(settings: Settings, connector: Arc<dyn Connector>) -> Arc<Shared> {
        let tracked: Arc<[String]> = settings.tracked_parameters().into();
        Arc::new(Shared {
            settings: RwLock::new(Arc::new(settings)),
            tracked: RwLock::new(tracked),
            pools: Mutex::new(HashMap::new()),
            db_groups: Mutex::new(HashMap::new()),
            user_groups: Mutex::new(HashMap::new()),
            cancels: Arc::new(CancelRegistry::default()),
            clients: AtomicUsize::new(0),
            ids: Arc::new(AtomicU64::new(1)),
            run_state: RunStateCell::default(),
            mock_seed: rand::random(),
            control: Control::default(),
            cancel_requests: AtomicU64::new(0),
            tls_handshakes: Default::default(),
            server_tls_handshakes: Default::default(),
            averages: Default::default(),
            connector,
            prepared: Default::default(),
        })
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn tracked(&self) -> Arc<[String]> {
        self.tracked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    pub fn run_state(&self) -> RunState {
        self.run_state.get()
    }

    pub fn pools(&self) -> Vec<Arc<Pool>> {
        lock(&self.pools).values().cloned().collect()
    }

    fn group(map: &Mutex<HashMap<String, Arc<ConnGroup>>>, name: &str) -> Arc<ConnGroup> {
        lock(map).entry(name.to_string()).or_default().clone()
    }

    /// Connections counted against `max_db_connections` for a database.
    pub fn db_connections(&self, name: &str) -> usize {
        lock(&self.db_groups).get(name).map_or(0, |g| g.current())
    }

    /// Connections counted against `max_user_connections` for a user.
    pub fn user_connections(&self, name: &str) -> usize {
        lock(&self.user_groups).get(name).map_or(0, |g| g.current())
    }

    /// The pool serving `client_user` on `db`, created on first use.
    pub fn pool_for(&self, db: &Database, client_user: &str) -> Arc<Pool> {
        let settings = self.settings();
        let target = settings.server_target(db, client_user);
        let key = PoolKey {
            database: db.name.clone(),
            user: target.user.clone(),
        };
        if let Some(pool) = lock(&self.pools).get(&key) {
            return pool.clone();
        }
        let limits = settings.pool_limits(db, &target.user);
        let credential = server_credential(&settings, &target.password, &target.user);
        let db_group = Self::group(&self.db_groups, &db.name);
        let user_group = Self::group(&self.user_groups, &target.user);
        let mut pools = lock(&self.pools);
        let pool = pools
            .entry(key.clone())
            .or_insert_with(|| {
                Pool::new(
                    key,
                    PoolConfig {
                        target,
                        limits,
                        generation: 0,
                    },
                    credential,
                    PoolWorld {
                        db_group,
                        user_group,
                        tracked: self.tracked(),
                        ids: self.ids.clone(),
                        connector: self.connector.clone(),
                        tls_handshakes: self.server_tls_handshakes.clone(),
                    },
                )
            })
            .clone();
        // A pool born while its database is paused starts paused.
        if self.control.is_paused(&db.name) {
            pool.pause();
        }
        pool
    }

    /// Replace the settings every reader sees from now on (the control
    /// plane's reload then re-derives the pools).
    pub(crate) fn replace_settings(&self, settings: Arc<Settings>) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}

/// How servers of a pool authenticate: the `[databases]` password if the
/// line has one, else the userlist's secret for the server user.
pub fn server_credential(
    settings: &Settings,
    db_password: &Option<String>,
    server_user: &str,
) -> ServerCredential {
    if let Some(password) = db_password {
        return ServerCredential::Password(password.clone());
    }
    match settings.userlist.get(server_user) {
        Some(Secret::Plain(p)) if !p.is_empty() => ServerCredential::Password(p.clone()),
        Some(Secret::Md5(m)) => ServerCredential::Md5Secret(m.clone()),
        Some(Secret::Scram(_)) => ServerCredential::ScramSecretWithoutKeys,
        _ => ServerCredential::None,
    }
}
