//! KILL, KILL_CLIENT, RECONNECT and WAIT_CLOSE: ending connections on an
//! operator's word. Clients end through their registry kill switch, which
//! works wherever the session is (a linked server is closed with it).

use crate::errors::PoolerError;
use crate::settings::ADMIN_DATABASES;
use crate::shared::Shared;

use super::{pools_of, refuse, POLL};

/// KILL [db]: drop the database's clients and servers now, and pause it
/// (all databases without an argument, as since 1.25).
pub fn kill(shared: &Shared, db: Option<&str>) -> Result<(), PoolerError> {
    let control = &shared.control;
    if control.paused_all() {
        return Err(refuse("already suspended/paused"));
    }
    let pools = pools_of(shared, db, "kill")?;
    // `hold` refuses only a second pause of everything, ruled out above.
    control.pause.hold(db);
    for pool in &pools {
        pool.pause();
    }
    for client in control.registry.clients() {
        let name = client.info.database.as_str();
        if !ADMIN_DATABASES.contains(&name) && db.is_none_or(|d| d == name) {
            client.kill(PoolerError::DatabaseRemoved);
        }
    }
    for pool in &pools {
        pool.fail_waiters(PoolerError::DatabaseRemoved.to_pg());
        pool.close_idle();
    }
    tracing::info!("KILL {}", db.unwrap_or("(all)"));
    Ok(())
}

/// KILL_CLIENT id: end one client (console sessions included), with its
/// server.
pub fn kill_client(shared: &Shared, id: u64) -> Result<(), PoolerError> {
    let client = shared
        .control
        .registry
        .get(id)
        .ok_or_else(|| refuse("client not found"))?;
    client.kill(PoolerError::AdminForcedDisconnect);
    Ok(())
}

/// RECONNECT [db]: every server of the database(s) is closed when next
/// released (idle ones now); new ones are opened as needed.
pub fn reconnect(shared: &Shared, db: Option<&str>) -> Result<(), PoolerError> {
    for pool in pools_of(shared, db, "reconnect")? {
        pool.retire_all();
    }
    Ok(())
}

/// WAIT_CLOSE [db]: until no server of the database(s) awaits closing
/// (RECONNECT or a changed target marked it; idle ones close at once,
/// linked ones when their client releases them).
pub async fn wait_close(shared: &Shared, db: Option<&str>) -> Result<(), PoolerError> {
    pools_of(shared, db, "wait in")?;
    loop {
        let pools = pools_of(shared, db, "wait in")?;
        let outstanding = shared.control.registry.clients().iter().any(|c| {
            let Some(server) = c.link() else { return false };
            pools.iter().any(|p| {
                p.key.database == c.info.database
                    && p.key.user == c.info.pool_user
                    && server.generation < p.config().generation
            })
        });
        if !outstanding {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}
