//! A logged-in client's life: wait for traffic holding no buffers, take a
//! server, bring its parameters in line, relay until a release point (or
//! until the client leaves, in session mode), give the server back.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use sluice_config::PoolMode;
use sluice_proto::startup::CancelKey;
use sluice_proto::tags::frontend;
use tokio::sync::watch;
use tokio_util::io::poll_read_buf;

use super::io::ClientError;
use super::tracker::{LinkState, Tracker};
use crate::cancel::{CancelTarget, Registration};
use crate::connector::ServerRoute;
use crate::errors::PoolerError;
use crate::params::VarCache;
use crate::pool::{Pool, PoolConfig, PooledServer};
use crate::prepared::{ClientStatements, Counts, LinkStatements, ServerStatements, Statements};
use crate::relay::{pump, CleanPoint, Link, LinkPolicy, PumpError, PumpEvent, Traffic, READ_CHUNK};
use crate::server::ServerConn;
use crate::settings::PoolLimits;
use crate::shared::{RunState, Shared};
use crate::stream::Stream;

pub struct Session {
    pub stream: Stream,
    pub shared: Arc<Shared>,
    pub pool: Arc<Pool>,
    pub vars: VarCache,
    pub cancel: Registration,
    pub max_packet: usize,
    /// This client's registry entry (SHOW CLIENTS state, link, timings).
    pub client: Arc<crate::control::registry::ClientEntry>,
    /// The client's named prepared statements (transaction/statement mode).
    pub statements: ClientStatements,
    /// Per-link statement state, reset at each link (kept to reuse its
    /// memory: a link is usually one transaction).
    pub link_statements: LinkStatements,
    /// The pool's configuration and the general settings the session
    /// reads per transaction, refreshed when a reload changes them.
    pub config: SessionConfig,
    /// The first read of a transaction, made before a server is taken.
    /// Allocated only once the client is readable and handed to the
    /// link's c2s half at checkout, so an idle client holds no buffer.
    pub first: BytesMut,
}

/// What a session reads of the configuration on every transaction, kept
/// so that reading it costs one atomic load (the pool's config version)
/// instead of the pool mutex, the settings lock and a `PoolLimits` clone.
#[derive(Clone)]
pub struct SessionConfig {
    version: u64,
    pool: Arc<PoolConfig>,
    max_prepared_statements: usize,
    server_reset_query_always: bool,
}

impl SessionConfig {
    /// The current configuration of `pool`. A reload swaps the settings
    /// before it bumps every pool's config version, so a copy taken after
    /// reading the version is at least as new as both.
    pub fn load(shared: &Shared, pool: &Pool) -> SessionConfig {
        let version = pool.config_version();
        let settings = shared.settings();
        let general = &settings.config.general;
        SessionConfig {
            version,
            pool: pool.config(),
            max_prepared_statements: general.max_prepared_statements,
            server_reset_query_always: general.server_reset_query_always,
        }
    }
}

/// How one link ended.
enum LinkEnd {
    /// At a release point; keep serving the client.
    Released(CleanPoint),
    /// The client left at a clean point; the session is over.
    ClientLeft(CleanPoint),
    /// End the session with this error.
    Failed(ClientError),
}

impl Session {
    /// The pool's configuration, reloaded only if it changed since the
    /// last call.
    fn config(&mut self) -> Arc<PoolConfig> {
        if self.pool.config_version() != self.config.version {
            self.config = SessionConfig::load(&self.shared, &self.pool);
        }
        self.config.pool.clone()
    }

