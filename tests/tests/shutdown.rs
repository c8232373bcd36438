//! Shutdown and reload: SIGTERM's WAIT_FOR_CLIENTS, SIGINT's
//! WAIT_FOR_SERVERS, and SIGHUP with new pool sizes under load — in
//! process, and once with the real `sluice` binary and real signals.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use sluice_core::RunState;
use sluice_tests::clients::{
    connect, first_value, pgbench_async, pgbench_summary, sqlstate, try_connect,
};
use sluice_tests::pg::{free_port, PgServer, TEST_DB};
use sluice_tests::raw::RawClient;
use sluice_tests::sluice::{own_role, temp_dir, test_ini, trust_userlist, TestSluice};
use tokio::time::timeout;

const HOST: &str = "127.0.0.1";
const HANG_GUARD: Duration = Duration::from_secs(20);

/// A role of the test's own and a table `<table>(n int)` it may write.
fn role_with_table(pg: &PgServer, role: &str, table: &str) -> String {
    let role = own_role(pg, role);
    pg.psql_super_db(
        TEST_DB,
        &format!("CREATE TABLE IF NOT EXISTS {table}(n int); GRANT ALL ON {table} TO {role};"),
    );
    role
}

/// [`role_with_table`], then an in-process Sluice in transaction mode with
/// a pool of `pool_size` for that role.
async fn sluice_with_table(
    pg: &PgServer,
    role: &str,
    table: &str,
    pool_size: u32,
) -> (String, TestSluice) {
    let role = role_with_table(pg, role, table);
    let extra = format!("default_pool_size = {pool_size}");
    let ini = test_ini(pg, "trust", "transaction", &extra, "");
    let sluice = TestSluice::start(&ini, &trust_userlist(&role)).await;
    (role, sluice)
}

/// SIGTERM (WAIT_FOR_CLIENTS): no new clients; connected ones — idle or
/// inside a transaction — keep working for as long as they like, and the
/// shutdown completes once they have left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_clients_lets_connected_clients_finish() {
    let pg = PgServer::shared();
    let (role, sluice) = sluice_with_table(pg, "sd_term", "sd_term_rows", 2).await;
    let port = sluice.port;
    let idle = connect(HOST, port, &role, None, TEST_DB).await;
    let in_tx = connect(HOST, port, &role, None, TEST_DB).await;
    idle.batch_execute("SELECT 1").await.unwrap();
    in_tx
        .batch_execute("BEGIN; INSERT INTO sd_term_rows VALUES (1)")
        .await
        .unwrap();

    sluice.sluice().shutdown(RunState::WaitForClients);
    let stopping = tokio::spawn(sluice.stop(RunState::WaitForClients));

    // New clients are turned away…
    let refused = timeout(HANG_GUARD, try_connect(HOST, port, &role, None, TEST_DB))
        .await
        .expect("hang: connect during shutdown");
    assert!(
        refused.is_err(),
        "a new client got in during WAIT_FOR_CLIENTS"
    );
    // …while connected ones carry on, in and out of transactions.
    timeout(HANG_GUARD, async {
        in_tx
            .batch_execute("INSERT INTO sd_term_rows VALUES (2); COMMIT")
            .await
            .unwrap();
        for i in 0..20 {
            idle.batch_execute(&format!(
                "BEGIN; INSERT INTO sd_term_rows VALUES ({}); COMMIT",
                10 + i
            ))
            .await
            .unwrap();
            assert_eq!(
                first_value(&in_tx.simple_query("SELECT 5").await.unwrap()),
                "5"
            );
        }
    })
    .await
    .expect("hang: connected clients stalled during WAIT_FOR_CLIENTS");
    assert!(
        !stopping.is_finished(),
        "shutdown finished with clients connected"
    );
    assert_eq!(
        pg.psql_super_db(TEST_DB, "SELECT count(*) FROM sd_term_rows"),
        "22"
    );
    drop(idle);
    drop(in_tx);
    timeout(HANG_GUARD, stopping)
        .await
        .expect("shutdown never completed after the clients left")
        .unwrap();
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 0).await;
}

