//! Session pooling against a real PostgreSQL: the pool bound holds under
//! 50 concurrent clients, waiting clients are served in arrival order,
//! query_wait_timeout answers with PgBouncer's error, and a session's
//! state is reset before the server serves someone else.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_tests::clients::{connect, first_value, sqlstate, try_connect};
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::sluice::{own_role, test_ini, trust_userlist, TestSluice};

const HOST: &str = "127.0.0.1";

async fn waiting_clients(sluice: &TestSluice) -> usize {
    sluice
        .sluice()
        .shared()
        .pools()
        .iter()
        .map(|p| p.counts().waiting)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_never_exceed_a_pool_of_five() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sess_bound");
    let ini = test_ini(
        pg,
        "trust",
        "session",
        "default_pool_size = 5\nquery_wait_timeout = 60",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;

    let peak = Arc::new(Mutex::new(0usize));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done, role) = (peak.clone(), done.clone(), role.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n = pg.count_backends(&role);
                let mut p = peak.lock().unwrap();
                *p = (*p).max(n);
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..50 {
        let role = role.clone();
        tasks.push(tokio::spawn(async move {
            let client = connect(HOST, port, &role, None, TEST_DB).await;
            let rows = client
                .simple_query(&format!("SELECT {i} FROM pg_sleep(0.05)"))
                .await
                .unwrap();
            assert_eq!(first_value(&rows), i.to_string());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = *peak.lock().unwrap();
    assert!(peak <= 5, "saw {peak} server connections for a pool of 5");
    assert!(peak >= 1, "the sampler saw no server connection at all");
}

/// Five clients hold the five servers; ten more queue one by one; as the
/// holders leave, the queue is served strictly first come, first served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_clients_are_served_in_arrival_order() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sess_fifo");
    let ini = test_ini(
        pg,
        "trust",
        "session",
        "default_pool_size = 5\nquery_wait_timeout = 60",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;

    let mut holders = Vec::new();
    for _ in 0..5 {
        let c = connect(HOST, port, &role, None, TEST_DB).await;
        c.simple_query("SELECT 1").await.unwrap();
        holders.push(c);
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..10 {
        let (role, order) = (role.clone(), order.clone());
        let client = connect(HOST, port, &role, None, TEST_DB).await;
        waiters.push(tokio::spawn(async move {
            client.simple_query("SELECT 1").await.unwrap();
            order.lock().unwrap().push(i);
            // Leaving frees the server for the next in line.
        }));
        // Wait until this one is queued before the next arrives.
        while waiting_clients(&sluice).await < i + 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Free one server; each served waiter frees its server on exit.
    drop(holders.remove(0));
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_wait_timeout_gives_the_documented_error() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sess_wait");
    let ini = test_ini(
        pg,
        "trust",
        "session",
        "default_pool_size = 1\nquery_wait_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let holder = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    holder.simple_query("SELECT 1").await.unwrap();

    let waiter = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let err = waiter
        .simple_query("SELECT 1")
        .await
        .expect_err("must time out");
    assert_eq!(sqlstate(&err), Some("08P01"), "{err:?}");
    assert_eq!(err.as_db_error().unwrap().message(), "query_wait_timeout");
    // The holder is unharmed.
    assert_eq!(
        first_value(&holder.simple_query("SELECT 7").await.unwrap()),
        "7"
    );
}

/// Client A leaves behind a search_path and a temp table; client B gets
/// the same backend (pool of one) and sees a clean session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_is_reset_between_clients() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sess_reset");
    let ini = test_ini(pg, "trust", "session", "default_pool_size = 1", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;

    let a = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    a.batch_execute(
        "SET search_path = pg_catalog; CREATE TEMP TABLE leftover(x int); PREPARE p AS SELECT 1",
    )
    .await
    .unwrap();
    let pid_a = first_value(&a.simple_query("SELECT pg_backend_pid()").await.unwrap());
    drop(a);

    let b = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let pid_b = first_value(&b.simple_query("SELECT pg_backend_pid()").await.unwrap());
    assert_eq!(pid_a, pid_b, "the test needs B on A's backend");
    assert_eq!(
        first_value(&b.simple_query("SHOW search_path").await.unwrap()),
        "\"$user\", public"
    );
    assert_eq!(
        first_value(
            &b.simple_query("SELECT to_regclass('pg_temp.leftover') IS NULL")
                .await
                .unwrap()
        ),
        "t"
    );
    assert_eq!(
        first_value(
            &b.simple_query("SELECT count(*) FROM pg_prepared_statements")
                .await
                .unwrap()
        ),
        "0"
    );
}

/// Unix socket listener: same service as TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_listener_serves_clients() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sess_unix");
    let ini = test_ini(pg, "trust", "session", "", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let dir = sluice.dir.display().to_string();
    let client = try_connect(&dir, sluice.port, &role, None, TEST_DB)
        .await
        .expect("unix socket connect");
    assert_eq!(
        first_value(&client.simple_query("SELECT 'unix'").await.unwrap()),
        "unix"
    );
}
