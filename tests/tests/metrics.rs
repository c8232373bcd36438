//! The Prometheus endpoint against a real PostgreSQL: `/metrics` parses
//! as the text exposition format, carries pgbouncer_exporter's names
//! with the exporter's types, and its numbers agree with SHOW
//! STATS_TOTALS / SHOW POOLS; `/healthz` and `/readyz` follow PAUSE.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use sluice_tests::clients::connect;
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::sluice::{own_role, test_ini, TestSluice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::SimpleQueryMessage;

const HOST: &str = "127.0.0.1";

type Labels = BTreeMap<String, String>;

/// A parsed scrape: `# TYPE` per family and every sample.
#[derive(Debug, Default)]
struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<(String, Labels, f64)>,
}

impl Scrape {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(matching.len(), 1, "{name}{labels:?}: {matching:?}");
        matching[0]
    }
}

/// A strict parser of the text format: anything unexpected panics.
fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                s.types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let name_end = line.find(['{', ' ']).expect("a value");
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        let mut rest = &line[name_end..];
        let mut labels = Labels::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices();
            let mut key = String::new();
            let end = loop {
                let (i, c) = chars.next().expect("unterminated labels");
                match c {
                    '}' => break i,
                    ',' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        loop {
                            match chars.next().expect("unterminated value").1 {
                                '\\' => match chars.next().expect("escape").1 {
                                    'n' => value.push('\n'),
                                    c => value.push(c),
                                },
                                '"' => break,
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            };
            rest = &inner[end + 1..];
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| s.types.get(*base).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            s.types.contains_key(family),
            "sample before its TYPE: {line}"
        );
        s.samples.push((name.to_string(), labels, value));
    }
    s
}

/// GET `path`; (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_string())
}