/// SIGINT (WAIT_FOR_SERVERS): idle clients are closed at once; a client in
/// a transaction finishes it (and it commits), then is closed; nothing new
/// gets in, and the shutdown completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_servers_finishes_transactions_then_closes() {
    let pg = PgServer::shared();
    let (role, sluice) = sluice_with_table(pg, "sd_int", "sd_int_rows", 2).await;
    let port = sluice.port;
    let idle = connect(HOST, port, &role, None, TEST_DB).await;
    let in_tx = connect(HOST, port, &role, None, TEST_DB).await;
    idle.batch_execute("SELECT 1").await.unwrap();
    in_tx
        .batch_execute("BEGIN; INSERT INTO sd_int_rows VALUES (1)")
        .await
        .unwrap();

    let mut raw_idle = RawClient::connect(port, &role, TEST_DB).await;

    sluice.sluice().shutdown(RunState::WaitForServers);
    let stopping = tokio::spawn(sluice.stop(RunState::WaitForServers));
    // An idle client is told at once (raw, to see the exact reply).
    let (tag, body) = raw_idle.read().await;
    assert_eq!(tag, b'E');
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("C57P01\0"), "idle client got {text:?}");

    timeout(HANG_GUARD, async {
        // The transaction in flight runs to its end.
        in_tx
            .batch_execute("INSERT INTO sd_int_rows VALUES (2)")
            .await
            .unwrap();
        in_tx.batch_execute("COMMIT").await.unwrap();
        // Then its connection closes, as the idle one's already has.
        let after = in_tx.batch_execute("SELECT 1").await;
        assert!(after.is_err(), "client still served after its transaction");
        let idle_err = idle.batch_execute("SELECT 1").await.unwrap_err();
        if let Some(code) = sqlstate(&idle_err) {
            assert_eq!(code, "57P01", "{idle_err:?}");
        }
        assert!(try_connect(HOST, port, &role, None, TEST_DB).await.is_err());
    })
    .await
    .expect("hang during WAIT_FOR_SERVERS");
    assert_eq!(
        pg.psql_super_db(TEST_DB, "SELECT count(*) FROM sd_int_rows"),
        "2"
    );
    timeout(HANG_GUARD, stopping)
        .await
        .expect("shutdown never completed")
        .unwrap();
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 0).await;
}

/// Immediate shutdown (SIGQUIT, or a second signal): every client is told
/// (57P01) and closed at once, even mid-query, and no server is left
/// running its query or holding its locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_shutdown_closes_everything() {
    let pg = PgServer::shared();
    let (role, sluice) = sluice_with_table(pg, "sd_quit", "sd_quit_rows", 3).await;
    let port = sluice.port;
    let idle = connect(HOST, port, &role, None, TEST_DB).await;
    idle.batch_execute("SELECT 1").await.unwrap();
    let busy = connect(HOST, port, &role, None, TEST_DB).await;
    busy.batch_execute("BEGIN; LOCK TABLE sd_quit_rows")
        .await
        .unwrap();
    let sleeper = tokio::spawn(async move { busy.simple_query("SELECT pg_sleep(60)").await });
    pg.wait_backends_async(&role, HANG_GUARD, |n| n >= 1).await;
    for _ in 0..400 {
        let running = pg.psql_super(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' \
             AND query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'"
        ));
        if running == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    timeout(HANG_GUARD, sluice.stop(RunState::Immediate))
        .await
        .expect("immediate shutdown did not complete");
    let err = timeout(HANG_GUARD, sleeper)
        .await
        .expect("hang: client mid-query not closed")
        .unwrap()
        .unwrap_err();
    if let Some(code) = sqlstate(&err) {
        assert_eq!(code, "57P01", "{err:?}");
    }
    assert!(idle.batch_execute("SELECT 1").await.is_err());
    // The backend stopped its query and left: the lock is free.
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 0).await;
    let lock = pg.psql_super_db(
        TEST_DB,
        "BEGIN; SET LOCAL lock_timeout = '10s'; LOCK TABLE sd_quit_rows; COMMIT; SELECT 'free'",
    );
    assert_eq!(lock, "free");
}

/// A pgbench script of short transactions that need no pgbench tables.
fn pgbench_script(dir: &std::path::Path) -> String {
    let path = dir.join("short_tx.sql");
    std::fs::write(&path, "BEGIN;\nSELECT pg_sleep(0.002);\nCOMMIT;\n").unwrap();
    path.display().to_string()
}

