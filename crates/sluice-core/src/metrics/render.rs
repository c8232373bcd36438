//! The `/metrics` body: exporter-named families from the admin console's
//! data, rendered through a per-scrape `PrometheusRecorder` (gauges,
//! integer counters) plus text (fractional counters, histograms).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use metrics_exporter_prometheus::PrometheusBuilder;

use crate::admin::data::{self, Counters};
use crate::admin::PGBOUNCER_VERSION;
use crate::shared::Shared;
use crate::stats::{HistogramSnapshot, HISTOGRAM_BOUNDS};

/// How the family being written is exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Kind {
    /// A gauge in the scrape's `PrometheusRecorder`.
    Gauge,
    /// An integer counter in the scrape's `PrometheusRecorder`.
    Counter,
    /// Written as text here: histograms from the pools' lock-free
    /// buckets, and counters of fractional seconds (the `metrics` crate's
    /// counters are integers; the exporter's `*_seconds_total` are not).
    #[default]
    Text,
}

/// One scrape's writer. Gauges and integer counters go to the
/// `PrometheusRecorder` that `render` installs as the thread's local
/// recorder; everything else is appended as text.
#[derive(Debug, Default)]
struct Out {
    text: String,
    kind: Kind,
}

type Labels<'a> = &'a [(&'a str, &'a str)];

fn metric_labels(labels: Labels<'_>) -> Vec<metrics::Label> {
    labels
        .iter()
        .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
        .collect()
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.kind = match kind {
            "gauge" => Kind::Gauge,
            "counter" if !name.ends_with("_seconds_total") => Kind::Counter,
            _ => Kind::Text,
        };
        match self.kind {
            Kind::Gauge => metrics::describe_gauge!(name.to_string(), help.to_string()),
            Kind::Counter => metrics::describe_counter!(name.to_string(), help.to_string()),
            Kind::Text => {
                let _ = writeln!(self.text, "# HELP {name} {help}");
                let _ = writeln!(self.text, "# TYPE {name} {kind}");
            }
        }
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        match self.kind {
            Kind::Gauge => metrics::gauge!(name.to_string(), metric_labels(labels)).set(value),
            Kind::Counter => {
                // Counters here come from u64 atomics; the cast back is exact
                // below 2^53.
                metrics::counter!(name.to_string(), metric_labels(labels)).absolute(value as u64)
            }
            Kind::Text => self.text_sample(name, labels, value),
        }
    }

    fn text_sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn histogram(&mut self, name: &str, labels: Labels<'_>, h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = HISTOGRAM_BOUNDS
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.text_sample(&bucket, &with_le, *count as f64);
        }
        self.text_sample(&format!("{name}_sum"), labels, h.sum_seconds);
        let total = h.cumulative.last().copied().unwrap_or(0);
        self.text_sample(&format!("{name}_count"), labels, total as f64);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Per-database counters as the exporter names them: (suffix, help,
/// value of a `Counters`; µs converted to seconds).
type CounterDef = (&'static str, &'static str, fn(&Counters) -> f64);

const STATS_TOTALS: [CounterDef; 10] = [
    (
        "queries_pooled_total",
        "Total number of SQL queries pooled",
        |c| c.query_count as f64,
    ),
    (
        "queries_duration_seconds_total",
        "Total number of seconds spent waiting for queries",
        |c| c.query_time as f64 / 1e6,
    ),
    (
        "received_bytes_total",
        "Total volume in bytes of network traffic received by pgbouncer",
        |c| c.bytes_received as f64,
    ),
    (
        "sent_bytes_total",
        "Total volume in bytes of network traffic sent by pgbouncer",
        |c| c.bytes_sent as f64,
    ),
    (
        "client_wait_seconds_total",
        "Time spent by clients waiting for a server in seconds",
        |c| c.wait_time as f64 / 1e6,
    ),
    (
        "sql_transactions_pooled_total",
        "Total number of SQL transactions pooled",
        |c| c.xact_count as f64,
    ),
    (
        "server_in_transaction_seconds_total",
        "Total number of seconds spent by pgbouncer when connected to PostgreSQL in a transaction",
        |c| c.xact_time as f64 / 1e6,
    ),
    (
        "client_parses_total",
        "Total number of prepared statements created by clients",
        |c| c.client_parse_count as f64,
    ),
    (
        "server_parses_total",
        "Total number of prepared statements created on a server",
        |c| c.server_parse_count as f64,
    ),
    (
        "binds_total",
        "Total number of prepared statements readied for execution by clients",
        |c| c.bind_count as f64,
    ),
];

const SERVER_ASSIGNMENTS: CounterDef = (
    "server_assignments_total",
    "Total number of times a server was assigned to a client",
    |c| c.server_assignment_count as f64,
);

/// Render every metric. Each scrape builds its own `PrometheusRecorder`
/// and installs it with `metrics::with_local_recorder` for the duration
/// of the render, so nothing is global (many instances can share a
/// process) and no series outlives the pool or client it describes.
pub fn render(shared: &Shared) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut out = Out::default();
    metrics::with_local_recorder(&recorder, || render_into(&mut out, shared));
    let mut text = recorder.handle().render();
    text.push_str(&out.text);
    text
}

