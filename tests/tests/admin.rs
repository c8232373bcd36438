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
use sluice_tests::sluice::{own_role, settled, test_ini, TestSluice};
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
    // A link's counts land when the link ends, just after its client got
    // the last ReadyForQuery: read the totals once they stop moving.
    let totals = settled("SHOW STATS_TOTALS", || show(&console, "SHOW STATS_TOTALS")).await;

    // Totals: one xact and three queries (BEGIN, SELECT, COMMIT) each.
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
    local.simple_query("RELOAD").await.unwrap();
    // Only the `pgbouncer` name gets the peer-uid pass: others still need
    // to be admin or stats users, on the socket too.
    let e = try_connect(&dir, port, "nobody", None, "pgbouncer")
        .await
        .expect_err("nobody over the Unix socket");
    assert!(format!("{e:?}").contains("not allowed"), "{e:?}");
    // The console is reachable as `sluice` too.
    let alias = connect(HOST, port, "admin", None, "sluice").await;
    show(&alias, "SHOW VERSION").await;
}

/// Every SHOW in `SHOW HELP`, in its order.
const ALL_SHOWS: [&str; 22] = [
    "HELP",
    "CONFIG",
    "DATABASES",
    "POOLS",
    "CLIENTS",
    "SERVERS",
    "USERS",
    "VERSION",
    "PEERS",
    "PEER_POOLS",
    "FDS",
    "SOCKETS",
    "ACTIVE_SOCKETS",
    "LISTS",
    "MEM",
    "STATE",
    "DNS_HOSTS",
    "DNS_ZONES",
    "STATS",
    "STATS_TOTALS",
    "STATS_AVERAGES",
    "TOTALS",
];

