//! The admin console: the virtual database `pgbouncer` (or `sluice`),
//! speaking PgBouncer's console dialect over the simple query protocol.
//!
//! Login goes through the normal userlist authentication, plus the
//! same-uid `pgbouncer` user on the Unix socket without a password.
//! `admin_users` may run everything; `stats_users` (and everyone under
//! `auth_type = any`) every SHOW but `SHOW FDS`; anyone else is refused.
//! Modules: `parse` (grammar), `show` (SHOW commands), `control` (PAUSE,
//! KILL, RELOAD, SET, …: parsed and answered here, done by
//! `crate::control`), `data` (numbers shared with the metrics endpoint),
//! `rows` (result encoding), `periodic` (stats averages).

pub mod control;
pub mod data;
pub mod parse;
pub mod periodic;
pub mod rows;
pub mod show;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use sluice_config::AuthType;
use sluice_proto::frame::{parse_header, Message, HEADER_LEN};
use sluice_proto::startup::{CancelKey, StartupMessage};
use sluice_proto::tags::{frontend, status};
use sluice_proto::{backend, PgError, ProtoError};
use tokio::io::AsyncReadExt;

use crate::client::auth::{authenticate, AuthResult};
use crate::client::io::{report, send, ClientError};
use crate::client::startup::check_startup;
use crate::control::registry::{ClientHandle, ClientInfo};
use crate::control::{until_state, RunState};
use crate::errors::PoolerError;
use crate::params::VarCache;
use crate::shared::Shared;
use crate::stream::Stream;

use self::data::{Counters, ADMIN_DB, ADMIN_USER};

/// PgBouncer's version, which monitoring tools sniff from SHOW VERSION.
pub const PGBOUNCER_VERSION: &str = "1.25.2";

/// Largest console query accepted (PgBouncer's is bounded by pkt_buf).
const MAX_ADMIN_MESSAGE: usize = 64 * 1024;

/// `db`'s averages of the last complete stats period (SHOW STATS).
pub fn averages(shared: &Shared, db: &str) -> Counters {
    shared.averages.of(db)
}

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Stats,
    Admin,
}

