//! Transaction and statement pooling against a real PostgreSQL: many
//! clients on a small pool with nothing crossing between them, pgbench,
//! pipelines, parameter isolation, statement-mode refusal, and reload
//! under load.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use sluice_tests::clients::{connect, first_value, pgbench_async, pgbench_summary, sqlstate};
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::raw::{self, tags, RawClient};
use sluice_tests::sluice::{own_role, test_ini, trust_userlist, TestSluice};
use tokio_postgres::types::Type;

const HOST: &str = "127.0.0.1";

/// Samples the role's backend count until dropped; reports the peak.
struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    fn start(pg: &'static PgServer, role: &str) -> PeakSampler {
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let role = role.to_string();
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(pg.count_backends(&role), Ordering::Relaxed);
                }
            })
        };
        PeakSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// 500 clients × 200 transactions on a pool of 10. Every transaction
/// writes the client's marker, reads it back inside the transaction, and
/// checks that exactly its own earlier commits are visible: any server
/// shared mid-transaction, or any lost commit, shows up as a mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_share_ten_servers_without_leaks() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_many");
    pg.psql_super_db(
        TEST_DB,
        // The index keeps each client's read-back cheap as the table grows
        // to 100k rows (a sequential scan per transaction made this
        // quadratic and the test slow).
        &format!(
            "CREATE TABLE IF NOT EXISTS tx_marks(client int, n int); \
             CREATE INDEX IF NOT EXISTS tx_marks_client ON tx_marks(client); \
             GRANT ALL ON tx_marks TO {role};"
        ),
    );
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 10\nmax_client_conn = 600",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;
    let sampler = PeakSampler::start(pg, &role);

    const CLIENTS: i32 = 500;
    const TXNS: i32 = 200;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let role = role.clone();
        tasks.push(tokio::spawn(async move {
            let client = connect(HOST, port, &role, None, TEST_DB).await;
            for n in 0..TXNS {
                let marker = format!("{c}:{n}");
                // Alternate simple-protocol and extended-protocol transactions,
                // each spanning several round trips.
                let (seen, count) = if n % 2 == 0 {
                    client.batch_execute("BEGIN").await.unwrap();
                    client
                        .batch_execute(&format!(
                            "SET LOCAL application_name = '{marker}'; INSERT INTO tx_marks VALUES ({c}, {n})"
                        ))
                        .await
                        .unwrap();
                    let rows = client
                        .simple_query(&format!(
                            "SELECT current_setting('application_name') || '|' || count(*) FROM tx_marks WHERE client = {c}"
                        ))
                        .await
                        .unwrap();
                    client.batch_execute("COMMIT").await.unwrap();
                    let v = first_value(&rows);
                    let (m, k) = v.split_once('|').unwrap();
                    (m.to_string(), k.parse::<i64>().unwrap())
                } else {
                    client.batch_execute("BEGIN").await.unwrap();
                    client
                        .query_typed(
                            "SELECT set_config('application_name', $1, true)",
                            &[(&marker, Type::TEXT)],
                        )
                        .await
                        .unwrap();
                    client
                        .query_typed(
                            "INSERT INTO tx_marks VALUES ($1, $2)",
                            &[(&c, Type::INT4), (&n, Type::INT4)],
                        )
                        .await
                        .unwrap();
                    let row = client
                        .query_typed(
                            "SELECT current_setting('application_name'), count(*) FROM tx_marks WHERE client = $1",
                            &[(&c, Type::INT4)],
                        )
                        .await
                        .unwrap();
                    client.batch_execute("COMMIT").await.unwrap();
                    (row[0].get::<_, String>(0), row[0].get::<_, i64>(1))
                };
                assert_eq!(seen, marker, "client {c} saw another client's marker");
                assert_eq!(count, i64::from(n) + 1, "client {c} txn {n}: commits lost or leaked");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peak = sampler.finish();
    assert!(peak <= 10, "{peak} server connections for a pool of 10");
    let total = pg.psql_super_db(TEST_DB, "SELECT count(*) FROM tx_marks");
    assert_eq!(total, (CLIENTS * TXNS).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_through_a_small_pool_has_no_failures() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_bench");
    pg.create_database("tx_bench_db");
    pg.init_pgbench("tx_bench_db");
    pg.psql_super_db(
        "tx_bench_db",
        &format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
    );
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 10\nmax_client_conn = 200",
        &format!(
            "tx_bench_db = host=127.0.0.1 port={} dbname=tx_bench_db",
            pg.port()
        ),
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let sampler = PeakSampler::start(pg, &role);
    for mode in ["simple", "extended"] {
        for script in [&["-S"][..], &["-b", "tpcb-like"][..]] {
            let mut args = vec!["-n", "-c", "100", "-j", "2", "-t", "20", "-M", mode];
            args.extend_from_slice(script);
            let out = pgbench_async(HOST, sluice.port, &role, None, "tx_bench_db", &args).await;
            let summary = pgbench_summary(&out);
            assert_eq!(summary.failed, 0, "pgbench {args:?}");
            assert_eq!(summary.transactions, 2000, "pgbench {args:?}");
        }
    }
    assert!(sampler.finish() <= 10);
}

/// The same pipelines through Sluice and directly give the same replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_match_a_direct_connection() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_pipe");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;

    for port in [sluice.port, pg.port()] {
        // tokio-postgres pipelines queries polled together.
        let client = connect(HOST, port, &role, None, TEST_DB).await;
        let queries = (0..50).map(|i| {
            let client = &client;
            async move {
                let sql = if i == 25 {
                    "SELECT 1/0"
                } else {
                    "SELECT $1::int4 * 2"
                };
                let params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> = if i == 25 {
                    vec![]
                } else {
                    vec![(&i, Type::INT4)]
                };
                client.query_typed(sql, &params).await
            }
        });
        let results = futures_join_all(queries).await;
        for (i, r) in results.into_iter().enumerate() {
            if i == 25 {
                assert_eq!(sqlstate(&r.unwrap_err()), Some("22012"));
            } else {
                assert_eq!(r.unwrap()[0].get::<_, i32>(0), 2 * i as i32, "port {port}");
            }
        }
    }

    // Raw: a pipeline with an error in the middle, and Flush without Sync.
    let mut replies = Vec::new();
    for port in [sluice.port, pg.port()] {
        let mut c = RawClient::connect(port, &role, TEST_DB).await;
        let mut bytes = Vec::new();
        for sql in ["SELECT 1", "SELECT 1/0", "SELECT 3"] {
            bytes.extend(raw::parse("", sql));
            bytes.extend(raw::bind(""));
            bytes.extend(raw::execute());
            bytes.extend(raw::sync());
        }
        c.send(&bytes).await;
        let mut pipeline = String::new();
        for _ in 0..3 {
            pipeline.push_str(&tags(&c.read_until(b'Z').await));
        }
        // Flush without Sync: the replies come, the server stays ours.
        let mut bytes = raw::parse("", "SELECT 42");
        bytes.extend(raw::bind(""));
        bytes.extend(raw::describe_portal());
        bytes.extend(raw::execute());
        bytes.extend(raw::flush());
        c.send(&bytes).await;
        let flushed = c.read_until(b'C').await;
        let value = flushed
            .iter()
            .find(|(t, _)| *t == b'D')
            .map(|(_, b)| b.clone());
        c.send(&raw::sync()).await;
        let after = tags(&c.read_until(b'Z').await);
        replies.push((pipeline, tags(&flushed), value, after));
    }
    assert_eq!(replies[0], replies[1], "Sluice vs direct");
    assert_eq!(replies[0].0, "12DCZ1EZ12DCZ");
    assert_eq!(replies[0].1, "12TDC");
}

/// Poll futures together so tokio-postgres pipelines them.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.unwrap());
    }
    out
}

/// Client A's TimeZone/DateStyle follow it across servers; client B,
/// landing on the server A used, never sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_parameters_follow_their_client_only() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_params");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let a = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let b = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let b_zone = first_value(&b.simple_query("SHOW TimeZone").await.unwrap());

    a.batch_execute("SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY'")
        .await
        .unwrap();
    let pid_a1 = first_value(&a.simple_query("SELECT pg_backend_pid()").await.unwrap());
    // B holds a server in a transaction, so A must use the other one.
    b.batch_execute("BEGIN").await.unwrap();
    let pid_b = first_value(&b.simple_query("SELECT pg_backend_pid()").await.unwrap());
    let rows = a
        .simple_query(
            "SELECT pg_backend_pid(), current_setting('TimeZone'), current_setting('DateStyle')",
        )
        .await
        .unwrap();
    let tokio_postgres::SimpleQueryMessage::Row(row) = rows
        .iter()
        .find(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let pid_a2 = row.get(0).unwrap().to_string();
    assert_ne!(pid_a2, pid_b);
    assert_eq!(row.get(1), Some("Asia/Tokyo"));
    assert_eq!(row.get(2), Some("SQL, DMY"));
    // B sits on some server A has used; it keeps its own settings.
    assert!(pid_b == pid_a1 || pid_b == pid_a2);
    assert_eq!(
        first_value(&b.simple_query("SHOW TimeZone").await.unwrap()),
        b_zone
    );
    assert_eq!(
        first_value(&b.simple_query("SHOW DateStyle").await.unwrap()),
        "ISO, MDY"
    );
    b.batch_execute("COMMIT").await.unwrap();
    // And B, moved again, still has its own.
    assert_eq!(
        first_value(&b.simple_query("SHOW TimeZone").await.unwrap()),
        b_zone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_mode_refuses_transaction_blocks() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_stmt");
    let ini = test_ini(pg, "trust", "statement", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    assert_eq!(first_value(&c.simple_query("SELECT 5").await.unwrap()), "5");
    let err = c.batch_execute("BEGIN").await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(
        db.message(),
        "transaction blocks not allowed in statement pooling mode"
    );
    // Other clients are unaffected, and no server is left in a transaction.
    let d = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    assert_eq!(first_value(&d.simple_query("SELECT 6").await.unwrap()), "6");
    let in_tx = pg.psql_super(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' AND state LIKE 'idle in transaction%'"
    ));
    assert_eq!(in_tx, "0");
}

/// Growing the pool by reload under load: no failed transaction, and the
/// new size is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_a_bigger_pool_under_load() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tx_reload");
    let ini = |size: usize| {
        test_ini(
            pg,
            "trust",
            "transaction",
            &format!("default_pool_size = {size}"),
            "",
        )
    };
    let userlist = trust_userlist(&role);
    let sluice = TestSluice::start(&ini(2), &userlist).await;
    let port = sluice.port;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (role, stop) = (role.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let c = connect(HOST, port, &role, None, TEST_DB).await;
            let mut done = 0u32;
            while !stop.load(Ordering::Relaxed) || done < 20 {
                c.batch_execute("BEGIN; SELECT pg_sleep(0.005); COMMIT")
                    .await
                    .unwrap();
                done += 1;
            }
            done
        }));
    }
    pg.wait_backends_async(&role, std::time::Duration::from_secs(20), |n| n == 2)
        .await;
    sluice.reload_with(&ini(6), &userlist);
    let peak = pg
        .wait_backends_async(&role, std::time::Duration::from_secs(20), |n| n > 2)
        .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        assert!(t.await.unwrap() >= 20);
    }
    assert!(peak <= 6);
}
