//! Faults in transaction mode (invariant 3): clients that vanish
//! mid-transaction, servers that die (a restarted Postgres, a terminated
//! backend), and the timeouts that bound every wait.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_tests::clients::{connect, first_value, sqlstate, try_connect};
use sluice_tests::pg::{literal, PgServer, ROLE_TRUST, TEST_DB};
use sluice_tests::raw::{self, RawClient};
use sluice_tests::sluice::{own_role, test_ini, trust_userlist, TestSluice};
use tokio::time::timeout;

const HOST: &str = "127.0.0.1";
/// Hang guard for one request: an answer must come long before this.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Poll `sql` (as superuser in the test database) until it returns `want`.
async fn settle(pg: &PgServer, sql: &str, want: &str, what: &str) {
    let mut last = String::new();
    for _ in 0..300 {
        last = pg.psql_super_db(TEST_DB, sql);
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: still {last:?} (want {want:?})");
}

/// The fields of an ErrorResponse body: (code, message).
fn error_fields(body: &[u8]) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'C', v)) => code = String::from_utf8_lossy(v).into_owned(),
            Some((b'M', v)) => message = String::from_utf8_lossy(v).into_owned(),
            _ => {}
        }
    }
    (code, message)
}

/// Read until an ErrorResponse arrives (skipping anything else); returns
/// its (code, message). Fails if the connection closes first.
async fn expect_error(c: &mut RawClient) -> (String, String) {
    loop {
        let (tag, body) = c.read().await;
        if tag == b'E' {
            return error_fields(&body);
        }
    }
}

/// 100 clients killed mid-transaction — some holding row locks taken with
/// FOR UPDATE or UPDATE, some waiting on a lock, some mid-pipeline, by
/// dropping the tokio-postgres client, aborting its task, or closing a
/// raw socket — leave no backend idle in transaction, no lock, and no
/// committed trace; afterwards the same rows can be updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_clients_leave_no_transaction_or_lock_behind() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_kill");
    pg.psql_super_db(
        TEST_DB,
        &format!(
            "DROP TABLE IF EXISTS fx_rows; CREATE TABLE fx_rows(id int PRIMARY KEY, v int NOT NULL); \
             INSERT INTO fx_rows SELECT g, 0 FROM generate_series(0, 99) g; \
             GRANT ALL ON fx_rows TO {role};"
        ),
    );
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 100\nmax_client_conn = 300",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;

    const CLIENTS: usize = 100;
    let in_tx = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut killers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    let mut raws = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let role = role.clone();
        match i % 5 {
            // tokio-postgres, row lock by FOR UPDATE; the client is dropped
            // (tokio-postgres says Terminate mid-transaction).
            0 | 1 => {
                let in_tx = in_tx.clone();
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                tasks.push(tokio::spawn(async move {
                    let c = connect(HOST, port, &role, None, TEST_DB).await;
                    c.batch_execute("BEGIN").await.unwrap();
                    let sql = if i % 5 == 0 {
                        format!("SELECT v FROM fx_rows WHERE id = {i} FOR UPDATE")
                    } else {
                        format!("UPDATE fx_rows SET v = v + 1 WHERE id = {i}")
                    };
                    c.simple_query(&sql).await.unwrap();
                    in_tx.fetch_add(1, Ordering::SeqCst);
                    let _ = rx.await;
                    drop(c);
                }));
                killers.push(Box::new(move || drop(tx)));
            }
            // tokio-postgres holding its own row, then (once everyone is in
            // a transaction) waiting for the row client i-2 locked FOR
            // UPDATE; its task is aborted while it waits.
            2 => {
                let (in_tx, mut go) = (in_tx.clone(), go_rx.clone());
                let task = tokio::spawn(async move {
                    let c = connect(HOST, port, &role, None, TEST_DB).await;
                    c.batch_execute(&format!(
                        "BEGIN; UPDATE fx_rows SET v = v + 1 WHERE id = {i}"
                    ))
                    .await
                    .unwrap();
                    in_tx.fetch_add(1, Ordering::SeqCst);
                    go.wait_for(|go| *go).await.unwrap();
                    let blocked = format!("UPDATE fx_rows SET v = v + 1 WHERE id = {}", i - 2);
                    let _ = c.simple_query(&blocked).await;
                    panic!("the lock wait ended before the kill");
                });
                let abort = task.abort_handle();
                killers.push(Box::new(move || abort.abort()));
            }
            // Raw sockets: a transaction with an UPDATE, then a long query
            // still running, or a pipeline left open (Parse/Bind/Execute
            // with no Sync); then the socket is simply closed.
            _ => {
                let mut c = RawClient::connect(port, &role, TEST_DB).await;
                c.send(&raw::query(&format!(
                    "BEGIN; UPDATE fx_rows SET v = v + 1 WHERE id = {i}"
                )))
                .await;
                c.read_until(b'Z').await;
                if i % 5 == 4 {
                    let mut bytes =
                        raw::parse("", &format!("SELECT v FROM fx_rows WHERE id = {i}"));
                    bytes.extend(raw::bind(""));
                    bytes.extend(raw::execute());
                    bytes.extend(raw::flush());
                    c.send(&bytes).await;
                    c.read_until(b'C').await;
                } else if i % 10 == 3 {
                    // Killed in the middle of a long query.
                    c.send(&raw::query("SELECT pg_sleep(60)")).await;
                }
                in_tx.fetch_add(1, Ordering::SeqCst);
                raws.push(c);
            }
        }
    }
    // Every client is inside its transaction, holding its row.
    for _ in 0..1000 {
        if in_tx.load(Ordering::SeqCst) == CLIENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(in_tx.load(Ordering::SeqCst), CLIENTS);
    // A fifth of them now wait for a lock another client holds.
    go_tx.send_replace(true);
    settle(
        pg,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = {} \
             AND wait_event_type = 'Lock'",
            literal(&role)
        ),
        &(CLIENTS / 5).to_string(),
        "clients waiting for a lock",
    )
    .await;
    let locked = pg.psql_super_db(
        TEST_DB,
        "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'fx_rows'::regclass",
    );
    assert_eq!(locked, "t", "the clients should be holding locks now");

    for kill in killers {
        kill();
    }
    drop(raws);
    for t in tasks {
        t.await.unwrap();
    }

    settle(
        pg,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = {} \
             AND state LIKE 'idle in transaction%'",
            literal(&role)
        ),
        "0",
        "backends idle in transaction",
    )
    .await;
    settle(
        pg,
        "SELECT count(*) FROM pg_locks WHERE relation = 'fx_rows'::regclass \
         AND pid <> pg_backend_pid()",
        "0",
        "locks on fx_rows",
    )
    .await;
    // Nothing a killed client did was committed by someone else.
    assert_eq!(pg.psql_super_db(TEST_DB, "SELECT sum(v) FROM fx_rows"), "0");
    // Other clients can update every one of those rows, through Sluice.
    timeout(HANG_GUARD, async {
        let c = connect(HOST, port, &role, None, TEST_DB).await;
        c.batch_execute(
            "BEGIN; SET LOCAL lock_timeout = '10s'; UPDATE fx_rows SET v = v + 1; COMMIT",
        )
        .await
        .unwrap();
    })
    .await
    .expect("hang: rows still locked");
    assert_eq!(
        pg.psql_super_db(TEST_DB, "SELECT sum(v) FROM fx_rows"),
        "100"
    );
}

