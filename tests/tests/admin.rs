//! The admin console against a real PostgreSQL: every SHOW answers with
//! PgBouncer 1.25.2's exact header and wire types (through psql,
//! tokio-postgres and raw RowDescription bytes); under load SHOW POOLS /
//! STATS / CLIENTS / SERVERS agree with what the test did; PAUSE drains
//! and holds, RESUME releases with no failed transaction; KILL,
//! KILL_CLIENT, RECONNECT, DISABLE, RELOAD and SET behave; stats users
//! are read-only and other users are refused.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_tests::clients::{config, connect, connect_with, psql_args, try_connect};
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::raw::{self, RawClient};
use sluice_tests::sluice::{own_role, test_ini, TestSluice};
use tokio_postgres::{Client, SimpleQueryMessage};

const HOST: &str = "127.0.0.1";
const TEXT: u32 = 25;
const INT4: u32 = 23;
const NUMERIC: u32 = 1700;

fn ini(pg: &PgServer, pool_mode: &str, extra: &str) -> String {
    test_ini(
        pg,
        "trust",
        pool_mode,
        &format!("admin_users = admin\nstats_users = stats\n{extra}"),
        "",
    )
}

fn userlist(role: &str) -> String {
    format!("\"{role}\" \"\"\n\"admin\" \"\"\n\"stats\" \"\"\n\"nobody\" \"\"\n")
}

async fn admin(port: u16) -> Client {
    connect(HOST, port, "admin", None, "pgbouncer").await
}

type Row = HashMap<String, Option<String>>;

/// Run a console query; rows as column → value maps.
async fn show(client: &Client, sql: &str) -> Vec<Row> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    let mut rows = Vec::new();
    for m in messages {
        if let SimpleQueryMessage::Row(r) = m {
            let row = r
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name().to_string(), r.get(i).map(str::to_string)))
                .collect();
            rows.push(row);
        }
    }
    rows
}

fn val<'a>(row: &'a Row, col: &str) -> &'a str {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .as_deref()
        .unwrap_or("NULL")
}

fn num(row: &Row, col: &str) -> u64 {
    val(row, col)
        .parse()
        .unwrap_or_else(|_| panic!("{col} is not a number in {row:?}"))
}

fn find<'a>(rows: &'a [Row], col: &str, value: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| val(r, col) == value).collect()
}

/// The error text of a failed console command.
async fn admin_err(client: &Client, sql: &str) -> (String, String) {
    let e = client
        .simple_query(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("{sql} should fail"));
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("{sql}: not a server error: {e:?}"));
    (db.code().code().to_string(), db.message().to_string())
}

/// `COMMAND` → header columns, from the reference capture of 1.25.2.
fn reference_headers() -> Vec<(String, Vec<String>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/admin-columns-1.25.2.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the PgBouncer 1.25.2 header capture at {}: {e}",
            path.display()
        )
    });
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(cmd, cols)| {
            (
                cmd.trim().to_string(),
                cols.trim().split('|').map(str::to_string).collect(),
            )
        })
        .collect()
}

/// Wire types from PgBouncer's column type codes (reference §2.2).
fn expected_type(cmd: &str, col: &str) -> u32 {
    let text_if = |names: &[&str]| if names.contains(&col) { TEXT } else { INT4 };
    match cmd {
        "POOLS" => text_if(&["database", "user", "pool_mode", "load_balance_hosts"]),
        "STATS" | "STATS_TOTALS" | "STATS_AVERAGES" if col == "database" => TEXT,
        "STATS" | "STATS_TOTALS" | "STATS_AVERAGES" => NUMERIC,
        "TOTALS" if col == "name" => TEXT,
        "TOTALS" => NUMERIC,
        "CLIENTS" | "SERVERS" => match col {
            "port"
            | "local_port"
            | "wait"
            | "wait_us"
            | "close_needed"
            | "remote_pid"
            | "prepared_statements"
            | "id" => INT4,
            _ => TEXT,
        },
        "DATABASES" => text_if(&[
            "name",
            "host",
            "database",
            "force_user",
            "pool_mode",
            "load_balance_hosts",
        ]),
        "USERS" => text_if(&["name", "pool_size", "reserve_pool_size", "pool_mode"]),
        "LISTS" | "MEM" => text_if(&["list", "name"]),
        "CONFIG" | "VERSION" | "STATE" => TEXT,
        other => panic!("no expected types for SHOW {other}"),
    }
}

