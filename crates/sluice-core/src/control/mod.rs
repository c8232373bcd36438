//! The control plane: what an operator can change while Sluice runs.
//!
//! It owns the run state ([`RunState`]), the pause / suspend / disable
//! state ([`pause`]), the client registry with its kill switches
//! ([`registry`], [`kill`]), reload ([`reload`]: new settings, or the files
//! again) and shutdown ([`shutdown`]). The admin console, the metrics
//! endpoint's `/readyz` and the binary's signal handlers all call it, so a
//! console command and its signal cannot behave differently. Refusals are
//! [`PoolerError`]s with PgBouncer's console texts; the console only parses
//! commands and encodes answers. Nothing here imports the console.
//!
//! Locks, in order: `changes` (a reload or SET, start to end) → the
//! settings RwLock (write, only to swap the `Arc`) → the pool map (a
//! snapshot is copied out) → each pool's own state. `paused_dbs`,
//! `disabled`, `suspended_by` and the registry's map are leaves, taken
//! alone; `Shared::pool_for` reads `paused_dbs` while it holds the pool
//! map. No lock is held across an await: PAUSE and WAIT_CLOSE poll, and
//! take every lock afresh each round.

pub mod kill;
pub mod pause;
pub mod registry;
pub mod reload;
pub mod run_state;
pub mod shutdown;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use run_state::{until_state, RunState, RunStateCell};

use crate::errors::PoolerError;
use crate::pool::Pool;
use crate::settings::ADMIN_DATABASES;
use crate::shared::Shared;

use self::pause::PauseState;
use self::registry::Registry;

/// How often PAUSE and WAIT_CLOSE look whether servers came back.
const POLL: Duration = Duration::from_millis(20);

/// Control state of one instance, kept in [`Shared::control`]. (The run
/// state is [`Shared::run_state`], beside it, because every session
/// subscribes to it.)
#[derive(Debug, Default)]
pub struct Control {
    /// Who is connected (logged in or logging in, console sessions too).
    pub registry: Arc<Registry>,
    pause: PauseState,
    /// Serializes settings changes (SET reads, edits and writes back).
    changes: Mutex<()>,
}

impl Control {
    /// Held while settings change; see [`reload`].
    fn changing(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether new queries for `db` are held (PAUSE, KILL).
    pub fn is_paused(&self, db: &str) -> bool {
        self.pause.is_paused(db)
    }

    /// Whether the whole pooler is paused or suspended.
    pub fn paused_all(&self) -> bool {
        self.pause.paused_all()
    }

    /// Whether the pause in force came from SUSPEND (SHOW STATE).
    pub fn suspended(&self) -> bool {
        self.pause.suspended()
    }

    /// Whether new clients of `db` are refused (DISABLE).
    pub fn is_disabled(&self, db: &str) -> bool {
        self.pause.is_disabled(db)
    }
}

/// Ready (`/readyz`) = accepting and serving new clients: running, not
/// paused as a whole.
pub fn is_ready(shared: &Shared) -> bool {
    shared.run_state() == RunState::Running && !shared.control.paused_all()
}

fn refuse(text: impl Into<String>) -> PoolerError {
    PoolerError::Console(text.into())
}

/// `no such database` / `cannot <verb> admin db` checks for a db argument.
pub fn check_db(shared: &Shared, db: &str, verb: &str) -> Result<(), PoolerError> {
    if ADMIN_DATABASES.contains(&db) {
        return Err(refuse(format!("cannot {verb} admin db: {db}")));
    }
    let known = shared.settings().database(db).is_some()
        || shared.pools().iter().any(|p| p.key.database == db);
    if !known {
        // ERROR, not NoSuchDatabase's FATAL: the console session stays.
        return Err(refuse(format!("no such database: {db}")));
    }
    Ok(())
}

/// The pools a command with an optional database argument acts on.
fn pools_of(shared: &Shared, db: Option<&str>, verb: &str) -> Result<Vec<Arc<Pool>>, PoolerError> {
    if let Some(db) = db {
        check_db(shared, db, verb)?;
    }
    Ok(shared
        .pools()
        .into_iter()
        .filter(|p| db.is_none_or(|d| p.key.database == d))
        .collect())
}

#[cfg(test)]
mod tests;