/// What each client saw while Postgres restarted.
#[derive(Default)]
struct Tally {
    ok_before: AtomicUsize,
    ok_after: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

/// Postgres restarts under load (fast shutdown, a while down, start): every
/// request gets an answer (a result or an ErrorResponse), none hangs —
/// also while no server can be reached — and afterwards the pool serves
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_answers_everyone() {
    let pg: &'static PgServer = Box::leak(Box::new(PgServer::start()));
    let role = ROLE_TRUST.name;
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 5\nserver_login_retry = 0.2\nquery_wait_timeout = 5\n\
         server_connect_timeout = 5",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(role)).await;
    let port = sluice.port;
    let tally = Arc::new(Tally::default());
    let restarted = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (tally, restarted, stop) = (tally.clone(), restarted.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = None;
            let mut ok_after = 0;
            while !stop.load(Ordering::SeqCst) || ok_after < 3 {
                let after = restarted.load(Ordering::SeqCst);
                let attempt = timeout(HANG_GUARD, async {
                    if client.is_none() {
                        client = Some(try_connect(HOST, port, role, None, TEST_DB).await?);
                    }
                    let c = client.as_ref().unwrap();
                    if n % 2 == 0 {
                        c.batch_execute("BEGIN; SELECT pg_sleep(0.01); COMMIT")
                            .await
                    } else {
                        c.simple_query("SELECT 1").await.map(|_| ())
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("client {n}: no answer within {HANG_GUARD:?}"));
                match attempt {
                    Ok(()) if after => {
                        ok_after += 1;
                        tally.ok_after.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(()) => {
                        tally.ok_before.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        // Every failure is an answer: an ErrorResponse from
                        // Sluice or the server, or the connection closing
                        // right after one. Start over on a new connection.
                        let text = match e.as_db_error() {
                            Some(db) => format!("{}: {}", db.code().code(), db.message()),
                            None => format!("{e}"),
                        };
                        tally.errors.lock().unwrap().push(text);
                        client = None;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    while tally.ok_before.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Fast shutdown, then stay down until every client has been answered
    // with an error at least once while there is no server at all.
    tokio::task::spawn_blocking(|| pg.stop()).await.unwrap();
    let errors_when_down = tally.errors.lock().unwrap().len();
    for _ in 0..1000 {
        if tally.errors.lock().unwrap().len() >= errors_when_down + 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let down_errors = tally.errors.lock().unwrap().len() - errors_when_down;
    assert!(
        down_errors >= 40,
        "only {down_errors} answers while Postgres was down"
    );
    tokio::task::spawn_blocking(|| pg.start_again())
        .await
        .unwrap();
    restarted.store(true, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    // Each client ends only after 3 successes after the restart.
    for t in tasks {
        timeout(Duration::from_secs(60), t)
            .await
            .expect("a client never recovered after the restart")
            .unwrap();
    }
    let errors = tally.errors.lock().unwrap();
    let kinds: std::collections::BTreeSet<&String> = errors.iter().collect();
    eprintln!("{} errors during the restart: {kinds:?}", errors.len());
    // An error without an ErrorResponse is only acceptable as the
    // consequence of one: a connection Sluice closed after a FATAL.
    for e in errors.iter() {
        assert!(
            e.starts_with("08") || e.starts_with("57P") || e.contains("closed"),
            "unexpected failure: {e}"
        );
    }
    assert!(tally.ok_after.load(Ordering::SeqCst) >= 60);
    drop(sluice);
}

/// A backend terminated while linked: its client gets an ErrorResponse,
/// other clients keep working, and the pool can fill up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backend_fails_only_its_client() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_term");
    let ini = test_ini(pg, "trust", "transaction", "default_pool_size = 3", "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let port = sluice.port;
    timeout(Duration::from_secs(60), async {
        let other = connect(HOST, port, &role, None, TEST_DB).await;
        other.batch_execute("SELECT 1").await.unwrap();

        // 1. Killed while idle in a transaction (raw: see the exact reply).
        let mut a = RawClient::connect(port, &role, TEST_DB).await;
        a.send(&raw::query("BEGIN; SELECT pg_backend_pid()")).await;
        let reply = a.read_until(b'Z').await;
        let pid = reply
            .iter()
            .find(|(t, _)| *t == b'D')
            .map(|(_, b)| String::from_utf8_lossy(&b[6..]).into_owned())
            .unwrap();
        pg.psql_super(&format!("SELECT pg_terminate_backend({pid})"));
        let (code, message) = expect_error(&mut a).await;
        assert!(
            code == "57P01" || code == "08006",
            "client of a terminated backend got {code}: {message}"
        );
        drop(a);

        // 2. Killed while running a query (tokio-postgres).
        let b = connect(HOST, port, &role, None, TEST_DB).await;
        let sleeper = tokio::spawn(async move { b.simple_query("SELECT pg_sleep(30)").await });
        let pid = loop {
            let pid = pg.psql_super(&format!(
                "SELECT pid FROM pg_stat_activity WHERE usename = {} AND state = 'active' \
                 AND query LIKE 'SELECT pg_sleep(30)%'",
                literal(&role)
            ));
            if !pid.is_empty() {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        pg.psql_super(&format!("SELECT pg_terminate_backend({pid})"));
        let err = sleeper.await.unwrap().unwrap_err();
        let code = sqlstate(&err);
        assert!(
            code == Some("57P01") || code == Some("08006"),
            "query on a terminated backend: {err:?}"
        );

        // Others never noticed.
        assert_eq!(
            first_value(&other.simple_query("SELECT 1").await.unwrap()),
            "1"
        );
        // The pool refills to its full size: three transactions at once.
        let mut holders = Vec::new();
        for _ in 0..3 {
            let c = connect(HOST, port, &role, None, TEST_DB).await;
            c.batch_execute("BEGIN; SELECT 1").await.unwrap();
            holders.push(c);
        }
        let mut pids = std::collections::HashSet::new();
        for c in &holders {
            pids.insert(first_value(
                &c.simple_query("SELECT pg_backend_pid()").await.unwrap(),
            ));
        }
        assert_eq!(pids.len(), 3);
        for c in &holders {
            c.batch_execute("COMMIT").await.unwrap();
        }
    })
    .await
    .expect("hang");
}

/// query_timeout: a query running too long is cancelled (57014) and the
/// client stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_the_query() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_qtimeout");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 2\nquery_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    timeout(HANG_GUARD, async {
        let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        let err = c.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
        assert_eq!(sqlstate(&err), Some("57014"), "{err:?}");
        assert_eq!(first_value(&c.simple_query("SELECT 3").await.unwrap()), "3");
    })
    .await
    .expect("hang: query_timeout never fired");
}

/// query_timeout when the server does not answer at all — not the query,
/// not the cancel (its backend is stopped with SIGSTOP, as a hung or
/// unreachable server would be): the client still gets an answer, PgBouncer's
/// "query timeout", and the server is dropped, not reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_frees_the_client_of_an_unresponsive_server() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_qhung");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 2\nquery_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let pid = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let answer = timeout(HANG_GUARD, c.simple_query("SELECT 1")).await;
    signal("-CONT");
    let err = answer
        .expect("hang: query_timeout never freed the client")
        .unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!((db.code().code(), db.message()), ("08P01", "query timeout"));
    // That server is gone; the pool serves on a new one.
    let d = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    let other = first_value(&d.simple_query("SELECT pg_backend_pid()").await.unwrap());
    assert_ne!(other, pid);
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 1).await;
}

/// idle_transaction_timeout: a client idle inside a transaction is closed
/// with 25P03 "idle transaction timeout", its server too (no lock stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transaction_timeout_closes_client_and_server() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_idletx");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 2\nidle_transaction_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let mut c = RawClient::connect(sluice.port, &role, TEST_DB).await;
    c.send(&raw::query("BEGIN; SELECT 1")).await;
    c.read_until(b'Z').await;
    let (code, message) = expect_error(&mut c).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("25P03", "idle transaction timeout")
    );
    settle(
        pg,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = {} \
             AND state LIKE 'idle in transaction%'",
            literal(&role)
        ),
        "0",
        "server left idle in transaction",
    )
    .await;
    // A client that keeps talking inside its transaction is not cut off.
    let d = connect(HOST, sluice.port, &role, None, TEST_DB).await;
    d.batch_execute("BEGIN").await.unwrap();
    for _ in 0..3 {
        d.batch_execute("SELECT pg_sleep(0.4)").await.unwrap();
    }
    d.batch_execute("COMMIT").await.unwrap();
}

/// client_idle_timeout: an idle client is closed with "client_idle_timeout".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_idle_timeout_closes_idle_clients() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_cidle");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 2\nclient_idle_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    let mut c = RawClient::connect(sluice.port, &role, TEST_DB).await;
    let (code, message) = expect_error(&mut c).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("08P01", "client_idle_timeout")
    );
}

/// query_wait_timeout: with the only server held, a second client's query
/// fails with "query_wait_timeout"; the holder is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_wait_timeout_fails_the_waiting_client() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_qwait");
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 1\nquery_wait_timeout = 1",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    timeout(HANG_GUARD, async {
        let holder = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        let waiter = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
        let err = waiter.simple_query("SELECT 2").await.unwrap_err();
        let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(
            (db.code().code(), db.message()),
            ("08P01", "query_wait_timeout")
        );
        holder.batch_execute("COMMIT").await.unwrap();
        assert_eq!(
            first_value(&holder.simple_query("SELECT 4").await.unwrap()),
            "4"
        );
    })
    .await
    .expect("hang: query_wait_timeout never fired");
}