fn render_into(out: &mut Out, shared: &Shared) {
    out.single(
        "pgbouncer_up",
        "gauge",
        "The pgbouncer scrape succeeded",
        1.0,
    );
    out.family(
        "pgbouncer_version_info",
        "gauge",
        "The pgbouncer version info",
    );
    out.sample(
        "pgbouncer_version_info",
        &[("version", PGBOUNCER_VERSION)],
        1.0,
    );
    render_lists(out, shared);
    render_config(out, shared);
    render_clients(out, shared);
    render_databases(out, shared);
    render_stats(out, shared);
    render_pools(out, shared);
    out.single(
        "sluice_cancel_requests_total",
        "counter",
        "Cancel requests received from clients",
        shared.cancel_requests.load(Ordering::Relaxed) as f64,
    );
    let usage = shared.prepared.usage();
    out.single(
        "sluice_prepared_statements",
        "gauge",
        "Distinct prepared statements in the shared registry (transaction/statement mode)",
        usage.entries as f64,
    );
    out.single(
        "sluice_prepared_statements_bytes",
        "gauge",
        "Bytes of statement text held by the shared prepared-statement registry",
        usage.bytes as f64,
    );
}

fn render_lists(out: &mut Out, shared: &Shared) {
    for (list, n) in data::lists(shared) {
        let (name, help) = match list {
            "databases" => ("pgbouncer_databases", "Count of databases"),
            "users" => ("pgbouncer_users", "Count of users"),
            "pools" => ("pgbouncer_pools", "Count of pools"),
            "free_clients" => ("pgbouncer_free_clients", "Count of free clients"),
            "used_clients" => ("pgbouncer_used_clients", "Count of used clients"),
            "login_clients" => ("pgbouncer_login_clients", "Count of clients in login state"),
            "free_servers" => ("pgbouncer_free_servers", "Count of free servers"),
            "used_servers" => ("pgbouncer_used_servers", "Count of used servers"),
            "dns_names" => (
                "pgbouncer_cached_dns_names",
                "Count of DNS names in the cache",
            ),
            "dns_zones" => (
                "pgbouncer_cached_dns_zones",
                "Count of DNS zones in the cache",
            ),
            "dns_queries" => (
                "pgbouncer_in_flight_dns_queries",
                "Count of in-flight DNS queries",
            ),
            _ => continue,
        };
        out.single(name, "gauge", help, n as f64);
    }
}

fn render_config(out: &mut Out, shared: &Shared) {
    let settings = shared.settings();
    let g = &settings.config.general;
    out.single(
        "pgbouncer_config_max_client_connections",
        "gauge",
        "Config maximum number of client connections",
        g.max_client_conn as f64,
    );
    out.single(
        "pgbouncer_config_max_user_connections",
        "gauge",
        "Config maximum number of server connections per user",
        g.max_user_connections as f64,
    );
}

