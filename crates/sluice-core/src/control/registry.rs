//! Who is connected, for SHOW CLIENTS / SHOW SERVERS, the pool counters
//! of SHOW POOLS, and the kill switch the control plane's KILL,
//! KILL_CLIENT and immediate shutdown pull.
//!
//! Every logged-in client (admin sessions too) registers one entry and
//! keeps an `Arc` to it; dropping the returned [`ClientHandle`] removes it.
//! The session updates the entry with relaxed atomics (state, request
//! time) and one uncontended mutex per link (which server it holds), so
//! the hot path pays almost nothing and readers never block a session for
//! long. Idle servers are reported by their pool; linked ones through the
//! client that holds them, so no second table of servers is kept.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::errors::PoolerError;
use crate::pool::Pool;
use crate::server::{ServerAddr, ServerConn};
use sluice_config::PoolMode;

/// What a client is doing, as SHOW CLIENTS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientState {
    /// Logged in, no server (PgBouncer's CL_ACTIVE without a link).
    Idle = 0,
    /// Sent a query, waiting for a server (CL_WAITING).
    Waiting = 1,
    /// Linked to a server.
    Active = 2,
}

impl ClientState {
    fn from_u8(v: u8) -> ClientState {
        match v {
            1 => ClientState::Waiting,
            2 => ClientState::Active,
            _ => ClientState::Idle,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Idle => "idle",
            ClientState::Waiting => "waiting",
            ClientState::Active => "active",
        }
    }
}

/// A snapshot of one server connection for SHOW SERVERS.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub id: u64,
    pub addr: String,
    pub port: u16,
    pub local_addr: String,
    pub local_port: u16,
    pub connect_time: SystemTime,
    /// When the server was last handed to (or given back by) a client.
    pub request_time: SystemTime,
    /// Backend PID from BackendKeyData (0 if the server sent none).
    pub remote_pid: i32,
    pub generation: u64,
    /// SHOW SERVERS `tls`: what was negotiated, empty in plaintext.
    pub tls: String,
}

impl Default for ServerInfo {
    /// A placeholder until the connection has logged in.
    fn default() -> ServerInfo {
        ServerInfo {
            id: 0,
            addr: String::new(),
            port: 0,
            local_addr: String::new(),
            local_port: 0,
            connect_time: UNIX_EPOCH,
            request_time: UNIX_EPOCH,
            remote_pid: 0,
            generation: 0,
            tls: String::new(),
        }
    }
}

impl ServerInfo {
    /// The fixed facts of a freshly logged-in connection (addresses,
    /// connect time, backend PID), built once per connection so linking
    /// a client costs no `getsockname` and no formatting.
    pub fn build(conn: &ServerConn) -> ServerInfo {
        let (addr, port) = match &conn.route.addr {
            ServerAddr::Tcp(host, port) => (host.clone(), *port),
            ServerAddr::Unix(path) => (path.display().to_string(), 0),
        };
        let (local_addr, local_port) = conn.stream.local();
        ServerInfo {
            id: conn.id,
            addr,
            port,
            local_addr,
            local_port,
            connect_time: wall_clock(conn.created),
            request_time: wall_clock(conn.last_used),
            remote_pid: conn.key.map_or(0, |k| k.pid),
            generation: conn.generation,
            tls: conn.stream.tls().map_or(String::new(), |t| t.describe()),
        }
    }

    /// A snapshot of `conn` now: its fixed facts plus its last use.
    pub fn of(conn: &ServerConn) -> ServerInfo {
        conn.info.with_last_use(conn.last_used)
    }

    fn with_last_use(&self, last_used: Instant) -> ServerInfo {
        ServerInfo {
            request_time: wall_clock(last_used),
            ..self.clone()
        }
    }
}

/// Convert a monotonic instant in the past to wall-clock time.
pub fn wall_clock(at: Instant) -> SystemTime {
    SystemTime::now() - at.elapsed()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Fixed facts about a client, known at login.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub user: String,
    pub database: String,
    /// User of the pool (the forced user where the database has one).
    pub pool_user: String,
    pub addr: String,
    pub port: u16,
    pub local_addr: String,
    pub local_port: u16,
    pub application_name: String,
    /// Peer PID on a Unix socket, else 0.
    pub remote_pid: i32,
    /// SHOW CLIENTS `tls`: what was negotiated, empty in plaintext.
    pub tls: String,
}

#[derive(Debug)]
struct LinkInfo {
    server: Arc<ServerInfo>,
    last_used: Instant,
    since: Instant,
}

/// Why a session must end: the FATAL it gets.
pub type Kill = PoolerError;

