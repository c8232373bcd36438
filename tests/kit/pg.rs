//! A throwaway PostgreSQL 15 for end-to-end tests: `initdb` into a private
//! temp dir, start on a free 127.0.0.1 port plus a Unix socket in that dir,
//! and one login role per auth method so tests exercise real authentication.
//!
//! The API is synchronous (it runs `initdb`, `pg_ctl` and `psql`). Calling it
//! directly from a `#[tokio::test]` is fine: it only blocks the runtime thread
//! while it runs, and it never talks to Sluice, so it cannot deadlock against
//! an in-process pooler. Use `tokio::task::spawn_blocking` only if other tasks
//! on a current-thread runtime must keep running meanwhile (e.g. `restart`
//! while a pooler on the same runtime serves clients).
//!
//! Postgres refuses to run as root, and tests run as root in CI: then every
//! server-side binary runs as the `postgres` OS user via `runuser`, in a dir
//! that user owns. Otherwise they run as the current user.
//!
//! [`PgServer::start_tls`] (and [`PgServer::shared_tls`]) give a server with
//! `ssl = on` and certificates from [`crate::certs`] in its own dir, whose
//! `pg_hba.conf` allows TCP only over TLS; [`PgServer::certs`] has the CA
//! that signed its certificate, for clients to trust and to sign client
//! certificates for the `cert` role [`ROLE_CERT`].
//!
//! Every instance has its own dir and port, so many may run at once in one
//! test binary and across binaries. A watchdog process per instance stops the
//! server and removes its dir when the `PgServer` is dropped *or* the test
//! process dies (panic=abort, SIGKILL, a `static` that is never dropped).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::certs::TestCerts;

/// Environment variable that overrides where the PostgreSQL binaries live.
pub const PG_BINDIR_ENV: &str = "SLUICE_PG_BINDIR";

/// The database every test server has, owned by `postgres`, on which all
/// test roles have every privilege (including CREATE on schema public).
pub const TEST_DB: &str = "sluice_test";

/// The superuser, reachable without a password over the Unix socket.
pub const SUPERUSER: &str = "postgres";

/// A login role made for one auth method (see `pg_hba.conf` below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRole {
    pub name: &'static str,
    /// The password to send; `None` for the trust role.
    pub password: Option<&'static str>,
    /// The `pg_hba.conf` method for this role on 127.0.0.1.
    pub hba_method: &'static str,
}

/// `trust` on TCP: no password asked.
pub const ROLE_TRUST: TestRole = TestRole {
    name: "sluice_trust",
    password: None,
    hba_method: "trust",
};
/// `md5` on TCP, password stored as an md5 hash.
pub const ROLE_MD5: TestRole = TestRole {
    name: "sluice_md5",
    password: Some("md5pass"),
    hba_method: "md5",
};
/// `scram-sha-256` on TCP, password stored as a SCRAM secret.
pub const ROLE_SCRAM: TestRole = TestRole {
    name: "sluice_scram",
    password: Some("scrampass"),
    hba_method: "scram-sha-256",
};
/// `password` (cleartext on the wire) on TCP, stored as a SCRAM secret.
pub const ROLE_PLAIN: TestRole = TestRole {
    name: "sluice_plain",
    password: Some("plainpass"),
    hba_method: "password",
};
/// Every role a `PgServer` creates.
pub const ALL_ROLES: [TestRole; 4] = [ROLE_TRUST, ROLE_MD5, ROLE_SCRAM, ROLE_PLAIN];
/// `cert` on TCP (TLS servers only): a client certificate signed by the
/// server's CA with CN = this name, no password.
pub const ROLE_CERT: TestRole = TestRole {
    name: "sluice_cert",
    password: None,
    hba_method: "cert",
};

