//! A real PgBouncer beside Sluice, for the compatibility test: the same
//! pgbouncer.ini text is handed to both. Found through `$PGBOUNCER`, then
//! `PATH`, then /usr/sbin/pgbouncer (Debian's package); tests that need it
//! skip with a message when it is not installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::pg::{command_as_pg_user, give_to_pg_user};

/// The pgbouncer binary, if one is installed.
pub fn pgbouncer_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PGBOUNCER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.is_file())
}

/// PgBouncer 1.25.2 built with OpenSSL (`../shared/anchors/pgbouncer-1.25.2`
/// beside the repository), the version Sluice matches; `$PGBOUNCER` wins,
/// and without either this is [`pgbouncer_binary`] (Debian 12's is 1.18:
/// older texts and no direct TLS). For the TLS side-by-side tests.
pub fn pgbouncer_anchor_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PGBOUNCER") {
        return Some(PathBuf::from(path));
    }
    let anchor =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors/pgbouncer-1.25.2");
    if anchor.is_file() {
        return Some(anchor);
    }
    pgbouncer_binary()
}

/// The first line of `binary -V` ("PgBouncer 1.25.2"), or "" if it fails.
pub fn pgbouncer_version(binary: &Path) -> String {
    std::process::Command::new(binary)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

/// A running PgBouncer; stopped (by its own PID) when dropped.
pub struct PgBouncer {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl PgBouncer {
    /// Start `binary` on `ini_path` (already written, listening on `port`).
    /// PgBouncer refuses to run as root, so as root it runs as `postgres`;
    /// `dir` (holding the ini, userlist and log) is handed to that user.
    pub fn start(binary: &Path, dir: &Path, ini_path: &Path, port: u16) -> PgBouncer {
        // Run a copy inside `dir`: the original may sit below a directory
        // the `postgres` user cannot enter (a clone under a 0700 mktemp dir).
        let copy = dir.join("pgbouncer-bin");
        std::fs::copy(binary, &copy).expect("copy the pgbouncer binary");
        let binary = copy.as_path();
        for entry in std::fs::read_dir(dir)
            .expect("read pgbouncer dir")
            .flatten()
        {
            give_to_pg_user(&entry.path());
        }
        give_to_pg_user(dir);
        let log = dir.join("pgbouncer.log");
        let mut cmd = command_as_pg_user(binary);
        cmd.arg(ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut bouncer = PgBouncer { child, port, log };
        bouncer.wait_listening();
        bouncer
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgbouncer exited with {status}: {}", self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "pgbouncer did not listen on {}: {}",
            self.port,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