fn render_clients(out: &mut Out, shared: &Shared) {
    let mut counts: BTreeMap<(String, String, String, &'static str), usize> = BTreeMap::new();
    for c in shared.control.registry.clients() {
        let i = &c.info;
        *counts
            .entry((
                i.database.clone(),
                i.user.clone(),
                i.application_name.clone(),
                c.state().as_str(),
            ))
            .or_default() += 1;
    }
    out.family(
        "pgbouncer_client_connections",
        "gauge",
        "Client connections by database, user, application_name and state",
    );
    for ((db, user, app, state), n) in counts {
        out.sample(
            "pgbouncer_client_connections",
            &[
                ("database", &db),
                ("user", &user),
                ("application_name", &app),
                ("state", state),
            ],
            n as f64,
        );
    }
}

fn render_databases(out: &mut Out, shared: &Shared) {
    let dbs = data::databases(shared);
    type DbGauge = (&'static str, &'static str, fn(&data::DbView) -> f64);
    let gauges: [DbGauge; 6] = [
        ("pool_size", "Maximum number of server connections", |d| {
            d.pool_size as f64
        }),
        (
            "reserve_pool",
            "Maximum number of additional connections for this database",
            |d| d.reserve_pool_size as f64,
        ),
        (
            "max_connections",
            "Maximum number of allowed connections for this database",
            |d| d.max_connections as f64,
        ),
        (
            "current_connections",
            "Current number of connections for this database",
            |d| d.current_connections as f64,
        ),
        (
            "paused",
            "1 if this database is currently paused, else 0",
            |d| f64::from(u8::from(d.paused)),
        ),
        (
            "disabled",
            "1 if this database is currently disabled, else 0",
            |d| f64::from(u8::from(d.disabled)),
        ),
    ];
    for (suffix, help, value) in gauges {
        let name = format!("pgbouncer_databases_{suffix}");
        out.family(&name, "gauge", help);
        for d in &dbs {
            let port = d.port.to_string();
            let mode = d.pool_mode.map(|m| m.to_string()).unwrap_or_default();
            out.sample(
                &name,
                &[
                    ("name", &d.name),
                    ("host", d.host.as_deref().unwrap_or("")),
                    ("port", &port),
                    ("database", &d.database),
                    ("force_user", d.force_user.as_deref().unwrap_or("")),
                    ("pool_mode", &mode),
                ],
                value(d),
            );
        }
    }
}

fn render_stats(out: &mut Out, shared: &Shared) {
    let totals = data::totals_by_db(shared);
    let mut current: Vec<CounterDef> = STATS_TOTALS.to_vec();
    current.push(SERVER_ASSIGNMENTS);
    for (prefix, defs) in [
        ("pgbouncer_stats_totals_", &current[..]),
        // The pre-0.11 exporter names, still used by common dashboards.
        ("pgbouncer_stats_", &STATS_TOTALS[..7]),
    ] {
        for (suffix, help, value) in defs {
            let name = format!("{prefix}{suffix}");
            out.family(&name, "counter", help);
            for (db, c) in &totals {
                out.sample(&name, &[("database", db)], value(c));
            }
        }
    }
}

fn render_pools(out: &mut Out, shared: &Shared) {
    let pools = data::pools(shared);
    type PoolGauge = (&'static str, &'static str, fn(&data::PoolView) -> f64);
    let gauges: [PoolGauge; 12] = [
        ("client_active_connections", "Client connections that are linked to server connection and can process queries", |p| p.cl_active as f64),
        ("client_active_cancel_connections", "Client connections that have forwarded query cancellations to the server", |_| 0.0),
        ("client_waiting_connections", "Client connections that have sent queries but have not yet got a server connection", |p| p.cl_waiting as f64),
        ("client_waiting_cancel_connections", "Client connections that have not forwarded query cancellations to the server yet", |_| 0.0),
        ("server_active_connections", "Server connections that are linked to a client", |p| p.sv_active as f64),
        ("server_active_cancel_connections", "Server connections that are currently forwarding a cancel request", |_| 0.0),
        ("server_being_canceled_connections", "Servers that normally could become idle but are waiting to do so until all in-flight cancel requests have completed", |_| 0.0),
        ("server_idle_connections", "Server connections that are unused and immediately usable for client queries", |p| p.sv_idle as f64),
        ("server_used_connections", "Server connections that have been idle for more than server_check_delay", |p| p.sv_used as f64),
        ("server_testing_connections", "Server connections that are currently running either server_reset_query or server_check_query", |_| 0.0),
        ("server_login_connections", "Server connections currently in the process of logging in", |p| p.sv_login as f64),
        ("client_maxwait_seconds", "Age of oldest unserved client connection, in seconds", |p| p.maxwait.as_secs() as f64),
    ];
    for (suffix, help, value) in gauges {
        let name = format!("pgbouncer_pools_{suffix}");
        out.family(&name, "gauge", help);
        for p in &pools {
            out.sample(
                &name,
                &[("database", &p.database), ("user", &p.user)],
                value(p),
            );
        }
    }
    let real: Vec<_> = pools.iter().filter_map(|p| p.pool.as_ref()).collect();
    out.family(
        "sluice_pool_paused",
        "gauge",
        "1 while the pool holds new queries (PAUSE, KILL)",
    );
    for p in &real {
        let labels = [
            ("database", p.key.database.as_str()),
            ("user", p.key.user.as_str()),
        ];
        out.sample(
            "sluice_pool_paused",
            &labels,
            f64::from(u8::from(p.is_paused())),
        );
    }
    type PoolCounter = (
        &'static str,
        &'static str,
        fn(&crate::stats::PoolStats) -> u64,
    );
    let counters: [PoolCounter; 6] = [
        (
            "sluice_pool_client_parses_total",
            "Parse messages of named statements received from clients of this pool",
            |s| s.client_parse_count.load(Ordering::Relaxed),
        ),
        (
            "sluice_pool_server_parses_total",
            "Parse messages sent to servers of this pool (client parses minus these are registry hits)",
            |s| s.server_parse_count.load(Ordering::Relaxed),
        ),
        (
            "sluice_pool_binds_total",
            "Bind messages of named statements received from clients of this pool",
            |s| s.bind_count.load(Ordering::Relaxed),
        ),
        (
            "sluice_pool_received_bytes_total",
            "Bytes received from clients of this pool",
            |s| s.bytes_received.load(Ordering::Relaxed),
        ),
        (
            "sluice_pool_sent_bytes_total",
            "Bytes sent to clients of this pool",
            |s| s.bytes_sent.load(Ordering::Relaxed),
        ),
        (
            "sluice_pool_server_assignments_total",
            "Times a server of this pool was assigned to a client",
            |s| s.server_assignment_count.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        for p in &real {
            let labels = [
                ("database", p.key.database.as_str()),
                ("user", p.key.user.as_str()),
            ];
            out.sample(name, &labels, value(&p.stats) as f64);
        }
    }
    out.family(
        "sluice_client_wait_seconds",
        "histogram",
        "Time clients waited for a server connection",
    );
    for p in &real {
        let labels = [
            ("database", p.key.database.as_str()),
            ("user", p.key.user.as_str()),
        ];
        out.histogram(
            "sluice_client_wait_seconds",
            &labels,
            &p.stats.wait_hist.snapshot(),
        );
    }
    out.family(
        "sluice_transaction_seconds",
        "histogram",
        "Time a server stayed linked to a client in transaction and statement mode",
    );
    for p in &real {
        let labels = [
            ("database", p.key.database.as_str()),
            ("user", p.key.user.as_str()),
        ];
        out.histogram(
            "sluice_transaction_seconds",
            &labels,
            &p.stats.xact_hist.snapshot(),
        );
    }
    out.family(
        "sluice_query_seconds",
        "histogram",
        "Time from a client's request to the ReadyForQuery that settles it",
    );
    for p in &real {
        let labels = [
            ("database", p.key.database.as_str()),
            ("user", p.key.user.as_str()),
        ];
        out.histogram(
            "sluice_query_seconds",
            &labels,
            &p.stats.query_hist.snapshot(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scrape_has_its_own_recorder() {
        let settings = crate::Settings {
            config: Default::default(),
            userlist: Default::default(),
        };
        let (a, b) = (Shared::new(settings.clone()), Shared::new(settings));
        a.cancel_requests.store(3, Ordering::Relaxed);
        let (text_a, text_b) = (render(&a), render(&b));
        for text in [&text_a, &text_b] {
            assert!(
                text.contains("# TYPE pgbouncer_up gauge\npgbouncer_up 1\n"),
                "{text}"
            );
            assert!(
                text.contains("# TYPE sluice_cancel_requests_total counter\n"),
                "{text}"
            );
            assert!(
                text.contains("pgbouncer_version_info{version=\"1.25.2\"} 1\n"),
                "{text}"
            );
        }
        assert!(
            text_a.contains("sluice_cancel_requests_total 3\n"),
            "{text_a}"
        );
        assert!(
            text_b.contains("sluice_cancel_requests_total 0\n"),
            "{text_b}"
        );
        // Nothing leaked into the global recorder or the next scrape (the
        // recorder orders families as it likes, so compare line sets).
        let lines = |t: &str| {
            let mut v: Vec<String> = t
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        assert_eq!(lines(&render(&b)), lines(&text_b));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histogram_lines() {
        let mut out = Out::default();
        let h = HistogramSnapshot {
            cumulative: (0..=HISTOGRAM_BOUNDS.len() as u64).collect(),
            sum_seconds: 1.5,
        };
        out.histogram("x", &[("database", "d")], &h);
        assert!(out
            .text
            .contains("x_bucket{database=\"d\",le=\"0.0005\"} 0\n"));
        assert!(out
            .text
            .contains("x_bucket{database=\"d\",le=\"+Inf\"} 14\n"));
        assert!(out.text.contains("x_sum{database=\"d\"} 1.5\n"));
        assert!(out.text.contains("x_count{database=\"d\"} 14\n"));
    }
}