/// server_check_delay = 0 with server_check_query: a server that died, or
/// fails its check, while idle in the pool is replaced before any client
/// sees it — the client's query just works, on a new backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_idle_servers_are_replaced_unseen() {
    let pg = PgServer::shared();
    let role = own_role(pg, "fx_check");
    pg.psql_super_db(
        TEST_DB,
        &format!(
            "CREATE TABLE IF NOT EXISTS fx_bad_pids(pid int); GRANT ALL ON fx_bad_pids TO {role}; \
             CREATE OR REPLACE FUNCTION fx_check() RETURNS int LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT FROM fx_bad_pids WHERE pid = pg_backend_pid()) THEN \
             RAISE EXCEPTION 'server marked bad'; END IF; RETURN 1; END $$; \
             GRANT EXECUTE ON FUNCTION fx_check() TO {role};"
        ),
    );
    let ini = test_ini(
        pg,
        "trust",
        "transaction",
        "default_pool_size = 1\nserver_check_delay = 0\nserver_check_query = SELECT fx_check()",
        "",
    );
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    timeout(Duration::from_secs(40), async {
        let c = connect(HOST, sluice.port, &role, None, TEST_DB).await;
        let pid1 = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
        // Killed while idle in the pool.
        pg.psql_super(&format!("SELECT pg_terminate_backend({pid1})"));
        let pid2 = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
        assert_ne!(pid1, pid2);
        // Alive but failing its check: also replaced, also unseen.
        pg.psql_super_db(TEST_DB, &format!("INSERT INTO fx_bad_pids VALUES ({pid2})"));
        let pid3 = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
        assert_ne!(pid2, pid3);
        // Many checkouts in a row, all checked, none failing.
        for _ in 0..20 {
            c.batch_execute("SELECT 1").await.unwrap();
        }
    })
    .await
    .expect("hang");
}
