//! SHOW POOLS, DATABASES and USERS: one row per `data` view.

use bytes::BytesMut;

use crate::admin::data::{self, DbView, PoolView, UserView};
use crate::admin::rows::{send, zero, Column, Ty, Val};
use crate::shared::Shared;

use Ty::{Int4, Text};

pub fn pools(shared: &Shared, buf: &mut BytesMut) {
    send(POOLS, data::pools(shared), buf);
}

pub fn databases(shared: &Shared, buf: &mut BytesMut) {
    send(DATABASES, data::databases(shared), buf);
}

pub fn users(shared: &Shared, buf: &mut BytesMut) {
    send(USERS, data::users(shared), buf);
}

/// The cancel and `sv_tested` columns are 0: Sluice forwards each cancel
/// as it arrives without counting it per pool, and runs
/// `server_check_query` inside the checkout, so it tracks neither state.
#[rustfmt::skip]
const POOLS: &[Column<PoolView>] = &[
    Column::new("database", Text, |p| p.database.as_str().into()),
    Column::new("user", Text, |p| p.user.as_str().into()),
    Column::new("cl_active", Int4, |p| p.cl_active.into()),
    Column::new("cl_waiting", Int4, |p| p.cl_waiting.into()),
    Column::new("cl_active_cancel_req", Int4, zero),
    Column::new("cl_waiting_cancel_req", Int4, zero),
    Column::new("sv_active", Int4, |p| p.sv_active.into()),
    Column::new("sv_active_cancel", Int4, zero),
    Column::new("sv_being_canceled", Int4, zero),
    Column::new("sv_idle", Int4, |p| p.sv_idle.into()),
    Column::new("sv_used", Int4, |p| p.sv_used.into()),
    Column::new("sv_tested", Int4, zero),
    Column::new("sv_login", Int4, |p| p.sv_login.into()),
    Column::new("maxwait", Int4, |p| p.maxwait.as_secs().into()),
    Column::new("maxwait_us", Int4, |p| p.maxwait.subsec_micros().into()),
    Column::new("pool_mode", Text, |p| p.pool_mode.to_string().into()),
    Column::new("load_balance_hosts", Text, |p| p.load_balance_hosts.clone().into()),
];

#[rustfmt::skip]
const DATABASES: &[Column<DbView>] = &[
    Column::new("name", Text, |d| d.name.as_str().into()),
    Column::new("host", Text, |d| d.host.clone().into()),
    Column::new("port", Int4, |d| d.port.into()),
    Column::new("database", Text, |d| d.database.as_str().into()),
    Column::new("force_user", Text, |d| d.force_user.clone().into()),
    Column::new("pool_size", Int4, |d| d.pool_size.into()),
    Column::new("min_pool_size", Int4, |d| d.min_pool_size.into()),
    Column::new("reserve_pool_size", Int4, |d| d.reserve_pool_size.into()),
    Column::new("server_lifetime", Int4, |d| d.server_lifetime.into()),
    Column::new("pool_mode", Text, |d| d.pool_mode.map(|m| m.to_string()).into()),
    Column::new("load_balance_hosts", Text, |d| d.load_balance_hosts.clone().into()),
    Column::new("max_connections", Int4, |d| d.max_connections.into()),
    Column::new("current_connections", Int4, |d| d.current_connections.into()),
    Column::new("max_client_connections", Int4, |d| d.max_client_connections.into()),
    Column::new("current_client_connections", Int4, |d| d.current_client_connections.into()),
    Column::new("paused", Int4, |d| u32::from(d.paused).into()),
    Column::new("disabled", Int4, |d| u32::from(d.disabled).into()),
];

/// PgBouncer sends a user's pool sizes as text, empty when unset.
fn optional_count(n: Option<usize>) -> Val {
    n.map_or(String::new(), |n| n.to_string()).into()
}

#[rustfmt::skip]
const USERS: &[Column<UserView>] = &[
    Column::new("name", Text, |u| u.name.as_str().into()),
    Column::new("pool_size", Text, |u| optional_count(u.pool_size)),
    Column::new("reserve_pool_size", Text, |u| optional_count(u.reserve_pool_size)),
    Column::new("pool_mode", Text, |u| u.pool_mode.map(|m| m.to_string()).into()),
    Column::new("max_user_connections", Int4, |u| u.max_user_connections.into()),
    Column::new("current_connections", Int4, |u| u.current_connections.into()),
    Column::new("max_user_client_connections", Int4, |u| u.max_user_client_connections.into()),
    Column::new("current_client_connections", Int4, |u| u.current_client_connections.into()),
];
