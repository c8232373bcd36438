//! The configuration as the runtime sees it: the parsed config plus the
//! userlist, and the PgBouncer precedence rules (user, then database, then
//! global) resolved in one place so no other module re-derives them.

use std::time::Duration;

use std::sync::Arc;

use sluice_config::{Config, ConfigError, Database, Loaded, PoolMode, UserOverrides, Userlist};

use crate::tls::{ServerTls, TlsSettings};

/// Everything a reload replaces at once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub userlist: Userlist,
    /// Both TLS legs, built from `config` (files read, checked).
    pub tls: TlsSettings,
}

/// The names a client may use to reach the admin console.
pub const ADMIN_DATABASES: [&str; 2] = ["pgbouncer", "sluice"];

/// Limits and timeouts of one (database, user) pool, resolved from the
/// three levels of configuration. Recomputed on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolLimits {
    pub pool_mode: PoolMode,
    /// 0 = unlimited (PgBouncer ≥ 1.24).
    pub pool_size: usize,
    pub min_pool_size: usize,
    pub reserve_pool_size: usize,
    pub reserve_pool_timeout: Duration,
    pub max_db_connections: usize,
    pub max_user_connections: usize,
    pub query_wait_timeout: Duration,
    pub query_timeout: Duration,
    pub idle_transaction_timeout: Duration,
    pub client_idle_timeout: Duration,
    pub server_lifetime: Duration,
    pub server_idle_timeout: Duration,
    pub server_check_delay: Duration,
    pub server_check_query: Option<String>,
    pub server_reset_query: Option<String>,
    pub server_connect_timeout: Duration,
    pub server_login_retry: Duration,
}

/// Where and as whom a pool's server connections log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTarget {
    /// Host name, IP address, or a Unix socket directory (leading `/`).
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    /// Password from the `[databases]` line (forced user), if any.
    pub password: Option<String>,
    /// Startup parameters the `[databases]` line asks the server for.
    pub startup_params: Vec<(String, String)>,
    pub connect_query: Option<String>,
    /// True when the database line forces one user for every client.
    pub forced_user: bool,
    /// How to reach it over TCP. Part of the target so that a RELOAD
    /// which changes server TLS retires idle servers, as PgBouncer does.
    pub tls: Arc<ServerTls>,
}

impl Settings {
    /// Settings from a loaded configuration: reads and checks the TLS
    /// files, and names the key's line when one is wrong.
    pub fn from_loaded(loaded: &Loaded, userlist: Userlist) -> Result<Settings, ConfigError> {
        let tls = TlsSettings::load(&loaded.config.general)
            .map_err(|e| loaded.key_error(e.key, e.message))?;
        Ok(Settings {
            config: loaded.config.clone(),
            userlist,
            tls,
        })
    }

    /// Settings from a configuration built in code (no file to point at).
    pub fn new(config: Config, userlist: Userlist) -> Result<Settings, String> {
        let tls = TlsSettings::load(&config.general).map_err(|e| e.to_string())?;
        Ok(Settings {
            config,
            userlist,
            tls,
        })
    }

    /// The database entry for a client-requested name: the exact entry,
    /// or the `*` fallback with `dbname` defaulting to the requested name.
    pub fn database(&self, name: &str) -> Option<Database> {
        if let Some(db) = self.config.database(name) {
            return Some(db.clone());
        }
        self.config.fallback_database.as_ref().map(|fallback| {
            let mut db = fallback.clone();
            db.name = name.to_string();
            if db.dbname.is_none() {
                db.dbname = Some(name.to_string());
            }
            db
        })
    }

    fn user(&self, name: &str) -> Option<&UserOverrides> {
        self.config.user(name)
    }

    /// Resolve limits for a pool; user overrides beat database overrides,
    /// which beat the `[pgbouncer]` section.
    pub fn pool_limits(&self, db: &Database, user: &str) -> PoolLimits {
        let g = &self.config.general;
        let u = self.user(user);
        let pick_dur = |user_val: Option<Duration>, global: Duration| user_val.unwrap_or(global);
        PoolLimits {
            pool_mode: u
                .and_then(|u| u.pool_mode)
                .or(db.pool_mode)
                .unwrap_or(g.pool_mode),
            pool_size: u
                .and_then(|u| u.pool_size)
                .or(db.pool_size)
                .unwrap_or(g.default_pool_size),
            min_pool_size: db.min_pool_size.unwrap_or(g.min_pool_size),
            reserve_pool_size: u
                .and_then(|u| u.reserve_pool_size)
                .or(db.reserve_pool_size)
                .unwrap_or(g.reserve_pool_size),
            reserve_pool_timeout: g.reserve_pool_timeout,
            max_db_connections: db.max_db_connections.unwrap_or(g.max_db_connections),
            max_user_connections: u
                .and_then(|u| u.max_user_connections)
                .unwrap_or(g.max_user_connections),
            query_wait_timeout: u
                .and_then(|u| u.query_wait_timeout)
                .or(db.query_wait_timeout)
                .unwrap_or(g.query_wait_timeout),
            query_timeout: pick_dur(u.and_then(|u| u.query_timeout), g.query_timeout),
            idle_transaction_timeout: pick_dur(
                u.and_then(|u| u.idle_transaction_timeout),
                g.idle_transaction_timeout,
            ),
            client_idle_timeout: pick_dur(
                u.and_then(|u| u.client_idle_timeout),
                g.client_idle_timeout,
            ),
            server_lifetime: db.server_lifetime.unwrap_or(g.server_lifetime),
            server_idle_timeout: g.server_idle_timeout,
            server_check_delay: g.server_check_delay,
            server_check_query: non_empty(&g.server_check_query),
            server_reset_query: non_empty(&g.server_reset_query),
            server_connect_timeout: g.server_connect_timeout,
            server_login_retry: g.server_login_retry,
        }
    }

    /// Where a pool of `db` for client `user` connects, and as whom.
    pub fn server_target(&self, db: &Database, client_user: &str) -> ServerTarget {
        let g = &self.config.general;
        let host = db.host.clone().unwrap_or_else(|| {
            if g.unix_socket_dir.is_empty() {
                "/tmp".to_string()
            } else {
                g.unix_socket_dir.clone()
            }
        });
        let mut startup_params = Vec::new();
        for (key, value) in [
            ("client_encoding", &db.client_encoding),
            ("datestyle", &db.datestyle),
            ("timezone", &db.timezone),
            ("application_name", &db.application_name),
        ] {
            if let Some(value) = value {
                startup_params.push((key.to_string(), value.clone()));
            }
        }
        ServerTarget {
            host,
            port: db.port,
            dbname: db.dbname.clone().unwrap_or_else(|| db.name.clone()),
            user: db.user.clone().unwrap_or_else(|| client_user.to_string()),
            password: db.password.clone(),
            startup_params,
            connect_query: db.connect_query.clone(),
            forced_user: db.user.is_some(),
            tls: self.tls.server.clone(),
        }
    }

    /// Tracked parameter names: the always-tracked five plus
    /// `track_extra_parameters`, de-duplicated case-insensitively.
    pub fn tracked_parameters(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::params::ALWAYS_TRACKED
            .iter()
            .map(|s| s.to_string())
            .collect();
        for extra in &self.config.general.track_extra_parameters {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(extra)) {
                names.push(extra.clone());
            }
        }
        names
    }
}

/// PgBouncer treats an empty query setting as "off"; `<empty>` for the
/// check query means "send an empty query", which we keep as "".
fn non_empty(s: &str) -> Option<String> {
    match s.trim() {
        "" => None,
        "<empty>" => Some(String::new()),
        other => Some(other.to_string()),
    }
}
