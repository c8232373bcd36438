//! Every metric `/metrics` exports, declared once: name, help, kind and
//! label names, with the value it reads from its source. The renderer
//! walks these tables; it never decides a name or a type itself.
//!
//! `pgbouncer_*` names, help texts and labels are pgbouncer_exporter's
//! (dashboards and alerts match on them); Sluice's own are `sluice_*`.

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_config::General;

use crate::admin::data::{Counters, DbView, PoolView};
use crate::pool::Pool;
use crate::shared::Shared;
use crate::stats::{HistogramSnapshot, PoolStats};

/// A family's Prometheus type, and so how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Through the scrape's `PrometheusRecorder`.
    Gauge,
    /// An integer counter, through the scrape's `PrometheusRecorder`.
    Counter,
    /// A counter of fractional seconds, written as text: the `metrics`
    /// facade's counters are integers, the exporter's `*_seconds_total`
    /// are not.
    SecondsCounter,
    /// Written as text from the pools' lock-free buckets.
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter | Kind::SecondsCounter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One family: what is exported under `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names; each sample gives their values in this order.
    pub labels: &'static [&'static str],
}

/// A family whose value is read from a source `S` (a pool, a database…).
pub struct Family<S, V = f64> {
    pub metric: Metric,
    pub value: fn(&S) -> V,
    /// The same family again under pgbouncer_exporter's pre-0.11 name,
    /// which common dashboards still query.
    pub legacy_name: Option<&'static str>,
}

/// `family`, also exported under pgbouncer_exporter's older `name`.
const fn legacy<S, V>(name: &'static str, family: Family<S, V>) -> Family<S, V> {
    Family {
        legacy_name: Some(name),
        ..family
    }
}

const fn family<S, V>(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
    value: fn(&S) -> V,
) -> Family<S, V> {
    Family {
        metric: Metric {
            name,
            help,
            kind,
            labels,
        },
        value,
        legacy_name: None,
    }
}

use Kind::{Counter, Gauge, Histogram, SecondsCounter};

pub const DATABASE: &[&str] = &["database"];
pub const POOL: &[&str] = &["database", "user"];
pub const DB_CONFIG: &[&str] = &[
    "name",
    "host",
    "port",
    "database",
    "force_user",
    "pool_mode",
];

pub const UP: Metric = Metric {
    name: "pgbouncer_up",
    help: "The pgbouncer scrape succeeded",
    kind: Gauge,
    labels: &[],
};

pub const VERSION_INFO: Metric = Metric {
    name: "pgbouncer_version_info",
    help: "The pgbouncer version info",
    kind: Gauge,
    labels: &["version"],
};

/// SHOW LISTS rows that the exporter exports, by row name.
#[rustfmt::skip]
pub const LISTS: &[(&str, Metric)] = &[
    ("databases", list("pgbouncer_databases", "Count of databases")),
    ("users", list("pgbouncer_users", "Count of users")),
    ("pools", list("pgbouncer_pools", "Count of pools")),
    ("free_clients", list("pgbouncer_free_clients", "Count of free clients")),
    ("used_clients", list("pgbouncer_used_clients", "Count of used clients")),
    ("login_clients", list("pgbouncer_login_clients", "Count of clients in login state")),
    ("free_servers", list("pgbouncer_free_servers", "Count of free servers")),
    ("used_servers", list("pgbouncer_used_servers", "Count of used servers")),
    ("dns_names", list("pgbouncer_cached_dns_names", "Count of DNS names in the cache")),
    ("dns_zones", list("pgbouncer_cached_dns_zones", "Count of DNS zones in the cache")),
    ("dns_queries", list("pgbouncer_in_flight_dns_queries", "Count of in-flight DNS queries")),
];

const fn list(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        help,
        kind: Gauge,
        labels: &[],
    }
}

pub const CONFIG: &[Family<General>] = &[
    family(
        "pgbouncer_config_max_client_connections",
        Gauge,
        &[],
        "Config maximum number of client connections",
        |g| g.max_client_conn as f64,
    ),
    family(
        "pgbouncer_config_max_user_connections",
        Gauge,
        &[],
        "Config maximum number of server connections per user",
        |g| g.max_user_connections as f64,
    ),
];

/// Client counts; `application_name` is bounded (see `clients.rs`).
pub const CLIENT_CONNECTIONS: Metric = Metric {
    name: "pgbouncer_client_connections",
    help: "Client connections by database, user, application_name and state",
    kind: Gauge,
    labels: &["database", "user", "application_name", "state"],
};

pub const DATABASES: &[Family<DbView>] = &[
    family(
        "pgbouncer_databases_pool_size",
        Gauge,
        DB_CONFIG,
        "Maximum number of server connections",
        |d| d.pool_size as f64,
    ),
    family(
        "pgbouncer_databases_reserve_pool",
        Gauge,
        DB_CONFIG,
        "Maximum number of additional connections for this database",
        |d| d.reserve_pool_size as f64,
    ),
    family(
        "pgbouncer_databases_max_connections",
        Gauge,
        DB_CONFIG,
        "Maximum number of allowed connections for this database",
        |d| d.max_connections as f64,
    ),
    family(
        "pgbouncer_databases_current_connections",
        Gauge,
        DB_CONFIG,
        "Current number of connections for this database",
        |d| d.current_connections as f64,
    ),
    family(
        "pgbouncer_databases_paused",
        Gauge,
        DB_CONFIG,
        "1 if this database is currently paused, else 0",
        |d| f64::from(u8::from(d.paused)),
    ),
    family(
        "pgbouncer_databases_disabled",
        Gauge,
        DB_CONFIG,
        "1 if this database is currently disabled, else 0",
        |d| f64::from(u8::from(d.disabled)),
    ),
];

/// SHOW STATS_TOTALS per database; times are µs there, seconds here.
pub const STATS_TOTALS: &[Family<Counters>] = &[
    legacy(
        "pgbouncer_stats_queries_pooled_total",
        family(
            "pgbouncer_stats_totals_queries_pooled_total",
            Counter,
            DATABASE,
            "Total number of SQL queries pooled",
            |c| c.query_count as f64,
        ),
    ),
    legacy(
        "pgbouncer_stats_queries_duration_seconds_total",
        family(
            "pgbouncer_stats_totals_queries_duration_seconds_total",
            SecondsCounter,
            DATABASE,
            "Total number of seconds spent waiting for queries",
            |c| c.query_time as f64 / 1e6,
        ),
    ),
    legacy(
        "pgbouncer_stats_received_bytes_total",
        family(
            "pgbouncer_stats_totals_received_bytes_total",
            Counter,
            DATABASE,
            "Total volume in bytes of network traffic received by pgbouncer",
            |c| c.bytes_received as f64,
        ),
    ),
    legacy(
        "pgbouncer_stats_sent_bytes_total",
        family(
            "pgbouncer_stats_totals_sent_bytes_total",
            Counter,
            DATABASE,
            "Total volume in bytes of network traffic sent by pgbouncer",
            |c| c.bytes_sent as f64,
        ),
    ),
    legacy(
        "pgbouncer_stats_client_wait_seconds_total",
        family(
            "pgbouncer_stats_totals_client_wait_seconds_total",
            SecondsCounter,
            DATABASE,
            "Time spent by clients waiting for a server in seconds",
            |c| c.wait_time as f64 / 1e6,
        ),
    ),
    legacy(
        "pgbouncer_stats_sql_transactions_pooled_total",
        family(
            "pgbouncer_stats_totals_sql_transactions_pooled_total",
            Counter,
            DATABASE,
            "Total number of SQL transactions pooled",
            |c| c.xact_count as f64,
        ),
    ),
    legacy(
        "pgbouncer_stats_server_in_transaction_seconds_total",
        family(
            "pgbouncer_stats_totals_server_in_transaction_seconds_total",
            SecondsCounter,
            DATABASE,
            "Total number of seconds spent by pgbouncer when connected to PostgreSQL in a transaction",
            |c| c.xact_time as f64 / 1e6,
        ),
    ),
    family(
        "pgbouncer_stats_totals_client_parses_total",
        Counter,
        DATABASE,
        "Total number of prepared statements created by clients",
        |c| c.client_parse_count as f64,
    ),
    family(
        "pgbouncer_stats_totals_server_parses_total",
        Counter,
        DATABASE,
        "Total number of prepared statements created on a server",
        |c| c.server_parse_count as f64,
    ),
    family(
        "pgbouncer_stats_totals_binds_total",
        Counter,
        DATABASE,
        "Total number of prepared statements readied for execution by clients",
        |c| c.bind_count as f64,
    ),
    family(
        "pgbouncer_stats_totals_server_assignments_total",
        Counter,
        DATABASE,
        "Total number of times a server was assigned to a client",
        |c| c.server_assignment_count as f64,
    ),
];

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

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

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

/// Instance-wide, unlabelled.
pub const INSTANCE: &[Family<Shared>] = &[
    family(
        "sluice_cancel_requests_total",
        Counter,
        &[],
        "Cancel requests received from clients",
        |s| load(&s.admin.cancel_requests),
    ),
    family(
        "sluice_prepared_statements",
        Gauge,
        &[],
        "Distinct prepared statements in the shared registry (transaction/statement mode)",
        |s| s.prepared.usage().entries as f64,
    ),
    family(
        "sluice_prepared_statements_bytes",
        Gauge,
        &[],
        "Bytes of statement text held by the shared prepared-statement registry",
        |s| s.prepared.usage().bytes as f64,
    ),
];
