//! Console commands that change things (admin only): PAUSE, RESUME,
//! SUSPEND, KILL, KILL_CLIENT, RECONNECT, WAIT_CLOSE, DISABLE, ENABLE,
//! RELOAD, SHUTDOWN and SET. PAUSE and RESUME are also what SIGUSR1 and
//! SIGUSR2 do, so they are public.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use sluice_config::{Config, Userlist};
use sluice_proto::{backend, PgError, SqlState};

use super::{admin_error, lock, show, Ctx};
use crate::pool::Pool;
use crate::settings::{Settings, ADMIN_DATABASES};
use crate::shared::{RunState, Shared};

/// How often PAUSE and WAIT_CLOSE look whether servers came back.
const POLL: Duration = Duration::from_millis(20);

/// Run a control command; `Ok(false)` if `cmd` is not one.
pub async fn run(
    ctx: &Ctx<'_>,
    cmd: &str,
    arg: Option<&str>,
    buf: &mut BytesMut,
) -> Result<bool, PgError> {
    const KNOWN: [&str; 11] = [
        "pause",
        "resume",
        "suspend",
        "kill",
        "kill_client",
        "reconnect",
        "wait_close",
        "disable",
        "enable",
        "reload",
        "shutdown",
    ];
    if !KNOWN.contains(&cmd) {
        return Ok(false);
    }
    ctx.require_admin()?;
    let shared = ctx.shared;
    let tag = match cmd {
        "pause" => {
            pause(shared, arg).await?;
            "PAUSE"
        }
        // Sluice has no socket buffers to flush for an online restart, so
        // SUSPEND is a PAUSE of everything that SHOW STATE reports as
        // suspended and that ends when the suspending console disconnects.
        "suspend" => {
            if arg.is_some() {
                return Ok(false);
            }
            if shared.admin.paused_all() {
                return Err(admin_error("already suspended/paused"));
            }
            if !lock(&shared.admin.paused_dbs).is_empty() {
                return Err(admin_error("cannot suspend with paused databases"));
            }
            pause(shared, None).await?;
            *lock(&shared.admin.suspended_by) = Some(ctx.me);
            "SUSPEND"
        }
        "resume" => {
            resume(shared, arg)?;
            "RESUME"
        }
        "kill" => {
            kill(shared, arg)?;
            "KILL"
        }
        "kill_client" => {
            kill_client(shared, arg)?;
            "KILL_CLIENT"
        }
        "reconnect" => {
            for pool in pools_of(shared, arg, "reconnect")? {
                pool.retire_all();
            }
            "RECONNECT"
        }
        "wait_close" => {
            wait_close(shared, arg).await?;
            "WAIT_CLOSE"
        }
        "disable" | "enable" => {
            let db = arg.ok_or_else(|| admin_error("a database is required"))?;
            check_db(shared, db, cmd)?;
            let mut disabled = lock(&shared.admin.disabled);
            if cmd == "disable" {
                disabled.insert(db.to_string());
                "DISABLE"
            } else {
                disabled.remove(db);
                "ENABLE"
            }
        }
        "reload" => {
            if arg.is_some() {
                return Ok(false);
            }
            reload(shared)?;
            "RELOAD"
        }
        "shutdown" => {
            let mode = match arg.map(str::to_ascii_lowercase).as_deref() {
                None => RunState::Immediate,
                Some("wait_for_servers") => RunState::WaitForServers,
                Some("wait_for_clients") => RunState::WaitForClients,
                Some(_) => return Ok(false),
            };
            shutdown(shared, mode);
            "SHUTDOWN"
        }
        _ => return Ok(false),
    };
    backend::command_complete(tag, buf);
    Ok(true)
}

/// `no such database` / `cannot <verb> admin db` checks for a db argument.
fn check_db(shared: &Shared, db: &str, verb: &str) -> Result<(), PgError> {
    if ADMIN_DATABASES.contains(&db) {
        return Err(admin_error(format!("cannot {verb} admin db: {db}")));
    }
    let known = shared.settings().database(db).is_some()
        || shared.pools().iter().any(|p| p.key.database == db);
    if !known {
        return Err(admin_error(format!("no such database: {db}")));
    }
    Ok(())
}

/// The pools a command with an optional database argument acts on.
fn pools_of(shared: &Shared, db: Option<&str>, verb: &str) -> Result<Vec<Arc<Pool>>, PgError> {
    if let Some(db) = db {
        check_db(shared, db, verb)?;
    }
    Ok(shared
        .pools()
        .into_iter()
        .filter(|p| db.is_none_or(|d| p.key.database == d))
        .collect())
}