/// SIGHUP under pgbench load: the pool grows from 2 to 6 and shrinks back
/// to 2, each visible in pg_stat_activity, with no failed transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_resizes_the_pool_under_pgbench() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sd_reload");
    let ini = |size: usize| {
        test_ini(
            pg,
            "trust",
            "transaction",
            &format!("default_pool_size = {size}\nmax_client_conn = 100"),
            "",
        )
    };
    let sluice = TestSluice::start(&ini(2), &trust_userlist(&role)).await;
    let script = pgbench_script(&sluice.dir);
    let bench = {
        let (role, port) = (role.clone(), sluice.port);
        tokio::spawn(async move {
            let args = ["-n", "-c", "20", "-j", "2", "-T", "8", "-f", &script];
            pgbench_async(HOST, port, &role, None, TEST_DB, &args).await
        })
    };
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 2).await;
    sluice.reload_with(&ini(6), &trust_userlist(&role));
    let grown = pg.wait_backends_async(&role, HANG_GUARD, |n| n > 2).await;
    assert!(grown <= 6, "{grown} servers for a pool of 6");
    sluice.reload_with(&ini(2), &trust_userlist(&role));
    pg.wait_backends_async(&role, HANG_GUARD, |n| n <= 2).await;
    assert!(
        !bench.is_finished(),
        "pgbench ended before the reloads: no load"
    );
    let out = timeout(Duration::from_secs(60), bench)
        .await
        .expect("pgbench hung")
        .unwrap();
    let summary = pgbench_summary(&out);
    assert!(out.status.success(), "pgbench: {out:?}");
    assert_eq!(summary.failed, 0);
    assert!(summary.transactions > 0);
    assert!(pg.count_backends(&role) <= 2);
}

/// Where cargo put the `sluice` binary: beside this test's own `deps` dir.
/// Built with `cargo build -p sluice` if it is not there yet.
fn sluice_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = profile_dir.join("sluice");
    if !bin.exists() {
        let target_dir = profile_dir.parent().unwrap();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "sluice", "--bin", "sluice"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p sluice");
        assert!(status.success(), "cargo build -p sluice failed");
    }
    assert!(bin.exists(), "no sluice binary at {}", bin.display());
    bin
}

