//! The numbers behind SHOW POOLS / STATS / DATABASES / USERS / LISTS,
//! computed on demand from the pools' atomics and the client registry.
//! The admin console and the Prometheus endpoint both read them from
//! here, so the two can never disagree about what a value means.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sluice_config::PoolMode;

use crate::control::registry::ClientState;
use crate::pool::Pool;
use crate::settings::ADMIN_DATABASES;
use crate::shared::Shared;
pub use crate::stats::Counters;

/// The admin console's own database and user, as PgBouncer names them.
pub const ADMIN_DB: &str = "pgbouncer";
pub const ADMIN_USER: &str = "pgbouncer";

/// Every database name known: configured, auto-created (pools made from
/// `*`), and the admin database. Sorted, as PgBouncer lists them.
pub fn database_names(shared: &Shared) -> BTreeSet<String> {
    let settings = shared.settings();
    let mut names: BTreeSet<String> = settings
        .config
        .databases
        .iter()
        .map(|d| d.name.clone())
        .collect();
    names.extend(shared.pools().iter().map(|p| p.key.database.clone()));
    names.insert(ADMIN_DB.to_string());
    names
}

/// Totals per database since start (SHOW STATS_TOTALS).
pub fn totals_by_db(shared: &Shared) -> BTreeMap<String, Counters> {
    let mut out: BTreeMap<String, Counters> = database_names(shared)
        .into_iter()
        .map(|n| (n, Counters::default()))
        .collect();
    for pool in shared.pools() {
        out.entry(pool.key.database.clone())
            .or_default()
            .add(&Counters::of(&pool.stats));
    }
    out
}

/// Client counts of one pool, from the registry.
#[derive(Debug, Clone, Copy, Default)]
struct ClientCounts {
    active: usize,
    waiting: usize,
    oldest_wait: Option<SystemTime>,
}

/// One row of SHOW POOLS.
#[derive(Debug, Clone)]
pub struct PoolView {
    pub database: String,
    pub user: String,
    pub cl_active: usize,
    pub cl_waiting: usize,
    pub sv_active: usize,
    pub sv_idle: usize,
    pub sv_used: usize,
    pub sv_login: usize,
    pub maxwait: Duration,
    pub pool_mode: PoolMode,
    pub load_balance_hosts: Option<String>,
    pub pool: Option<Arc<Pool>>,
}

/// Every pool, the admin pool first, then by (database, user).
pub fn pools(shared: &Shared) -> Vec<PoolView> {
    let settings = shared.settings();
    let mut clients: HashMap<(String, String), ClientCounts> = HashMap::new();
    for c in shared.control.registry.clients() {
        let e = clients
            .entry((c.info.database.clone(), c.info.pool_user.clone()))
            .or_default();
        match c.state() {
            ClientState::Waiting => {
                e.waiting += 1;
                let since = c.request_time();
                e.oldest_wait = Some(e.oldest_wait.map_or(since, |o| o.min(since)));
            }
            ClientState::Active | ClientState::Idle => e.active += 1,
        }
    }
    let admin = clients
        .get(&(ADMIN_DB.to_string(), ADMIN_USER.to_string()))
        .copied()
        .unwrap_or_default();
    let mut out = vec![PoolView {
        database: ADMIN_DB.to_string(),
        user: ADMIN_USER.to_string(),
        cl_active: admin.active,
        cl_waiting: 0,
        sv_active: 0,
        sv_idle: 0,
        sv_used: 0,
        sv_login: 0,
        maxwait: Duration::ZERO,
        pool_mode: PoolMode::Statement,
        load_balance_hosts: None,
        pool: None,
    }];
    let mut pools = shared.pools();
    pools.sort_by(|a, b| (&a.key.database, &a.key.user).cmp(&(&b.key.database, &b.key.user)));
    let check_delay = settings.config.general.server_check_delay;
    for pool in pools {
        let counts = pool.counts();
        let config = pool.config();
        let c = clients
            .get(&(pool.key.database.clone(), pool.key.user.clone()))
            .copied()
            .unwrap_or_default();
        // Idle servers past server_check_delay need the check query
        // before reuse: PgBouncer shows them as "used".
        let used = pool
            .idle_servers()
            .iter()
            .filter(|s| {
                s.request_time
                    .elapsed()
                    .is_ok_and(|idle| idle > check_delay)
            })
            .count();
        let lb = settings
            .database(&pool.key.database)
            .filter(|db| db.host.as_deref().is_some_and(|h| h.contains(',')))
            .map(|db| {
                db.load_balance_hosts
                    .unwrap_or_else(|| "round-robin".into())
            });
        out.push(PoolView {
            database: pool.key.database.clone(),
            user: pool.key.user.clone(),
            cl_active: c.active,
            cl_waiting: c.waiting,
            sv_active: counts.linked,
            sv_idle: counts.idle.saturating_sub(used),
            sv_used: used,
            sv_login: counts.connecting,
            maxwait: c
                .oldest_wait
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default(),
            pool_mode: config.limits.pool_mode,
            load_balance_hosts: lb,
            pool: Some(pool),
        });
    }
    out
}

