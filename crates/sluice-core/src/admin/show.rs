//! SHOW commands, with PgBouncer 1.25.2's exact column names, order and
//! wire types (see shared/reference/admin-columns-1.25.2.txt). Values
//! come from `data` (pools, stats, registry); features Sluice does not
//! have (peers, DNS cache, slab allocator) answer with their header and
//! no rows, which is the truth for them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use sluice_proto::{backend, PgError, SqlState};

use super::data::{self, Counters};
use super::rows::{timestamp, Table, Ty, Val};
use super::{Ctx, PGBOUNCER_VERSION};
use crate::control::registry::{ClientState, ServerInfo};
use crate::pool::Pool;
use crate::shared::Shared;

use Ty::{Int4, Int8, Numeric, Text};

/// Answer `SHOW what`; `Ok(false)` if there is no such SHOW.
pub fn run(ctx: &Ctx<'_>, what: &str, buf: &mut BytesMut) -> Result<bool, PgError> {
    let shared = ctx.shared;
    let table = match what {
        "help" => {
            help(buf);
            return Ok(true);
        }
        "pools" => pools(shared),
        "stats" => stats(shared),
        "stats_totals" => stats_totals(shared),
        "stats_averages" => stats_averages(shared),
        "totals" => totals(shared),
        "clients" => clients(shared, CLIENT_COLUMNS),
        "servers" => servers(shared, CLIENT_COLUMNS),
        "sockets" | "active_sockets" => sockets(shared),
        "databases" => databases(shared),
        "users" => users(shared),
        "lists" => lists(shared),
        "config" => config(shared),
        "version" => version(),
        "state" => state(shared),
        "mem" => Table::new(&[
            ("name", Text),
            ("size", Int4),
            ("used", Int4),
            ("free", Int4),
            ("memtotal", Int4),
        ]),
        "fds" => {
            ctx.require_admin()?;
            Table::new(FDS_COLUMNS)
        }
        "dns_hosts" => Table::new(&[("hostname", Text), ("ttl", Int8), ("addrs", Text)]),
        "dns_zones" => Table::new(&[("zonename", Text), ("serial", Int8), ("count", Int4)]),
        "peers" => Table::new(&[
            ("peer_id", Int4),
            ("host", Text),
            ("port", Int4),
            ("pool_size", Int4),
        ]),
        "peer_pools" => Table::new(&[
            ("peer_id", Int4),
            ("cl_active_cancel_req", Int4),
            ("cl_waiting_cancel_req", Int4),
            ("sv_active_cancel", Int4),
            ("sv_login", Int4),
        ]),
        fake => match fake_guc(fake) {
            Some(value) => {
                let name: &'static str = FAKE_GUCS
                    .iter()
                    .find(|(n, _)| *n == fake)
                    .map_or("value", |(n, _)| n);
                let mut t = Table::new(&[(name, Text)]);
                t.push(vec![value.into()]);
                t
            }
            None => return Ok(false),
        },
    };
    table.encode(buf);
    Ok(true)
}

/// GUCs drivers probe; the console answers with fixed values.
pub const FAKE_GUCS: [(&str, &str); 5] = [
    ("client_encoding", "UTF-8"),
    ("default_transaction_isolation", "read committed"),
    ("standard_conforming_strings", "on"),
    ("datestyle", "ISO"),
    ("timezone", "GMT"),
];

pub fn fake_guc(name: &str) -> Option<&'static str> {
    FAKE_GUCS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

const HELP: &str = "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n\
\tSHOW PEERS|PEER_POOLS\n\
\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n\
\tSHOW DNS_HOSTS|DNS_ZONES\n\
\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n\
\tSET key = arg\n\
\tRELOAD\n\
\tPAUSE [<db>]\n\
\tRESUME [<db>]\n\
\tDISABLE <db>\n\
\tENABLE <db>\n\
\tRECONNECT [<db>]\n\
\tKILL [<db>]\n\
\tKILL_CLIENT <client_id>\n\
\tSUSPEND\n\
\tSHUTDOWN\n\
\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n\
\tWAIT_CLOSE [<db>]";

fn help(buf: &mut BytesMut) {
    PgError::new(
        sluice_proto::backend::Severity::Notice,
        SqlState::SUCCESSFUL_COMPLETION,
        "Console usage",
    )
    .with_detail(HELP)
    .encode_notice(buf);
    backend::command_complete("SHOW", buf);
}