fn show_row(messages: &[SimpleQueryMessage], key_col: &str, key: &str) -> HashMap<String, String> {
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) if r.get(key_col) == Some(key) => Some(
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), r.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no row {key_col}={key}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_exporter_names_and_agree_with_the_console() {
    let pg = PgServer::shared();
    let role = own_role(pg, "met_role");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 3\nadmin_users = admin\nmetrics_addr = 127.0.0.1:0",
        "",
    );
    let sluice = TestSluice::start(&ini, &format!("\"{role}\" \"\"\n\"admin\" \"\"\n")).await;
    let addr = sluice.sluice().metrics_addr().expect("metrics bound");
    let port = sluice.port;

    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(HOST, port, &role, None, TEST_DB).await);
    }
    for c in &clients {
        for _ in 0..5 {
            c.simple_query("SELECT 1").await.unwrap();
        }
    }
    let console = connect(HOST, port, "admin", None, "pgbouncer").await;
    // Quiet now: the console and the scrape see the same counters once
    // the last link's numbers have landed (two reads in a row agree).
    let mut totals = console.simple_query("SHOW STATS_TOTALS").await.unwrap();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let again = console.simple_query("SHOW STATS_TOTALS").await.unwrap();
        let row = |m: &[SimpleQueryMessage]| show_row(m, "database", TEST_DB);
        if row(&again) == row(&totals) {
            break;
        }
        totals = again;
    }
    let pools = console.simple_query("SHOW POOLS").await.unwrap();
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let scrape = parse(&body);

    for (name, kind) in [
        ("pgbouncer_up", "gauge"),
        ("pgbouncer_version_info", "gauge"),
        ("pgbouncer_databases", "gauge"),
        ("pgbouncer_users", "gauge"),
        ("pgbouncer_pools", "gauge"),
        ("pgbouncer_used_clients", "gauge"),
        ("pgbouncer_login_clients", "gauge"),
        ("pgbouncer_used_servers", "gauge"),
        ("pgbouncer_cached_dns_names", "gauge"),
        ("pgbouncer_in_flight_dns_queries", "gauge"),
        ("pgbouncer_config_max_client_connections", "gauge"),
        ("pgbouncer_config_max_user_connections", "gauge"),
        ("pgbouncer_client_connections", "gauge"),
        ("pgbouncer_databases_pool_size", "gauge"),
        ("pgbouncer_databases_reserve_pool", "gauge"),
        ("pgbouncer_databases_current_connections", "gauge"),
        ("pgbouncer_databases_paused", "gauge"),
        ("pgbouncer_stats_totals_queries_pooled_total", "counter"),
        (
            "pgbouncer_stats_totals_queries_duration_seconds_total",
            "counter",
        ),
        ("pgbouncer_stats_totals_received_bytes_total", "counter"),
        ("pgbouncer_stats_totals_sent_bytes_total", "counter"),
        (
            "pgbouncer_stats_totals_client_wait_seconds_total",
            "counter",
        ),
        (
            "pgbouncer_stats_totals_sql_transactions_pooled_total",
            "counter",
        ),
        (
            "pgbouncer_stats_totals_server_in_transaction_seconds_total",
            "counter",
        ),
        ("pgbouncer_stats_totals_client_parses_total", "counter"),
        ("pgbouncer_stats_totals_server_parses_total", "counter"),
        ("pgbouncer_stats_totals_binds_total", "counter"),
        ("pgbouncer_stats_totals_server_assignments_total", "counter"),
        ("pgbouncer_stats_queries_pooled_total", "counter"),
        ("pgbouncer_stats_sql_transactions_pooled_total", "counter"),
        (
            "pgbouncer_stats_server_in_transaction_seconds_total",
            "counter",
        ),
        ("pgbouncer_pools_client_active_connections", "gauge"),
        ("pgbouncer_pools_client_waiting_connections", "gauge"),
        ("pgbouncer_pools_server_active_connections", "gauge"),
        ("pgbouncer_pools_server_idle_connections", "gauge"),
        ("pgbouncer_pools_server_used_connections", "gauge"),
        ("pgbouncer_pools_server_login_connections", "gauge"),
        ("pgbouncer_pools_client_maxwait_seconds", "gauge"),
        ("sluice_client_wait_seconds", "histogram"),
        ("sluice_transaction_seconds", "histogram"),
        ("sluice_query_seconds", "histogram"),
    ] {
        assert_eq!(
            scrape.types.get(name).map(String::as_str),
            Some(kind),
            "TYPE of {name}"
        );
    }
    assert_eq!(scrape.value("pgbouncer_up", &[]), 1.0);
    assert_eq!(
        scrape.value("pgbouncer_version_info", &[("version", "1.25.2")]),
        1.0
    );

    let t = show_row(&totals, "database", TEST_DB);
    let db = [("database", TEST_DB)];
    let n = |col: &str| t[col].parse::<f64>().unwrap();
    assert_eq!(n("xact_count"), 20.0);
    for (metric, col, scale) in [
        (
            "pgbouncer_stats_totals_sql_transactions_pooled_total",
            "xact_count",
            1.0,
        ),
        (
            "pgbouncer_stats_totals_queries_pooled_total",
            "query_count",
            1.0,
        ),
        (
            "pgbouncer_stats_totals_received_bytes_total",
            "bytes_received",
            1.0,
        ),
        ("pgbouncer_stats_totals_sent_bytes_total", "bytes_sent", 1.0),
        (
            "pgbouncer_stats_totals_server_assignments_total",
            "server_assignment_count",
            1.0,
        ),
        (
            "pgbouncer_stats_totals_client_wait_seconds_total",
            "wait_time",
            1e-6,
        ),
        (
            "pgbouncer_stats_totals_queries_duration_seconds_total",
            "query_time",
            1e-6,
        ),
        (
            "pgbouncer_stats_totals_server_in_transaction_seconds_total",
            "xact_time",
            1e-6,
        ),
        (
            "pgbouncer_stats_sql_transactions_pooled_total",
            "xact_count",
            1.0,
        ),
        (
            "pgbouncer_stats_received_bytes_total",
            "bytes_received",
            1.0,
        ),
    ] {
        let got = scrape.value(metric, &db);
        let want = n(col) * scale;
        assert!(
            (got - want).abs() <= want.abs() * 1e-9,
            "{metric}: {got} vs {col} {want}"
        );
    }
    // Every assignment was observed by the wait histogram.
    let user = [("database", TEST_DB), ("user", role.as_str())];
    assert_eq!(
        scrape.value("sluice_client_wait_seconds_count", &user),
        n("server_assignment_count")
    );
    assert_eq!(
        scrape.value("sluice_transaction_seconds_count", &user),
        20.0
    );
    // Each query (one request, no pipelining here) was timed once, and the
    // histogram's sum is SHOW STATS' query_time.
    assert_eq!(
        scrape.value("sluice_query_seconds_count", &user),
        n("query_count")
    );
    let query_sum = scrape.value("sluice_query_seconds_sum", &user);
    assert!(
        (query_sum - n("query_time") * 1e-6).abs() < 1e-6 && query_sum > 0.0,
        "sluice_query_seconds_sum {query_sum} vs query_time {}",
        n("query_time")
    );
    let p = show_row(&pools, "database", TEST_DB);
    assert_eq!(
        scrape.value("pgbouncer_pools_client_active_connections", &user),
        p["cl_active"].parse::<f64>().unwrap()
    );
    assert_eq!(
        scrape.value("pgbouncer_pools_client_active_connections", &user),
        4.0
    );
    assert_eq!(
        scrape.value("pgbouncer_pools_server_idle_connections", &user)
            + scrape.value("pgbouncer_pools_server_used_connections", &user),
        p["sv_idle"].parse::<f64>().unwrap() + p["sv_used"].parse::<f64>().unwrap()
    );
    assert_eq!(
        scrape.value(
            "pgbouncer_client_connections",
            &[("database", TEST_DB), ("user", &role), ("state", "idle")]
        ),
        4.0
    );
    assert_eq!(
        scrape.value("pgbouncer_databases_pool_size", &[("name", TEST_DB)]),
        3.0
    );

    // Prepared statements (protocol level, transaction mode): SHOW STATS,
    // the exporter's counters and Sluice's registry agree.
    let stmt = clients[1].prepare("SELECT $1::int + 1").await.unwrap();
    for i in 0..3i32 {
        let rows = clients[1].query(&stmt, &[&i]).await.unwrap();
        assert_eq!(rows[0].get::<_, i32>(0), i + 1);
    }
    let stats = console.simple_query("SHOW STATS").await.unwrap();
    let s = show_row(&stats, "database", TEST_DB);
    let n = |col: &str| s[col].parse::<f64>().unwrap();
    assert!(n("total_client_parse_count") >= 1.0, "{s:?}");
    assert!(n("total_server_parse_count") >= 1.0, "{s:?}");
    assert_eq!(n("total_bind_count"), 3.0, "{s:?}");
    let scrape = parse(&get(addr, "/metrics").await.1);
    for (metric, col) in [
        (
            "pgbouncer_stats_totals_client_parses_total",
            "total_client_parse_count",
        ),
        (
            "pgbouncer_stats_totals_server_parses_total",
            "total_server_parse_count",
        ),
        ("pgbouncer_stats_totals_binds_total", "total_bind_count"),
    ] {
        assert_eq!(scrape.value(metric, &db), n(col), "{metric}");
    }
    assert_eq!(
        scrape.value("sluice_pool_binds_total", &user),
        n("total_bind_count")
    );
    assert!(scrape.value("sluice_prepared_statements", &[]) >= 1.0);
    assert_eq!(scrape.types["sluice_prepared_statements"], "gauge");
    assert_eq!(scrape.types["sluice_pool_client_parses_total"], "counter");

    // A cancel request is counted.
    assert_eq!(scrape.value("sluice_cancel_requests_total", &[]), 0.0);
    let sleeper = std::sync::Arc::new(connect(HOST, port, &role, None, TEST_DB).await);
    let token = sleeper.cancel_token();
    let running = {
        let sleeper = sleeper.clone();
        tokio::spawn(async move { sleeper.simple_query("SELECT pg_sleep(30)").await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pg.psql_super(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"
    )) != "1"
    {
        assert!(std::time::Instant::now() < deadline, "sleep never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let e = running.await.unwrap().expect_err("cancelled");
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");
    let scrape = parse(&get(addr, "/metrics").await.1);
    assert_eq!(scrape.value("sluice_cancel_requests_total", &[]), 1.0);

    // Health and readiness.
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/nope").await.0, 404);
    console.simple_query("PAUSE").await.unwrap();
    assert_eq!(get(addr, "/readyz").await.0, 503);
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let paused = parse(&get(addr, "/metrics").await.1);
    assert_eq!(
        paused.value("pgbouncer_databases_paused", &[("name", TEST_DB)]),
        1.0
    );
    console.simple_query("RESUME").await.unwrap();
    assert_eq!(get(addr, "/readyz").await.0, 200);
    clients[0].simple_query("SELECT 1").await.unwrap();
}
