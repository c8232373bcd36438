//! The per-pool families: pgbouncer_exporter's SHOW POOLS gauges and
//! Sluice's own pool counters and histograms.

use crate::admin::data::PoolView;
use crate::pool::Pool;
use crate::stats::{HistogramSnapshot, PoolStats};

use super::Kind::{Counter, Gauge, Histogram};
use super::{family, load, Family, POOL};

/// SHOW POOLS per (database, user), the admin pool included. The cancel
/// and testing states do not exist in Sluice (see admin/show/pools.rs).
pub const POOLS: &[Family<PoolView>] = &[
    family(
        "pgbouncer_pools_client_active_connections",
        Gauge,
        POOL,
        "Client connections that are linked to server connection and can process queries",
        |p| p.cl_active as f64,
    ),
    family(
        "pgbouncer_pools_client_active_cancel_connections",
        Gauge,
        POOL,
        "Client connections that have forwarded query cancellations to the server",
        |_| 0.0,
    ),
    family(
        "pgbouncer_pools_client_waiting_connections",
        Gauge,
        POOL,
        "Client connections that have sent queries but have not yet got a server connection",
        |p| p.cl_waiting as f64,
    ),
    family(
        "pgbouncer_pools_client_waiting_cancel_connections",
        Gauge,
        POOL,
        "Client connections that have not forwarded query cancellations to the server yet",
        |_| 0.0,
    ),
    family(
        "pgbouncer_pools_server_active_connections",
        Gauge,
        POOL,
        "Server connections that are linked to a client",
        |p| p.sv_active as f64,
    ),
    family(
        "pgbouncer_pools_server_active_cancel_connections",
        Gauge,
        POOL,
        "Server connections that are currently forwarding a cancel request",
        |_| 0.0,
    ),
    family(
        "pgbouncer_pools_server_being_canceled_connections",
        Gauge,
        POOL,
        "Servers that normally could become idle but are waiting to do so until all in-flight cancel requests have completed",
        |_| 0.0,
    ),
    family(
        "pgbouncer_pools_server_idle_connections",
        Gauge,
        POOL,
        "Server connections that are unused and immediately usable for client queries",
        |p| p.sv_idle as f64,
    ),
    family(
        "pgbouncer_pools_server_used_connections",
        Gauge,
        POOL,
        "Server connections that have been idle for more than server_check_delay",
        |p| p.sv_used as f64,
    ),
    family(
        "pgbouncer_pools_server_testing_connections",
        Gauge,
        POOL,
        "Server connections that are currently running either server_reset_query or server_check_query",
        |_| 0.0,
    ),
    family(
        "pgbouncer_pools_server_login_connections",
        Gauge,
        POOL,
        "Server connections currently in the process of logging in",
        |p| p.sv_login as f64,
    ),
    family(
        "pgbouncer_pools_client_maxwait_seconds",
        Gauge,
        POOL,
        "Age of oldest unserved client connection, in seconds",
        |p| p.maxwait.as_secs() as f64,
    ),
];

/// Sluice's own, per real pool (not the admin console's).
pub const POOL_STATE: &[Family<Pool>] = &[family(
    "sluice_pool_paused",
    Gauge,
    POOL,
    "1 while the pool holds new queries (PAUSE, KILL)",
    |p| f64::from(u8::from(p.is_paused())),
)];

/// Counters come from u64 atomics; as f64 they are exact below 2^53.
pub const POOL_COUNTERS: &[Family<PoolStats>] = &[
    family(
        "sluice_pool_client_parses_total",
        Counter,
        POOL,
        "Parse messages of named statements received from clients of this pool",
        |s| load(&s.client_parse_count),
    ),
    family(
        "sluice_pool_server_parses_total",
        Counter,
        POOL,
        "Parse messages sent to servers of this pool (client parses minus these are registry hits)",
        |s| load(&s.server_parse_count),
    ),
    family(
        "sluice_pool_binds_total",
        Counter,
        POOL,
        "Bind messages of named statements received from clients of this pool",
        |s| load(&s.bind_count),
    ),
    family(
        "sluice_pool_received_bytes_total",
        Counter,
        POOL,
        "Bytes received from clients of this pool",
        |s| load(&s.bytes_received),
    ),
    family(
        "sluice_pool_sent_bytes_total",
        Counter,
        POOL,
        "Bytes sent to clients of this pool",
        |s| load(&s.bytes_sent),
    ),
    family(
        "sluice_pool_server_assignments_total",
        Counter,
        POOL,
        "Times a server of this pool was assigned to a client",
        |s| load(&s.server_assignment_count),
    ),
];

pub const POOL_HISTOGRAMS: &[Family<PoolStats, HistogramSnapshot>] = &[
    family(
        "sluice_client_wait_seconds",
        Histogram,
        POOL,
        "Time clients waited for a server connection",
        |s| s.wait_hist.snapshot(),
    ),
    family(
        "sluice_transaction_seconds",
        Histogram,
        POOL,
        "Time a server stayed linked to a client in transaction and statement mode",
        |s| s.xact_hist.snapshot(),
    ),
    family(
        "sluice_query_seconds",
        Histogram,
        POOL,
        "Time from a client's request to the ReadyForQuery that settles it",
        |s| s.query_hist.snapshot(),
    ),
];
