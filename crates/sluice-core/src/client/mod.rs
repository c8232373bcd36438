//! One client connection from accept to close: startup packet, limits,
//! authentication, the welcome (server parameters + a Sluice-made cancel
//! key), then the session loop.

pub mod auth;
pub mod io;
pub mod session;
pub mod startup;
pub mod tracker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use sluice_proto::backend;
use sluice_proto::tags::status;

use self::auth::AuthResult;
use self::io::{report, send, ClientError};
use self::session::Session;
use self::startup::{check_startup, read_opening, Opening};
use crate::control::registry::{ClientHandle, ClientInfo};
use crate::errors::PoolerError;
use crate::params::VarCache;
use crate::shared::{RunState, Shared};
use crate::stream::Stream;
use crate::tls::ClientMode;

/// Counts a client against max_client_conn for as long as it lives.
struct ClientCount<'a>(&'a Shared);

impl Drop for ClientCount<'_> {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serve one accepted connection until it closes. Never panics on input;
/// every failure ends as an ErrorResponse (when the socket still works)
/// and a log line.
pub async fn serve(mut stream: Stream, shared: Arc<Shared>) {
    let started = Instant::now();
    let (addr, port) = stream.peer();
    let settings = shared.settings();
    let general = &settings.config.general;
    let tls = settings.tls.client.as_deref();
    let opening = tokio::time::timeout(
        general.client_login_timeout,
        Box::pin(read_opening(&mut stream, tls, &shared.tls_handshakes)),
    )
    .await;
    let msg = match opening {
        Err(_) => {
            let e = ClientError::from(PoolerError::ClientLoginTimeout);
            close(&mut stream, &e, &addr, port, started).await;
            return;
        }
        Ok(Err(e)) => {
            close(&mut stream, &e, &addr, port, started).await;
            return;
        }
        Ok(Ok(Opening::Cancel(key))) => {
            shared.cancel_requests.fetch_add(1, Ordering::Relaxed);
            Box::pin(shared.cancels.cancel(key, general.cancel_wait_timeout)).await;
            return;
        }
        Ok(Ok(Opening::Login(msg))) => msg,
    };
    // require and verify-*: no plaintext logins over TCP, console
    // included (a Unix socket never offers TLS and is exempt, as in
    // PgBouncer).
    let tls_required = tls.is_some_and(|t| t.mode >= ClientMode::Require);
    if tls_required && stream.tls().is_none() && !stream.is_unix() {
        close(
            &mut stream,
            &PoolerError::TlsRequired.into(),
            &addr,
            port,
            started,
        )
        .await;
        return;
    }
    // The console is exempt from max_client_conn and stays reachable
    // during shutdown, as in PgBouncer.
    if crate::admin::is_admin_login(&msg) {
        Box::pin(crate::admin::serve(
            stream, shared, msg, addr, port, started,
        ))
        .await;
        return;
    }
    let count = shared.clients.fetch_add(1, Ordering::AcqRel) + 1;
    let _count = ClientCount(&shared);
    let result: Result<(), ClientError> = if count > general.max_client_conn {
        Err(PoolerError::TooManyClients.into())
    } else if shared.run_state() != RunState::Running {
        Err(PoolerError::PoolerShuttingDown.into())
    } else {
        let login = tokio::time::timeout(
            general.client_login_timeout,
            // Boxed, like every phase but the session itself, so that an
            // idle client's task is sized for the session alone.
            Box::pin(login(&mut stream, &shared, &msg, &addr, port)),
        )
        .await;
        match login {
            Err(_) => Err(PoolerError::ClientLoginTimeout.into()),
            Ok(Err(e)) => Err(e),
            Ok(Ok(parts)) => {
                let handle = register(&shared, &stream, &parts);
                let config = session::SessionConfig::load(&shared, &parts.pool);
                let session = Session {
                    stream,
                    shared: shared.clone(),
                    pool: parts.pool,
                    vars: parts.vars,
                    cancel: parts.cancel,
                    max_packet: general.max_packet_size,
                    client: handle.entry.clone(),
                    statements: Default::default(),
                    link_statements: Default::default(),
                    config,
                    first: BytesMut::new(),
                };
                run_session(session, &addr, port, started, &handle).await;
                return;
            }
        }
    };
    if let Err(e) = result {
        close(&mut stream, &e, &addr, port, started).await;
    }
}

/// Enter a logged-in client in the registry (SHOW CLIENTS, KILL).
fn register(shared: &Arc<Shared>, stream: &Stream, parts: &LoggedIn) -> ClientHandle {
    let (addr, port) = stream.peer();
    let (local_addr, local_port) = stream.local();
    let info = ClientInfo {
        user: parts.user.clone(),
        database: parts.pool.key.database.clone(),
        pool_user: parts.pool.key.user.clone(),
        addr,
        port,
        local_addr,
        local_port,
        application_name: parts.vars.get("application_name").unwrap_or("").to_string(),
        remote_pid: 0,
        tls: crate::tls::describe(stream),
    };
    shared.control.registry.register(shared.next_id(), info)
}

