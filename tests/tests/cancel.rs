//! Cancel requests through Sluice in transaction mode (invariant 5): a
//! cancel reaches the query its client is running, and a cancel sent
//! after the client gave its server back reaches nothing — not even the
//! query another client now runs on that same server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_tests::clients::{connect, first_value, sqlstate};
use sluice_tests::pg::{literal, PgServer, TEST_DB};
use sluice_tests::sluice::{own_role, test_ini, trust_userlist, TestSluice};
use tokio::time::timeout;
use tokio_postgres::NoTls;

const HOST: &str = "127.0.0.1";
/// Only a hang guard: no test asserts how long anything takes.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Wait until `role` has a backend running a query that starts with `prefix`.
async fn wait_running(pg: &PgServer, role: &str, prefix: &str) -> String {
    let sql = format!(
        "SELECT pid FROM pg_stat_activity WHERE usename = {} AND state = 'active' \
         AND query LIKE {} AND pid <> pg_backend_pid() LIMIT 1",
        literal(role),
        literal(&format!("{prefix}%"))
    );
    for _ in 0..400 {
        let pid = pg.psql_super(&sql);
        if !pid.is_empty() {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no backend of {role} ever ran {prefix}");
}

/// `SELECT pg_sleep(30)` through Sluice, cancelled with the key Sluice gave
/// the client: the query fails with 57014, and the client carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_running_query() {
    let pg = PgServer::shared();
    let role = own_role(pg, "cx_cancel");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    timeout(HANG_GUARD, async {
        let client = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        let token = client.cancel_token();
        let sleeper = tokio::spawn(async move {
            let result = client.simple_query("SELECT pg_sleep(30)").await;
            (client, result)
        });
        wait_running(pg, &role, "SELECT pg_sleep(30)").await;
        token.cancel_query(NoTls).await.unwrap();
        let (client, result) = sleeper.await.unwrap();
        let err = result.expect_err("pg_sleep(30) was not cancelled");
        assert_eq!(sqlstate(&err), Some("57014"), "{err:?}");
        // Inside a transaction too, and the session stays usable.
        client.batch_execute("BEGIN").await.unwrap();
        let token = client.cancel_token();
        let sleeper = tokio::spawn(async move {
            let result = client.simple_query("SELECT pg_sleep(30)").await;
            (client, result)
        });
        wait_running(pg, &role, "SELECT pg_sleep(30)").await;
        token.cancel_query(NoTls).await.unwrap();
        let (client, result) = sleeper.await.unwrap();
        assert_eq!(sqlstate(&result.unwrap_err()), Some("57014"));
        client.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(
            first_value(&client.simple_query("SELECT 7").await.unwrap()),
            "7"
        );
    })
    .await
    .expect("hang: cancel did not end the query");
}

/// A client's cancel after its transaction ended must not reach the server
/// it used, which (pool of one) is by then running another client's query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_release_cancels_nothing() {
    let pg = PgServer::shared();
    let role = own_role(pg, "cx_late");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 1", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    timeout(HANG_GUARD, async {
        let a = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        let b = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        // A uses the only server for a whole transaction, then gives it back.
        a.batch_execute("BEGIN").await.unwrap();
        let pid_a = first_value(&a.simple_query("SELECT pg_backend_pid()").await.unwrap());
        a.batch_execute("COMMIT").await.unwrap();
        let late = a.cancel_token();
        // B now runs a query on that same server.
        let sleeper = tokio::spawn(async move {
            b.simple_query("SELECT pg_sleep(2), pg_backend_pid()")
                .await
                .map(|rows| first_value(&rows))
        });
        let pid_b = wait_running(pg, &role, "SELECT pg_sleep(2)").await;
        assert_eq!(pid_a, pid_b, "pool of one: B must be on A's old server");
        // Sluice answers a cancel only after forwarding it (if it does), so
        // once this returns a wrongly forwarded cancel has already landed.
        late.cancel_query(NoTls).await.unwrap();
        let result = sleeper.await.unwrap();
        assert!(
            result.is_ok(),
            "A's late cancel hit B's query: {:?}",
            result.err()
        );
        drop(a);
    })
    .await
    .expect("hang");
}

/// Cancels racing releases: A runs short transactions while firing its own
/// cancels as fast as it can; B runs queries on the same single server.
/// B must never see a cancellation that was meant for A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_racing_a_release_never_hit_the_next_client() {
    let pg = PgServer::shared();
    let role = own_role(pg, "cx_race");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 1", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;
    timeout(Duration::from_secs(60), async {
        let a = connect(HOST, port, &role, None, TEST_DB).await;
        let b = connect(HOST, port, &role, None, TEST_DB).await;
        let token = a.cancel_token();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let canceller = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sent = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    token.cancel_query(NoTls).await.unwrap();
                    sent += 1;
                }
                sent
            })
        };
        let a_task = tokio::spawn(async move {
            let mut cancelled = 0u32;
            for _ in 0..150 {
                match a.simple_query("SELECT pg_sleep(0.002)").await {
                    Ok(_) => {}
                    Err(e) if sqlstate(&e) == Some("57014") => cancelled += 1,
                    Err(e) => panic!("A: {e:?}"),
                }
            }
            cancelled
        });
        let b_task = tokio::spawn(async move {
            for i in 0..150 {
                let rows = b.simple_query("SELECT pg_sleep(0.002), 'b'").await;
                assert!(rows.is_ok(), "B query {i} hit by A's cancel: {rows:?}");
            }
        });
        b_task.await.unwrap();
        let cancelled = a_task.await.unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = canceller.await.unwrap();
        assert!(sent > 0);
        // Not asserted (timing-dependent), but shown for the curious.
        eprintln!("A: {cancelled} of 150 queries cancelled by {sent} cancels");
    })
    .await
    .expect("hang");
}

/// query_timeout's own cancel must not outlive the link either: A's
/// queries end right around query_timeout, so Sluice's cancel for them is
/// often still on its way when A's query finishes and the only server
/// goes to B. B must never be cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancel_never_hits_the_next_client() {
    let pg = PgServer::shared();
    let role = own_role(pg, "cx_qtimeout");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 1\nquery_timeout = 0.1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;
    timeout(Duration::from_secs(60), async {
        let a = connect(HOST, port, &role, None, TEST_DB).await;
        let b = connect(HOST, port, &role, None, TEST_DB).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let b_task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let rows = b.simple_query("SELECT pg_sleep(0.01)").await;
                    assert!(rows.is_ok(), "B query {n} cancelled: {rows:?}");
                    n += 1;
                }
                n
            })
        };
        let mut timed_out = 0;
        for i in 0..40u32 {
            // 0.190 s … 0.2095 s: Sluice cancels a query after one to two
            // quiet 0.1 s ticks, so these end right around its cancel.
            let sleep = 0.190 + f64::from(i) * 0.0005;
            match a.simple_query(&format!("SELECT pg_sleep({sleep})")).await {
                Ok(_) => {}
                Err(e) if sqlstate(&e) == Some("57014") => timed_out += 1,
                Err(e) => panic!("A: {e:?}"),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let b_queries = b_task.await.unwrap();
        eprintln!("A: {timed_out} of 40 timed out; B ran {b_queries} queries");
    })
    .await
    .expect("hang");
}
