//! Console commands that change things (admin only): PAUSE, RESUME,
//! SUSPEND, KILL, KILL_CLIENT, RECONNECT, WAIT_CLOSE, DISABLE, ENABLE,
//! RELOAD, SHUTDOWN and SET. This file reads the arguments and writes the
//! answers (command tags, notices, PgBouncer's error texts); the control
//! plane (`crate::control`) does the work, the same work SIGUSR1, SIGUSR2,
//! SIGHUP and the shutdown signals ask of it.

use bytes::BytesMut;
use sluice_proto::{backend, PgError};

use super::{admin_error, show, Ctx};
use crate::control::{self, RunState};
use crate::errors::PoolerError;

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
    let shared = ctx.shared.as_ref();
    let tag = match cmd {
        "pause" => {
            control::pause::pause(shared, arg).await?;
            "PAUSE"
        }
        "suspend" => {
            if arg.is_some() {
                return Ok(false);
            }
            control::pause::suspend(shared, ctx.me).await?;
            "SUSPEND"
        }
        "resume" => {
            control::pause::resume(shared, arg)?;
            "RESUME"
        }
        "kill" => {
            control::kill::kill(shared, arg)?;
            "KILL"
        }
        "kill_client" => {
            let id: u64 = arg
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| admin_error("invalid client pointer supplied"))?;
            control::kill::kill_client(shared, id)?;
            "KILL_CLIENT"
        }
        "reconnect" => {
            control::kill::reconnect(shared, arg)?;
            "RECONNECT"
        }
        "wait_close" => {
            control::kill::wait_close(shared, arg).await?;
            "WAIT_CLOSE"
        }
        "disable" | "enable" => {
            let db = arg.ok_or_else(|| admin_error("a database is required"))?;
            let disable = cmd == "disable";
            control::pause::set_disabled(shared, db, disable)?;
            if disable {
                "DISABLE"
            } else {
                "ENABLE"
            }
        }
        "reload" => {
            if arg.is_some() {
                return Ok(false);
            }
            control::reload::reload(shared)?;
            "RELOAD"
        }
        "shutdown" => {
            let mode = match arg.map(str::to_ascii_lowercase).as_deref() {
                None => RunState::Immediate,
                Some("wait_for_servers") => RunState::WaitForServers,
                Some("wait_for_clients") => RunState::WaitForClients,
                Some(_) => return Ok(false),
            };
            control::shutdown::shutdown(shared, mode);
            "SHUTDOWN"
        }
        _ => return Ok(false),
    };
    backend::command_complete(tag, buf);
    Ok(true)
}

/// `SET key = value`: the fake GUCs are ignored with a notice (drivers
/// send them); settings keys change through the control plane, which asks
/// sluice-config's key table whether the key may change at run time.
pub fn set(ctx: &Ctx<'_>, key: &str, value: &str, buf: &mut BytesMut) -> Result<(), PgError> {
    if show::fake_guc(key).is_some() {
        PoolerError::SetIgnored.to_pg().encode_notice(buf);
        backend::command_complete("SET", buf);
        return Ok(());
    }
    ctx.require_admin()?;
    control::reload::set(ctx.shared, key, value)?;
    backend::command_complete(&format!("SET {key}={value}"), buf);
    Ok(())
}