    pub async fn run(&mut self) -> Result<(), ClientError> {
        // One wait for the shutdown per session, not one per transaction.
        // While linked, an immediate shutdown reaches us through the
        // registry's kill switch (see `control::shutdown`).
        let mut shutdown = pin!(until_shutdown(self.shared.run_state.subscribe()));
        loop {
            if !self.wait_for_client(shutdown.as_mut()).await? {
                return Ok(());
            }
            self.client.set_waiting();
            // The common case takes an idle server without awaiting; the
            // rest (connect, login, queue) is boxed so that its large
            // future is not part of what every idle client holds.
            let mut server = match self.pool.checkout_idle() {
                Some(server) => server,
                None => Box::pin(self.pool.checkout())
                    .await
                    .map_err(|e| ClientError::Fatal(e.to_client_error()))?,
            };
            self.client.set_linked(server.conn());
            let end = self.serve_link(&mut server).await;
            // Stop forwarding cancels (and let in-flight ones land) before
            // the server can reach anyone else.
            self.cancel.slot.unlink().await;
            let mode = self.config.pool.limits.pool_mode;
            self.client.link_ended(&self.pool, mode);
            match end {
                LinkEnd::Released(clean) => {
                    self.finish_link(server, clean, false).await;
                    if matches!(
                        self.shared.run_state(),
                        RunState::WaitForServers | RunState::Immediate
                    ) {
                        return Err(shutting_down());
                    }
                }
                LinkEnd::ClientLeft(clean) => {
                    self.finish_link(server, clean, true).await;
                    return Ok(());
                }
                LinkEnd::Failed(e) => {
                    server.discard();
                    return Err(e);
                }
            }
        }
    }