/// One row of SHOW DATABASES.
#[derive(Debug, Clone)]
pub struct DbView {
    pub name: String,
    pub host: Option<String>,
    pub port: u16,
    pub database: String,
    pub force_user: Option<String>,
    pub pool_size: usize,
    pub min_pool_size: usize,
    pub reserve_pool_size: usize,
    pub server_lifetime: u64,
    pub pool_mode: Option<PoolMode>,
    pub load_balance_hosts: Option<String>,
    pub max_connections: usize,
    pub current_connections: usize,
    pub max_client_connections: usize,
    pub current_client_connections: usize,
    pub paused: bool,
    pub disabled: bool,
}

pub fn databases(shared: &Shared) -> Vec<DbView> {
    let settings = shared.settings();
    let g = &settings.config.general;
    let mut client_counts: HashMap<String, usize> = HashMap::new();
    for c in shared.control.registry.clients() {
        *client_counts.entry(c.info.database.clone()).or_default() += 1;
    }
    let clients_of = |name: &str| client_counts.get(name).copied().unwrap_or(0);
    let mut out = Vec::new();
    for name in database_names(shared) {
        if name == ADMIN_DB {
            out.push(DbView {
                name: name.clone(),
                host: None,
                port: g.listen_port,
                database: name.clone(),
                force_user: Some(ADMIN_USER.to_string()),
                pool_size: 2,
                min_pool_size: 0,
                reserve_pool_size: 0,
                server_lifetime: 0,
                pool_mode: Some(PoolMode::Statement),
                load_balance_hosts: None,
                max_connections: 0,
                current_connections: 0,
                max_client_connections: 0,
                current_client_connections: clients_of(&name),
                paused: false,
                disabled: false,
            });
            continue;
        }
        let Some(db) = settings.database(&name) else {
            continue;
        };
        out.push(DbView {
            host: db.host.clone(),
            port: db.port,
            database: db.dbname.clone().unwrap_or_else(|| name.clone()),
            force_user: db.user.clone(),
            pool_size: db.pool_size.unwrap_or(g.default_pool_size),
            min_pool_size: db.min_pool_size.unwrap_or(g.min_pool_size),
            reserve_pool_size: db.reserve_pool_size.unwrap_or(g.reserve_pool_size),
            server_lifetime: db.server_lifetime.unwrap_or(g.server_lifetime).as_secs(),
            pool_mode: db.pool_mode,
            load_balance_hosts: db.load_balance_hosts.clone(),
            max_connections: db.max_db_connections.unwrap_or(g.max_db_connections),
            current_connections: shared.db_connections(&name),
            max_client_connections: db
                .max_db_client_connections
                .unwrap_or(g.max_db_client_connections),
            current_client_connections: clients_of(&name),
            paused: shared.control.is_paused(&name),
            disabled: shared.control.is_disabled(&name),
            name,
        });
    }
    out
}

/// One row of SHOW USERS.
#[derive(Debug, Clone)]
pub struct UserView {
    pub name: String,
    pub pool_size: Option<usize>,
    pub reserve_pool_size: Option<usize>,
    pub pool_mode: Option<PoolMode>,
    pub max_user_connections: usize,
    pub current_connections: usize,
    pub max_user_client_connections: usize,
    pub current_client_connections: usize,
}

pub fn users(shared: &Shared) -> Vec<UserView> {
    let settings = shared.settings();
    let g = &settings.config.general;
    let mut names: BTreeSet<String> = settings
        .userlist
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.extend(settings.config.users.iter().map(|u| u.name.clone()));
    names.extend(shared.pools().iter().map(|p| p.key.user.clone()));
    names.insert(ADMIN_USER.to_string());
    let mut client_counts: HashMap<String, usize> = HashMap::new();
    for c in shared.control.registry.clients() {
        *client_counts.entry(c.info.user.clone()).or_default() += 1;
    }
    names
        .into_iter()
        .map(|name| {
            let u = settings.config.user(&name);
            UserView {
                pool_size: u.and_then(|u| u.pool_size),
                reserve_pool_size: u.and_then(|u| u.reserve_pool_size),
                pool_mode: u.and_then(|u| u.pool_mode),
                max_user_connections: u
                    .and_then(|u| u.max_user_connections)
                    .unwrap_or(g.max_user_connections),
                current_connections: shared.user_connections(&name),
                max_user_client_connections: u
                    .and_then(|u| u.max_user_client_connections)
                    .unwrap_or(g.max_user_client_connections),
                current_client_connections: client_counts.get(&name).copied().unwrap_or(0),
                name,
            }
        })
        .collect()
}

/// SHOW LISTS, in PgBouncer's row order.
pub fn lists(shared: &Shared) -> Vec<(&'static str, usize)> {
    let pools = shared.pools();
    let clients = shared.control.registry.clients();
    let registered_normal = clients
        .iter()
        .filter(|c| !ADMIN_DATABASES.contains(&c.info.database.as_str()))
        .count();
    let connected = shared.clients.load(Ordering::Relaxed);
    let used_servers: usize = pools.iter().map(|p| p.counts().open).sum();
    vec![
        ("databases", database_names(shared).len()),
        ("users", users(shared).len()),
        ("peers", 0),
        ("pools", pools.len() + 1),
        ("peer_pools", 0),
        ("free_clients", 0),
        ("used_clients", clients.len()),
        ("login_clients", connected.saturating_sub(registered_normal)),
        ("free_servers", 0),
        ("used_servers", used_servers),
        ("dns_names", 0),
        ("dns_zones", 0),
        ("dns_queries", 0),
        ("dns_pending", 0),
    ]
}