fn write_bin_ini(dir: &std::path::Path, port: u16, pg_port: u16, pool_size: usize) {
    let ini = format!(
        "[databases]\n\
         sluice_test = host=127.0.0.1 port={pg_port} dbname=sluice_test\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {dir}\n\
         auth_type = trust\n\
         auth_file = {dir}/userlist.txt\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         query_wait_timeout = 5\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
}

/// The real `sluice` binary on its own port and ini, logging to a file.
/// Dropping it kills the process (if a test fails half-way).
struct BinSluice {
    child: Child,
    dir: PathBuf,
    port: u16,
    pg_port: u16,
}

impl BinSluice {
    async fn start(pg: &PgServer, role: &str, pool_size: usize) -> BinSluice {
        let dir = temp_dir("sd-bin");
        std::fs::write(dir.join("userlist.txt"), trust_userlist(role)).unwrap();
        let (port, pg_port) = (free_port(), pg.port());
        write_bin_ini(&dir, port, pg_port, pool_size);
        let log = std::fs::File::create(dir.join("sluice.log")).unwrap();
        let child = Command::new(sluice_binary())
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sluice");
        let mut sluice = BinSluice {
            child,
            dir,
            port,
            pg_port,
        };
        // Wait until it listens.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect((HOST, sluice.port))
                .await
                .is_ok()
            {
                return sluice;
            }
            assert!(
                sluice.child.try_wait().unwrap().is_none(),
                "sluice exited: {}",
                sluice.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sluice never listened: {}", sluice.log());
    }

    fn write_ini(&self, pool_size: usize) {
        write_bin_ini(&self.dir, self.port, self.pg_port, pool_size);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sluice.log")).unwrap_or_default()
    }

    /// Send `signal` (e.g. "TERM") with kill(1): a real signal to its pid.
    fn signal(&self, signal: &str) {
        let pid = self.child.id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Wait for the process to exit (the caller bounds this with a timeout).
    async fn exited(&mut self) -> std::process::ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Poll until a new client is refused (the listener is closed).
    async fn wait_refusing(&self, role: &str) {
        for _ in 0..200 {
            if try_connect(HOST, self.port, role, None, TEST_DB)
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still accepting clients: {}", self.log());
    }
}

impl Drop for BinSluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The real binary with real signals: SIGHUP re-reads the ini (a bigger
/// pool, visible as more backends), SIGTERM stops accepting but serves the
/// connected client until it leaves, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reloads_on_sighup_and_drains_on_sigterm() {
    let pg = PgServer::shared();
    let role = own_role(pg, "sd_bin");
    let mut sluice = BinSluice::start(pg, &role, 1).await;
    let port = sluice.port;
    let guarded = timeout(Duration::from_secs(60), async {
        // Pool of 1: while one client is in a transaction, another waits
        // and gets query_wait_timeout.
        let clients = [
            connect(HOST, port, &role, None, TEST_DB).await,
            connect(HOST, port, &role, None, TEST_DB).await,
            connect(HOST, port, &role, None, TEST_DB).await,
        ];
        clients[0].batch_execute("BEGIN; SELECT 1").await.unwrap();
        let waited = clients[1].batch_execute("SELECT 1").await.unwrap_err();
        assert_eq!(sqlstate(&waited), Some("08P01"), "{waited:?}");
        clients[0].batch_execute("COMMIT").await.unwrap();
        assert_eq!(pg.count_backends(&role), 1);
        // query_wait_timeout is FATAL: that client reconnects.
        let [first, _, third] = clients;
        let clients = [
            first,
            connect(HOST, port, &role, None, TEST_DB).await,
            third,
        ];

        // SIGHUP with a pool of 3: three transactions at once, on three servers.
        sluice.write_ini(3);
        sluice.signal("HUP");
        let mut reloaded = false;
        for _ in 0..200 {
            if sluice.log().contains("configuration reloaded") {
                reloaded = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reloaded, "no reload logged: {}", sluice.log());
        let clients: Vec<_> = futures_like_join(clients.into_iter().map(|c| async move {
            c.batch_execute("BEGIN").await.unwrap();
            let pid = first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap());
            (c, pid)
        }))
        .await;
        let pids: std::collections::HashSet<_> = clients.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(pids.len(), 3, "reloaded pool of 3 did not serve 3 at once");
        assert_eq!(pg.count_backends(&role), 3);
        for (c, _) in &clients {
            c.batch_execute("COMMIT").await.unwrap();
        }
        let mut clients: Vec<_> = clients.into_iter().map(|(c, _)| c).collect();
        let last = clients.pop().unwrap();
        drop(clients);

        // SIGTERM: no one new gets in, the connected client keeps going.
        sluice.signal("TERM");
        sluice.wait_refusing(&role).await;
        for i in 0..10 {
            let v = first_value(&last.simple_query(&format!("SELECT {i}")).await.unwrap());
            assert_eq!(v, i.to_string());
        }
        assert!(sluice.running(), "exited with a client connected");
        drop(last);
        let status = sluice.exited().await;
        assert!(
            status.success(),
            "sluice exited with {status}: {}",
            sluice.log()
        );
    })
    .await;
    assert!(guarded.is_ok(), "hang; sluice log:\n{}", sluice.log());
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 0).await;
}

/// SIGINT on the real binary: the transaction in flight finishes and
/// commits, then every client is closed and the process exits 0. Then a
/// second run: SIGTERM waits for an idle client, and a second SIGTERM
/// ends the wait at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_sigint_finishes_transactions_and_second_signal_is_immediate() {
    let pg = PgServer::shared();
    let role = role_with_table(pg, "sd_bin_int", "sd_bin_rows");
    let mut sluice = BinSluice::start(pg, &role, 2).await;
    let port = sluice.port;
    let guarded = timeout(Duration::from_secs(60), async {
        let in_tx = connect(HOST, port, &role, None, TEST_DB).await;
        let idle = connect(HOST, port, &role, None, TEST_DB).await;
        idle.batch_execute("SELECT 1").await.unwrap();
        in_tx
            .batch_execute("BEGIN; INSERT INTO sd_bin_rows VALUES (1)")
            .await
            .unwrap();
        sluice.signal("INT");
        sluice.wait_refusing(&role).await;
        in_tx
            .batch_execute("INSERT INTO sd_bin_rows VALUES (2); COMMIT")
            .await
            .unwrap();
        assert!(in_tx.batch_execute("SELECT 1").await.is_err());
        assert!(idle.batch_execute("SELECT 1").await.is_err());
        let status = sluice.exited().await;
        assert!(
            status.success(),
            "sluice exited with {status}: {}",
            sluice.log()
        );
    })
    .await;
    assert!(guarded.is_ok(), "hang after SIGINT; log:\n{}", sluice.log());
    assert_eq!(
        pg.psql_super_db(TEST_DB, "SELECT count(*) FROM sd_bin_rows"),
        "2"
    );
    drop(sluice);

    let mut sluice = BinSluice::start(pg, &role, 2).await;
    let port = sluice.port;
    let guarded = timeout(Duration::from_secs(60), async {
        let idle = connect(HOST, port, &role, None, TEST_DB).await;
        idle.batch_execute("SELECT 1").await.unwrap();
        sluice.signal("TERM");
        sluice.wait_refusing(&role).await;
        idle.batch_execute("SELECT 2").await.unwrap();
        assert!(sluice.running(), "exited with a client connected");
        sluice.signal("TERM");
        let status = sluice.exited().await;
        assert!(
            status.success(),
            "sluice exited with {status}: {}",
            sluice.log()
        );
        assert!(idle.batch_execute("SELECT 3").await.is_err());
    })
    .await;
    assert!(
        guarded.is_ok(),
        "hang after a second SIGTERM; log:\n{}",
        sluice.log()
    );
    pg.wait_backends_async(&role, HANG_GUARD, |n| n == 0).await;
}

/// Run futures concurrently on the runtime; results in input order.
async fn futures_like_join<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
