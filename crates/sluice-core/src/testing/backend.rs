//! The scripted backend as the pool sees it: a [`Connector`] whose every
//! connection is one end of an in-memory pipe, with a task playing a tiny
//! PostgreSQL (`script.rs`) on the other end. The knobs and counters here
//! are what the tests turn and read.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use sluice_proto::startup::CancelKey;
use sluice_proto::tags::frontend;
use tokio::sync::Notify;

use crate::connector::{ConnectFuture, Connector};
use crate::server::ServerAddr;
use crate::stream::memory_pair;

/// How the next logins go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Login {
    #[default]
    Ok,
    /// FATAL 28P01 after the startup packet.
    Fail,
    /// The connect itself fails (connection refused).
    Refuse,
}

/// One backend process: what it received and whether it still runs.
#[derive(Debug)]
pub struct Conn {
    pub pid: i32,
    received: Mutex<Vec<(u8, Bytes)>>,
    /// Bytes the pipe has accepted from this backend.
    sent: AtomicUsize,
    live: AtomicBool,
    pub(super) kill: Notify,
}

impl Conn {
    /// Every message since login, as (tag, body).
    pub fn received(&self) -> Vec<(u8, Bytes)> {
        lock(&self.received).clone()
    }

    /// The texts of the simple Query messages received.
    pub fn queries(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|(tag, _)| *tag == frontend::QUERY)
            .map(|(_, body)| String::from_utf8_lossy(&body[..body.len() - 1]).into_owned())
            .collect()
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Acquire)
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    pub(super) fn record(&self, tag: u8, body: Bytes) {
        lock(&self.received).push((tag, body));
    }

    pub(super) fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n, Ordering::AcqRel);
    }

    pub(super) fn ended(&self) {
        self.live.store(false, Ordering::Release);
    }
}

#[derive(Debug, Default)]
struct State {
    login: Login,
    login_delay: Duration,
    /// Backends that completed a login, oldest first.
    conns: Vec<Arc<Conn>>,
    cancels: Vec<CancelKey>,
}

/// The scripted backend. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct Backend {
    state: Arc<Mutex<State>>,
    /// Connector calls (logins, cancels, refused attempts).
    attempts: Arc<AtomicUsize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend {
    pub fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.clone())
    }

    pub fn set_login(&self, login: Login) {
        lock(&self.state).login = login;
    }

    /// Each login waits this long (virtual time) before it is answered.
    pub fn set_login_delay(&self, delay: Duration) {
        lock(&self.state).login_delay = delay;
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::Acquire)
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        lock(&self.state).conns.len()
    }

    /// Backends logged in and not yet gone.
    pub fn live(&self) -> usize {
        lock(&self.state)
            .conns
            .iter()
            .filter(|c| c.is_live())
            .count()
    }

    pub fn conns(&self) -> Vec<Arc<Conn>> {
        lock(&self.state).conns.clone()
    }

    pub fn conn(&self, pid: i32) -> Arc<Conn> {
        self.conns()
            .into_iter()
            .find(|c| c.pid == pid)
            .expect("no backend with that pid")
    }

    pub fn cancels(&self) -> Vec<CancelKey> {
        lock(&self.state).cancels.clone()
    }

    /// Close backend `pid` at once, as a crash or pg_terminate_backend.
    pub fn kill(&self, pid: i32) {
        self.conn(pid).kill.notify_one();
    }

    pub(super) fn login_plan(&self) -> (Login, Duration) {
        let st = lock(&self.state);
        (st.login.clone(), st.login_delay)
    }

    /// A new backend process, pids 1001, 1002, … in login order.
    pub(super) fn born(&self) -> Arc<Conn> {
        let mut st = lock(&self.state);
        let conn = Arc::new(Conn {
            pid: 1001 + st.conns.len() as i32,
            received: Mutex::default(),
            sent: AtomicUsize::new(0),
            live: AtomicBool::new(true),
            kill: Notify::new(),
        });
        st.conns.push(conn.clone());
        conn
    }

    pub(super) fn cancelled(&self, key: CancelKey) {
        lock(&self.state).cancels.push(key);
    }
}

impl Connector for Backend {
    fn connect<'a>(&'a self, _addr: &'a ServerAddr) -> ConnectFuture<'a> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::AcqRel);
            if self.login_plan().0 == Login::Refuse {
                return Err(std::io::ErrorKind::ConnectionRefused.into());
            }
            let (ours, theirs) = memory_pair("backend");
            tokio::spawn(super::script::play(theirs, self.clone()));
            Ok(ours)
        })
    }
}
