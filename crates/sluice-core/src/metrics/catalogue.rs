//! Every metric `/metrics` exports, declared once: name, help, kind and
//! label names, with the value it reads from its source. The renderer
//! walks these tables; it never decides a name or a type itself.
//!
//! `pgbouncer_*` names, help texts and labels are pgbouncer_exporter's
//! (dashboards and alerts match on them); Sluice's own are `sluice_*`.

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_config::General;

use crate::admin::data::{Counters, DbView};
use crate::shared::Shared;

mod pools;
pub use pools::{POOLS, POOL_COUNTERS, POOL_HISTOGRAMS, POOL_STATE};

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

use Kind::{Counter, Gauge, SecondsCounter};

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

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

/// Instance-wide, unlabelled.
pub const INSTANCE: &[Family<Shared>] = &[
    family(
        "sluice_cancel_requests_total",
        Counter,
        &[],
        "Cancel requests received from clients",
        |s| load(&s.cancel_requests),
    ),
    family(
        "sluice_tls_handshakes_total",
        Counter,
        &[],
        "TLS handshakes with clients that completed",
        |s| load(&s.tls_handshakes.completed),
    ),
    family(
        "sluice_tls_handshake_failures_total",
        Counter,
        &[],
        "TLS handshakes with clients that failed (bad hello, certificate, ALPN)",
        |s| load(&s.tls_handshakes.failed),
    ),
    family(
        "sluice_server_tls_handshakes_total",
        Counter,
        &[],
        "TLS handshakes with servers (logins and cancels) that completed",
        |s| load(&s.server_tls_handshakes.completed),
    ),
    family(
        "sluice_server_tls_handshake_failures_total",
        Counter,
        &[],
        "TLS handshakes with servers that failed (verification, protocol)",
        |s| load(&s.server_tls_handshakes.failed),
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
