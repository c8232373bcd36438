//! Pool limits and server lifetimes against a real PostgreSQL: the
//! database-wide and user-wide caps shared by several pools, the reserve
//! pool, min_pool_size, server_idle_timeout and server_lifetime.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_tests::clients::{connect, first_value};
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::sluice::{own_role, test_ini, trust_userlist, TestSluice};
use tokio::time::timeout;

const HOST: &str = "127.0.0.1";
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Backends of all `roles` together, polled while `work` runs; the peak.
async fn peak_backends_during(
    pg: &PgServer,
    roles: &[&str],
    work: impl std::future::Future<Output = ()>,
) -> usize {
    let mut work = std::pin::pin!(work);
    let mut peak = 0;
    loop {
        // One query for all roles: a slot moving between two pools must
        // not be counted in both.
        let now = pg.count_backends_of(roles);
        peak = peak.max(now);
        tokio::select! {
            () = &mut work => return peak,
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// `clients` tasks per (user, database) pair, each running a few short
/// transactions that hold their server for a while.
async fn hold_servers(port: u16, pairs: &[(String, String)], clients: usize) {
    let mut tasks = Vec::new();
    for (user, db) in pairs {
        for _ in 0..clients {
            let (user, db) = (user.clone(), db.clone());
            tasks.push(tokio::spawn(async move {
                let c = connect(HOST, port, &user, None, &db).await;
                for _ in 0..3 {
                    c.batch_execute("BEGIN; SELECT pg_sleep(0.1); COMMIT")
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// max_db_connections caps the pools of two users on one database
/// together; max_user_connections caps one user's pools on two databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_user_caps_span_their_pools() {
    let pg = PgServer::shared();
    let (u1, u2) = (own_role(pg, "pl_db_a"), own_role(pg, "pl_db_b"));
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 5\nmax_db_connections = 3",
        "",
    );
    let userlist = trust_userlist(&u1) + &trust_userlist(&u2);
    let sluice = TestSluice::start(&ini, &userlist).await;
    let pairs = [
        (u1.clone(), TEST_DB.to_string()),
        (u2.clone(), TEST_DB.to_string()),
    ];
    let peak = timeout(
        HANG_GUARD,
        peak_backends_during(pg, &[&u1, &u2], hold_servers(sluice.port, &pairs, 4)),
    )
    .await
    .expect("hang");
    assert!(
        (1..=3).contains(&peak),
        "max_db_connections = 3, peak {peak}"
    );

    // Two database entries on the same server database, one user capped.
    let user = own_role(pg, "pl_user");
    let port = pg.port();
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 5\nmax_user_connections = 2",
        &format!(
            "other = host=127.0.0.1 port={port} dbname={TEST_DB}\n\
             third = host=127.0.0.1 port={port} dbname={TEST_DB}"
        ),
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&user)).await;
    let pairs = [
        (user.clone(), "other".to_string()),
        (user.clone(), "third".to_string()),
    ];
    let peak = timeout(
        HANG_GUARD,
        peak_backends_during(pg, &[&user], hold_servers(sluice.port, &pairs, 4)),
    )
    .await
    .expect("hang");
    assert!(
        (1..=2).contains(&peak),
        "max_user_connections = 2, peak {peak}"
    );
}

/// A client that waited reserve_pool_timeout gets a reserve connection
/// while the pool's only server is held in a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_pool_serves_a_client_that_waited() {
    let pg = PgServer::shared();
    let role = own_role(pg, "pl_reserve");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 1\nreserve_pool_size = 1\nreserve_pool_timeout = 0.3\n\
         query_wait_timeout = 10",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let holder = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let waiter = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    // Without the reserve this would wait until the holder commits (never,
    // here) and then fail with query_wait_timeout after 10 s.
    let rows = timeout(Duration::from_secs(5), waiter.simple_query("SELECT 42"))
        .await
        .expect("the waiter was not given a reserve connection")
        .unwrap();
    assert_eq!(first_value(&rows), "42");
    assert_eq!(pg.count_backends(&role), 2);
    holder.batch_execute("COMMIT").await.unwrap();
}

/// min_pool_size opens servers ahead of demand; server_idle_timeout closes
/// idle ones above it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_pool_size_fills_and_idle_timeout_trims() {
    let pg = PgServer::shared();
    let role = own_role(pg, "pl_min");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 6\nmin_pool_size = 3\nserver_idle_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    c.batch_execute("SELECT 1").await.unwrap();
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 3).await;

    // Five busy at once opens two more than the minimum ...
    let pairs: Vec<(String, String)> = vec![(role.clone(), TEST_DB.to_string())];
    hold_servers(sluice.port, &pairs, 5).await;
    assert!(pg.count_backends(&role) > 3);
    // ... and once idle past server_idle_timeout they go, down to the minimum.
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 3).await;
}

/// server_lifetime: a server older than it is closed once released, and
/// the next query runs on a fresh backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_lifetime_replaces_old_servers() {
    let pg = PgServer::shared();
    let role = own_role(pg, "pl_life");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 1\nserver_lifetime = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let pid = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
    let old_gone = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}");
    timeout(HANG_GUARD, async {
        while pg.psql_super(&old_gone) != "0" {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the server outlived server_lifetime");
    let fresh = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
    assert_ne!(fresh, pid);
}
