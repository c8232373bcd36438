//! Start Sluice in-process for a test: listeners on 127.0.0.1 port 0 and a
//! Unix socket in a private temp dir, config given as pgbouncer.ini text
//! (so every test also goes through the real config reader).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sluice_config::{parse_ini, Userlist};
use sluice_core::{Listeners, RunState, Settings, Sluice};
use tokio::net::{TcpListener, UnixListener};

/// A running in-process Sluice.
pub struct TestSluice {
    pub port: u16,
    pub dir: PathBuf,
    pub ini_path: PathBuf,
    sluice: Option<Sluice>,
}

static DIR_SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh private directory for one instance's files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sluice-test-{tag}-{}-{}",
        std::process::id(),
        DIR_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Parse `ini` (a full pgbouncer.ini) with `userlist` written beside it
/// as `userlist.txt`. `{dir}` in the ini is replaced by the instance dir.
pub fn settings_from(dir: &Path, ini: &str, userlist: &str) -> (Settings, PathBuf) {
    let userlist_path = dir.join("userlist.txt");
    std::fs::write(&userlist_path, userlist).expect("write userlist");
    let ini = ini.replace("{dir}", &dir.display().to_string());
    let ini_path = dir.join("pgbouncer.ini");
    std::fs::write(&ini_path, &ini).expect("write ini");
    let loaded = parse_ini(&ini, &ini_path).expect("test ini parses");
    let userlist = match &loaded.config.general.auth_file {
        Some(path) => Userlist::load(path).expect("userlist parses"),
        None => Userlist::default(),
    };
    (
        Settings::from_loaded(&loaded, userlist).expect("test settings load"),
        ini_path,
    )
}

impl TestSluice {
    /// Start with `ini` text; `auth_file`/`unix_socket_dir` may use `{dir}`.
    pub async fn start(ini: &str, userlist: &str) -> TestSluice {
        init_logging();
        let dir = temp_dir("sluice");
        let (settings, ini_path) = settings_from(&dir, ini, userlist);
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let port = tcp.local_addr().expect("local addr").port();
        let socket_path = dir.join(format!(".s.PGSQL.{port}"));
        let unix = UnixListener::bind(&socket_path).expect("bind unix socket");
        let listeners = Listeners {
            tcp: vec![tcp],
            unix: Some((unix, socket_path)),
        };
        let sluice = Sluice::start(listeners, settings);
        TestSluice {
            port,
            dir,
            ini_path,
            sluice: Some(sluice),
        }
    }

    pub fn sluice(&self) -> &Sluice {
        self.sluice.as_ref().expect("running")
    }

    /// Re-read the ini file (after a test rewrote it), like SIGHUP.
    pub fn reload_with(&self, ini: &str, userlist: &str) {
        let (settings, _) = settings_from(&self.dir, ini, userlist);
        self.sluice().reload(settings);
    }

    /// Shut down in `mode` and wait until every task finished.
    pub async fn stop(mut self, mode: RunState) {
        if let Some(sluice) = self.sluice.take() {
            sluice.shutdown(mode);
            sluice.wait().await;
        }
    }
}

impl Drop for TestSluice {
    fn drop(&mut self) {
        if let Some(sluice) = self.sluice.take() {
            sluice.shutdown(RunState::Immediate);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A pgbouncer.ini for tests: database `sluice_test` on `pg`, the given
/// auth and pool mode, `{dir}` for instance files, plus extra lines for
/// `[pgbouncer]` (e.g. "default_pool_size = 5") and `[databases]`.
pub fn test_ini(
    pg: &crate::pg::PgServer,
    auth_type: &str,
    pool_mode: &str,
    extra_settings: &str,
    extra_databases: &str,
) -> String {
    format!(
        "[databases]\n\
         sluice_test = host=127.0.0.1 port={port} dbname=sluice_test\n\
         {extra_databases}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = 6432\n\
         unix_socket_dir = {{dir}}\n\
         auth_type = {auth_type}\n\
         auth_file = {{dir}}/userlist.txt\n\
         pool_mode = {pool_mode}\n\
         {extra_settings}\n",
        port = pg.port()
    )
}

/// A userlist.txt line for a role that needs no password (trust).
pub fn trust_userlist(role: &str) -> String {
    format!("\"{role}\" \"\"\n")
}

/// A role of the test's own on the shared server (trust over TCP), so
/// backend counts are not disturbed by other tests running in parallel.
pub fn own_role(pg: &crate::pg::PgServer, name: &str) -> String {
    // GRANT ON DATABASE from parallel tests fails with "tuple concurrently
    // updated": one at a time within this test binary.
    static GRANTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = GRANTS.lock().unwrap_or_else(|p| p.into_inner());
    pg.psql_super(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN \
         CREATE ROLE {name} LOGIN; END IF; END $$; \
         GRANT ALL ON DATABASE sluice_test TO {name};"
    ));
    pg.psql_super_db(
        crate::pg::TEST_DB,
        &format!("GRANT ALL ON SCHEMA public TO {name};"),
    );
    name.to_string()
}

/// `SLUICE_TEST_LOG=debug cargo test …` shows Sluice's log lines.
fn init_logging() {
    if let Ok(filter) = std::env::var("SLUICE_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// `read()` once two readings 100 ms apart agree. Sluice adds a link's
/// counts when the link ends, just after its client got the last
/// ReadyForQuery, so a client can finish a moment before its counts land.
/// Panics if they are still moving after 5 s.
pub async fn settled<T, F, Fut>(what: &str, mut read: F) -> T
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut last = read().await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("{what} never settled: {last:?}");
}
