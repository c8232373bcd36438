//! The unit-test tier: a scripted backend reached through the pool's
//! [`Connector`](crate::connector::Connector) seam, and a raw-protocol
//! client over an in-memory pipe, so pools and sessions are tested
//! without PostgreSQL, in virtual time.

mod backend;
mod client;
mod pool_tests;
mod script;
mod session_tests;

use std::sync::Arc;
use std::time::Duration;

pub use backend::{Backend, Login};
pub use client::Client;

use crate::pool::Pool;
use crate::settings::Settings;
use crate::shared::Shared;

/// Settings from pgbouncer.ini text.
pub fn settings(ini: &str) -> Settings {
    let loaded = sluice_config::parse_ini(ini, std::path::Path::new("test.ini")).expect("ini");
    Settings::from_loaded(&loaded, Default::default()).expect("settings")
}

/// Databases `db` and `db2`, any user admitted; `general` adds
/// `[pgbouncer]` lines.
fn ini(general: &str) -> String {
    format!(
        "[databases]\ndb = host=127.0.0.1 port=5432\ndb2 = host=127.0.0.1 port=5432\n\
         [pgbouncer]\nauth_type = any\npool_mode = transaction\n{general}\n"
    )
}

/// One Sluice instance whose servers are scripted backends.
pub struct World {
    pub backend: Backend,
    pub shared: Arc<Shared>,
}

impl World {
    pub fn new(general: &str) -> World {
        let backend = Backend::default();
        let shared = Shared::with_connector(settings(&ini(general)), backend.connector());
        World { backend, shared }
    }

    /// The pool of (`db`, `user`).
    pub fn pool(&self, db: &str, user: &str) -> Arc<Pool> {
        let database = self.shared.settings().database(db).expect("database");
        self.shared.pool_for(&database, user)
    }

    /// Reload with other `[pgbouncer]` lines.
    pub fn reload(&self, general: &str) {
        crate::control::reload::apply(&self.shared, settings(&ini(general)));
    }
}

/// Let every task run until all wait (on I/O or a timer), by sleeping in
/// paused time: the clock only jumps once nothing else can run. Tests
/// that call it run with `start_paused = true`.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Give a server back. Pool tests send no client traffic through the
/// servers they check out, so each is as clean as at checkout.
pub fn give_back(server: crate::pool::PooledServer) {
    server.release_unused();
}
