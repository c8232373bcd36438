//! Protocol-level named prepared statements in transaction mode
//! (`max_prepared_statements`) against a real PostgreSQL, always with
//! fewer servers than clients: real drivers (tokio-postgres, pgbench
//! `-M prepared`, psycopg 3) get correct results, and hand-made message
//! sequences get exactly the replies a direct connection gives.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;

use sluice_tests::clients::{connect, first_value, pgbench_async, pgbench_summary, sqlstate};
use sluice_tests::pg::{PgServer, TEST_DB};
use sluice_tests::raw::{self, Msg, RawClient};
use sluice_tests::sluice::{own_role, settled, test_ini, trust_userlist, TestSluice};

const HOST: &str = "127.0.0.1";

async fn start(role: &str, settings: &str) -> TestSluice {
    let ini = test_ini(PgServer::shared(), "trust", "transaction", settings, "");
    TestSluice::start(&ini, &trust_userlist(role)).await
}

/// (client parses, server parses, binds) of the test pool.
fn read_counters(sluice: &TestSluice) -> (u64, u64, u64) {
    let pools = sluice.sluice().shared().pools();
    let stats = &pools.first().expect("a pool").stats;
    (
        stats.client_parse_count.load(Ordering::Relaxed),
        stats.server_parse_count.load(Ordering::Relaxed),
        stats.bind_count.load(Ordering::Relaxed),
    )
}