/// Which certificate a TLS [`PgServer`] presents (all from its
/// [`TestCerts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCert {
    /// `localhost` + 127.0.0.1, signed by the CA.
    Valid,
    /// Signed by the CA, for [`crate::certs::WRONG_HOST`] only.
    WrongHost,
    /// `localhost` + 127.0.0.1, signed by the CA, expired.
    Expired,
    /// `localhost` + 127.0.0.1, signed by the other CA.
    OtherCa,
}

/// Where the PostgreSQL binaries are: `$SLUICE_PG_BINDIR`, else
/// /usr/lib/postgresql/15/bin, else the directory of `initdb` on `PATH`.
pub fn pg_bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(PG_BINDIR_ENV) {
            return PathBuf::from(dir);
        }
        let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
        if debian.join("initdb").exists() {
            return debian;
        }
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|dir| dir.join("initdb").exists())
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL 15 binaries not found: install postgresql-15 \
                     (see .ci/run) or set {PG_BINDIR_ENV}"
                )
            })
    })
    .clone()
}

/// Full path of a PostgreSQL binary such as `psql` or `pgbench`.
pub fn pg_bin(name: &str) -> PathBuf {
    pg_bin_dir().join(name)
}

/// A running throwaway PostgreSQL. Dropping it stops the server
/// (immediate mode) and removes its directory.
pub struct PgServer {
    port: u16,
    base: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    /// Set for a TLS server (`ssl = on`, `hostssl` only on TCP).
    tls: Option<(TestCerts, ServerCert)>,
    watchdog: Option<Watchdog>,
}

impl PgServer {
    /// initdb, configure, start and create the test roles and [`TEST_DB`].
    /// Takes a second or two; panics with the server log on failure.
    pub fn start() -> PgServer {
        PgServer::start_with(None)
    }

    /// [`PgServer::start`] with `ssl = on`, the kit's certificates (see
    /// [`PgServer::certs`]) and `pg_hba.conf` allowing TCP only over TLS
    /// (`hostssl`; a plaintext TCP login fails with "no pg_hba.conf entry
    /// … no encryption"). The roles get their usual methods, and
    /// [`ROLE_CERT`] the `cert` method. The Unix socket stays trust.
    pub fn start_tls() -> PgServer {
        PgServer::start_tls_presenting(ServerCert::Valid)
    }

    /// [`PgServer::start_tls`] presenting `cert` instead of the valid one.
    pub fn start_tls_presenting(cert: ServerCert) -> PgServer {
        PgServer::start_with(Some(cert))
    }

    fn start_with(tls: Option<ServerCert>) -> PgServer {
        let base = make_base_dir();
        // From here on the watchdog owns cleanup, also if we panic below.
        let watchdog = Watchdog::spawn(&base);
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir(&socket_dir).expect("create socket dir");
        give_to_pg_user(&socket_dir);
        let tls = tls.map(|which| {
            let dir = base.join("certs");
            std::fs::create_dir(&dir).expect("create certs dir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod certs dir");
            give_to_pg_user(&dir);
            (TestCerts::generate_in(&dir), which)
        });
        let mut server = PgServer {
            port: 0,
            log: base.join("postgres.log"),
            tls,
            data,
            socket_dir,
            base,
            watchdog: Some(watchdog),
        };
        server.initdb();
        server.port = server.start_on_free_port();
        server.create_roles();
        server
    }