/// Run tests/python/admin_show.py (Debian's python3 with python3-psycopg,
/// which .ci/run installs) with `commands`; returns its stdout.
fn psycopg_run(conninfo: &str, commands: &[String]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/admin_show.py");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .arg(&script)
        .arg(conninfo)
        .args(commands)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script:?}: {e}"));
    assert!(
        out.status.success(),
        "psycopg script failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// psql (CSV output, over the Unix socket as the same-uid `pgbouncer`
/// user) and psycopg (TCP, as an admin_users member) each read every SHOW
/// command: it succeeds, and where the 1.25.2 capture lists the command,
/// the header matches it (psycopg also checks each column's type OID and
/// reads the same numbers tokio-postgres does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_psycopg_read_every_show() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_drivers");
    let sluice = TestSluice::start(&ini(pg, "transaction", ""), &userlist(&role)).await;
    let port = sluice.port;
    let app = connect(HOST, port, &role, None, TEST_DB).await;
    for _ in 0..3 {
        app.simple_query("SELECT 1").await.unwrap();
    }
    let headers: HashMap<String, Vec<String>> = reference_headers().into_iter().collect();
    let commands: Vec<String> = ALL_SHOWS.iter().map(|c| format!("SHOW {c}")).collect();

    // psycopg: one connection, every command.
    let conninfo = format!(
        "host={HOST} port={port} user=admin dbname=pgbouncer sslmode=disable connect_timeout=10"
    );
    let cmds = commands.clone();
    let stdout = tokio::task::spawn_blocking(move || psycopg_run(&conninfo, &cmds))
        .await
        .unwrap();
    let mut described: HashMap<String, Vec<(String, u32)>> = HashMap::new();
    let mut rows: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for line in stdout.lines() {
        let mut parts = line.split('\t');
        match (parts.next(), parts.next()) {
            (Some("cols"), Some(cmd)) => {
                let cols = parts
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        let (name, oid) = c.rsplit_once(':').unwrap();
                        (name.to_string(), oid.parse().unwrap())
                    })
                    .collect();
                described.insert(cmd.to_string(), cols);
            }
            (Some("row"), Some(cmd)) => rows
                .entry(cmd.to_string())
                .or_default()
                .push(parts.map(str::to_string).collect()),
            _ => panic!("unexpected psycopg output line {line:?}"),
        }
    }
    for (show, sql) in ALL_SHOWS.iter().zip(&commands) {
        let cols = described
            .get(sql)
            .unwrap_or_else(|| panic!("psycopg did not run {sql}"));
        if let Some(reference) = headers.get(*show) {
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, *reference, "psycopg header of {sql}");
            for (name, oid) in cols {
                assert_eq!(
                    *oid,
                    expected_type(show, name),
                    "psycopg type of {sql}.{name}"
                );
            }
        }
    }
    assert!(
        described["SHOW HELP"].is_empty(),
        "HELP is a notice, no rows"
    );
    // Values as psycopg decodes them match tokio-postgres's.
    let totals = show(&admin(port).await, "SHOW STATS_TOTALS").await;
    let t = find(&totals, "database", TEST_DB)[0];
    let psy = rows["SHOW STATS_TOTALS"]
        .iter()
        .find(|r| r[0] == TEST_DB)
        .expect("psycopg saw the test database");
    assert_eq!(psy[2], val(t, "xact_count"), "xact_count via psycopg");
    assert_eq!(psy[2], "3");
    let version = &rows["SHOW VERSION"][0][0];
    assert!(version.starts_with("PgBouncer 1.25.2"), "{version}");

    // psql: each command on its own, CSV with the header line.
    let dir = sluice.dir.display().to_string();
    for (show, sql) in ALL_SHOWS.iter().zip(&commands) {
        let (dir, sql2) = (dir.clone(), sql.clone());
        let out = tokio::task::spawn_blocking(move || {
            psql_args(
                &dir,
                port,
                "pgbouncer",
                None,
                "pgbouncer",
                &["--csv", "-P", "tuples_only=off", "-c", &sql2],
            )
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "psql {sql}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if let Some(reference) = headers.get(*show) {
            assert_eq!(
                stdout.lines().next().unwrap_or(""),
                reference.join(","),
                "psql header of {sql}"
            );
        }
        if *show == "HELP" {
            assert!(
                stderr.contains("Console usage") && stderr.contains("SHOW HELP|CONFIG"),
                "{stderr}"
            );
        }
    }
}

/// GET `path` from the metrics endpoint; (status, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The value of the one sample `name{labels}` (labels as written).
fn sample(body: &str, name: &str, labels: &str) -> f64 {
    let prefix = format!("{name}{{{labels}}} ");
    let values: Vec<f64> = body
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "{prefix}: {values:?}");
    values[0]
}

/// Wire size of a simple Query message carrying `sql`.
fn query_len(sql: &str) -> u64 {
    (1 + 4 + sql.len() + 1) as u64
}