/// The pool's (client parses, server parses, binds) once they stop moving.
async fn counters(sluice: &TestSluice) -> (u64, u64, u64) {
    settled("prepared-statement counters", || async {
        read_counters(sluice)
    })
    .await
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn describe_statement(name: &str) -> Vec<u8> {
    let mut body = vec![b'S'];
    body.extend(cstr(name));
    raw::msg(b'D', &body)
}

fn close_statement(name: &str) -> Vec<u8> {
    let mut body = vec![b'S'];
    body.extend(cstr(name));
    raw::msg(b'C', &body)
}

/// Parse + Bind + Execute of a named statement (no Sync).
fn run_named(name: &str, sql: &str) -> Vec<u8> {
    let mut v = raw::parse(name, sql);
    v.extend(raw::bind(name));
    v.extend(raw::execute());
    v
}

fn bind_execute(name: &str) -> Vec<u8> {
    let mut v = raw::bind(name);
    v.extend(raw::execute());
    v
}

/// A reply as text for comparisons: the type byte, plus the SQLSTATE and
/// message of errors and the values of data rows.
fn describe(msg: &Msg) -> String {
    let (tag, body) = msg;
    match tag {
        b'E' => {
            let mut code = String::new();
            let mut text = String::new();
            let mut rest = &body[..];
            while let Some((&field, after)) = rest.split_first() {
                if field == 0 {
                    break;
                }
                let end = after.iter().position(|b| *b == 0).unwrap_or(after.len());
                let value = String::from_utf8_lossy(&after[..end]).into_owned();
                match field {
                    b'C' => code = value,
                    b'M' => text = value,
                    _ => {}
                }
                rest = after.get(end + 1..).unwrap_or(&[]);
            }
            format!("E[{code} {text}]")
        }
        b'D' => {
            // One text column is all these tests use.
            let value = body
                .get(6..)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            format!("D[{value}]")
        }
        other => (*other as char).to_string(),
    }
}

/// Send `bytes` and read replies up to the `syncs`-th ReadyForQuery.
async fn exchange(c: &mut RawClient, bytes: &[u8], syncs: usize) -> Vec<String> {
    c.send(bytes).await;
    let mut out = Vec::new();
    for _ in 0..syncs {
        out.extend(c.read_until(b'Z').await.iter().map(describe));
    }
    out
}

/// 200 tokio-postgres clients (a named statement for every query, plus
/// statements prepared once and reused in later transactions, which land
/// on other servers) on a pool of 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_two_hundred_clients_on_five_servers() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_many");
    let sluice = start(&role, "default_pool_size = 5\nmax_client_conn = 300").await;
    let port = sluice.port;
    let tasks: Vec<_> = (0..200i32)
        .map(|n| {
            let role = role.clone();
            tokio::spawn(async move {
                let client = connect(HOST, port, &role, None, TEST_DB).await;
                let kept = client
                    .prepare("SELECT $1::int4 * 3, $2::text")
                    .await
                    .unwrap();
                for i in 0..20i32 {
                    let v = n * 100 + i;
                    let row = client
                        .query_one(
                            "SELECT $1::int4 + 1, $2::text || '!'",
                            &[&v, &format!("c{n}")],
                        )
                        .await
                        .unwrap();
                    assert_eq!(row.get::<_, i32>(0), v + 1);
                    assert_eq!(row.get::<_, String>(1), format!("c{n}!"));
                    let row = client
                        .query_one(&kept, &[&v, &format!("k{n}")])
                        .await
                        .unwrap();
                    assert_eq!(row.get::<_, i32>(0), v * 3);
                    assert_eq!(row.get::<_, String>(1), format!("k{n}"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (client_parses, server_parses, binds) = counters(&sluice).await;
    assert!(client_parses >= 200 * 21, "client parses {client_parses}");
    assert!(binds >= 200 * 40, "binds {binds}");
    // Two distinct texts on at most 5 servers: sharing works.
    assert!(
        server_parses < client_parses / 10,
        "server parses {server_parses} for {client_parses} client parses"
    );
    let usage = sluice.sluice().shared().prepared.usage();
    assert!(usage.entries <= 2, "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_prepared_has_no_failures() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_bench");
    pg.create_database("prep_bench_db");
    pg.init_pgbench("prep_bench_db");
    pg.psql_super_db(
        "prep_bench_db",
        &format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
    );
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 10\nmax_client_conn = 200",
        &format!(
            "prep_bench_db = host=127.0.0.1 port={} dbname=prep_bench_db",
            pg.port()
        ),
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    // pgbench prepares a script's statements with a blocking PQprepare at
    // each client's first transaction, which stalls the other clients of
    // its thread. With several clients per thread, a transaction pooler
    // (PgBouncer too) can then deadlock: clients holding a server inside
    // BEGIN…END wait behind a PQprepare that waits for a server. One
    // thread per client for tpcb-like avoids that pgbench artefact.
    for (script, threads) in [(&["-S"][..], "2"), (&["-b", "tpcb-like"][..], "100")] {
        let mut args = vec![
            "-n", "-c", "100", "-j", threads, "-t", "20", "-M", "prepared",
        ];
        args.extend_from_slice(script);
        let out = pgbench_async(HOST, sluice.port, &role, None, "prep_bench_db", &args).await;
        let summary = pgbench_summary(&out);
        assert!(out.status.success(), "pgbench {args:?}: {out:?}");
        assert_eq!(summary.failed, 0, "pgbench {args:?}");
        assert_eq!(summary.transactions, 2000, "pgbench {args:?}");
    }
}

/// psycopg 3 with prepare_threshold=0 from 40 threads on a pool of 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_prepares_every_query_from_many_threads() {
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import psycopg"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        eprintln!("skipped: no python3 with psycopg");
        return;
    };
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_psycopg");
    let sluice = start(&role, "default_pool_size = 4\nmax_client_conn = 100").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/prepared_threads.py");
    let port = sluice.port.to_string();
    let args = [script, HOST, &port, &role, TEST_DB, "40", "15"].map(str::to_string);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "psycopg: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (client_parses, server_parses, _) = counters(&sluice).await;
    assert!(client_parses >= 40 * 3, "client parses {client_parses}");
    assert!(
        server_parses < client_parses,
        "{server_parses} vs {client_parses}"
    );
}

/// Two clients give the same name to different queries, on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_for_different_queries_in_two_clients() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_names");
    let sluice = start(&role, "default_pool_size = 1").await;
    let mut a = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let mut b = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let sync = |v: Vec<u8>| {
        let mut v = v;
        v.extend(raw::sync());
        v
    };
    assert_eq!(
        exchange(&mut a, &sync(run_named("q", "SELECT 'a1'")), 1).await,
        ["1", "2", "D[a1]", "C", "Z"]
    );
    assert_eq!(
        exchange(&mut b, &sync(run_named("q", "SELECT 'b1'")), 1).await,
        ["1", "2", "D[b1]", "C", "Z"]
    );
    for _ in 0..3 {
        assert_eq!(
            exchange(&mut a, &sync(bind_execute("q")), 1).await,
            ["2", "D[a1]", "C", "Z"]
        );
        assert_eq!(
            exchange(&mut b, &sync(bind_execute("q")), 1).await,
            ["2", "D[b1]", "C", "Z"]
        );
    }
    // Describe 'S' works on the translated name and is answered in order.
    let mut bytes = describe_statement("q");
    bytes.extend(raw::sync());
    assert_eq!(exchange(&mut a, &bytes, 1).await, ["t", "T", "Z"]);
}

/// Errors Postgres gives for names (42P05, 26000), DEALLOCATE and
/// re-prepare, Close, DISCARD ALL in mid-session: the same replies as a
/// direct connection, message for message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_lifecycle_matches_a_direct_connection() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_life");
    let sluice = start(&role, "default_pool_size = 2").await;
    // Another client keeps a statement of the same text cached, so the
    // pooled path (ParseComplete made by Sluice) is exercised too.
    let mut other = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let mut warm = run_named("w", "SELECT 'one'");
    warm.extend(raw::sync());
    exchange(&mut other, &warm, 1).await;

    let mut transcripts = Vec::new();
    for port in [sluice.port, pg.port()] {
        let mut c = RawClient::connect(port, &role, TEST_DB).await;
        let mut t = Vec::new();
        let steps: Vec<(Vec<u8>, usize)> = vec![
            // Prepare, then prepare the same name again: 42P05.
            ([raw::parse("s", "SELECT 'one'"), raw::sync()].concat(), 1),
            ([raw::parse("s", "SELECT 'two'"), raw::sync()].concat(), 1),
            // The failed Parse skipped the Bind after it, not the next Sync's.
            (
                [
                    raw::parse("s", "SELECT 'x'"),
                    bind_execute("s"),
                    raw::sync(),
                    bind_execute("s"),
                    raw::sync(),
                ]
                .concat(),
                2,
            ),
            // Unknown name: 26000.
            ([bind_execute("nope"), raw::sync()].concat(), 1),
            ([describe_statement("nope"), raw::sync()].concat(), 1),
            // SQL DEALLOCATE, then the name is free again.
            (raw::query("DEALLOCATE s"), 1),
            ([bind_execute("s"), raw::sync()].concat(), 1),
            ([run_named("s", "SELECT 'two'"), raw::sync()].concat(), 1),
            // Close, Close of an unknown name (no error), re-prepare.
            (
                [close_statement("s"), close_statement("nope"), raw::sync()].concat(),
                1,
            ),
            ([run_named("s", "SELECT 'three'"), raw::sync()].concat(), 1),
            // DEALLOCATE inside a transaction block, and in a failed one.
            (raw::query("BEGIN"), 1),
            (raw::query("DEALLOCATE s"), 1),
            ([run_named("s", "SELECT 'four'"), raw::sync()].concat(), 1),
            (raw::query("SELECT 1/0"), 1),
            (raw::query("DEALLOCATE s"), 1),
            (raw::query("ROLLBACK"), 1),
            ([bind_execute("s"), raw::sync()].concat(), 1),
            // DISCARD ALL drops every statement of the session.
            ([raw::parse("d", "SELECT 'five'"), raw::sync()].concat(), 1),
            (raw::query("DISCARD ALL"), 1),
            ([bind_execute("d"), raw::sync()].concat(), 1),
            ([run_named("d", "SELECT 'six'"), raw::sync()].concat(), 1),
            // DEALLOCATE ALL, and DEALLOCATE of an unknown name.
            (raw::query("DEALLOCATE ALL"), 1),
            ([bind_execute("d"), raw::sync()].concat(), 1),
            (raw::query("DEALLOCATE nope"), 1),
        ];
        for (bytes, syncs) in steps {
            t.push(exchange(&mut c, &bytes, syncs).await.join(" "));
        }
        transcripts.push(t);
    }
    for (i, (via, direct)) in transcripts[0].iter().zip(&transcripts[1]).enumerate() {
        assert_eq!(via, direct, "step {i}: Sluice vs direct");
    }
    assert!(transcripts[0][1].contains("42P05"), "{:?}", transcripts[0]);
}

/// A pipeline of named statements with an error in the middle, and what
/// is left afterwards: identical to a direct connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_with_an_error_matches_a_direct_connection() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_pipe");
    let sluice = start(&role, "default_pool_size = 1").await;
    let mut warm = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let bytes = [run_named("w", "SELECT 'p3'"), raw::sync()].concat();
    exchange(&mut warm, &bytes, 1).await;

    let mut transcripts = Vec::new();
    for port in [sluice.port, pg.port()] {
        let mut c = RawClient::connect(port, &role, TEST_DB).await;
        let pipeline = [
            run_named("p1", "SELECT 'p1'"),
            run_named("p2", "SELECT 'p2'"),
            raw::sync(),
            run_named("p3", "SELECT 'p3'"),
            close_statement("p1"),
            run_named("bad", "SELEC 1"),
            run_named("p4", "SELECT 'p4'"),
            close_statement("p2"),
            raw::sync(),
            bind_execute("p1"),
            raw::sync(),
            bind_execute("p2"),
            bind_execute("p3"),
            raw::sync(),
            bind_execute("p4"),
            raw::sync(),
            bind_execute("bad"),
            raw::sync(),
            run_named("p4", "SELECT 'p4 again'"),
            raw::sync(),
        ]
        .concat();
        transcripts.push(exchange(&mut c, &pipeline, 7).await);
    }
    assert_eq!(transcripts[0], transcripts[1], "Sluice vs direct");
    assert!(transcripts[0].iter().any(|m| m.contains("42601")));
}

/// A server cache smaller than the working set: statements are evicted
/// and re-prepared under load, results stay right, and no server holds
/// more than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_under_load() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_evict");
    let sluice = start(
        &role,
        "default_pool_size = 2\nmax_prepared_statements = 3\nmax_client_conn = 100",
    )
    .await;
    let port = sluice.port;
    let tasks: Vec<_> = (0..20i32)
        .map(|n| {
            let role = role.clone();
            tokio::spawn(async move {
                let client = connect(HOST, port, &role, None, TEST_DB).await;
                let mut statements = Vec::new();
                for k in 0..8 {
                    let sql = format!("SELECT $1::int4 + {k}");
                    statements.push(client.prepare(&sql).await.unwrap());
                }
                for round in 0..10i32 {
                    for (k, st) in statements.iter().enumerate() {
                        let v = n * 1000 + round;
                        let row = client.query_one(st, &[&v]).await.unwrap();
                        assert_eq!(row.get::<_, i32>(0), v + k as i32);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (_, server_parses, _) = counters(&sluice).await;
    // 8 texts on 2 servers would need 16 Parses without evictions.
    assert!(server_parses > 16, "server parses {server_parses}");
    let client = connect(HOST, port, &role, None, TEST_DB).await;
    for _ in 0..4 {
        let rows = client
            .simple_query("SELECT count(*) FROM pg_prepared_statements")
            .await
            .unwrap();
        let count: usize = first_value(&rows).parse().unwrap();
        assert!(count <= 3, "{count} statements on a server, limit 3");
    }
}

/// Columns added and dropped while statements on the table are cached on
/// the servers: a fresh prepare may meet a stale plan once per server
/// (0A000, passed through with the connection in sync), never more, and
/// then sees the new columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_while_statements_are_cached() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_ddl");
    pg.psql_super_db(
        TEST_DB,
        &format!(
            "DROP TABLE IF EXISTS prep_ddl; CREATE TABLE prep_ddl(a int); \
             INSERT INTO prep_ddl VALUES (1); GRANT ALL ON prep_ddl TO {role};"
        ),
    );
    let sluice = start(&role, "default_pool_size = 2").await;
    let port = sluice.port;
    // Cache the statement on both servers: two clients in open
    // transactions hold one server each.
    let warmers: Vec<_> = warm_both_servers(&role, port).await;
    drop(warmers);

    for (ddl, columns) in [
        ("ALTER TABLE prep_ddl ADD COLUMN b int DEFAULT 2", 2),
        ("ALTER TABLE prep_ddl DROP COLUMN a", 1),
    ] {
        pg.psql_super_db(TEST_DB, ddl);
        let client = connect(HOST, port, &role, None, TEST_DB).await;
        let mut stale = 0;
        let rows = loop {
            match client.query("SELECT * FROM prep_ddl", &[]).await {
                Ok(rows) => break rows,
                Err(e) => {
                    assert_eq!(sqlstate(&e), Some("0A000"), "{e:?}");
                    stale += 1;
                    assert!(stale <= 2, "stale plans keep coming back");
                    // The connection is in sync after the error.
                    let v = client.simple_query("SELECT 7").await.unwrap();
                    assert_eq!(first_value(&v), "7");
                }
            }
        };
        assert_eq!(rows[0].len(), columns, "after {ddl}");
        // And from now on every server answers with the new shape.
        for _ in 0..6 {
            let rows = client.query("SELECT * FROM prep_ddl", &[]).await.unwrap();
            assert_eq!(rows[0].len(), columns);
        }
    }
}

/// Two clients each holding one server in a transaction, both running
/// the table's statement, so it is cached on both servers.
async fn warm_both_servers(role: &str, port: u16) -> Vec<tokio_postgres::Client> {
    let a = connect(HOST, port, role, None, TEST_DB).await;
    let b = connect(HOST, port, role, None, TEST_DB).await;
    for c in [&a, &b] {
        c.simple_query("BEGIN").await.unwrap();
        c.query("SELECT * FROM prep_ddl", &[]).await.unwrap();
    }
    for c in [&a, &b] {
        c.simple_query("COMMIT").await.unwrap();
    }
    vec![a, b]
}

/// A named Parse over the 1 MiB rewrite cap is refused with 08P01, and
/// Sluice keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_named_parse_is_refused() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_big");
    let sluice = start(&role, "default_pool_size = 1").await;
    let mut c = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let sql = format!("SELECT '{}'", "x".repeat(1100 * 1024));
    let mut bytes = raw::parse("big", &sql);
    bytes.extend(raw::sync());
    // The server may close before reading everything we send.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut c.stream, &bytes).await;
    let reply = c.read().await;
    assert_eq!(reply.0, b'E');
    assert!(describe(&reply).contains("08P01"), "{}", describe(&reply));
    // An unnamed statement that big is streamed as before.
    let client = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let rows = client.query_typed(sql.as_str(), &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0).len(), 1100 * 1024);
}

/// Statement mode translates names too: prepared statements reused
/// across statements that each may land on another server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_mode_reuses_prepared_statements_across_servers() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_stmt");
    let ini = test_ini(pg, "trust", "statement", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;
    let tasks: Vec<_> = (0..20i32)
        .map(|n| {
            let role = role.clone();
            tokio::spawn(async move {
                let client = connect(HOST, port, &role, None, TEST_DB).await;
                let st = client.prepare("SELECT $1::int4 * 5").await.unwrap();
                for i in 0..10i32 {
                    let row = client.query_one(&st, &[&(n + i)]).await.unwrap();
                    assert_eq!(row.get::<_, i32>(0), (n + i) * 5);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (client_parses, server_parses, binds) = counters(&sluice).await;
    assert_eq!((client_parses, binds), (20, 200));
    assert!(server_parses <= 4, "server parses {server_parses}");
}

/// Random pipelines of Parse/Bind/Execute/Describe/Close/Sync over a few
/// names, some Parses failing, sent through Sluice (one server, with
/// another client sharing the texts) and directly: the replies must be
/// the same, message for message. A fixed seed keeps it reproducible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_pipelines_match_a_direct_connection() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_fuzz");
    let sluice = start(&role, "default_pool_size = 1\nmax_prepared_statements = 3").await;
    let mut other = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let texts = [
        "SELECT 'x'",
        "SELECT 'y'",
        "SELECT 'z'",
        "SELEC 'bad'",
        "SELECT (1/0)::text",
    ];
    let mut warm = Vec::new();
    for (i, t) in texts[..3].iter().enumerate() {
        warm.extend(run_named(&format!("w{i}"), t));
    }
    warm.extend(raw::sync());
    exchange(&mut other, &warm, 1).await;

    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for round in 0..300 {
        // One script, run on a fresh connection each way.
        let mut bytes = Vec::new();
        let mut syncs = 0;
        let mut script = Vec::new();
        for _ in 0..12 {
            let name = ["a", "b", "c"][next(3) as usize];
            match next(8) {
                0 | 1 => {
                    let text = texts[next(5) as usize];
                    script.push(format!("P {name} {text}"));
                    bytes.extend(raw::parse(name, text));
                }
                2 => {
                    script.push(format!("BE {name}"));
                    bytes.extend(bind_execute(name));
                }
                3 => {
                    script.push(format!("D {name}"));
                    bytes.extend(describe_statement(name));
                }
                4 => {
                    script.push(format!("C {name}"));
                    bytes.extend(close_statement(name));
                }
                5 => {
                    // After a Sync: a Query in a failed extended segment
                    // would be ignored by Postgres, unanswered.
                    script.push(format!("S; Q DEALLOCATE {name}"));
                    bytes.extend(raw::sync());
                    bytes.extend(raw::query(&format!("DEALLOCATE {name}")));
                    syncs += 2;
                }
                6 if next(3) == 0 => {
                    let reset = ["DISCARD ALL", "DEALLOCATE ALL"][next(2) as usize];
                    script.push(format!("S; Q {reset}"));
                    bytes.extend(raw::sync());
                    bytes.extend(raw::query(reset));
                    syncs += 2;
                }
                _ => {
                    script.push("S".into());
                    bytes.extend(raw::sync());
                    syncs += 1;
                }
            }
        }
        bytes.extend(raw::sync());
        syncs += 1;
        let mut transcripts = Vec::new();
        for port in [sluice.port, pg.port()] {
            let mut c = RawClient::connect(port, &role, TEST_DB).await;
            let mut t = exchange(&mut c, &bytes, syncs).await;
            // And afterwards, which names exist.
            for name in ["a", "b", "c"] {
                let check = [describe_statement(name), raw::sync()].concat();
                t.extend(exchange(&mut c, &check, 1).await);
            }
            transcripts.push(t);
        }
        assert_eq!(
            transcripts[0], transcripts[1],
            "round {round}: Sluice vs direct for {script:?}"
        );
    }
}

/// Session mode passes named statements through untouched: the client's
/// own names reach the server, and nothing is counted or registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_passes_names_through() {
    let pg = PgServer::shared();
    let role = own_role(pg, "prep_session");
    let ini = test_ini(pg, "trust", "session", "default_pool_size = 2", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let mut c = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let bytes = [run_named("mine", "SELECT 'kept'"), raw::sync()].concat();
    assert_eq!(
        exchange(&mut c, &bytes, 1).await,
        ["1", "2", "D[kept]", "C", "Z"]
    );
    let names = raw::query("SELECT name FROM pg_prepared_statements");
    assert_eq!(
        exchange(&mut c, &names, 1).await,
        ["T", "D[mine]", "C", "Z"]
    );
    assert_eq!(counters(&sluice).await, (0, 0, 0));
    assert_eq!(sluice.sluice().shared().prepared.usage().entries, 0);
}