fn pools(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("database", Text),
        ("user", Text),
        ("cl_active", Int4),
        ("cl_waiting", Int4),
        ("cl_active_cancel_req", Int4),
        ("cl_waiting_cancel_req", Int4),
        ("sv_active", Int4),
        ("sv_active_cancel", Int4),
        ("sv_being_canceled", Int4),
        ("sv_idle", Int4),
        ("sv_used", Int4),
        ("sv_tested", Int4),
        ("sv_login", Int4),
        ("maxwait", Int4),
        ("maxwait_us", Int4),
        ("pool_mode", Text),
        ("load_balance_hosts", Text),
    ]);
    for p in data::pools(shared) {
        t.push(vec![
            p.database.into(),
            p.user.into(),
            p.cl_active.into(),
            p.cl_waiting.into(),
            0u32.into(),
            0u32.into(),
            p.sv_active.into(),
            0u32.into(),
            0u32.into(),
            p.sv_idle.into(),
            p.sv_used.into(),
            0u32.into(),
            p.sv_login.into(),
            p.maxwait.as_secs().into(),
            p.maxwait.subsec_micros().into(),
            p.pool_mode.to_string().into(),
            p.load_balance_hosts.into(),
        ]);
    }
    t
}

/// The eleven 1.25.2 counters (no client_login_count), in column order.
fn counter_values(c: &Counters) -> [u64; 11] {
    [
        c.server_assignment_count,
        c.xact_count,
        c.query_count,
        c.bytes_received,
        c.bytes_sent,
        c.xact_time,
        c.query_time,
        c.wait_time,
        c.client_parse_count,
        c.server_parse_count,
        c.bind_count,
    ]
}