/// PAUSE [db]: hold new checkouts, wait until every server of the
/// database(s) is back (transactions finish normally), close them.
pub async fn pause(shared: &Shared, db: Option<&str>) -> Result<(), PgError> {
    // As PgBouncer: no PAUSE of anything while the whole pooler is held.
    if shared.admin.paused_all() {
        return Err(admin_error("already suspended/paused"));
    }
    let pools = pools_of(shared, db, "pause")?;
    match db {
        None => {
            if shared
                .admin
                .paused_all
                .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                return Err(admin_error("already suspended/paused"));
            }
        }
        Some(db) => {
            lock(&shared.admin.paused_dbs).insert(db.to_string());
        }
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
            None => shared.admin.paused_all(),
            Some(db) => shared.admin.is_paused(db),
        };
        if !busy || !still_paused {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// RESUME [db]: release held clients.
pub fn resume(shared: &Shared, db: Option<&str>) -> Result<(), PgError> {
    if shared.run_state() != RunState::Running {
        return Err(admin_error("pooler is shutting down"));
    }
    match db {
        None => {
            let was_all = shared
                .admin
                .paused_all
                .swap(false, std::sync::atomic::Ordering::AcqRel);
            let had_dbs = {
                let mut dbs = lock(&shared.admin.paused_dbs);
                let had = !dbs.is_empty();
                dbs.clear();
                had
            };
            lock(&shared.admin.suspended_by).take();
            if !was_all && !had_dbs {
                return Err(admin_error("pooler is not paused/suspended"));
            }
        }
        Some(name) => {
            check_db(shared, name, "resume")?;
            if !lock(&shared.admin.paused_dbs).remove(name) {
                return Err(admin_error(format!("database {name} is not paused")));
            }
        }
    }
    for pool in shared.pools() {
        if !shared.admin.is_paused(&pool.key.database) {
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
        let mut by = lock(&shared.admin.suspended_by);
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
            tracing::warn!("automatic RESUME: {}", e.message);
        }
    }
}

/// KILL [db]: drop the database's clients and servers now, and pause it
/// (all databases without an argument, as since 1.25).
fn kill(shared: &Shared, db: Option<&str>) -> Result<(), PgError> {
    if shared.admin.paused_all() {
        return Err(admin_error("already suspended/paused"));
    }
    let pools = pools_of(shared, db, "kill")?;
    match db {
        None => shared
            .admin
            .paused_all
            .store(true, std::sync::atomic::Ordering::Release),
        Some(db) => {
            lock(&shared.admin.paused_dbs).insert(db.to_string());
        }
    }
    const REASON: &str = "database removed";
    for pool in &pools {
        pool.pause();
    }
    for client in shared.admin.registry.clients() {
        let name = client.info.database.as_str();
        if !ADMIN_DATABASES.contains(&name) && db.is_none_or(|d| d == name) {
            client.kill(REASON);
        }
    }
    for pool in &pools {
        pool.fail_waiters(PgError::fatal(SqlState::PROTOCOL_VIOLATION, REASON));
        pool.close_idle();
    }
    tracing::info!("KILL {}", db.unwrap_or("(all)"));
    Ok(())
}

fn kill_client(shared: &Shared, arg: Option<&str>) -> Result<(), PgError> {
    let id: u64 = arg
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| admin_error("invalid client pointer supplied"))?;
    let client = shared
        .admin
        .registry
        .get(id)
        .ok_or_else(|| admin_error("client not found"))?;
    client.kill("admin forced disconnect");
    Ok(())
}

