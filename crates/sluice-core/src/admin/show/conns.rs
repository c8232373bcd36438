//! SHOW CLIENTS, SERVERS and SOCKETS: one row shape for both ends of a
//! link, so the three SHOWs share one column table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;

use crate::admin::rows::{send, send_parts, timestamp, zero, Column, Ty};
use crate::control::registry::ClientState;
use crate::pool::Pool;
use crate::shared::Shared;

use Ty::{Int4, Text};

/// A client or a server, as SHOW CLIENTS/SERVERS print it.
pub struct Conn {
    /// `C` or `S`.
    kind: &'static str,
    user: String,
    database: String,
    state: String,
    addr: String,
    port: u16,
    local_addr: String,
    local_port: u16,
    connect_time: SystemTime,
    request_time: SystemTime,
    wait: Duration,
    close_needed: bool,
    id: u64,
    /// The id of the other end of the link.
    link: Option<u64>,
    remote_pid: i32,
    tls: String,
    application_name: String,
}

/// PgBouncer prints object pointers; Sluice prints its unique ids in the
/// same shape, so `link` still pairs clients with servers.
fn ptr(id: u64) -> String {
    format!("0x{id:x}")
}

fn since(t: SystemTime) -> Duration {
    t.elapsed().unwrap_or_default()
}

/// SHOW CLIENTS and SHOW SERVERS.
const CONNS: &[Column<Conn>] = &[
    Column::new("type", Text, |c| c.kind.into()),
    Column::new("user", Text, |c| c.user.as_str().into()),
    Column::new("database", Text, |c| c.database.as_str().into()),
    Column::new("replication", Text, |_| "none".into()),
    Column::new("state", Text, |c| c.state.as_str().into()),
    Column::new("addr", Text, |c| c.addr.as_str().into()),
    Column::new("port", Int4, |c| c.port.into()),
    Column::new("local_addr", Text, |c| c.local_addr.as_str().into()),
    Column::new("local_port", Int4, |c| c.local_port.into()),
    Column::new("connect_time", Text, |c| timestamp(c.connect_time).into()),
    Column::new("request_time", Text, |c| timestamp(c.request_time).into()),
    Column::new("wait", Int4, |c| c.wait.as_secs().into()),
    Column::new("wait_us", Int4, |c| c.wait.subsec_micros().into()),
    Column::new("close_needed", Int4, |c| u32::from(c.close_needed).into()),
    Column::new("ptr", Text, |c| ptr(c.id).into()),
    Column::new("link", Text, |c| c.link.map_or(String::new(), ptr).into()),
    Column::new("remote_pid", Int4, |c| c.remote_pid.into()),
    Column::new("tls", Text, |c| c.tls.as_str().into()),
    Column::new("application_name", Text, |c| {
        c.application_name.as_str().into()
    }),
    Column::new("prepared_statements", Int4, zero),
    Column::new("id", Int4, |c| c.id.into()),
];

/// SHOW SOCKETS' columns after CONNS: Sluice keeps no per-socket buffers
/// between messages, so they are 0.
const SOCKET_BUFFERS: &[Column<Conn>] = &[
    Column::new("recv_pos", Int4, zero),
    Column::new("pkt_pos", Int4, zero),
    Column::new("pkt_remain", Int4, zero),
    Column::new("send_pos", Int4, zero),
    Column::new("send_remain", Int4, zero),
    Column::new("pkt_avail", Int4, zero),
    Column::new("send_avail", Int4, zero),
];

pub fn clients(shared: &Shared, buf: &mut BytesMut) {
    send(CONNS, client_rows(shared, false), buf);
}

pub fn servers(shared: &Shared, buf: &mut BytesMut) {
    send(CONNS, server_rows(shared, false), buf);
}

pub fn sockets(shared: &Shared, buf: &mut BytesMut) {
    let rows = client_rows(shared, true)
        .into_iter()
        .chain(server_rows(shared, true));
    send_parts(&[CONNS, SOCKET_BUFFERS], rows, buf);
}

/// Every logged-in client; `socket_state` names states as SHOW SOCKETS does.
fn client_rows(shared: &Shared, socket_state: bool) -> Vec<Conn> {
    shared
        .control
        .registry
        .clients()
        .into_iter()
        .map(|c| {
            let state = c.state();
            let wait = if state == ClientState::Waiting {
                since(c.request_time())
            } else {
                Duration::ZERO
            };
            let state = match (socket_state, state) {
                (false, s) => s.as_str(),
                (true, ClientState::Waiting) => "cl_waiting",
                (true, _) => "cl_active",
            };
            let i = &c.info;
            Conn {
                kind: "C",
                user: i.user.clone(),
                database: i.database.clone(),
                state: state.to_string(),
                addr: i.addr.clone(),
                port: i.port,
                local_addr: i.local_addr.clone(),
                local_port: i.local_port,
                connect_time: c.connect_time,
                request_time: c.request_time(),
                wait,
                close_needed: false,
                id: c.id,
                link: c.link().map(|s| s.id),
                remote_pid: i.remote_pid,
                tls: i.tls.clone(),
                application_name: i.application_name.clone(),
            }
        })
        .collect()
}

/// Linked servers (through the clients holding them) and each pool's
/// idle ones, by id.
fn server_rows(shared: &Shared, socket_state: bool) -> Vec<Conn> {
    let pools: HashMap<(String, String), Arc<Pool>> = shared
        .pools()
        .into_iter()
        .map(|p| ((p.key.database.clone(), p.key.user.clone()), p))
        .collect();
    let check_delay = shared.settings().config.general.server_check_delay;
    let mut servers = Vec::new();
    for c in shared.control.registry.clients() {
        let Some(s) = c.link() else { continue };
        let key = (c.info.database.clone(), c.info.pool_user.clone());
        let generation = pools.get(&key).map_or(0, |p| p.config().generation);
        servers.push((key, "active", s, Some(c.id), generation));
    }
    for (key, pool) in &pools {
        let generation = pool.config().generation;
        for s in pool.idle_servers() {
            let state = if since(s.request_time) > check_delay {
                "used"
            } else {
                "idle"
            };
            servers.push((key.clone(), state, s, None, generation));
        }
    }
    servers.sort_by_key(|s| s.2.id);
    servers
        .into_iter()
        .map(|((database, user), state, s, client, generation)| Conn {
            kind: "S",
            user,
            database,
            state: if socket_state {
                format!("sv_{state}")
            } else {
                state.to_string()
            },
            port: s.port,
            local_port: s.local_port,
            connect_time: s.connect_time,
            request_time: s.request_time,
            wait: Duration::ZERO,
            // A server from before the last reload of its pool's settings
            // is closed when released.
            close_needed: s.generation < generation,
            id: s.id,
            link: client,
            remote_pid: s.remote_pid,
            tls: s.tls.clone(),
            application_name: String::new(),
            addr: s.addr,
            local_addr: s.local_addr,
        })
        .collect()
}