    /// Wait for the client's next message without holding a buffer, then
    /// read what it sent into `self.first` (one read of up to
    /// `READ_CHUNK`, so a whole query or Parse/Bind/Execute/Sync batch
    /// goes to the server in one write). `false` means the client left
    /// (EOF or Terminate).
    async fn wait_for_client(
        &mut self,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, ClientError> {
        loop {
            if matches!(
                self.shared.run_state(),
                RunState::WaitForServers | RunState::Immediate
            ) {
                return Err(shutting_down());
            }
            let idle_timeout = self.config().limits.client_idle_timeout;
            tokio::select! {
                ready = self.stream.readable() => ready?,
                () = shutdown.as_mut() => return Err(shutting_down()),
                () = idle_timer(idle_timeout) => {
                    return Err(PoolerError::ClientIdleTimeout.into());
                }
            }
            // Through poll_read (not try_read), so that a short read
            // clears tokio's readiness and the relay's first read of the
            // client does not come back EAGAIN.
            self.first.reserve(READ_CHUNK);
            let (stream, first) = (&mut self.stream, &mut self.first);
            let read = poll_fn(
                |cx| match poll_read_buf(Pin::new(&mut *stream), cx, first) {
                    Poll::Pending => Poll::Ready(None),
                    Poll::Ready(r) => Poll::Ready(Some(r)),
                },
            )
            .await;
            match read {
                // Readiness was stale: wait again, holding nothing.
                None => self.first = BytesMut::new(),
                Some(Ok(0)) => return Ok(false),
                Some(Ok(_)) if self.first[0] == frontend::TERMINATE => return Ok(false),
                Some(Ok(_)) => return Ok(true),
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Link, sync parameters, relay until the link ends.
    async fn serve_link(&mut self, server: &mut PooledServer) -> LinkEnd {
        let config = self.config();
        let limits = &config.limits;
        let conn = server.conn();
        self.cancel.slot.link(conn.key.map(|key| CancelTarget {
            route: conn.route.clone(),
            key,
        }));
        // The server was last found in line with this very client and
        // neither changed since: nothing to compare (invariant 4 holds).
        let agreement = (self.client.id, self.vars.version(), conn.vars.version());
        if conn.vars_agree_with != Some(agreement) {
            match self.vars.sync_query(&conn.vars) {
                Some(set) => {
                    if let Err(e) = Box::pin(conn.simple_query(&set)).await {
                        tracing::warn!("could not set tracked parameters: {e}");
                        return LinkEnd::Failed(PoolerError::InvalidServerParameter.into());
                    }
                }
                None => conn.vars_agree_with = Some(agreement),
            }
        }
        // The first read becomes the link's c2s buffer (no copy); the
        // session lets go of the half's old buffer, so it idles with none.
        let first_len = self.first.len() as u64;
        if conn.c2s.buf.is_empty() {
            std::mem::swap(&mut conn.c2s.buf, &mut self.first);
        } else {
            conn.c2s.seed(&self.first);
        }
        self.first = BytesMut::new();
        let mut tracker = Tracker::default();
        // The first bytes were read before the link: count them here.
        let mut traffic = Traffic {
            from_client: first_len,
            ..Traffic::default()
        };
        // Named statements are translated only where a client can move
        // between servers; session mode passes them through untouched.
        let max_prepared = self.config.max_prepared_statements;
        let statements_on = limits.pool_mode != PoolMode::Session && max_prepared > 0;
        self.link_statements.reset();
        let statements = statements_on.then_some(StatementsCtx {
            registry: &self.shared.prepared,
            client: &mut self.statements,
            link: &mut self.link_statements,
            max: max_prepared,
        });
        let timed = !limits.idle_transaction_timeout.is_zero() || !limits.query_timeout.is_zero();
        let event = if timed {
            // Boxed: its timer and cancel-forwarding state would otherwise
            // size every session's future, idle or not.
            Box::pin(relay_with_timers(
                &mut self.stream,
                conn,
                &mut self.vars,
                &mut tracker,
                &mut traffic,
                limits,
                self.max_packet,
                statements,
            ))
            .await
        } else {
            let relay = relay_plain(
                &mut self.stream,
                conn,
                &mut self.vars,
                &mut tracker,
                &mut traffic,
                limits.pool_mode,
                self.max_packet,
                statements,
            );
            relay.await
        };
        self.record(&tracker, &traffic);
        if statements_on {
            self.record_statements(self.link_statements.counts);
        }
        let (event, left_clean) = match event {
            RelayEnd::Pump(event, left_clean) => (event, left_clean),
            RelayEnd::Timer(e) => return LinkEnd::Failed(e),
        };
        match event {
            Ok(PumpEvent::ReleasePoint(clean)) => LinkEnd::Released(clean),
            Ok(PumpEvent::ServerStopped) if tracker.refused_transaction => {
                LinkEnd::Failed(PoolerError::StatementModeTransaction.into())
            }
            Ok(PumpEvent::ClientStopped)
            | Ok(PumpEvent::ClientEof)
            | Err(PumpError::ClientIo(_)) => match left_clean {
                Some(clean) => LinkEnd::ClientLeft(clean),
                None => {
                    tracing::info!("client disconnect while server was not ready");
                    LinkEnd::Failed(ClientError::Gone(
                        std::io::ErrorKind::ConnectionAborted.into(),
                    ))
                }
            },
            Ok(PumpEvent::ServerEof)
            | Ok(PumpEvent::ServerStopped)
            | Err(PumpError::ServerIo(_)) => LinkEnd::Failed(server_crashed()),
            Err(PumpError::ServerProtocol(e)) => {
                tracing::warn!("server protocol error: {e}");
                LinkEnd::Failed(server_crashed())
            }
            Err(PumpError::ClientProtocol(e)) => LinkEnd::Failed(ClientError::protocol(e)),
        }
    }

    /// Give a clean server back, running the reset query where it is due:
    /// always in session mode, in other modes with server_reset_query_always.
    async fn finish_link(
        &mut self,
        mut server: PooledServer,
        clean: CleanPoint,
        client_left: bool,
    ) {
        let config = self.config();
        let limits = &config.limits;
        let reset_always = self.config.server_reset_query_always;
        let wants_reset = (limits.pool_mode == PoolMode::Session && client_left) || reset_always;
        if wants_reset {
            if let Some(reset) = &limits.server_reset_query {
                // The reset (typically DISCARD ALL) may drop prepared
                // statements; forgetting them is always safe (see prepared).
                server.conn().statements.clear();
                // Our own query ends at ReadyForQuery 'I' or fails: the
                // link's clean point still holds afterwards.
                if let Err(e) = Box::pin(server.conn().simple_query(reset)).await {
                    tracing::info!("server_reset_query failed, closing server: {e}");
                    server.discard();
                    return;
                }
            }
        }
        server.release(clean);
    }

    fn record_statements(&self, counts: Counts) {
        let stats = &self.pool.stats;
        stats.add(&stats.client_parse_count, counts.client_parses);
        stats.add(&stats.server_parse_count, counts.server_parses);
        stats.add(&stats.bind_count, counts.binds);
    }

    fn record(&self, tracker: &Tracker, traffic: &Traffic) {
        let stats = &self.pool.stats;
        stats.add(&stats.query_count, tracker.queries);
        stats.add(&stats.xact_count, tracker.xacts);
        stats.record_queries(&tracker.query_times);
        stats.add(&stats.bytes_received, traffic.from_client);
        stats.add(&stats.bytes_sent, traffic.to_client);
    }
}

/// The statement layer's borrowed parts, minus the server cache (which
/// lives in the server connection the relay takes apart).
struct StatementsCtx<'a> {
    registry: &'a crate::prepared::Registry,
    client: &'a mut ClientStatements,
    link: &'a mut LinkStatements,
    max: usize,
}

/// A server connection taken apart for one relay run: the link the pump
/// drives, and what the policy and the timers borrow beside it.
struct LinkParts<'a> {
    link: Link<'a>,
    vars: &'a mut VarCache,
    statements: &'a mut ServerStatements,
    key: &'a Option<CancelKey>,
    route: &'a Arc<ServerRoute>,
}

fn take_apart<'a>(client: &'a mut Stream, conn: &'a mut ServerConn) -> LinkParts<'a> {
    let ServerConn {
        stream,
        c2s,
        s2c,
        vars,
        key,
        route,
        statements,
        ..
    } = conn;
    LinkParts {
        link: Link {
            client,
            server: stream,
            c2s,
            s2c,
        },
        vars,
        statements,
        key,
        route,
    }
}

/// The link's policy for one pump run (rebuilt per run: the timers look
/// at the tracker between runs).
fn link_policy<'b>(
    tracker: &'b mut Tracker,
    client_vars: &'b mut VarCache,
    server_vars: &'b mut VarCache,
    mode: PoolMode,
    statements: &'b mut Option<StatementsCtx<'_>>,
    server_statements: &'b mut ServerStatements,
) -> LinkState<'b> {
    LinkState {
        tracker,
        client_vars,
        server_vars,
        mode,
        statements: statements.as_mut().map(|ctx| Statements {
            registry: ctx.registry,
            client: &mut *ctx.client,
            server: server_statements,
            link: &mut *ctx.link,
            max: ctx.max,
        }),
    }
}