    /// One server shared by every test of this test binary that asks for it,
    /// started on first use. Never `stop`/`restart` it (other tests run on it);
    /// create your own roles or databases on it if you need counts or state
    /// that others must not touch. Cleaned up by the watchdog at process exit.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// The TLS counterpart of [`PgServer::shared`]: one [`PgServer::start_tls`]
    /// server per test binary, presenting the valid certificate.
    pub fn shared_tls() -> &'static PgServer {
        static SHARED_TLS: OnceLock<PgServer> = OnceLock::new();
        SHARED_TLS.get_or_init(PgServer::start_tls)
    }

    /// The certificates of a TLS server (its CA signs the server
    /// certificate and verifies client certificates). Panics on a
    /// plaintext server.
    pub fn certs(&self) -> &TestCerts {
        &self
            .tls
            .as_ref()
            .expect("certs(): this PgServer was not started with TLS")
            .0
    }

    /// Whether the server has `ssl = on`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP address, always "127.0.0.1".
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The directory holding `.s.PGSQL.<port>`; usable as a libpq host.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server log (warnings and errors only).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Full path of a PostgreSQL binary.
    pub fn bin(&self, name: &str) -> PathBuf {
        pg_bin(name)
    }

    /// Run `sql` (any number of statements, psql meta-commands allowed) as the
    /// superuser over the socket in database `postgres`; returns trimmed
    /// stdout (`-XAtq`: unaligned rows, `|` between columns). Panics on error.
    pub fn psql_super(&self, sql: &str) -> String {
        self.psql_super_db("postgres", sql)
    }

    /// [`PgServer::psql_super`] in database `db`.
    pub fn psql_super_db(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new(pg_bin("psql"));
        scrub_pg_env(&mut cmd);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", db]);
        let out = run_with_stdin(cmd, sql.as_bytes());
        if !out.status.success() {
            panic!(
                "psql as superuser failed ({}) running:\n{sql}\n--- stderr ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Create database `name` and give every test role all privileges on it
    /// and on its schema public.
    pub fn create_database(&self, name: &str) {
        self.psql_super(&format!("CREATE DATABASE {};", ident(name)));
        let roles = self.role_list();
        self.psql_super(&format!(
            "GRANT ALL ON DATABASE {} TO {roles};",
            ident(name)
        ));
        self.psql_super_db(name, &format!("GRANT ALL ON SCHEMA public TO {roles};"));
    }

    /// `pgbench -i -s 1` into `db` (as superuser), then grant the pgbench
    /// tables to every test role so they can run pgbench too.
    pub fn init_pgbench(&self, db: &str) {
        let mut cmd = Command::new(pg_bin("pgbench"));
        scrub_pg_env(&mut cmd);
        cmd.args(["-i", "-s", "1", "-q"])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, db]);
        run_ok(cmd, "pgbench -i");
        self.psql_super_db(
            db,
            &format!(
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO {};",
                self.role_list()
            ),
        );
    }

    /// The stored password (`rolpassword`) of `role`, or "" if none.
    pub fn rolpassword(&self, role: &str) -> String {
        self.psql_super(&format!(
            "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {};",
            literal(role)
        ))
    }

    /// `role`'s SCRAM secret (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`).
    pub fn scram_secret(&self, role: &str) -> String {
        let secret = self.rolpassword(role);
        assert!(
            secret.starts_with("SCRAM-SHA-256$"),
            "role {role} has no SCRAM secret (rolpassword = {secret:?})"
        );
        secret
    }

    /// `role`'s md5 secret (`md5` + hex md5(password || username)).
    pub fn md5_secret(&self, role: &str) -> String {
        let secret = self.rolpassword(role);
        assert!(
            secret.starts_with("md5") && secret.len() == 35,
            "role {role} has no md5 secret (rolpassword = {secret:?})"
        );
        secret
    }

    /// A `userlist.txt` line for `role` carrying its stored secret.
    pub fn userlist_line(&self, role: &str) -> String {
        format!("\"{}\" \"{}\"", role, self.rolpassword(role))
    }

    /// Client backends of `user` right now (not counting the query's own).
    pub fn count_backends(&self, user: &str) -> usize {
        self.count_backends_of(&[user])
    }

    /// Client backends of all `users` together, in one snapshot (summing
    /// one query per user would count a connection that moved from one
    /// user to another between the queries twice).
    pub fn count_backends_of(&self, users: &[&str]) -> usize {
        let names: Vec<String> = users.iter().map(|u| literal(u)).collect();
        let n = self.psql_super(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename IN ({}) \
             AND backend_type = 'client backend' AND pid <> pg_backend_pid();",
            names.join(", ")
        ));
        n.parse()
            .unwrap_or_else(|_| panic!("count_backends: unexpected psql output {n:?}"))
    }

    /// Poll [`PgServer::count_backends`] until `done(count)` holds; returns the
    /// last count. Backends exit asynchronously after a client disconnects, so
    /// tests poll instead of sleeping. Panics after `timeout`. Blocks the
    /// thread: from async tests use [`PgServer::wait_backends_async`].
    pub fn wait_backends(
        &self,
        user: &str,
        timeout: Duration,
        done: impl Fn(usize) -> bool,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count_backends(user);
            if done(n) {
                return n;
            }
            if Instant::now() > deadline {
                panic!("backends of {user}: still {n} after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`PgServer::wait_backends`] for async tests: sleeps on the runtime
    /// between polls, so connection tasks on a current-thread runtime (e.g. a
    /// dropped tokio-postgres client saying goodbye) make progress meanwhile.
    pub async fn wait_backends_async(
        &self,
        user: &str,
        timeout: Duration,
        done: impl Fn(usize) -> bool,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count_backends(user);
            if done(n) {
                return n;
            }
            if Instant::now() > deadline {
                panic!("backends of {user}: still {n} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Terminate every client backend of `user`; returns how many.
    pub fn terminate_backends(&self, user: &str) -> usize {
        let n = self.psql_super(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE usename = {} AND backend_type = 'client backend' \
             AND pid <> pg_backend_pid();",
            literal(user)
        ));
        n.parse().unwrap_or(0)
    }

    /// Fast shutdown, then start again on the same port (like `pg_ctl restart
    /// -m fast`); returns once it accepts connections.
    /// Every existing connection is closed by the server.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// Fast shutdown (`pg_ctl stop -m fast`); a no-op if already stopped.
    pub fn stop(&self) {
        if !self.is_running() {
            return;
        }
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.args(["stop", "-m", "fast", "-w", "-t", "120", "-D"])
            .arg(&self.data);
        run_ok(cmd, "pg_ctl stop");
    }

    /// Start a stopped server again on the same port and wait until it is up.
    /// Retries for a while if something else grabbed the port meanwhile.
    pub fn start_again(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.pg_ctl_start() {
                Ok(()) => return,
                Err(StartError::PortTaken) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("restarting PostgreSQL on port {}: {e:?}", self.port),
            }
        }
    }

    /// Whether the postmaster is running (`pg_ctl status`).
    pub fn is_running(&self) -> bool {
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.args(["status", "-D"]).arg(&self.data);
        cmd.stdin(Stdio::null())
            .output()
            .expect("run pg_ctl status")
            .status
            .success()
    }

    // ---- setup steps -------------------------------------------------

    fn initdb(&self) {
        let mut cmd = self.server_cmd("initdb");
        cmd.args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "-D",
        ])
        .arg(&self.data);
        run_ok(cmd, "initdb");

        let conf = format!(
            "\n# --- sluice test kit ---\n\
             include 'sluice_port.conf'\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             max_connections = 300\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 64MB\n\
             huge_pages = off\n\
             dynamic_shared_memory_type = mmap\n\
             log_min_messages = warning\n\
             password_encryption = 'scram-sha-256'\n",
            self.socket_dir.display()
        );
        append(&self.data.join("postgresql.conf"), &conf);
        if let Some((certs, which)) = &self.tls {
            let presented = match which {
                ServerCert::Valid => &certs.server,
                ServerCert::WrongHost => &certs.wrong_host_server,
                ServerCert::Expired => &certs.expired_server,
                ServerCert::OtherCa => &certs.other_ca_server,
            };
            append(
                &self.data.join("postgresql.conf"),
                &format!(
                    "ssl = on\n\
                     ssl_cert_file = {}\n\
                     ssl_key_file = {}\n\
                     ssl_ca_file = {}\n",
                    literal(&presented.cert.display().to_string()),
                    literal(&presented.key.display().to_string()),
                    literal(&certs.ca.cert.display().to_string()),
                ),
            );
        }

        // TLS servers: TCP only over TLS ("hostssl"), so a plaintext TCP
        // login finds no entry.
        let host = if self.tls.is_some() {
            "hostssl"
        } else {
            "host"
        };
        let mut hba = String::from("local all all trust\n");
        for role in self.roles() {
            hba.push_str(&format!(
                "{host} all {} 127.0.0.1/32 {}\n",
                role.name, role.hba_method
            ));
        }
        hba.push_str(&format!("{host} all all 127.0.0.1/32 trust\n"));
        write_as_pg_user(&self.data.join("pg_hba.conf"), &hba);
    }

    /// Pick a free port, start there; on "address in use" pick another.
    fn start_on_free_port(&mut self) -> u16 {
        let mut last = None;
        for _ in 0..25 {
            let port = free_port();
            write_as_pg_user(
                &self.data.join("sluice_port.conf"),
                &format!("port = {port}\n"),
            );
            self.port = port;
            match self.pg_ctl_start() {
                Ok(()) => return port,
                Err(StartError::PortTaken) => last = Some(port),
                Err(e) => panic!("starting PostgreSQL: {e:?}"),
            }
        }
        panic!("starting PostgreSQL: every port tried was taken (last {last:?})");
    }

    fn pg_ctl_start(&self) -> Result<(), StartError> {
        let log_before = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.server_cmd("pg_ctl");
        // -l keeps the postmaster off our pipes (it would hold them open).
        cmd.args(["start", "-w", "-t", "120", "-s", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log);
        let out = cmd.stdin(Stdio::null()).output().expect("run pg_ctl start");
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read(&self.log).unwrap_or_default();
        let new_log =
            String::from_utf8_lossy(&log[(log_before as usize).min(log.len())..]).to_string();
        if new_log.contains("Address already in use") {
            return Err(StartError::PortTaken);
        }
        Err(StartError::Failed(format!(
            "pg_ctl start: {}\n--- pg_ctl output ---\n{}{}\n--- server log ---\n{new_log}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        )))
    }

    /// The roles this server has: [`ALL_ROLES`], plus [`ROLE_CERT`] with TLS.
    pub fn roles(&self) -> Vec<TestRole> {
        let mut roles = ALL_ROLES.to_vec();
        if self.tls.is_some() {
            roles.push(ROLE_CERT);
        }
        roles
    }

    fn role_list(&self) -> String {
        self.roles()
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn create_roles(&self) {
        let mut sql = String::new();
        for role in self.roles() {
            let encryption = if role == ROLE_MD5 {
                "md5"
            } else {
                "scram-sha-256"
            };
            sql.push_str(&format!("SET password_encryption = '{encryption}';\n"));
            match role.password {
                Some(pw) => sql.push_str(&format!(
                    "CREATE ROLE {} LOGIN PASSWORD {};\n",
                    role.name,
                    literal(pw)
                )),
                None => sql.push_str(&format!("CREATE ROLE {} LOGIN;\n", role.name)),
            }
        }
        self.psql_super(&sql);
        self.create_database(TEST_DB);
    }

    /// A command for a server-side binary, as the `postgres` OS user if root.
    fn server_cmd(&self, name: &str) -> Command {
        let mut cmd = as_pg_user(&pg_bin(name));
        cmd.current_dir(&self.base);
        scrub_pg_env(&mut cmd);
        cmd
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // The watchdog stops the server (immediate) and removes the dir once
        // its stdin closes; wait so the dir is gone when drop returns.
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.finish();
        }
    }
}

#[derive(Debug)]
enum StartError {
    PortTaken,
    #[allow(dead_code)] // read through Debug in panic messages
    Failed(String),
}

/// `sh` in its own process group reading a pipe we hold. EOF on the pipe
/// (drop, or our process dying in any way) makes it stop the server and
/// remove the dir. Its own process group keeps Ctrl-C from killing it first.
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

const WATCHDOG_SCRIPT: &str = r#"
cat >/dev/null 2>&1
base=$1; bindir=$2; runuser=$3
if [ -f "$base/data/postmaster.pid" ]; then
  if [ -n "$runuser" ]; then
    "$runuser" -u postgres -- "$bindir/pg_ctl" stop -D "$base/data" -m immediate -w -t 60
  else
    "$bindir/pg_ctl" stop -D "$base/data" -m immediate -w -t 60
  fi
fi >/dev/null 2>&1
rm -rf "$base"
"#;

impl Watchdog {
    fn spawn(base: &Path) -> Watchdog {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("sluice-pg-watchdog")
            .arg(base)
            .arg(pg_bin_dir())
            .arg(if is_root() {
                runuser_path()
            } else {
                PathBuf::new()
            })
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn PostgreSQL watchdog (sh)");
        let stdin = child.stdin.take();
        Watchdog { child, stdin }
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// ---- helpers ----------------------------------------------------------

/// Ports this process already handed to a server; never hand one out twice.
static USED_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port that was free a moment ago (bind 127.0.0.1:0, read, close).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if used.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// A new private dir `/tmp/sluice-pg-<pid>-<seq>-<nanos>`, owned by the
/// `postgres` OS user when we are root.
fn make_base_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    // Under root, TMPDIR might point somewhere postgres cannot reach.
    let parent = if is_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = parent.join(format!(
            "sluice-pg-{}-{}-{nanos:x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .expect("chmod temp dir");
                give_to_pg_user(&dir);
                return dir;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("create {}: {e}", dir.display()),
        }
    }
}

/// Whether the tests run as root (then servers run as `postgres`).
pub(crate) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        // "Uid:\treal\teffective\tsaved\tfs"
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// uid and gid of the `postgres` OS user (from /etc/passwd).
fn pg_user_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == "postgres")
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .expect(
                "running as root but there is no `postgres` OS user to run PostgreSQL as \
                 (install postgresql-15, or run the tests as a non-root user)",
            )
    })
}

/// `bin` run directly as the `postgres` OS user when we are root (setuid in
/// the child before exec, so the child's PID is the program's own and can be
/// signalled), else as ourselves. For daemons that refuse root (pgbouncer).
pub fn command_as_pg_user(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    if is_root() {
        use std::os::unix::process::CommandExt;
        let (uid, gid) = pg_user_ids();
        cmd.gid(gid).uid(uid);
    }
    cmd
}

/// Make `path` (a file or a directory the test wrote) belong to the
/// `postgres` OS user when we are root, so a program run as that user can
/// read or write it.
pub fn give_to_pg_user(path: &Path) {
    if is_root() {
        let (uid, gid) = pg_user_ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
    }
}

fn runuser_path() -> PathBuf {
    [
        "/usr/sbin/runuser",
        "/sbin/runuser",
        "/usr/bin/runuser",
        "/bin/runuser",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("runuser"))
}

/// `bin` run as the `postgres` OS user when we are root, else directly.
fn as_pg_user(bin: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new(runuser_path());
        cmd.args(["-u", "postgres", "--"]).arg(bin);
        cmd
    } else {
        Command::new(bin)
    }
}

/// Remove libpq environment variables so the caller's shell cannot steer
/// a test client to another server, user or password file.
pub(crate) fn scrub_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PGPASSFILE", "/nonexistent/sluice-no-pgpass")
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10");
}

fn run_ok(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("child stdin");
    let input = input.to_vec();
    // Write from a thread so a large script cannot deadlock against output.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for child");
    let _ = writer.join();
    out
}

/// Write a file in the data dir so that the `postgres` user owns it.
fn write_as_pg_user(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    give_to_pg_user(path);
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}

/// A SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL identifier, quoted.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