/// 100 clients on a pool of 10 (transaction mode). While they run
/// transactions, every snapshot of SHOW POOLS / CLIENTS / SERVERS is
/// consistent with 100 clients and at most 10 servers; afterwards SHOW
/// STATS_TOTALS / STATS / TOTALS count exactly the transactions and
/// queries the clients completed, bytes agree with the messages' wire
/// sizes within 1%, the averages (stats_period = 1) saw the load, and
/// /metrics reports the same numbers as SHOW STATS. Then 10 clients hold
/// every server in an open transaction and the other 90 must be shown
/// waiting — and all of them finish once the 10 commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_numbers_agree_with_100_clients_on_a_pool_of_10() {
    const CLIENTS: usize = 100;
    const POOL: u64 = 10;
    const SELECT: &str = "SELECT repeat('x', 1000)";
    // Tolerance for byte counts against the wire sizes computed here.
    const BYTES_TOLERANCE: f64 = 0.01;
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_load100");
    let sluice = TestSluice::start(
        &ini(
            pg,
            "transaction",
            "default_pool_size = 10\nmax_client_conn = 200\nstats_period = 1\n\
             metrics_addr = 127.0.0.1:0",
        ),
        &userlist(&role),
    )
    .await;
    let port = sluice.port;
    let metrics = sluice.sluice().metrics_addr().expect("metrics bound");
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Arc::new(connect(HOST, port, &role, None, TEST_DB).await));
    }
    let console = admin(port).await;
    let pools = show(&console, "SHOW POOLS").await;
    let p = find(&pools, "database", TEST_DB)[0];
    assert_eq!(num(p, "cl_active"), CLIENTS as u64, "{p:?}");
    assert_eq!(num(p, "cl_waiting"), 0, "{p:?}");
    let before = find(
        &show(&console, "SHOW STATS_TOTALS").await,
        "database",
        TEST_DB,
    )[0]
    .clone();

    // Load until the per-period averages have seen it.
    let stop = Arc::new(AtomicBool::new(false));
    let xacts = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for c in &clients {
        let (c, stop, xacts) = (c.clone(), stop.clone(), xacts.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                c.simple_query("BEGIN").await.unwrap();
                c.simple_query(SELECT).await.unwrap();
                c.simple_query("COMMIT").await.unwrap();
                xacts.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut snapshots = 0;
    let averages = loop {
        let pools = show(&console, "SHOW POOLS").await;
        let p = find(&pools, "database", TEST_DB)[0];
        assert_eq!(
            num(p, "cl_active") + num(p, "cl_waiting"),
            CLIENTS as u64,
            "{p:?}"
        );
        let servers =
            num(p, "sv_active") + num(p, "sv_idle") + num(p, "sv_used") + num(p, "sv_login");
        assert!(servers <= POOL, "{p:?}");
        // SHOW CLIENTS / SERVERS read each connection's state in turn
        // (no global lock, unlike single-threaded PgBouncer), so under load
        // only per-row facts hold; counts are checked once quiet below.
        let rows = show(&console, "SHOW CLIENTS").await;
        let mine = find(&rows, "database", TEST_DB);
        assert_eq!(mine.len(), CLIENTS);
        assert!(mine
            .iter()
            .all(|r| ["active", "idle", "waiting"].contains(&val(r, "state"))));
        let rows = show(&console, "SHOW SERVERS").await;
        assert!(find(&rows, "database", TEST_DB)
            .iter()
            .all(|r| ["active", "idle", "used"].contains(&val(r, "state"))));
        snapshots += 1;
        let stats = show(&console, "SHOW STATS").await;
        let s = find(&stats, "database", TEST_DB)[0].clone();
        if num(&s, "avg_xact_count") > 0 && snapshots >= 3 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "averages never showed the load: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a transaction failed under load");
    }
    assert!(num(&averages, "avg_query_count") >= num(&averages, "avg_xact_count"));
    assert!(num(&averages, "avg_xact_time") > 0, "{averages:?}");
    assert!(num(&averages, "avg_recv") > 0 && num(&averages, "avg_sent") > 0);

    // Quiet: totals are exact, bytes within the tolerance. A link's
    // numbers are recorded just after its last reply reaches the client
    // (counts, then times), so wait until they have all landed: the
    // transactions are all counted and two reads in a row agree.
    let done = xacts.load(Ordering::Relaxed) as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last: Option<Row> = None;
    let totals = loop {
        let totals = show(&console, "SHOW STATS_TOTALS").await;
        let t = find(&totals, "database", TEST_DB)[0].clone();
        let counted = num(&t, "xact_count") - num(&before, "xact_count") >= done;
        if (counted && last.as_ref() == Some(&t)) || Instant::now() > deadline {
            break totals;
        }
        last = Some(t);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let t = find(&totals, "database", TEST_DB)[0];
    let delta = |col: &str| num(t, col) - num(&before, col);
    assert_eq!(delta("xact_count"), done, "{t:?}");
    assert_eq!(delta("query_count"), 3 * done, "{t:?}");
    assert_eq!(delta("server_assignment_count"), done, "{t:?}");
    let within = |got: u64, want: u64, what: &str| {
        let (g, w) = (got as f64, want as f64);
        assert!(
            (g - w).abs() <= w * BYTES_TOLERANCE,
            "{what}: counted {got}, the test's messages add up to {want}"
        );
    };
    // Client → server: the three Query messages, including the one that
    // opens each link (read before the server is linked, and counted).
    let per_xact_in = query_len("BEGIN") + query_len(SELECT) + query_len("COMMIT");
    within(
        delta("bytes_received"),
        done * per_xact_in,
        "bytes_received",
    );
    // Server → client: CommandComplete + ReadyForQuery for BEGIN and
    // COMMIT; RowDescription, one 1000-byte DataRow, CommandComplete and
    // ReadyForQuery for the SELECT.
    let ready = 6;
    let begin = (1 + 4 + 6) + ready;
    let commit = (1 + 4 + 7) + ready;
    let select = (1 + 4 + 2 + 7 + 18) + (1 + 4 + 2 + 4 + 1000) + (1 + 4 + 9) + ready;
    within(
        delta("bytes_sent"),
        done * (begin + select + commit),
        "bytes_sent",
    );
    assert!(delta("xact_time") > 0 && delta("query_time") >= delta("xact_time") / 2);

    let stats = show(&console, "SHOW STATS").await;
    let s = find(&stats, "database", TEST_DB)[0];
    for (total, col) in [
        ("total_xact_count", "xact_count"),
        ("total_query_count", "query_count"),
        ("total_received", "bytes_received"),
        ("total_sent", "bytes_sent"),
        ("total_xact_time", "xact_time"),
        ("total_query_time", "query_time"),
        ("total_wait_time", "wait_time"),
        ("total_server_assignment_count", "server_assignment_count"),
    ] {
        assert_eq!(num(s, total), num(t, col), "{total}");
    }
    let sums = show(&console, "SHOW TOTALS").await;
    let all_xacts: u64 = totals.iter().map(|r| num(r, "xact_count")).sum();
    assert_eq!(
        num(find(&sums, "name", "total_xact_count")[0], "value"),
        all_xacts
    );

    // /metrics says what SHOW STATS says.
    let (status, body) = http_get(metrics, "/metrics").await;
    assert_eq!(status, 200);
    let db = format!("database=\"{TEST_DB}\"");
    for (metric, col, scale) in [
        ("sql_transactions_pooled_total", "total_xact_count", 1.0),
        ("queries_pooled_total", "total_query_count", 1.0),
        ("received_bytes_total", "total_received", 1.0),
        ("sent_bytes_total", "total_sent", 1.0),
        (
            "server_in_transaction_seconds_total",
            "total_xact_time",
            1e-6,
        ),
        ("queries_duration_seconds_total", "total_query_time", 1e-6),
        ("client_wait_seconds_total", "total_wait_time", 1e-6),
    ] {
        let want = num(s, col) as f64 * scale;
        for prefix in ["pgbouncer_stats_totals_", "pgbouncer_stats_"] {
            let got = sample(&body, &format!("{prefix}{metric}"), &db);
            assert!(
                (got - want).abs() <= want * 1e-9,
                "{prefix}{metric}: {got} vs {col} {want}"
            );
        }
    }
    let pool_labels = format!("database=\"{TEST_DB}\",user=\"{role}\"");
    assert_eq!(
        sample(
            &body,
            "pgbouncer_pools_client_active_connections",
            &pool_labels
        ),
        CLIENTS as f64
    );
    assert_eq!(
        sample(&body, "sluice_pool_received_bytes_total", &pool_labels),
        num(s, "total_received") as f64
    );
    assert_eq!(
        sample(&body, "sluice_client_wait_seconds_count", &pool_labels),
        num(s, "total_server_assignment_count") as f64
    );

    // Hold all ten servers; the other ninety queue.
    for c in &clients[..POOL as usize] {
        c.simple_query("BEGIN").await.unwrap();
        c.simple_query("SELECT 1").await.unwrap();
    }
    let mut waiters = Vec::new();
    for c in &clients[POOL as usize..] {
        let c = c.clone();
        waiters.push(tokio::spawn(async move {
            c.simple_query("SELECT 2").await.unwrap()
        }));
    }
    let waiting = CLIENTS as u64 - POOL;
    let deadline = Instant::now() + Duration::from_secs(10);
    let p = loop {
        let pools = show(&console, "SHOW POOLS").await;
        let p = find(&pools, "database", TEST_DB)[0].clone();
        if num(&p, "cl_waiting") == waiting {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {waiting} waiting: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(num(&p, "cl_active"), POOL, "{p:?}");
    assert_eq!(num(&p, "sv_active"), POOL, "{p:?}");
    let rows = show(&console, "SHOW CLIENTS").await;
    assert_eq!(find(&rows, "state", "waiting").len() as u64, waiting);
    assert_eq!(find(&rows, "state", "active").len() as u64, POOL);
    let rows = show(&console, "SHOW SERVERS").await;
    assert_eq!(find(&rows, "state", "active").len() as u64, POOL);
    assert_eq!(pg.count_backends(&role) as u64, POOL);
    let (_, body) = http_get(metrics, "/metrics").await;
    assert_eq!(
        sample(
            &body,
            "pgbouncer_pools_client_waiting_connections",
            &pool_labels
        ),
        waiting as f64
    );
    for c in &clients[..POOL as usize] {
        c.simple_query("COMMIT").await.unwrap();
    }
    for w in waiters {
        w.await.expect("a queued query failed");
    }
    let pools = show(&console, "SHOW POOLS").await;
    assert_eq!(num(find(&pools, "database", TEST_DB)[0], "cl_waiting"), 0);
}

/// SUSPEND holds everything and shows as suspended (not paused); it
/// refuses to stack on PAUSE, and ends when its console disconnects.
/// KILL, PAUSE and SUSPEND answer PgBouncer's errors while held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_holds_until_resume_or_its_console_leaves() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_suspend");
    let sluice = TestSluice::start(&ini(pg, "transaction", ""), &userlist(&role)).await;
    let port = sluice.port;
    let app = Arc::new(connect(HOST, port, &role, None, TEST_DB).await);
    app.simple_query("SELECT 1").await.unwrap();
    let watcher = admin(port).await;
    let state = |rows: &[Row]| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (val(r, "key").to_string(), val(r, "value").to_string()))
            .collect()
    };
    let kv = |a: &str, p: &str, s: &str| {
        vec![
            ("active".to_string(), a.to_string()),
            ("paused".to_string(), p.to_string()),
            ("suspended".to_string(), s.to_string()),
        ]
    };

    let suspender = admin(port).await;
    suspender.simple_query("SUSPEND").await.unwrap();
    assert_eq!(
        state(&show(&watcher, "SHOW STATE").await),
        kv("no", "no", "yes")
    );
    for cmd in ["PAUSE", "PAUSE sluice_test", "SUSPEND", "KILL"] {
        let (code, message) = admin_err(&watcher, cmd).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("08P01", "already suspended/paused"),
            "{cmd}"
        );
    }
    let (_, message) = admin_err(&watcher, "SUSPEND now").await;
    assert_eq!(message, "invalid command 'SUSPEND now', use SHOW HELP;");
    let (_, message) = admin_err(&watcher, "RELOAD now").await;
    assert_eq!(message, "invalid command 'RELOAD now', use SHOW HELP;");
    // Held: a query waits.
    let held = {
        let app = app.clone();
        tokio::spawn(async move { app.simple_query("SELECT 2").await.unwrap() })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while num(
        find(&show(&watcher, "SHOW POOLS").await, "database", TEST_DB)[0],
        "cl_waiting",
    ) != 1
    {
        assert!(Instant::now() < deadline, "query not held while suspended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The suspending console goes away: the pooler resumes by itself.
    drop(suspender);
    held.await
        .expect("held query failed after the automatic resume");
    assert_eq!(
        state(&show(&watcher, "SHOW STATE").await),
        kv("yes", "no", "no")
    );

    // An explicit RESUME ends a SUSPEND too; SUSPEND needs no paused db.
    watcher.simple_query("SUSPEND").await.unwrap();
    watcher.simple_query("RESUME").await.unwrap();
    app.simple_query("SELECT 3").await.unwrap();
    watcher.simple_query("PAUSE sluice_test").await.unwrap();
    let (_, message) = admin_err(&watcher, "SUSPEND").await;
    assert_eq!(message, "cannot suspend with paused databases");
    watcher.simple_query("RESUME sluice_test").await.unwrap();
    app.simple_query("SELECT 4").await.unwrap();
}

/// SHUTDOWN WAIT_FOR_CLIENTS from the console: /readyz turns 503 at once
/// (/healthz stays 200), new logins are refused, connected clients and
/// the console keep working, and the instance finishes once they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_wait_for_clients_drains_and_readyz_fails() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_drain");
    let sluice = TestSluice::start(
        &ini(pg, "transaction", "metrics_addr = 127.0.0.1:0"),
        &userlist(&role),
    )
    .await;
    let port = sluice.port;
    let metrics = sluice.sluice().metrics_addr().expect("metrics bound");
    assert_eq!(http_get(metrics, "/readyz").await.0, 200);
    let app = connect(HOST, port, &role, None, TEST_DB).await;
    let console = admin(port).await;
    let (_, message) = admin_err(&console, "SHUTDOWN LATER").await;
    assert_eq!(message, "invalid command 'SHUTDOWN LATER', use SHOW HELP;");
    console
        .simple_query("SHUTDOWN WAIT_FOR_CLIENTS")
        .await
        .unwrap();
    assert_eq!(http_get(metrics, "/readyz").await.0, 503);
    assert_eq!(http_get(metrics, "/healthz").await.0, 200);
    assert!(try_connect(HOST, port, &role, None, TEST_DB).await.is_err());
    app.simple_query("SELECT 1").await.unwrap();
    show(&console, "SHOW POOLS").await;
    let (_, message) = admin_err(&console, "RESUME").await;
    assert_eq!(message, "pooler is shutting down");
    drop(app);
    drop(console);
    tokio::time::timeout(
        Duration::from_secs(20),
        sluice.stop(sluice_core::RunState::WaitForClients),
    )
    .await
    .expect("instance did not finish after its clients left");
}

/// Plain SHUTDOWN closes clients and the console at once; a stats user
/// cannot run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_immediate_closes_everything() {
    let pg = PgServer::shared();
    let role = own_role(pg, "adm_shutdown");
    let sluice = TestSluice::start(&ini(pg, "session", ""), &userlist(&role)).await;
    let port = sluice.port;
    let app = connect(HOST, port, &role, None, TEST_DB).await;
    app.simple_query("SELECT 1").await.unwrap();
    let stats = connect(HOST, port, "stats", None, "pgbouncer").await;
    let (_, message) = admin_err(&stats, "SHUTDOWN").await;
    assert_eq!(message, "admin access needed");
    let console = admin(port).await;
    let _ = console.simple_query("SHUTDOWN").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.simple_query("SELECT 1").await.is_ok() {
        assert!(Instant::now() < deadline, "client survived SHUTDOWN");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(console.simple_query("SHOW POOLS").await.is_err());
    assert!(stats.simple_query("SHOW POOLS").await.is_err());
    tokio::time::timeout(
        Duration::from_secs(20),
        sluice.stop(sluice_core::RunState::Immediate),
    )
    .await
    .expect("instance did not finish");
}