/// How a relay run ended: the pump's own event (with a clean point if
/// the client left at one), or a timer of ours.
enum RelayEnd {
    Pump(Result<PumpEvent, PumpError>, Option<CleanPoint>),
    Timer(ClientError),
}

/// The pump's event; when the client left, whether it left at a clean
/// point (the same check as a release point, so "clean" has one meaning).
fn settle(
    link: &Link<'_>,
    policy: &impl LinkPolicy,
    event: Result<PumpEvent, PumpError>,
) -> RelayEnd {
    let left_clean = match &event {
        Ok(PumpEvent::ClientStopped | PumpEvent::ClientEof) | Err(PumpError::ClientIo(_)) => {
            link.clean_point(policy)
        }
        _ => None,
    };
    RelayEnd::Pump(event, left_clean)
}

/// `client_idle_timeout` (0 = never). The `Sleep` is only made when a
/// timeout is set: `select!` builds the futures of disabled branches too.
async fn idle_timer(timeout: Duration) {
    if timeout.is_zero() {
        std::future::pending::<()>().await;
    } else {
        // Boxed: most pools set no client_idle_timeout, and an idle
        // client's future should not carry a timer it never uses.
        Box::pin(tokio::time::sleep(timeout)).await;
    }
}

/// Relay until the pump reports an event, with no timeout to enforce.
#[allow(clippy::too_many_arguments)]
async fn relay_plain(
    client: &mut Stream,
    conn: &mut ServerConn,
    client_vars: &mut VarCache,
    tracker: &mut Tracker,
    traffic: &mut Traffic,
    mode: PoolMode,
    max_packet: usize,
    mut statements: Option<StatementsCtx<'_>>,
) -> RelayEnd {
    let parts = take_apart(client, conn);
    let mut link = parts.link;
    let mut policy = link_policy(
        tracker,
        client_vars,
        parts.vars,
        mode,
        &mut statements,
        parts.statements,
    );
    let event = pump(&mut link, &mut policy, max_packet, traffic).await;
    settle(&link, &policy, event)
}

