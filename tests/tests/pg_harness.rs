//! Tests of the test kit itself against the real PostgreSQL it starts:
//! if these fail, every end-to-end test would fail for the kit's reasons.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_tests::clients::{self, pgbench_summary, PgbenchSummary};
use sluice_tests::pg::{
    PgServer, ALL_ROLES, ROLE_MD5, ROLE_PLAIN, ROLE_SCRAM, ROLE_TRUST, TEST_DB,
};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn every_role_logs_in_over_tcp_with_its_password() {
    let pg = PgServer::shared();
    for role in ALL_ROLES {
        let client =
            clients::connect(pg.host(), pg.port(), role.name, role.password, TEST_DB).await;
        let row = client
            .query_one("SELECT current_user::text, 6 * 7", &[])
            .await
            .expect("query");
        assert_eq!(row.get::<_, String>(0), role.name);
        assert_eq!(row.get::<_, i32>(1), 42);
        // PG15 revoked CREATE on public; the kit grants it back.
        let table = format!("t_{}", role.name);
        client
            .batch_execute(&format!(
                "CREATE TABLE {table} (x int); DROP TABLE {table};"
            ))
            .await
            .expect("create table in schema public");
    }
}

#[tokio::test]
async fn wrong_or_missing_password_is_rejected_with_28p01() {
    let pg = PgServer::shared();
    for role in [ROLE_MD5, ROLE_SCRAM, ROLE_PLAIN] {
        let err = clients::try_connect(pg.host(), pg.port(), role.name, Some("wrong"), TEST_DB)
            .await
            .err()
            .unwrap_or_else(|| panic!("{} logged in with a wrong password", role.name));
        assert_eq!(
            clients::sqlstate(&err),
            Some("28P01"),
            "{}: {err:?}",
            role.name
        );
    }
    // The trust role needs none; over the socket everyone is trusted.
    clients::connect(pg.host(), pg.port(), ROLE_TRUST.name, None, TEST_DB).await;
    let socket = pg.socket_dir().to_str().expect("utf-8 path");
    clients::connect(socket, pg.port(), ROLE_SCRAM.name, None, TEST_DB).await;
}

#[test]
fn stored_secrets_have_the_requested_format() {
    let pg = PgServer::shared();
    let md5 = pg.md5_secret(ROLE_MD5.name);
    let expected = pg.psql_super("SELECT 'md5' || md5('md5pass' || 'sluice_md5');");
    assert_eq!(md5, expected);
    for role in [ROLE_SCRAM, ROLE_PLAIN] {
        assert!(pg
            .scram_secret(role.name)
            .starts_with("SCRAM-SHA-256$4096:"));
    }
    assert_eq!(pg.rolpassword(ROLE_TRUST.name), "");
    assert_eq!(
        pg.userlist_line(ROLE_MD5.name),
        format!("\"sluice_md5\" \"{expected}\"")
    );
}

#[tokio::test]
async fn count_backends_sees_an_open_connection() {
    let pg = PgServer::shared();
    // A role of its own, so parallel tests cannot disturb the count.
    let role = "harness_count";
    pg.psql_super(&format!("CREATE ROLE {role} LOGIN;"));
    assert_eq!(pg.count_backends(role), 0);
    let first = clients::connect(pg.host(), pg.port(), role, None, TEST_DB).await;
    let second = clients::connect(pg.host(), pg.port(), role, None, TEST_DB).await;
    assert_eq!(pg.count_backends(role), 2);
    drop(first);
    pg.wait_backends_async(role, WAIT, |n| n == 1).await;
    assert_eq!(pg.terminate_backends(role), 1);
    pg.wait_backends_async(role, WAIT, |n| n == 0).await;
    assert!(second.simple_query("SELECT 1").await.is_err());
}

#[tokio::test]
async fn restart_and_stop_a_private_server() {
    let pg = PgServer::start();
    let port = pg.port();
    let old = clients::connect(
        pg.host(),
        port,
        ROLE_SCRAM.name,
        ROLE_SCRAM.password,
        TEST_DB,
    )
    .await;
    pg.restart();
    assert_eq!(pg.port(), port);
    assert!(
        old.simple_query("SELECT 1").await.is_err(),
        "restart closes connections"
    );
    let new = clients::connect(
        pg.host(),
        port,
        ROLE_SCRAM.name,
        ROLE_SCRAM.password,
        TEST_DB,
    )
    .await;
    new.simple_query("SELECT 1")
        .await
        .expect("query after restart");

    pg.stop();
    assert!(!pg.is_running());
    pg.stop(); // idempotent
    let err = clients::try_connect(pg.host(), port, ROLE_TRUST.name, None, TEST_DB).await;
    assert!(err.is_err(), "connected to a stopped server");
    pg.start_again();
    assert!(pg.is_running());
    clients::connect(pg.host(), port, ROLE_TRUST.name, None, TEST_DB).await;

    let dir = pg.data_dir().parent().expect("base dir").to_path_buf();
    drop(pg);
    assert!(!dir.exists(), "drop removes {}", dir.display());
}

#[test]
fn several_servers_run_side_by_side() {
    let servers: Vec<PgServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(PgServer::start)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start"))
            .collect()
    });
    assert_ne!(servers[0].port(), servers[1].port());
    assert_ne!(servers[0].data_dir(), servers[1].data_dir());
    for pg in &servers {
        let port = pg.psql_super("SHOW port;");
        assert_eq!(port, pg.port().to_string());
    }
}

#[test]
fn psql_and_pgbench_run_against_the_server() {
    let pg = PgServer::shared();
    let out = clients::psql_ok(
        pg.host(),
        pg.port(),
        ROLE_MD5.name,
        ROLE_MD5.password,
        TEST_DB,
        "SELECT 1, 'a'; SELECT current_user;",
    );
    assert_eq!(out, "1|a\nsluice_md5");
    let bad = clients::psql(
        pg.host(),
        pg.port(),
        ROLE_MD5.name,
        Some("nope"),
        TEST_DB,
        "SELECT 1",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));

    let db = "harness_pgbench";
    pg.create_database(db);
    pg.init_pgbench(db);
    for mode in ["simple", "extended", "prepared"] {
        let out = clients::pgbench(
            pg.host(),
            pg.port(),
            ROLE_SCRAM.name,
            ROLE_SCRAM.password,
            db,
            &["-n", "-c", "2", "-j", "2", "-t", "25", "-M", mode],
        );
        clients::expect_success(&out, &format!("pgbench -M {mode}"));
        let summary = pgbench_summary(&out);
        assert_eq!(summary.transactions, 50, "{mode}: {summary:?}");
        assert_eq!(summary.failed, 0, "{mode}: {summary:?}");
        assert!(summary.tps > 0.0, "{mode}: {summary:?}");
    }
}

#[test]
fn pgbench_summary_parses_pgbench_15_output() {
    let text = "\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 1234
number of failed transactions: 3 (0.243%)
latency average = 16.2 ms
initial connection time = 12.345 ms
tps = 246.812345 (without initial connection time)
";
    assert_eq!(
        PgbenchSummary::parse(text),
        Some(PgbenchSummary {
            tps: 246.812345,
            transactions: 1234,
            failed: 3
        })
    );
    let by_count = text.replace("processed: 1234", "processed: 100/100");
    assert_eq!(
        PgbenchSummary::parse(&by_count).map(|s| s.transactions),
        Some(100)
    );
    assert_eq!(
        PgbenchSummary::parse("pgbench: error: connection failed"),
        None
    );
}