/// Our own uid, compared with a Unix-socket peer's (`/proc/self` belongs
/// to the process's effective uid; no `unsafe` needed).
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Whether a StartupMessage asks for the console (database defaults to
/// the user name, as everywhere else).
pub fn is_admin_login(msg: &StartupMessage) -> bool {
    let db = match msg.get("database") {
        Some(d) if !d.is_empty() => Some(d),
        _ => msg.get("user"),
    };
    db.is_some_and(|d| crate::settings::ADMIN_DATABASES.contains(&d))
}

/// Serve one console connection from the StartupMessage on.
pub async fn serve(
    mut stream: Stream,
    shared: Arc<Shared>,
    msg: StartupMessage,
    addr: String,
    port: u16,
    started: Instant,
) {
    let login_timeout = shared.settings().config.general.client_login_timeout;
    let login = tokio::time::timeout(
        login_timeout,
        login(&mut stream, &shared, &msg, &addr, port),
    );
    let (access, handle) = match login.await {
        Err(_) => {
            let e = ClientError::Fatal(PoolerError::ClientLoginTimeout.to_pg());
            return close(&mut stream, &e, "(nouser)", &addr, port, started).await;
        }
        Ok(Err((user, e))) => return close(&mut stream, &e, &user, &addr, port, started).await,
        Ok(Ok(x)) => x,
    };
    let user = handle.entry.info.user.clone();
    let result = session(&mut stream, &shared, access, &handle).await;
    crate::control::pause::session_ended(&shared, handle.entry.id);
    drop(handle);
    match result {
        Ok(()) => tracing::info!(
            "C: {ADMIN_DB}/{user}@{addr}:{port} closing because: client close request (age={}s)",
            started.elapsed().as_secs()
        ),
        Err(e) => close(&mut stream, &e, &user, &addr, port, started).await,
    }
}

async fn close(
    stream: &mut Stream,
    e: &ClientError,
    user: &str,
    addr: &str,
    port: u16,
    started: Instant,
) {
    report(stream, e).await;
    tracing::info!(
        "C: {ADMIN_DB}/{user}@{addr}:{port} closing because: {} (age={}s)",
        e.reason(),
        started.elapsed().as_secs()
    );
}

/// Authenticate, decide access, send the fixed console welcome.
async fn login(
    stream: &mut Stream,
    shared: &Arc<Shared>,
    msg: &StartupMessage,
    addr: &str,
    port: u16,
) -> Result<(Access, ClientHandle), (String, ClientError)> {
    let settings = shared.settings();
    let general = &settings.config.general;
    let no_user = |e| ("(nouser)".to_string(), e);
    let request = check_startup(
        msg,
        VarCache::new(shared.tracked()),
        &general.ignore_startup_parameters,
    )
    .map_err(no_user)?;
    let user = request.user.clone();
    let fail = |e| (user.clone(), e);
    let mut buf = BytesMut::new();
    if request.write_negotiation(&mut buf) {
        send(stream, &mut buf).await.map_err(fail)?;
    }
    if general.log_connections {
        tracing::info!(
            "C: {}/{user}@{addr}:{port} login attempt: db={} user={user} tls={}",
            request.database,
            request.database,
            crate::tls::log_text(stream)
        );
    }
    let same_uid =
        user == ADMIN_USER && stream.peer_uid().is_some() && stream.peer_uid() == own_uid();
    let access = if same_uid {
        if general.log_connections {
            tracing::info!("pgbouncer access from unix socket");
        }
        Access::Admin
    } else {
        match authenticate(stream, &user, &settings, &shared.mock_seed)
            .await
            .map_err(fail)?
        {
            AuthResult::Accepted { .. } => {}
            AuthResult::Rejected(text) => return Err(fail(PoolerError::AuthRejected(text).into())),
        }
        let listed = |list: &[String]| list.contains(&user);
        if listed(&general.admin_users) {
            Access::Admin
        } else if listed(&general.stats_users) || general.auth_type == AuthType::Any {
            Access::Stats
        } else {
            return Err(fail(ClientError::Fatal(PoolerError::NotAllowed.to_pg())));
        }
    };
    backend::authentication_ok(&mut buf);
    let server_version = format!("{PGBOUNCER_VERSION}/bouncer");
    for (name, value) in [
        ("server_version", server_version.as_str()),
        ("client_encoding", "UTF8"),
        ("server_encoding", "UTF8"),
        ("DateStyle", "ISO"),
        ("TimeZone", "GMT"),
        ("standard_conforming_strings", "on"),
        ("is_superuser", "on"),
    ] {
        backend::parameter_status(name, value, &mut buf);
    }
    for (name, value) in request.vars.iter() {
        backend::parameter_status(name, value, &mut buf);
    }
    // Cancel requests for the console are ignored, so the key is only
    // for clients that insist on having one.
    let key = CancelKey {
        pid: rand::random::<i32>() & 0x7fff_ffff,
        secret: rand::random(),
    };
    backend::backend_key_data(key, &mut buf);
    backend::ready_for_query(status::IDLE, &mut buf);
    send(stream, &mut buf).await.map_err(fail)?;
    let (peer_addr, peer_port) = stream.peer();
    let (local_addr, local_port) = stream.local();
    let info = ClientInfo {
        user: user.clone(),
        database: ADMIN_DB.to_string(),
        pool_user: ADMIN_USER.to_string(),
        addr: peer_addr,
        port: peer_port,
        local_addr,
        local_port,
        application_name: request
            .vars
            .get("application_name")
            .unwrap_or_default()
            .to_string(),
        remote_pid: 0,
        tls: crate::tls::describe(stream),
    };
    let handle = shared.control.registry.register(shared.next_id(), info);
    Ok((access, handle))
}

/// Read one message of any type, refusing oversized ones before reading.
async fn read_any(stream: &mut Stream) -> Result<Message, ClientError> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let parsed = parse_header(&header, MAX_ADMIN_MESSAGE)
        .map_err(ClientError::protocol)?
        .ok_or(ClientError::protocol(ProtoError::Malformed("short header")))?;
    let mut body = vec![0u8; parsed.body_len];
    stream.read_exact(&mut body).await?;
    Ok(Message {
        tag: parsed.tag,
        body: Bytes::from(body),
    })
}