/// WAIT_CLOSE [db]: until no server of the database(s) awaits closing
/// (RECONNECT or a changed target marked it; idle ones close at once,
/// linked ones when their client releases them).
async fn wait_close(shared: &Shared, db: Option<&str>) -> Result<(), PgError> {
    pools_of(shared, db, "wait in")?;
    loop {
        let pools = pools_of(shared, db, "wait in")?;
        let outstanding = shared.admin.registry.clients().iter().any(|c| {
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

/// Read the config file and userlist again, as SIGHUP does.
pub fn load_settings(config: &Config) -> Result<Settings, String> {
    let loaded = sluice_config::load(&config.source).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let userlist = match &loaded.config.general.auth_file {
        Some(file) => Userlist::load(file).map_err(|e| e.to_string())?,
        None => Userlist::default(),
    };
    Ok(Settings {
        config: loaded.config,
        userlist,
    })
}

fn reload(shared: &Shared) -> Result<(), PgError> {
    match load_settings(&shared.settings().config) {
        Ok(settings) => {
            shared.reload(settings);
            tracing::info!("RELOAD: configuration reloaded");
            Ok(())
        }
        Err(e) => {
            tracing::error!("RELOAD failed: {e}");
            Err(PgError::error(
                SqlState::CONFIG_FILE_ERROR,
                "RELOAD failed, see logs for additional details",
            ))
        }
    }
}

/// Begin a shutdown, as the signals do.
pub fn shutdown(shared: &Shared, mode: RunState) {
    tracing::info!("SHUTDOWN requested ({mode:?})");
    shared.run_state.send_replace(mode);
    if mode == RunState::Immediate {
        // Sessions do not watch the run state while linked (that would
        // cost a wake-up registration per transaction); end them through
        // their kill switch. One registering after this sees the state.
        for client in shared.admin.registry.clients() {
            client.shut_down();
        }
    }
    if matches!(mode, RunState::Immediate | RunState::WaitForServers) {
        for pool in shared.pools() {
            pool.fail_waiters(PgError::fatal(
                SqlState::ADMIN_SHUTDOWN,
                "pooler is shutting down",
            ));
        }
    }
    // Held clients must see the shutdown rather than wait for a RESUME.
    for pool in shared.pools() {
        pool.resume();
    }
}

/// `SET key = value`: the fake GUCs are ignored with a notice (drivers
/// send them); settings keys change at run time through a reload.
pub fn set(ctx: &Ctx<'_>, key: &str, value: &str, buf: &mut BytesMut) -> Result<(), PgError> {
    if show::fake_guc(key).is_some() {
        PgError::new(
            backend::Severity::Notice,
            SqlState::SUCCESSFUL_COMPLETION,
            "SET ignored",
        )
        .encode_notice(buf);
        backend::command_complete("SET", buf);
        return Ok(());
    }
    ctx.require_admin()?;
    let shared = ctx.shared;
    let mut settings = (*shared.settings()).clone();
    if let Err(e) = apply_setting(&mut settings.config, key, value) {
        tracing::error!("SET {key} = {value} failed: {e}");
        return Err(admin_error("SET failed"));
    }
    shared.reload(settings);
    tracing::info!("SET {key} = {value}");
    backend::command_complete(&format!("SET {key}={value}"), buf);
    Ok(())
}

/// Parse `key = value` with the real pgbouncer.ini reader (so every
/// syntax and range check applies) and copy that one field over.
fn apply_setting(config: &mut Config, key: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r']) {
        return Err("newline in value".into());
    }
    let text = format!("[pgbouncer]\n{key} = {value}\n");
    let parsed = sluice_config::parse_ini(&text, std::path::Path::new("SET"))
        .map_err(|e| e.to_string())?
        .config
        .general;
    let g = &mut config.general;
    macro_rules! copy {
        ($($field:ident),* $(,)?) => {
            match key {
                $(stringify!($field) => g.$field = parsed.$field,)*
                _ => return Err(format!("{key} cannot be changed at run time")),
            }
        };
    }
    copy!(
        admin_users,
        stats_users,
        application_name_add_host,
        auth_type,
        auth_query,
        auth_user,
        auth_dbname,
        autodb_idle_timeout,
        cancel_wait_timeout,
        client_idle_timeout,
        client_login_timeout,
        default_pool_size,
        idle_transaction_timeout,
        ignore_startup_parameters,
        log_connections,
        log_disconnections,
        log_pooler_errors,
        log_stats,
        login_notify_message,
        max_client_conn,
        max_db_client_connections,
        max_db_connections,
        max_packet_size,
        max_prepared_statements,
        max_user_client_connections,
        max_user_connections,
        min_pool_size,
        pool_mode,
        query_timeout,
        query_wait_notify,
        query_wait_timeout,
        reserve_pool_size,
        reserve_pool_timeout,
        sbuf_loopcnt,
        scram_iterations,
        server_check_delay,
        server_check_query,
        server_connect_timeout,
        server_fast_close,
        server_idle_timeout,
        server_lifetime,
        server_login_retry,
        server_reset_query,
        server_reset_query_always,
        server_round_robin,
        stats_period,
        suspend_timeout,
        tcp_keepalive,
        tcp_keepcnt,
        tcp_keepidle,
        tcp_keepintvl,
        tcp_user_timeout,
        transaction_timeout,
        verbose,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_uses_the_ini_reader() {
        let mut config = Config::default();
        apply_setting(&mut config, "default_pool_size", "7").expect("valid");
        assert_eq!(config.general.default_pool_size, 7);
        apply_setting(&mut config, "query_wait_timeout", "2.5").expect("valid");
        assert_eq!(
            config.general.query_wait_timeout,
            Duration::from_millis(2500)
        );
        assert!(apply_setting(&mut config, "default_pool_size", "lots").is_err());
        assert!(apply_setting(&mut config, "listen_port", "7000").is_err());
        assert!(apply_setting(&mut config, "no_such_key", "1").is_err());
    }
}