/// (name, type OID) of each column, read from the RowDescription bytes.
async fn raw_columns(port: u16, sql: &str) -> Vec<(String, u32)> {
    let mut c = RawClient::connect(port, "admin", "pgbouncer").await;
    c.send(&raw::query(sql)).await;
    let msgs = c.read_until(b'Z').await;
    let (_, body) = msgs
        .iter()
        .find(|(t, _)| *t == b'T')
        .unwrap_or_else(|| panic!("{sql}: no RowDescription in {msgs:?}"));
    let n = i16::from_be_bytes([body[0], body[1]]) as usize;
    let mut pos = 2;
    let mut out = Vec::new();
    for _ in 0..n {
        let end = pos + body[pos..].iter().position(|b| *b == 0).unwrap();
        let name = String::from_utf8(body[pos..end].to_vec()).unwrap();
        pos = end + 1 + 4 + 2; // table OID, column number
        let oid = u32::from_be_bytes(body[pos..pos + 4].try_into().unwrap());
        pos += 4 + 2 + 4 + 2; // type OID, size, typmod, format
        out.push((name, oid));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_show_matches_pgbouncer_1_25_2_headers_and_types() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_cols");
    let sluice = TestSluice::start(&ini(pg, "transaction", ""), &userlist(&role)).await;
    let port = sluice.port;
    // A pool, a client and a server exist, so row-building paths run too.
    let app = connect(HOST, port, &role, None, TEST_DB).await;
    app.simple_query("SELECT 1").await.unwrap();
    let console = admin(port).await;

    let headers = reference_headers();
    assert!(headers.len() >= 14, "capture looks truncated: {headers:?}");
    for (cmd, columns) in &headers {
        let sql = format!("SHOW {cmd}");
        // Raw bytes: names and type OIDs.
        let raw = raw_columns(port, &sql).await;
        let names: Vec<&str> = raw.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, *columns, "{sql}: column names");
        for (name, oid) in &raw {
            assert_eq!(*oid, expected_type(cmd, name), "{sql}: type of {name}");
        }
        // tokio-postgres sees the same header.
        let messages = console.simple_query(&sql).await.unwrap();
        let described = messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::RowDescription(cols) => Some(
                    cols.iter()
                        .map(|c| c.name().to_string())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .expect("a RowDescription");
        assert_eq!(described, *columns, "{sql} via tokio-postgres");
        // psql prints the same header line.
        let dir = sluice.dir.display().to_string();
        let (sql2, cmd2) = (sql.clone(), cmd.clone());
        let out = tokio::task::spawn_blocking(move || {
            psql_args(
                &dir,
                port,
                "admin",
                None,
                "pgbouncer",
                &["-P", "tuples_only=off", "-P", "footer=off", "-c", &sql2],
            )
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "psql {cmd2}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().next().unwrap_or(""),
            columns.join("|"),
            "psql header of {sql}"
        );
    }

    let version = show(&console, "SHOW VERSION").await;
    assert!(val(&version[0], "version").starts_with("PgBouncer 1.25.2"));
    // SELECT is SHOW; the other SHOWs exist with their headers.
    assert_eq!(show(&console, "select version;").await.len(), 1);
    for extra in [
        "FDS",
        "SOCKETS",
        "ACTIVE_SOCKETS",
        "DNS_HOSTS",
        "DNS_ZONES",
        "PEERS",
        "PEER_POOLS",
    ] {
        console
            .simple_query(&format!("SHOW {extra}"))
            .await
            .unwrap_or_else(|e| panic!("SHOW {extra}: {e:?}"));
    }
    let peers = raw_columns(port, "SHOW PEERS").await;
    assert_eq!(
        peers,
        [
            ("peer_id".to_string(), INT4),
            ("host".to_string(), TEXT),
            ("port".to_string(), INT4),
            ("pool_size".to_string(), INT4)
        ]
    );
    let config = show(&console, "SHOW CONFIG").await;
    let pool_size = find(&config, "key", "default_pool_size");
    assert_eq!(val(pool_size[0], "value"), "20");
    assert_eq!(val(pool_size[0], "changeable"), "yes");
    // SHOW HELP is a notice plus CommandComplete.
    console.simple_query("SHOW HELP").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_numbers_agree_with_the_load() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_load");
    let sluice = TestSluice::start(
        &ini(pg, "transaction", "default_pool_size = 5"),
        &userlist(&role),
    )
    .await;
    let port = sluice.port;
    const CLIENTS: usize = 20;
    const XACTS: usize = 5;

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Arc::new(connect(HOST, port, &role, None, TEST_DB).await));
    }
    let mut tasks = Vec::new();
    for c in &clients {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..XACTS {
                c.simple_query("BEGIN").await.unwrap();
                c.simple_query("SELECT 1").await.unwrap();
                c.simple_query("COMMIT").await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let console = admin(port).await;

    // Totals: one xact and three queries (BEGIN, SELECT, COMMIT) each.
    let totals = show(&console, "SHOW STATS_TOTALS").await;
    let t = find(&totals, "database", TEST_DB)[0];
    assert_eq!(num(t, "xact_count"), (CLIENTS * XACTS) as u64, "{t:?}");
    assert_eq!(num(t, "query_count"), (CLIENTS * XACTS * 3) as u64, "{t:?}");
    // Every transaction took a server; the first login took one more.
    let assignments = num(t, "server_assignment_count");
    assert!(
        (CLIENTS * XACTS) as u64 <= assignments && assignments <= (CLIENTS * XACTS + 1) as u64,
        "{t:?}"
    );
    assert!(
        num(t, "bytes_received") > 0 && num(t, "bytes_sent") > 0,
        "{t:?}"
    );
    assert!(num(t, "xact_time") > 0, "{t:?}");
    let stats = show(&console, "SHOW STATS").await;
    let s = find(&stats, "database", TEST_DB)[0];
    assert_eq!(num(s, "total_xact_count"), num(t, "xact_count"));
    assert_eq!(num(s, "total_received"), num(t, "bytes_received"));
    let sums = show(&console, "SHOW TOTALS").await;
    assert_eq!(
        num(find(&sums, "name", "total_xact_count")[0], "value"),
        (CLIENTS * XACTS) as u64
    );

    // Connected and idle: counts are exact.
    let clients_rows = show(&console, "SHOW CLIENTS").await;
    let mine = find(&clients_rows, "database", TEST_DB);
    assert_eq!(mine.len(), CLIENTS);
    assert!(mine
        .iter()
        .all(|r| val(r, "state") == "idle" && val(r, "user") == role && val(r, "link").is_empty()));
    let pools = show(&console, "SHOW POOLS").await;
    let p = find(&pools, "database", TEST_DB)[0];
    assert_eq!(num(p, "cl_active"), CLIENTS as u64, "{p:?}");
    assert_eq!(num(p, "cl_waiting"), 0, "{p:?}");
    assert_eq!(num(p, "sv_active"), 0, "{p:?}");
    let servers_idle = num(p, "sv_idle") + num(p, "sv_used");
    assert!((1..=5).contains(&servers_idle), "{p:?}");
    assert_eq!(val(p, "pool_mode"), "transaction");
    let servers = show(&console, "SHOW SERVERS").await;
    assert_eq!(
        find(&servers, "database", TEST_DB).len() as u64,
        servers_idle
    );
    let dbs = show(&console, "SHOW DATABASES").await;
    let d = find(&dbs, "name", TEST_DB)[0];
    assert_eq!(num(d, "current_client_connections"), CLIENTS as u64);
    assert_eq!(num(d, "pool_size"), 5);
    assert_eq!(num(d, "current_connections"), servers_idle);
    let users = show(&console, "SHOW USERS").await;
    assert_eq!(
        num(find(&users, "name", &role)[0], "current_client_connections"),
        CLIENTS as u64
    );
    let lists = show(&console, "SHOW LISTS").await;
    assert_eq!(
        num(find(&lists, "list", "used_clients")[0], "items"),
        CLIENTS as u64 + 1
    );
    assert_eq!(
        num(find(&lists, "list", "used_servers")[0], "items"),
        servers_idle
    );
    assert_eq!(pg.count_backends(&role) as u64, servers_idle);

    // Five transactions hold the five servers; a sixth client waits.
    for c in &clients[..5] {
        c.simple_query("BEGIN").await.unwrap();
        c.simple_query("SELECT 1").await.unwrap();
    }
    let waiter = {
        let c = clients[5].clone();
        tokio::spawn(async move { c.simple_query("SELECT 2").await.unwrap() })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let p = loop {
        let pools = show(&console, "SHOW POOLS").await;
        let p = find(&pools, "database", TEST_DB)[0].clone();
        if num(&p, "cl_waiting") == 1 || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(num(&p, "cl_waiting"), 1, "{p:?}");
    assert_eq!(num(&p, "cl_active"), CLIENTS as u64 - 1, "{p:?}");
    assert_eq!(num(&p, "sv_active"), 5, "{p:?}");
    let clients_rows = show(&console, "SHOW CLIENTS").await;
    let active = find(&clients_rows, "state", "active");
    assert_eq!(active.len(), 5);
    assert_eq!(find(&clients_rows, "state", "waiting").len(), 1);
    let servers = show(&console, "SHOW SERVERS").await;
    let linked = find(&servers, "state", "active");
    assert_eq!(linked.len(), 5);
    // Links pair up: each active client's link is an active server's ptr,
    // and that server's link is the client.
    for c in &active {
        let s = find(&servers, "ptr", val(c, "link"));
        assert_eq!(s.len(), 1, "client {c:?} links to no server");
        assert_eq!(val(s[0], "link"), val(c, "ptr"));
        assert!(num(s[0], "remote_pid") > 0);
    }
    for c in &clients[..5] {
        c.simple_query("COMMIT").await.unwrap();
    }
    waiter.await.unwrap();
}

/// Workers loop over short transactions; PAUSE returns once their servers
/// are back and closed, their next transactions wait, RESUME lets every
/// one of them finish: no transaction fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_drains_and_holds_then_resume_releases() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_pause");
    let sluice = TestSluice::start(
        &ini(pg, "transaction", "default_pool_size = 2"),
        &userlist(&role),
    )
    .await;
    let port = sluice.port;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let c = connect(HOST, port, &role, None, TEST_DB).await;
        let (stop, done) = (stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                c.simple_query("BEGIN").await.unwrap();
                c.simple_query("SELECT pg_sleep(0.01)").await.unwrap();
                c.simple_query("COMMIT").await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let console = admin(port).await;
    while done.load(Ordering::Relaxed) < 6 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    console.simple_query("PAUSE").await.unwrap();
    // Drained: no server left, on either side.
    let servers = show(&console, "SHOW SERVERS").await;
    assert!(
        find(&servers, "database", TEST_DB).is_empty(),
        "{servers:?}"
    );
    pg.wait_backends_async(&role, Duration::from_secs(5), |n| n == 0)
        .await;
    let state = show(&console, "SHOW STATE").await;
    assert_eq!(val(find(&state, "key", "paused")[0], "value"), "yes");
    let (code, message) = admin_err(&console, "PAUSE").await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("08P01", "already suspended/paused")
    );
    // Held: every worker ends up waiting and nothing completes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pools = show(&console, "SHOW POOLS").await;
        if num(find(&pools, "database", TEST_DB)[0], "cl_waiting") == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "workers not all waiting: {pools:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let frozen = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        done.load(Ordering::Relaxed),
        frozen,
        "work went on while paused"
    );
    let dbs = show(&console, "SHOW DATABASES").await;
    assert_eq!(num(find(&dbs, "name", TEST_DB)[0], "paused"), 1);

    console.simple_query("RESUME").await.unwrap();
    while done.load(Ordering::Relaxed) < frozen + 12 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a worker's transaction failed");
    }
    let (_, message) = admin_err(&console, "RESUME").await;
    assert_eq!(message, "pooler is not paused/suspended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_reconnect_disable_reload_and_set() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_ctl");
    let users = userlist(&role);
    let base = ini(pg, "transaction", "default_pool_size = 1");
    let sluice = TestSluice::start(&base, &users).await;
    let port = sluice.port;
    let console = admin(port).await;

    // KILL_CLIENT: that client (and only it) is gone.
    let mut cfg = config(HOST, port, &role, None, TEST_DB);
    cfg.application_name("victim");
    let victim = connect_with(&cfg).await.unwrap();
    let bystander = connect(HOST, port, &role, None, TEST_DB).await;
    victim.simple_query("SELECT 1").await.unwrap();
    let rows = show(&console, "SHOW CLIENTS").await;
    let id = val(find(&rows, "application_name", "victim")[0], "id").to_string();
    console
        .simple_query(&format!("KILL_CLIENT {id}"))
        .await
        .unwrap();
    assert!(victim.simple_query("SELECT 1").await.is_err());
    bystander.simple_query("SELECT 1").await.unwrap();
    let (_, message) = admin_err(&console, "KILL_CLIENT 987654321").await;
    assert_eq!(message, "client not found");

    // RECONNECT: the server is replaced (a new backend pid).
    let pid = |rows: Vec<SimpleQueryMessage>| {
        rows.into_iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().to_string()),
                _ => None,
            })
            .unwrap()
    };
    let before = pid(bystander
        .simple_query("SELECT pg_backend_pid()")
        .await
        .unwrap());
    console.simple_query("RECONNECT sluice_test").await.unwrap();
    console
        .simple_query("WAIT_CLOSE sluice_test")
        .await
        .unwrap();
    let after = pid(bystander
        .simple_query("SELECT pg_backend_pid()")
        .await
        .unwrap());
    assert_ne!(before, after, "RECONNECT kept the old server");
    let (_, message) = admin_err(&console, "RECONNECT nosuchdb").await;
    assert_eq!(message, "no such database: nosuchdb");
    let (_, message) = admin_err(&console, "PAUSE pgbouncer").await;
    assert_eq!(message, "cannot pause admin db: pgbouncer");

    // KILL db: its clients are dropped and it stays paused until RESUME.
    console.simple_query("KILL sluice_test").await.unwrap();
    assert!(bystander.simple_query("SELECT 1").await.is_err());
    let rows = show(&console, "SHOW CLIENTS").await;
    assert!(find(&rows, "database", TEST_DB).is_empty(), "{rows:?}");
    console.simple_query("RESUME sluice_test").await.unwrap();
    let fresh = connect(HOST, port, &role, None, TEST_DB).await;
    fresh.simple_query("SELECT 1").await.unwrap();

    // DISABLE refuses new logins, ENABLE allows them again.
    console.simple_query("DISABLE sluice_test").await.unwrap();
    let e = try_connect(HOST, port, &role, None, TEST_DB)
        .await
        .expect_err("login to a disabled database");
    assert!(
        format!("{e:?}").contains("database \\\"sluice_test\\\" is disabled"),
        "{e:?}"
    );
    fresh.simple_query("SELECT 1").await.unwrap();
    console.simple_query("ENABLE sluice_test").await.unwrap();
    connect(HOST, port, &role, None, TEST_DB).await;

    // RELOAD re-reads the file; a broken file is refused with F0000.
    let ini_text = |extra: &str| {
        ini(
            pg,
            "transaction",
            &format!("default_pool_size = 1\n{extra}"),
        )
        .replace("{dir}", &sluice.dir.display().to_string())
    };
    std::fs::write(
        &sluice.ini_path,
        ini_text("min_pool_size = 0\nmax_client_conn = 77"),
    )
    .unwrap();
    console.simple_query("RELOAD").await.unwrap();
    let config_rows = show(&console, "SHOW CONFIG").await;
    assert_eq!(
        val(find(&config_rows, "key", "max_client_conn")[0], "value"),
        "77"
    );
    std::fs::write(&sluice.ini_path, ini_text("default_pool_size = nonsense")).unwrap();
    let (code, message) = admin_err(&console, "RELOAD").await;
    assert_eq!(code, "F0000");
    assert_eq!(message, "RELOAD failed, see logs for additional details");

    // SET changes a setting at run time (and SHOW reflects it).
    console
        .simple_query("SET default_pool_size = 3")
        .await
        .unwrap();
    let dbs = show(&console, "SHOW DATABASES").await;
    assert_eq!(num(find(&dbs, "name", TEST_DB)[0], "pool_size"), 3);
    let (_, message) = admin_err(&console, "SET listen_port = 1").await;
    assert_eq!(message, "SET failed");
    fresh.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_and_protocol_errors() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_acl");
    let sluice = TestSluice::start(&ini(pg, "transaction", ""), &userlist(&role)).await;
    let port = sluice.port;

    let stats = connect(HOST, port, "stats", None, "pgbouncer").await;
    show(&stats, "SHOW POOLS").await;
    show(&stats, "SHOW STATS").await;
    for cmd in [
        "PAUSE",
        "RESUME",
        "KILL_CLIENT 1",
        "RECONNECT",
        "RELOAD",
        "SHOW FDS",
        "SET default_pool_size = 1",
        "SHUTDOWN",
    ] {
        let (code, message) = admin_err(&stats, cmd).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("08P01", "admin access needed"),
            "{cmd}"
        );
    }
    // Drivers' SETs of fixed GUCs are accepted (and ignored) for anyone.
    stats
        .simple_query("SET client_encoding = 'UTF8'")
        .await
        .unwrap();

    let e = try_connect(HOST, port, "nobody", None, "pgbouncer")
        .await
        .expect_err("nobody is neither admin nor stats user");
    assert!(format!("{e:?}").contains("not allowed"), "{e:?}");

    let console = admin(port).await;
    let (code, message) = admin_err(&console, "SELECT 1").await;
    assert_eq!(code, "08P01");
    assert_eq!(message, "invalid command 'SELECT 1', use SHOW HELP;");
    let (_, message) = admin_err(&console, "SHOW NOTHING").await;
    assert_eq!(message, "invalid command 'SHOW NOTHING', use SHOW HELP;");
    // Extended protocol: an error, then the connection is closed.
    let e = console.query("SHOW POOLS", &[]).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("extended query protocol not supported by admin console"),
        "{e:?}"
    );
    assert!(console.simple_query("SHOW POOLS").await.is_err());

    // The same-uid `pgbouncer` user needs no password on the Unix socket
    // (and gets admin), but is a stranger over TCP.
    let dir = sluice.dir.display().to_string();
    assert!(try_connect(HOST, port, "pgbouncer", None, "pgbouncer")
        .await
        .is_err());
    let local = connect(&dir, port, "pgbouncer", None, "pgbouncer").await;
    show(&local, "SHOW FDS").await;
    // The console is reachable as `sluice` too.
    let alias = connect(HOST, port, "admin", None, "sluice").await;
    show(&alias, "SHOW VERSION").await;
}