/// One registered client.
#[derive(Debug)]
pub struct ClientEntry {
    pub id: u64,
    pub info: ClientInfo,
    pub connect_time: SystemTime,
    state: AtomicU8,
    /// Unix time in µs of the last request (start of the last wait/link).
    request_time_us: AtomicU64,
    /// The linked server (shared with its connection), when it was last
    /// used before this link, and when the link began. Only an `Arc` and
    /// two instants per link: SHOW converts them when asked.
    link: Mutex<Option<LinkInfo>>,
    /// Set once by KILL / KILL_CLIENT or an immediate shutdown: the
    /// error the session must end with.
    kill: watch::Sender<Option<Kill>>,
    /// Set with `kill` (after it), for [`ClientEntry::guard`]'s one-load check.
    killed_flag: AtomicBool,
    /// The guarded session task's waker, taken and woken by a kill.
    waker: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientEntry {
    pub fn state(&self) -> ClientState {
        ClientState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// The client sent a query and now waits for a server.
    pub fn set_waiting(&self) {
        self.request_time_us.store(now_us(), Ordering::Relaxed);
        self.state
            .store(ClientState::Waiting as u8, Ordering::Relaxed);
    }

    /// The client got `conn`.
    pub fn set_linked(&self, conn: &ServerConn) {
        let link = LinkInfo {
            server: conn.info.clone(),
            last_used: conn.last_used,
            since: Instant::now(),
        };
        *lock(&self.link) = Some(link);
        self.state
            .store(ClientState::Active as u8, Ordering::Relaxed);
    }

    /// The link to a server of `pool` (running in `mode`) ended (released or not): back to
    /// idle, and the link's time goes into the pool's xact/query time
    /// where a link is a transaction (not in session mode, where it is
    /// the whole session).
    pub fn link_ended(&self, pool: &Pool, mode: PoolMode) {
        let link = lock(&self.link).take();
        self.state.store(ClientState::Idle as u8, Ordering::Relaxed);
        if let Some(LinkInfo { since, .. }) = link {
            if mode != PoolMode::Session {
                pool.stats.record_link_time(since.elapsed());
            }
        }
    }

    pub fn link(&self) -> Option<ServerInfo> {
        lock(&self.link)
            .as_ref()
            .map(|l| l.server.with_last_use(l.last_used))
    }

    pub fn request_time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_micros(self.request_time_us.load(Ordering::Relaxed))
    }

    /// Ask the session to end with `reason` (FATAL to the client).
    pub fn kill(&self, reason: PoolerError) {
        self.kill.send_replace(Some(reason));
        self.wake_guard();
    }

    fn wake_guard(&self) {
        self.killed_flag.store(true, Ordering::Release);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }

    /// Run `session` until it ends or the client is killed, whichever is
    /// first (then `session` is dropped, closing a linked server). Unlike
    /// racing [`ClientEntry::killed`], which polls a watch future (taking
    /// its lock) on every wake of the task, this registers the task's
    /// waker once and then costs one atomic load per wake.
    /// `session` comes pinned by the caller, so its (large) future is not
    /// stored a second time in this one.
    pub async fn guard<F: Future>(&self, mut session: Pin<&mut F>) -> Result<F::Output, Kill> {
        let mut registered = false;
        poll_fn(|cx| {
            if !registered {
                *lock(&self.waker) = Some(cx.waker().clone());
                registered = true;
            }
            // After storing the waker: a kill that took no waker has set
            // the flag before looking, so it is seen here.
            if self.killed_flag.load(Ordering::Acquire) {
                // The flag is set only after a reason was stored.
                let kill = self
                    .kill
                    .borrow()
                    .clone()
                    .unwrap_or(PoolerError::ServerShuttingDown);
                return Poll::Ready(Err(kill));
            }
            session.as_mut().poll(cx).map(Ok)
        })
        .await
    }

    /// End the session now for an immediate shutdown, wherever it is
    /// (a linked server is closed and its query cancelled).
    pub fn shut_down(&self) {
        self.kill
            .send_replace(Some(PoolerError::ServerShuttingDown));
        self.wake_guard();
    }

    /// Resolves with the SQLSTATE and reason once the client was killed.
    pub async fn killed(&self) -> Kill {
        let mut rx = self.kill.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The sender lives in self, so this cannot happen; wait forever.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Every logged-in client, by id (so listings come out in login order).
#[derive(Debug, Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
}

/// Keeps a client registered; unregisters on drop.
#[derive(Debug)]
pub struct ClientHandle {
    registry: Arc<Registry>,
    pub entry: Arc<ClientEntry>,
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        lock(&self.registry.clients).remove(&self.entry.id);
    }
}

impl Registry {
    pub fn register(self: &Arc<Self>, id: u64, info: ClientInfo) -> ClientHandle {
        let (kill, _) = watch::channel(None);
        let entry = Arc::new(ClientEntry {
            id,
            info,
            connect_time: SystemTime::now(),
            state: AtomicU8::new(ClientState::Idle as u8),
            request_time_us: AtomicU64::new(now_us()),
            link: Mutex::new(None),
            kill,
            killed_flag: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        lock(&self.clients).insert(id, entry.clone());
        ClientHandle {
            registry: self.clone(),
            entry,
        }
    }

    /// Every registered client, in id order.
    pub fn clients(&self) -> Vec<Arc<ClientEntry>> {
        lock(&self.clients).values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientEntry>> {
        lock(&self.clients).get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