/// The command loop: one Query at a time, each answered in full.
async fn session(
    stream: &mut Stream,
    shared: &Arc<Shared>,
    access: Access,
    handle: &ClientHandle,
) -> Result<(), ClientError> {
    let mut run_state = shared.run_state.subscribe();
    let mut buf = BytesMut::new();
    loop {
        let msg = tokio::select! {
            msg = read_any(stream) => msg?,
            kill = handle.entry.killed() => return Err(ClientError::Fatal(kill.to_pg())),
            _ = until_state(&mut run_state, |s| *s == RunState::Immediate) => {
                return Err(ClientError::Fatal(PoolerError::ServerShuttingDown.to_pg()));
            }
        };
        match msg.tag {
            frontend::QUERY => {
                let query = sluice_proto::fields::parse_query(&msg.body)
                    .map_err(|_| ClientError::Fatal(PoolerError::IncompleteQuery.to_pg()))?;
                let ctx = Ctx {
                    shared,
                    access,
                    me: handle.entry.id,
                };
                if let Err(e) = execute(&ctx, query, &mut buf).await {
                    tracing::warn!("admin: {}", e.message);
                    buf.clear();
                    e.encode(&mut buf);
                }
                backend::ready_for_query(status::IDLE, &mut buf);
                send(stream, &mut buf).await?;
            }
            frontend::TERMINATE => return Ok(()),
            tag => {
                let extended = [frontend::PARSE, frontend::BIND, frontend::EXECUTE];
                let text = if extended.contains(&tag) {
                    "extended query protocol not supported by admin console".to_string()
                } else {
                    format!("unsupported packet type for admin console: {tag}")
                };
                admin_error(text).encode(&mut buf);
                backend::ready_for_query(status::IDLE, &mut buf);
                send(stream, &mut buf).await?;
                return Err(ClientError::Fatal(PoolerError::BadPacket.to_pg()));
            }
        }
    }
}

/// What a command handler sees.
pub struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub access: Access,
    /// This console client's id (so KILL_CLIENT can tell itself apart).
    pub me: u64,
}

impl Ctx<'_> {
    pub fn require_admin(&self) -> Result<(), PgError> {
        match self.access {
            Access::Admin => Ok(()),
            Access::Stats => Err(admin_error("admin access needed")),
        }
    }
}

/// PgBouncer's console error: ERROR, 08P01, the connection stays open.
pub fn admin_error(message: impl Into<String>) -> PgError {
    PoolerError::Console(message.into()).to_pg()
}

fn invalid_command(query: &str) -> PgError {
    let shown = if query.is_empty() {
        "<no query>"
    } else {
        query
    };
    admin_error(format!("invalid command '{shown}', use SHOW HELP;"))
}

/// Run one console query, appending its answer (without ReadyForQuery).
async fn execute(ctx: &Ctx<'_>, query: &str, buf: &mut BytesMut) -> Result<(), PgError> {
    use parse::Command;
    let Some(command) = parse::parse(query) else {
        return Err(invalid_command(query));
    };
    match command {
        Command::Word { cmd, arg } if cmd == "show" || cmd == "select" => {
            let Some(what) = arg else {
                return Err(invalid_command(query));
            };
            match show::run(ctx, &what.to_ascii_lowercase(), buf)? {
                true => Ok(()),
                false => Err(invalid_command(query)),
            }
        }
        Command::Set { key, value } => control::set(ctx, &key, &value, buf),
        Command::Word { cmd, arg } => match control::run(ctx, &cmd, arg.as_deref(), buf).await? {
            true => Ok(()),
            false => Err(invalid_command(query)),
        },
    }
}