/// Resolves once a shutdown closes idle clients (or the pooler is gone).
async fn until_shutdown(mut run_state: watch::Receiver<RunState>) {
    let _ = run_state
        .wait_for(|s| matches!(s, RunState::WaitForServers | RunState::Immediate))
        .await;
}

/// Relay, and enforce query_timeout / idle_transaction_timeout while
/// linked. The pump is cancel-safe (its state lives in the buffers and the
/// tracker), so it can race timers; without a timeout there is no timer
/// and no select. (An immediate shutdown ends the whole session through
/// the registry's kill switch instead.)
#[allow(clippy::too_many_arguments)]
async fn relay_with_timers(
    client: &mut Stream,
    conn: &mut ServerConn,
    client_vars: &mut VarCache,
    tracker: &mut Tracker,
    traffic: &mut Traffic,
    limits: &PoolLimits,
    max_packet: usize,
    mut statements: Option<StatementsCtx<'_>>,
) -> RelayEnd {
    let tick = [limits.idle_transaction_timeout, limits.query_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min();
    let mut cancel_sent = false;
    let parts = take_apart(client, conn);
    let (key, route, vars, server_statements) =
        (parts.key, parts.route, parts.vars, parts.statements);
    let mut link = parts.link;
    let mut timer = pin!(tokio::time::sleep(tick.unwrap_or(Duration::MAX)));
    let mut first_round = true;
    loop {
        let seen = (tracker.client_messages, tracker.queries);
        let mut policy = link_policy(
            tracker,
            client_vars,
            vars,
            limits.pool_mode,
            &mut statements,
            server_statements,
        );
        let Some(tick) = tick else {
            let event = pump(&mut link, &mut policy, max_packet, traffic).await;
            return settle(&link, &policy, event);
        };
        if !first_round {
            timer.as_mut().reset(tokio::time::Instant::now() + tick);
        }
        first_round = false;
        tokio::select! {
            event = pump(&mut link, &mut policy, max_packet, traffic) => return settle(&link, &policy, event),
            () = timer.as_mut() => {
                // Fire only if nothing moved during a whole tick.
                let quiet = seen == (tracker.client_messages, tracker.queries);
                if quiet && tracker.idle_in_transaction() && !limits.idle_transaction_timeout.is_zero() {
                    return RelayEnd::Timer(PoolerError::IdleTransactionTimeout.into());
                }
                if !quiet {
                    cancel_sent = false;
                }
                if quiet && tracker.owed > 0 && !limits.query_timeout.is_zero() {
                    let Some(key) = (*key).filter(|_| !cancel_sent) else {
                        // Neither the query nor our cancel was answered for
                        // a whole tick (a hung or unreachable server): drop
                        // it and tell the client, as PgBouncer does.
                        return RelayEnd::Timer(PoolerError::QueryTimeout.into());
                    };
                    cancel_sent = true;
                    let target = CancelTarget { route: route.clone(), key };
                    // Deliver it before relaying on: the query may end
                    // meanwhile, and a cancel still on its way after the
                    // release could hit the next client's query.
                    let deliver = crate::cancel::forward(&target);
                    let _ = tokio::time::timeout(limits.server_connect_timeout, deliver).await;
                }
            }
        }
    }
}

fn server_crashed() -> ClientError {
    PoolerError::ServerConnCrashed.into()
}

fn shutting_down() -> ClientError {
    PoolerError::ServerShuttingDown.into()
}