fn stats(shared: &Shared) -> Table {
    let names = [
        "database",
        "total_server_assignment_count",
        "total_xact_count",
        "total_query_count",
        "total_received",
        "total_sent",
        "total_xact_time",
        "total_query_time",
        "total_wait_time",
        "total_client_parse_count",
        "total_server_parse_count",
        "total_bind_count",
        "avg_server_assignment_count",
        "avg_xact_count",
        "avg_query_count",
        "avg_recv",
        "avg_sent",
        "avg_xact_time",
        "avg_query_time",
        "avg_wait_time",
        "avg_client_parse_count",
        "avg_server_parse_count",
        "avg_bind_count",
    ];
    let columns: Vec<(&'static str, Ty)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, if i == 0 { Text } else { Numeric }))
        .collect();
    let mut t = Table::new(&columns);
    for (db, totals) in data::totals_by_db(shared) {
        let avg = super::averages(shared, &db);
        let mut row: Vec<Val> = vec![db.into()];
        row.extend(counter_values(&totals).iter().map(|v| Val::from(*v)));
        row.extend(counter_values(&avg).iter().map(|v| Val::from(*v)));
        t.push(row);
    }
    t
}

fn per_db_table(names: [&'static str; 11], shared: &Shared, averages: bool) -> Table {
    let mut columns = vec![("database", Text)];
    columns.extend(names.iter().map(|n| (*n, Numeric)));
    let mut t = Table::new(&columns);
    for (db, totals) in data::totals_by_db(shared) {
        let c = if averages {
            super::averages(shared, &db)
        } else {
            totals
        };
        let mut row: Vec<Val> = vec![db.into()];
        row.extend(counter_values(&c).iter().map(|v| Val::from(*v)));
        t.push(row);
    }
    t
}

fn stats_totals(shared: &Shared) -> Table {
    per_db_table(
        [
            "server_assignment_count",
            "xact_count",
            "query_count",
            "bytes_received",
            "bytes_sent",
            "xact_time",
            "query_time",
            "wait_time",
            "client_parse_count",
            "server_parse_count",
            "bind_count",
        ],
        shared,
        false,
    )
}

fn stats_averages(shared: &Shared) -> Table {
    per_db_table(
        [
            "server_assignment_count",
            "xact_count",
            "query_count",
            "bytes_received",
            "bytes_sent",
            "xact_time",
            "query_time",
            "wait_time",
            "avg_client_parse_count",
            "avg_server_parse_count",
            "avg_bind_count",
        ],
        shared,
        true,
    )
}

fn totals(shared: &Shared) -> Table {
    let names = [
        "server_assignment_count",
        "xact_count",
        "query_count",
        "client_bytes",
        "server_bytes",
        "xact_time",
        "query_time",
        "wait_time",
        "ps_client_parse_count",
        "ps_server_parse_count",
        "ps_bind_count",
    ];
    let mut total = Counters::default();
    let mut avg = Counters::default();
    for (db, c) in data::totals_by_db(shared) {
        total.add(&c);
        avg.add(&super::averages(shared, &db));
    }
    let mut t = Table::new(&[("name", Text), ("value", Numeric)]);
    for (prefix, c) in [("total", &total), ("avg", &avg)] {
        for (name, v) in names.iter().zip(counter_values(c)) {
            t.push(vec![format!("{prefix}_{name}").into(), v.into()]);
        }
    }
    t
}

/// SHOW CLIENTS and SHOW SERVERS share this header.
const CLIENT_COLUMNS: &[(&str, Ty)] = &[
    ("type", Text),
    ("user", Text),
    ("database", Text),
    ("replication", Text),
    ("state", Text),
    ("addr", Text),
    ("port", Int4),
    ("local_addr", Text),
    ("local_port", Int4),
    ("connect_time", Text),
    ("request_time", Text),
    ("wait", Int4),
    ("wait_us", Int4),
    ("close_needed", Int4),
    ("ptr", Text),
    ("link", Text),
    ("remote_pid", Int4),
    ("tls", Text),
    ("application_name", Text),
    ("prepared_statements", Int4),
    ("id", Int4),
];

const SOCKET_EXTRA: [&str; 7] = [
    "recv_pos",
    "pkt_pos",
    "pkt_remain",
    "send_pos",
    "send_remain",
    "pkt_avail",
    "send_avail",
];

const FDS_COLUMNS: &[(&str, Ty)] = &[
    ("fd", Int4),
    ("task", Text),
    ("user", Text),
    ("database", Text),
    ("addr", Text),
    ("port", Int4),
    ("cancel", Int8),
    ("link", Int4),
    ("client_encoding", Text),
    ("std_strings", Text),
    ("datestyle", Text),
    ("timezone", Text),
    ("password", Text),
    ("scram_client_key", Ty::Bytea),
    ("scram_server_key", Ty::Bytea),
];

/// PgBouncer prints object pointers; Sluice prints its unique ids in the
/// same shape, so `link` still pairs clients with servers.
fn ptr(id: u64) -> String {
    format!("0x{id:x}")
}

fn since(t: SystemTime) -> Duration {
    t.elapsed().unwrap_or_default()
}

/// Rows of SHOW CLIENTS (`socket_state` maps states to SHOW SOCKETS').
fn client_rows(shared: &Shared, socket_state: bool) -> Vec<Vec<Val>> {
    let mut rows = Vec::new();
    for c in shared.control.registry.clients() {
        let state = c.state();
        let link = c.link();
        let waited = if state == ClientState::Waiting {
            since(c.request_time())
        } else {
            Duration::ZERO
        };
        let state_text = match (socket_state, state) {
            (false, s) => s.as_str(),
            (true, ClientState::Waiting) => "cl_waiting",
            (true, _) => "cl_active",
        };
        let i = &c.info;
        rows.push(vec![
            "C".into(),
            i.user.clone().into(),
            i.database.clone().into(),
            "none".into(),
            state_text.into(),
            i.addr.clone().into(),
            i.port.into(),
            i.local_addr.clone().into(),
            i.local_port.into(),
            timestamp(c.connect_time).into(),
            timestamp(c.request_time()).into(),
            waited.as_secs().into(),
            waited.subsec_micros().into(),
            0u32.into(),
            ptr(c.id).into(),
            link.map_or(String::new(), |s| ptr(s.id)).into(),
            i.remote_pid.into(),
            "".into(),
            i.application_name.clone().into(),
            0u32.into(),
            c.id.into(),
        ]);
    }
    rows
}

/// (database, user, state, server, linked client id, pool generation).
type ServerRow = (String, String, &'static str, ServerInfo, Option<u64>, u64);

/// Rows of SHOW SERVERS: linked servers (through the clients holding
/// them) and each pool's idle ones.
fn server_rows(shared: &Shared, socket_state: bool) -> Vec<Vec<Val>> {
    let pools: HashMap<(String, String), Arc<Pool>> = shared
        .pools()
        .into_iter()
        .map(|p| ((p.key.database.clone(), p.key.user.clone()), p))
        .collect();
    let check_delay = shared.settings().config.general.server_check_delay;
    let mut servers: Vec<ServerRow> = Vec::new();
    for c in shared.control.registry.clients() {
        let Some(s) = c.link() else { continue };
        let key = (c.info.database.clone(), c.info.pool_user.clone());
        let generation = pools.get(&key).map_or(0, |p| p.config().generation);
        servers.push((key.0, key.1, "active", s, Some(c.id), generation));
    }
    for ((db, user), pool) in &pools {
        let generation = pool.config().generation;
        for s in pool.idle_servers() {
            let state = if since(s.request_time) > check_delay {
                "used"
            } else {
                "idle"
            };
            servers.push((db.clone(), user.clone(), state, s, None, generation));
        }
    }
    servers.sort_by_key(|s| s.3.id);
    servers
        .into_iter()
        .map(|(db, user, state, s, client, generation)| {
            let state = if socket_state {
                format!("sv_{state}")
            } else {
                state.to_string()
            };
            vec![
                "S".into(),
                user.into(),
                db.into(),
                "none".into(),
                state.into(),
                s.addr.clone().into(),
                s.port.into(),
                s.local_addr.clone().into(),
                s.local_port.into(),
                timestamp(s.connect_time).into(),
                timestamp(s.request_time).into(),
                0u32.into(),
                0u32.into(),
                u32::from(s.generation < generation).into(),
                ptr(s.id).into(),
                client.map_or(String::new(), ptr).into(),
                s.remote_pid.into(),
                "".into(),
                "".into(),
                0u32.into(),
                s.id.into(),
            ]
        })
        .collect()
}

fn clients(shared: &Shared, columns: &[(&'static str, Ty)]) -> Table {
    let mut t = Table::new(columns);
    for row in client_rows(shared, false) {
        t.push(row);
    }
    t
}

fn servers(shared: &Shared, columns: &[(&'static str, Ty)]) -> Table {
    let mut t = Table::new(columns);
    for row in server_rows(shared, false) {
        t.push(row);
    }
    t
}

fn sockets(shared: &Shared) -> Table {
    let mut columns = CLIENT_COLUMNS.to_vec();
    columns.extend(SOCKET_EXTRA.iter().map(|n| (*n, Int4)));
    let mut t = Table::new(&columns);
    for mut row in client_rows(shared, true)
        .into_iter()
        .chain(server_rows(shared, true))
    {
        // Sluice keeps no per-socket buffers between messages.
        row.extend((0..SOCKET_EXTRA.len()).map(|_| Val::Int(0)));
        t.push(row);
    }
    t
}

fn databases(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("name", Text),
        ("host", Text),
        ("port", Int4),
        ("database", Text),
        ("force_user", Text),
        ("pool_size", Int4),
        ("min_pool_size", Int4),
        ("reserve_pool_size", Int4),
        ("server_lifetime", Int4),
        ("pool_mode", Text),
        ("load_balance_hosts", Text),
        ("max_connections", Int4),
        ("current_connections", Int4),
        ("max_client_connections", Int4),
        ("current_client_connections", Int4),
        ("paused", Int4),
        ("disabled", Int4),
    ]);
    for d in data::databases(shared) {
        t.push(vec![
            d.name.into(),
            d.host.into(),
            d.port.into(),
            d.database.into(),
            d.force_user.into(),
            d.pool_size.into(),
            d.min_pool_size.into(),
            d.reserve_pool_size.into(),
            d.server_lifetime.into(),
            d.pool_mode.map(|m| m.to_string()).into(),
            d.load_balance_hosts.into(),
            d.max_connections.into(),
            d.current_connections.into(),
            d.max_client_connections.into(),
            d.current_client_connections.into(),
            u32::from(d.paused).into(),
            u32::from(d.disabled).into(),
        ]);
    }
    t
}

fn users(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("name", Text),
        ("pool_size", Text),
        ("reserve_pool_size", Text),
        ("pool_mode", Text),
        ("max_user_connections", Int4),
        ("current_connections", Int4),
        ("max_user_client_connections", Int4),
        ("current_client_connections", Int4),
    ]);
    let text = |n: Option<usize>| n.map_or(String::new(), |n| n.to_string());
    for u in data::users(shared) {
        t.push(vec![
            u.name.into(),
            text(u.pool_size).into(),
            text(u.reserve_pool_size).into(),
            u.pool_mode.map(|m| m.to_string()).into(),
            u.max_user_connections.into(),
            u.current_connections.into(),
            u.max_user_client_connections.into(),
            u.current_client_connections.into(),
        ]);
    }
    t
}

fn lists(shared: &Shared) -> Table {
    let mut t = Table::new(&[("list", Text), ("items", Int4)]);
    for (name, n) in data::lists(shared) {
        t.push(vec![name.into(), n.into()]);
    }
    t
}

fn config(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("key", Text),
        ("value", Text),
        ("default", Text),
        ("changeable", Text),
    ]);
    for row in shared.settings().config.settings_table() {
        t.push(vec![
            row.key.into(),
            row.value.into(),
            row.default.into(),
            if row.changeable { "yes" } else { "no" }.into(),
        ]);
    }
    t
}

/// Starts with "PgBouncer 1.25.2" so version sniffers accept it.
pub fn version_string() -> String {
    format!(
        "PgBouncer {PGBOUNCER_VERSION} (Sluice {})",
        env!("CARGO_PKG_VERSION")
    )
}

fn version() -> Table {
    let mut t = Table::new(&[("version", Text)]);
    t.push(vec![version_string().into()]);
    t
}

/// As PgBouncer: `active` unless paused or suspended; SUSPEND shows as
/// suspended, not paused.
fn state(shared: &Shared) -> Table {
    let held = shared.control.paused_all();
    let suspended = held && shared.control.suspended();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut t = Table::new(&[("key", Text), ("value", Text)]);
    t.push(vec!["active".into(), yes_no(!held).into()]);
    t.push(vec!["paused".into(), yes_no(held && !suspended).into()]);
    t.push(vec!["suspended".into(), yes_no(suspended).into()]);
    t
}
