//! SHOW commands, with PgBouncer 1.25.2's exact column names, order and
//! wire types (see shared/reference/admin-columns-1.25.2.txt). Each SHOW
//! is one column table (`rows::Column`) and the rows it reads; values
//! come from `data` (pools, stats, registry). Features Sluice does not
//! have (peers, DNS cache, slab allocator) answer with their header and
//! no rows, which is the truth for them.

mod conns;
mod pools;
mod stats;

use bytes::BytesMut;
use sluice_config::SettingRow;
use sluice_proto::{backend, PgError};

use super::data;
use super::rows::{headers, send, Column, NoRow, Ty};
use super::{Ctx, PGBOUNCER_VERSION};
use crate::errors::PoolerError;
use crate::shared::Shared;

use Ty::{Int4, Text};

/// Answer `SHOW what`; `Ok(false)` if there is no such SHOW.
pub fn run(ctx: &Ctx<'_>, what: &str, buf: &mut BytesMut) -> Result<bool, PgError> {
    let shared = ctx.shared;
    let none = || std::iter::empty::<NoRow>();
    match what {
        "help" => help(buf),
        "pools" => pools::pools(shared, buf),
        "stats" => stats::stats(shared, buf),
        "stats_totals" => stats::stats_totals(shared, buf),
        "stats_averages" => stats::stats_averages(shared, buf),
        "totals" => stats::totals(shared, buf),
        "clients" => conns::clients(shared, buf),
        "servers" => conns::servers(shared, buf),
        "sockets" | "active_sockets" => conns::sockets(shared, buf),
        "databases" => pools::databases(shared, buf),
        "users" => pools::users(shared, buf),
        "lists" => send(LISTS, data::lists(shared), buf),
        "config" => send(CONFIG, shared.settings().config.settings_table(), buf),
        "version" => send(VERSION, [version_string()], buf),
        "state" => send(STATE, state(shared), buf),
        "mem" => send(MEM, none(), buf),
        "fds" => {
            ctx.require_admin()?;
            send(FDS, none(), buf);
        }
        "dns_hosts" => send(DNS_HOSTS, none(), buf),
        "dns_zones" => send(DNS_ZONES, none(), buf),
        "peers" => send(PEERS, none(), buf),
        "peer_pools" => send(PEER_POOLS, none(), buf),
        other => {
            let Some(&(name, value)) = FAKE_GUCS.iter().find(|(n, _)| *n == other) else {
                return Ok(false);
            };
            // The column is named after the GUC, so this table is made here.
            let column = [Column::new(name, Text, |v: &&str| (*v).into())];
            send(&column, [value], buf);
        }
    }
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

/// A notice, not a result set, as PgBouncer answers SHOW HELP.
fn help(buf: &mut BytesMut) {
    PoolerError::ConsoleUsage
        .to_pg()
        .with_detail(HELP)
        .encode_notice(buf);
    backend::command_complete("SHOW", buf);
}

const LISTS: &[Column<(&str, usize)>] = &[
    Column::new("list", Text, |r| r.0.into()),
    Column::new("items", Int4, |r| r.1.into()),
];

const CONFIG: &[Column<SettingRow>] = &[
    Column::new("key", Text, |r| r.key.into()),
    Column::new("value", Text, |r| r.value.as_str().into()),
    Column::new("default", Text, |r| r.default.as_str().into()),
    Column::new("changeable", Text, |r| yes_no(r.changeable).into()),
];

const VERSION: &[Column<String>] = &[Column::new("version", Text, |v| v.as_str().into())];

const STATE: &[Column<(&str, bool)>] = &[
    Column::new("key", Text, |r| r.0.into()),
    Column::new("value", Text, |r| yes_no(r.1).into()),
];

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Starts with "PgBouncer 1.25.2" so version sniffers accept it.
pub fn version_string() -> String {
    format!(
        "PgBouncer {PGBOUNCER_VERSION} (Sluice {})",
        env!("CARGO_PKG_VERSION")
    )
}

/// As PgBouncer: `active` unless paused or suspended; SUSPEND shows as
/// suspended, not paused.
fn state(shared: &Shared) -> [(&'static str, bool); 3] {
    let held = shared.control.paused_all();
    let suspended = held && shared.control.suspended();
    [
        ("active", !held),
        ("paused", held && !suspended),
        ("suspended", suspended),
    ]
}

const MEM: &[Column<NoRow>] =
    headers![name: Text, size: Int4, used: Int4, free: Int4, memtotal: Int4];

const FDS: &[Column<NoRow>] = headers![
    fd: Int4, task: Text, user: Text, database: Text, addr: Text, port: Int4, cancel: Int8,
    link: Int4, client_encoding: Text, std_strings: Text, datestyle: Text, timezone: Text,
    password: Text, scram_client_key: Bytea, scram_server_key: Bytea,
];

const DNS_HOSTS: &[Column<NoRow>] = headers![hostname: Text, ttl: Int8, addrs: Text];

const DNS_ZONES: &[Column<NoRow>] = headers![zonename: Text, serial: Int8, count: Int4];

const PEERS: &[Column<NoRow>] = headers![peer_id: Int4, host: Text, port: Int4, pool_size: Int4];

const PEER_POOLS: &[Column<NoRow>] = headers![
    peer_id: Int4, cl_active_cancel_req: Int4, cl_waiting_cancel_req: Int4,
    sv_active_cancel: Int4, sv_login: Int4,
];
