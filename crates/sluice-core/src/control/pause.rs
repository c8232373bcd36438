//! PAUSE, RESUME, SUSPEND, DISABLE and ENABLE (SIGUSR1 / SIGUSR2 are PAUSE
//! and RESUME): which databases hold new queries or refuse new clients.
//!
//! The flags here are the truth the pools follow: a pool is paused while
//! its database (or everything) is, and `Shared::pool_for` pauses a pool
//! born meanwhile, so the set and the pools cannot disagree for long.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{check_db, pools_of, refuse, RunState, POLL};
use crate::errors::PoolerError;
use crate::shared::Shared;

/// Pause and disable state of one instance (in [`super::Control`]).
#[derive(Debug, Default)]
pub struct PauseState {
    paused_all: AtomicBool,
    paused_dbs: Mutex<HashSet<String>>,
    disabled: Mutex<HashSet<String>>,
    /// The console session that ran SUSPEND, while suspended: PgBouncer
    /// resumes by itself when that connection goes away.
    suspended_by: Mutex<Option<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PauseState {
    pub fn is_paused(&self, db: &str) -> bool {
        self.paused_all() || lock(&self.paused_dbs).contains(db)
    }

    pub fn paused_all(&self) -> bool {
        self.paused_all.load(Ordering::Acquire)
    }

    pub fn suspended(&self) -> bool {
        lock(&self.suspended_by).is_some()
    }

    pub fn is_disabled(&self, db: &str) -> bool {
        lock(&self.disabled).contains(db)
    }

    /// Mark `db` (everything for `None`) paused. False if everything
    /// already was (only one whole-pooler pause at a time).
    pub(super) fn hold(&self, db: Option<&str>) -> bool {
        match db {
            None => !self.paused_all.swap(true, Ordering::AcqRel),
            Some(db) => {
                lock(&self.paused_dbs).insert(db.to_string());
                true
            }
        }
    }
}

fn already_paused() -> PoolerError {
    refuse("already suspended/paused")
}

/// PAUSE [db]: hold new checkouts, wait until every server of the
/// database(s) is back (transactions finish normally), close them.
pub async fn pause(shared: &Shared, db: Option<&str>) -> Result<(), PoolerError> {
    let state = &shared.control.pause;
    // As PgBouncer: no PAUSE of anything while the whole pooler is held.
    if state.paused_all() {
        return Err(already_paused());
    }
    let pools = pools_of(shared, db, "pause")?;
    if !state.hold(db) {
        return Err(already_paused());
    }
    for pool in &pools {
        pool.pause();
    }
    tracing::info!("PAUSE {}", db.unwrap_or("(all)"));
    loop {
        // Pools created meanwhile were paused by `pool_for`; include them.
        let mut busy = false;
        for pool in pools_of(shared, db, "pause")? {
            pool.close_idle();
            let counts = pool.counts();
            busy |= counts.linked + counts.connecting > 0;
        }
        let still_paused = match db {
            None => state.paused_all(),
            Some(db) => state.is_paused(db),
        };
        if !busy || !still_paused {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SUSPEND, run by console session `by`. Sluice has no socket buffers to
/// flush for an online restart, so it is a PAUSE of everything that SHOW
/// STATE reports as suspended and that ends when `by` disconnects.
pub async fn suspend(shared: &Shared, by: u64) -> Result<(), PoolerError> {
    let state = &shared.control.pause;
    if state.paused_all() {
        return Err(already_paused());
    }
    if !lock(&state.paused_dbs).is_empty() {
        return Err(refuse("cannot suspend with paused databases"));
    }
    pause(shared, None).await?;
    *lock(&state.suspended_by) = Some(by);
    Ok(())
}

/// RESUME [db]: release held clients.
pub fn resume(shared: &Shared, db: Option<&str>) -> Result<(), PoolerError> {
    if shared.run_state() != RunState::Running {
        return Err(refuse("pooler is shutting down"));
    }
    let state = &shared.control.pause;
    match db {
        None => {
            let was_all = state.paused_all.swap(false, Ordering::AcqRel);
            let had_dbs = {
                let mut dbs = lock(&state.paused_dbs);
                let had = !dbs.is_empty();
                dbs.clear();
                had
            };
            lock(&state.suspended_by).take();
            if !was_all && !had_dbs {
                return Err(refuse("pooler is not paused/suspended"));
            }
        }
        Some(name) => {
            check_db(shared, name, "resume")?;
            if !lock(&state.paused_dbs).remove(name) {
                return Err(refuse(format!("database {name} is not paused")));
            }
        }
    }
    for pool in shared.pools() {
        if !state.is_paused(&pool.key.database) {
            pool.resume();
        }
    }
    tracing::info!("RESUME {}", db.unwrap_or("(all)"));
    Ok(())
}

/// A console session ended: if it had suspended the pooler, resume
/// (PgBouncer does the same, so a crashed restart script cannot leave
/// the pooler frozen).
pub fn session_ended(shared: &Shared, id: u64) {
    let suspended_here = {
        let mut by = lock(&shared.control.pause.suspended_by);
        if *by == Some(id) {
            *by = None;
            true
        } else {
            false
        }
    };
    if suspended_here && shared.run_state() == RunState::Running {
        tracing::info!("admin connection that ran SUSPEND closed: resuming");
        if let Err(e) = resume(shared, None) {
            tracing::warn!("automatic RESUME: {e}");
        }
    }
}

/// DISABLE db (`disable`) or ENABLE db: refuse, or again allow, new
/// clients of `db`; connected ones carry on.
pub fn set_disabled(shared: &Shared, db: &str, disable: bool) -> Result<(), PoolerError> {
    check_db(shared, db, if disable { "disable" } else { "enable" })?;
    let mut disabled = lock(&shared.control.pause.disabled);
    if disable {
        disabled.insert(db.to_string());
    } else {
        disabled.remove(db);
    }
    Ok(())
}