async fn run_session(
    mut session: Session,
    addr: &str,
    port: u16,
    started: Instant,
    handle: &ClientHandle,
) {
    // KILL / KILL_CLIENT end the session wherever it is; dropping the
    // session future closes a linked server, which is what they ask for.
    let result = {
        let run = std::pin::pin!(session.run());
        match handle.entry.guard(run).await {
            Ok(result) => result,
            Err(kill) => Err(ClientError::Fatal(kill.to_pg())),
        }
    };
    let key = &session.pool.key;
    let reason = match &result {
        Ok(()) => "client close request".to_string(),
        Err(e) => {
            report(&mut session.stream, e).await;
            e.reason()
        }
    };
    tracing::info!(
        "C: {}/{}@{addr}:{port} closing because: {reason} (age={}s)",
        key.database,
        key.user,
        started.elapsed().as_secs()
    );
}

async fn close(stream: &mut Stream, e: &ClientError, addr: &str, port: u16, started: Instant) {
    report(stream, e).await;
    tracing::info!(
        "C: (nodb)/(nouser)@{addr}:{port} closing because: {} (age={}s)",
        e.reason(),
        started.elapsed().as_secs()
    );
}

struct LoggedIn {
    user: String,
    pool: Arc<crate::pool::Pool>,
    vars: VarCache,
    cancel: crate::cancel::Registration,
}

async fn login(
    stream: &mut Stream,
    shared: &Arc<Shared>,
    msg: &sluice_proto::startup::StartupMessage,
    addr: &str,
    port: u16,
) -> Result<LoggedIn, ClientError> {
    let settings = shared.settings();
    let general = &settings.config.general;
    let request = check_startup(
        msg,
        VarCache::new(shared.tracked()),
        &general.ignore_startup_parameters,
    )?;
    let mut buf = BytesMut::new();
    if request.write_negotiation(&mut buf) {
        send(stream, &mut buf).await?;
    }
    if general.log_connections {
        tracing::info!(
            "C: {}/{}@{addr}:{port} login attempt: db={} user={} tls={}",
            request.database,
            request.user,
            request.database,
            request.user,
            crate::tls::log_text(stream)
        );
    }
    let auth = auth::authenticate(stream, &request.user, &settings, &shared.mock_seed).await?;
    let pass_through = match auth {
        AuthResult::Accepted { pass_through } => pass_through,
        AuthResult::Rejected(text) => {
            if general.log_connections {
                tracing::info!(
                    "login failed: db={} user={}",
                    request.database,
                    request.user
                );
            }
            return Err(PoolerError::AuthRejected(text).into());
        }
    };
    let Some(db) = settings.database(&request.database) else {
        return Err(PoolerError::NoSuchDatabase(request.database.clone()).into());
    };
    if shared.control.is_disabled(&db.name) {
        return Err(PoolerError::DatabaseDisabled(db.name.clone()).into());
    }
    let pool = shared.pool_for(&db, &request.user);
    if let Some(credential) = pass_through {
        if db.user.is_none() {
            pool.offer_credential(credential);
        }
    }
    backend::authentication_ok(&mut buf);
    send(stream, &mut buf).await?;

    let welcome = match pool.welcome() {
        Some(w) => w,
        None => {
            // The first client of a pool waits for a server login to learn
            // the server's parameters, as with PgBouncer.
            let server = pool
                .checkout()
                .await
                .map_err(|e| ClientError::Fatal(e.to_client_error()))?;
            server.release_unused();
            pool.welcome()
                .ok_or(ClientError::from(PoolerError::ServerSentNoParameters))?
        }
    };
    let mut vars = request.vars;
    vars.fill_unset(welcome.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (name, value) in welcome.iter() {
        let value = vars.get(name).unwrap_or(value);
        backend::parameter_status(name, value, &mut buf);
    }
    let cancel = shared.cancels.register();
    backend::backend_key_data(cancel.key, &mut buf);
    backend::ready_for_query(status::IDLE, &mut buf);
    send(stream, &mut buf).await?;
    pool.stats.add(&pool.stats.client_login_count, 1);
    Ok(LoggedIn {
        user: request.user,
        pool,
        vars,
        cancel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use tokio::net::{TcpListener, TcpStream};

    /// Tokio sizes every client's task for the largest state of this
    /// future, idle or not: login, checkout, connect and the timed relay
    /// are boxed so that what is left is the session itself. Keep it so
    /// (`cargo run --release -p sluice-benches --bin tasksize` prints the
    /// release figure, which is smaller than this unoptimised one).
    #[tokio::test]
    async fn client_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _peer = TcpStream::connect(addr).await.expect("connect");
        let (socket, _) = listener.accept().await.expect("accept");
        let shared =
            Shared::new(Settings::new(Default::default(), Default::default()).expect("settings"));
        let future = serve(Stream::Tcp(socket), shared);
        let size = std::mem::size_of_val(&future);
        eprintln!("client::serve future: {size} bytes");
        assert!(size <= 2560, "client::serve future grew to {size} bytes");
    }
}
