//! TLS on both legs, end to end: real clients (psql, tokio-postgres over
//! rustls, psycopg, Python's ssl for direct TLS, raw sockets) through an
//! in-process Sluice, against a plaintext PostgreSQL and a `ssl = on`
//! PostgreSQL whose pg_hba allows TCP only over TLS; PgBouncer 1.25.2 side
//! by side where the texts must be the same.
//!
//! What PgBouncer 1.25.2 (OpenSSL 3.0) does, measured, and what these tests
//! hold Sluice to:
//! - plaintext startup under `client_tls_sslmode = require` (or verify-*):
//!   ErrorResponse `FATAL 08P01 "SSL required"`, then the connection closes;
//!   log `closing because: SSL required (age=0s)` and `pooler error: SSL required`.
//! - `auth_type = cert` (PgBouncer requires `client_tls_sslmode = verify-full`
//!   for it, else `FATAL TLS setup failed` at start): CN ≠ user gets
//!   `FATAL 08P01 "certificate authentication failed"` (log `TLS certificate
//!   name mismatch`); no client certificate: TLS 1.3 alert
//!   `certificate required`; plaintext: `SSL required`.
//! - SHOW CLIENTS `tls`: `TLSv1.3/TLS_AES_256_GCM_SHA384` (OpenSSL names)
//!   for a TLS client, empty for a plain one; log
//!   `login attempt: db=… user=… tls=TLSv1.3/TLS_AES_256_GCM_SHA384 replication=no`
//!   (`tls=no` for plain).
//! - bytes buffered after SSLRequest: no `S`; ErrorResponse
//!   `FATAL 08P01 "received unencrypted data after SSL request"` in plaintext,
//!   then close (PostgreSQL answers `S` and reports the same text inside TLS
//!   after the handshake).
//! - direct TLS: ALPN `postgresql` works; a mismatching ALPN gets the alert
//!   `no_application_protocol`; PgBouncer accepts *no* ALPN, PostgreSQL 17
//!   does not — Sluice follows PostgreSQL.
//! - server leg verify failures: PgBouncer keeps the client waiting until
//!   `query_wait_timeout`; Sluice fails it promptly with the reason.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use sluice_tests::certs::{
    connect_tls, first_error, gssenc_request, install, logged_in, peer_certificate, read_replies,
    ssl_request, startup_message, tls_probe, write_file, CertKey, Negotiation, Reply, TestCerts,
};
use sluice_tests::clients::{first_value, psql_args, sqlstate};
use sluice_tests::pg::{free_port, PgServer, ServerCert, ROLE_CERT, ROLE_SCRAM, TEST_DB};
use sluice_tests::pgbouncer::{pgbouncer_anchor_binary, pgbouncer_version, PgBouncer};
use sluice_tests::sluice::{own_role, settled, temp_dir, TestSluice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const HOST: &str = "127.0.0.1";

/// PgBouncer's texts (see the module comment), shared by Sluice.
const SSL_REQUIRED: (&str, &str, &str) = ("FATAL", "08P01", "SSL required");
const CERT_AUTH_FAILED: (&str, &str, &str) =
    ("FATAL", "08P01", "certificate authentication failed");
const UNENCRYPTED_AFTER_SSL: &str = "received unencrypted data after SSL request";

/// TLS 1.3 suites by their OpenSSL names, as PgBouncer shows them.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
];

// ---- setup ------------------------------------------------------------

/// The certificates every test uses: those of the shared TLS PostgreSQL,
/// so one CA signs Sluice's certificate, PostgreSQL's and the clients'.
fn certs() -> &'static TestCerts {
    PgServer::shared_tls().certs()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `[pgbouncer]` lines for the client leg in `mode`, with the kit's
/// server certificate and CA.
fn client_tls(mode: &str) -> String {
    client_tls_with(mode, &certs().server)
}

fn client_tls_with(mode: &str, cert: &CertKey) -> String {
    format!(
        "client_tls_sslmode = {mode}\n\
         client_tls_cert_file = {}\n\
         client_tls_key_file = {}\n\
         client_tls_ca_file = {}\n",
        path(&cert.cert),
        path(&cert.key),
        path(&certs().ca.cert)
    )
}

/// A pgbouncer.ini both poolers read: `sluice_test` on `pg`, session
/// pooling, connection logging, `{dir}` for the instance dir, `settings`
/// appended to `[pgbouncer]`, `databases` to `[databases]`. Sluice ignores
/// `listen_port` (the kit binds port 0); PgBouncer listens there.
fn ini(pg: &PgServer, listen_port: u16, auth: &str, settings: &str, databases: &str) -> String {
    format!(
        "[databases]\n\
         sluice_test = host=127.0.0.1 port={pg_port} dbname={TEST_DB}\n\
         {databases}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {listen_port}\n\
         unix_socket_dir =\n\
         logfile = {{dir}}/pgbouncer.log\n\
         auth_type = {auth}\n\
         auth_file = {{dir}}/userlist.txt\n\
         pool_mode = session\n\
         log_connections = 1\n\
         log_disconnections = 1\n\
         {settings}\n",
        pg_port = pg.port()
    )
}

/// Userlist lines for roles that need no password.
fn userlist(roles: &[&str]) -> String {
    roles.iter().map(|r| format!("\"{r}\" \"\"\n")).collect()
}

/// Start Sluice with log capture on (see [`log_text`]).
async fn start(ini: &str, userlist: &str) -> TestSluice {
    capture_logs();
    TestSluice::start(ini, userlist).await
}

/// PgBouncer 1.25.2 on the same ini text, or `None` (with a note) when no
/// PgBouncer binary is available. Its dir goes when the value is dropped.
struct Bouncer {
    bouncer: PgBouncer,
    dir: PathBuf,
}

impl Bouncer {
    fn start(ini: &str, userlist: &str, port: u16) -> Option<Bouncer> {
        let Some(binary) = pgbouncer_anchor_binary() else {
            eprintln!("no PgBouncer binary: the side-by-side part is skipped");
            return None;
        };
        let version = pgbouncer_version(&binary);
        if !version.contains("1.25") {
            eprintln!("{version}: side by side needs PgBouncer 1.25 (set $PGBOUNCER); skipped");
            return None;
        }
        let dir = temp_dir("pgbouncer-tls");
        std::fs::write(dir.join("userlist.txt"), userlist).unwrap();
        let ini_path = dir.join("pgbouncer.ini");
        std::fs::write(&ini_path, ini.replace("{dir}", &path(&dir))).unwrap();
        let bouncer = PgBouncer::start(&binary, &dir, &ini_path, port);
        Some(Bouncer { bouncer, dir })
    }

    fn port(&self) -> u16 {
        self.bouncer.port
    }

    fn log(&self) -> String {
        self.bouncer.log_text()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- Sluice's log -----------------------------------------------------

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        if std::env::var_os("SLUICE_TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Collect Sluice's log lines (info and up, or `$SLUICE_TEST_LOG`'s
/// filter, which then also echoes them) for [`log_text`]. Every test of
/// this binary shares the log, so look for lines with your own user names.
fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("SLUICE_TEST_LOG").unwrap_or_else(|_| "info".to_string());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

fn log_text() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Poll Sluice's log for a line containing every one of `parts` (lines are
/// written just after the event), for up to 5 s.
async fn log_line_with(parts: &[&str]) -> Option<String> {
    for _ in 0..50 {
        if let Some(line) = log_text()
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return Some(line.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

// ---- clients ----------------------------------------------------------

/// tokio-postgres to `port` as `user`, host name `localhost` (for the
/// certificate check) at 127.0.0.1, `ssl_mode` as given.
fn tls_config(port: u16, user: &str, db: &str, ssl_mode: SslMode) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host("localhost")
        .hostaddr(HOST.parse().unwrap())
        .port(port)
        .user(user)
        .dbname(db)
        .ssl_mode(ssl_mode)
        .connect_timeout(Duration::from_secs(10));
    config
}

/// Connect over TLS (rustls trusting the CA, `client_cert` presented if
/// given) and run `SELECT current_user`.
async fn tls_whoami(
    port: u16,
    user: &str,
    client_cert: Option<&CertKey>,
) -> Result<String, tokio_postgres::Error> {
    let config = tls_config(port, user, TEST_DB, SslMode::Require);
    let client = connect_tls(&config, certs().make_tls_connect(client_cert)).await?;
    let rows = client.simple_query("SELECT current_user").await?;
    Ok(first_value(&rows))
}

/// Plaintext tokio-postgres (`sslmode=disable`) running `sql`; first value.
async fn plain_query(port: u16, user: &str, db: &str, sql: &str) -> Result<String, String> {
    let config = tls_config(port, user, db, SslMode::Disable);
    let (client, connection) = config.connect(NoTls).await.map_err(|e| describe(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let rows = client.simple_query(sql).await.map_err(|e| describe(&e))?;
    Ok(first_value(&rows))
}

/// An error's SQLSTATE and message, or its text when no server sent it.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => format!("{e:?}"),
    }
}

/// A plaintext StartupMessage on a fresh connection; the replies, ending
/// in `Reply::Closed` if the server closes within 5 s after an error.
async fn plain_startup(port: u16, user: &str) -> Vec<Reply> {
    let mut tcp = TcpStream::connect((HOST, port)).await.unwrap();
    tcp.write_all(&startup_message(user, TEST_DB))
        .await
        .unwrap();
    let mut replies = read_replies(&mut tcp, Duration::from_secs(5)).await;
    if matches!(replies.last(), Some(Reply::Msg(b'E', _))) {
        let mut rest = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut rest)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            replies.push(Reply::Closed);
        }
    }
    replies
}

/// SSLRequest, handshake (with `client_cert`), StartupMessage; the replies,
/// or the handshake error as `Err`.
async fn tls_startup(
    port: u16,
    user: &str,
    client_cert: Option<&CertKey>,
) -> Result<Vec<Reply>, String> {
    let config = certs().client_config(client_cert);
    let mut tls = tls_probe(port, config, "localhost", Negotiation::SslRequest).await?;
    tls.write_all(&startup_message(user, TEST_DB))
        .await
        .map_err(|e| e.to_string())?;
    Ok(read_replies(&mut tls, Duration::from_secs(5)).await)
}

fn owned(t: (&str, &str, &str)) -> Option<(String, String, String)> {
    Some((t.0.to_string(), t.1.to_string(), t.2.to_string()))
}

/// psql with a full conninfo (`-d`), `PGPASSWORD` if given; blocking
/// thread. The conninfo's host, sslmode etc. win over the kit's defaults.
async fn psql_conninfo(conninfo: &str, password: Option<&str>, sql: &str) -> Output {
    let (conninfo, password, sql) = (
        conninfo.to_string(),
        password.map(str::to_string),
        sql.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        psql_args(
            "localhost",
            5432,
            "nobody",
            password.as_deref(),
            &conninfo,
            &["-c", &sql],
        )
    })
    .await
    .unwrap()
}

fn out_text(out: &Output) -> String {
    format!(
        "status {}; stdout {:?}; stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Debian's python3 (or the first on PATH) if it runs; `None` skips.
fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import ssl"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

async fn run_python(python: &'static str, script: &str, args: Vec<String>) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(python);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(&key);
            }
        }
        cmd.arg(&script)
            .args(&args)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script:?}: {e}"))
    })
    .await
    .unwrap()
}

/// The rows of an admin-console SHOW as (column → value) maps.
async fn show(
    port: u16,
    admin: &str,
    what: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let config = tls_config(port, admin, "pgbouncer", SslMode::Disable);
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for m in client.simple_query(&format!("SHOW {what}")).await.unwrap() {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => rows.push(
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), row.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
            _ => {}
        }
    }
    rows
}

/// Whether `tls` reads like PgBouncer's `TLSv1.3/TLS_AES_256_GCM_SHA384`.
fn is_tls13_text(tls: &str) -> bool {
    tls.strip_prefix("TLSv1.3/")
        .is_some_and(|suite| TLS13_SUITES.contains(&suite))
}

/// `ssl|version` of the backend serving this session.
const BACKEND_SSL: &str =
    "SELECT ssl::text || '|' || coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

// ---- the kit's TLS PostgreSQL ---------------------------------------------

/// The TLS PostgreSQL refuses plaintext TCP (pg_hba `hostssl` only), serves
/// libpq `verify-full` by name and by IP, and logs the `cert` role in by its
/// client certificate: the server side of every test below works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_tls_postgres_is_tls_only_and_verifiable() {
    let pg = PgServer::shared_tls();
    let certs = pg.certs();
    let ca = path(&certs.ca.cert);
    let base = format!("port={} dbname={TEST_DB} user=sluice_trust", pg.port());

    let out = psql_conninfo(
        &format!("host=127.0.0.1 {base} sslmode=disable"),
        None,
        "SELECT 1",
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no pg_hba.conf entry")
            && err.contains("no encryption"),
        "{}",
        out_text(&out)
    );

    for host in ["host=localhost hostaddr=127.0.0.1", "host=127.0.0.1"] {
        let out = psql_conninfo(
            &format!("{host} {base} sslmode=verify-full sslrootcert={ca}"),
            None,
            BACKEND_SSL,
        )
        .await;
        assert!(out.status.success(), "{host}: {}", out_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("true|TLSv1."),
            "{host}: {}",
            out_text(&out)
        );
    }
    // A client trusting only the other CA refuses this server.
    let out = psql_conninfo(
        &format!(
            "host=localhost hostaddr=127.0.0.1 {base} sslmode=verify-full sslrootcert={}",
            path(&certs.other_ca.cert)
        ),
        None,
        "SELECT 1",
    )
    .await;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("certificate verify failed"),
        "{}",
        out_text(&out)
    );

    // cert method: CN = role, no password.
    let client = certs.client(ROLE_CERT.name);
    let cert_base = format!(
        "host=localhost hostaddr=127.0.0.1 port={} dbname={TEST_DB} user={} sslmode=verify-full sslrootcert={ca}",
        pg.port(),
        ROLE_CERT.name
    );
    let out = psql_conninfo(
        &format!(
            "{cert_base} sslcert={} sslkey={}",
            path(&client.cert),
            path(&client.key)
        ),
        None,
        "SELECT current_user",
    )
    .await;
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ROLE_CERT.name);
    let out = psql_conninfo(
        &format!("{cert_base} sslcert=/nonexistent"),
        None,
        "SELECT 1",
    )
    .await;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr)
                .contains("connection requires a valid client certificate"),
        "{}",
        out_text(&out)
    );

    // tokio-postgres over rustls straight to PostgreSQL.
    let config = tls_config(pg.port(), "sluice_trust", TEST_DB, SslMode::Require);
    let client = connect_tls(&config, certs.make_tls_connect(None))
        .await
        .unwrap();
    let rows = client.simple_query(BACKEND_SSL).await.unwrap();
    assert!(first_value(&rows).starts_with("true|TLSv1."));
}

/// The bad certificates are bad in the way their names say, as seen by a
/// rustls client trusting the kit's CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_bad_certificates_are_refused_for_their_reason() {
    let certs = TestCerts::generate();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca_der()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        sluice_tests::certs::provider(),
    )
    .build()
    .unwrap();
    let now = rustls::pki_types::UnixTime::now();
    let check = |cert: &CertKey, name: &str| {
        let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            verifier.as_ref(),
            &cert.der(),
            &[],
            &name,
            &[],
            now,
        )
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
    };
    assert_eq!(check(&certs.server, "localhost"), Ok(()));
    assert_eq!(check(&certs.server, "127.0.0.1"), Ok(()));
    assert!(check(&certs.expired_server, "localhost")
        .unwrap_err()
        .contains("Expired"));
    assert!(check(&certs.wrong_host_server, "localhost")
        .unwrap_err()
        .contains("NotValidForName"));
    assert!(check(&certs.other_ca_server, "localhost")
        .unwrap_err()
        .contains("UnknownIssuer"));
    let fresh = certs.new_server("fresh", &["localhost"]);
    assert_eq!(check(&fresh, "localhost"), Ok(()));
    assert_ne!(fresh.der(), certs.server.der());
    use std::os::unix::fs::PermissionsExt;
    for key in [&certs.server.key, &certs.ca.key, &certs.client("u").key] {
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    let dir = certs.dir.clone();
    drop(certs);
    assert!(!dir.exists(), "generate()'s dir is removed on drop");
}

// ---- client leg: sslmode ----------------------------------------------------

/// `disable`: SSLRequest is answered `N` and the same connection goes on
/// in plaintext, even with certificate files configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disable_answers_n_and_plaintext_goes_on() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_disable");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("disable"), ""),
        &userlist(&[&role]),
    )
    .await;
    let probe = tls_probe(
        sluice.port,
        certs().client_config(None),
        "localhost",
        Negotiation::SslRequest,
    )
    .await;
    assert_eq!(probe.err().as_deref(), Some("N"));

    let mut tcp = TcpStream::connect((HOST, sluice.port)).await.unwrap();
    tcp.write_all(&ssl_request()).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"N");
    tcp.write_all(&startup_message(&role, TEST_DB))
        .await
        .unwrap();
    let replies = read_replies(&mut tcp, Duration::from_secs(5)).await;
    assert!(logged_in(&replies), "{replies:?}");
}

/// `prefer` and `allow`: TLS when the client asks, plaintext when it
/// does not; no client certificate needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_prefer_and_allow_serve_tls_and_plaintext() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_prefer");
    for mode in ["prefer", "allow"] {
        let sluice = start(
            &ini(pg, 6432, "trust", &client_tls(mode), ""),
            &userlist(&[&role]),
        )
        .await;
        assert_eq!(
            tls_whoami(sluice.port, &role, None)
                .await
                .map_err(|e| describe(&e)),
            Ok(role.clone()),
            "{mode}: TLS"
        );
        assert_eq!(
            plain_query(sluice.port, &role, TEST_DB, "SELECT current_user").await,
            Ok(role.clone()),
            "{mode}: plaintext"
        );
    }
}

/// `require`: a plaintext login gets PgBouncer's `FATAL 08P01 SSL
/// required` and the connection closes; TLS logins work. PgBouncer 1.25.2
/// on the same ini is checked first, against the same constants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_require_refuses_plaintext_as_pgbouncer_does() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_require");
    let port = free_port();
    let text = ini(pg, port, "trust", &client_tls("require"), "");
    let users = userlist(&[&role]);
    if let Some(bouncer) = Bouncer::start(&text, &users, port) {
        let log = bouncer.log();
        refuses_plaintext(bouncer.port(), &role, &format!("PgBouncer: {log}")).await;
    }
    let sluice = start(&text, &users).await;
    refuses_plaintext(sluice.port, &role, "Sluice").await;
}

async fn refuses_plaintext(port: u16, role: &str, who: &str) {
    let replies = plain_startup(port, role).await;
    assert_eq!(
        first_error(&replies),
        owned(SSL_REQUIRED),
        "{who}: {replies:?}"
    );
    assert_eq!(replies.last(), Some(&Reply::Closed), "{who}: {replies:?}");
    assert!(!logged_in(&replies), "{who}");
    // tokio-postgres with sslmode=disable sees the same error.
    let err = plain_query(port, role, TEST_DB, "SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(err, "08P01 SSL required", "{who}");
    assert_eq!(
        tls_whoami(port, role, None).await.map_err(|e| describe(&e)),
        Ok(role.to_string()),
        "{who}"
    );
}

/// `verify-ca` and `verify-full`: a client certificate signed by
/// `client_tls_ca_file` is required; none, or one from another CA, fails
/// the handshake. With auth_type trust its CN need not be the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_verify_modes_require_a_certificate_from_the_ca() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_verify");
    let good = certs().client("someone_else");
    let foreign = certs().client_from_other_ca(&role);
    for mode in ["verify-ca", "verify-full"] {
        let sluice = start(
            &ini(pg, 6432, "trust", &client_tls(mode), ""),
            &userlist(&[&role]),
        )
        .await;
        assert_eq!(
            tls_whoami(sluice.port, &role, Some(&good))
                .await
                .map_err(|e| describe(&e)),
            Ok(role.clone()),
            "{mode}: certificate from the CA"
        );
        for (what, cert) in [("no certificate", None), ("other CA", Some(&foreign))] {
            let result = tls_whoami(sluice.port, &role, cert).await;
            assert!(result.is_err(), "{mode}, {what}: logged in: {result:?}");
            // At the TLS level: no login, whichever side notices first.
            match tls_startup(sluice.port, &role, cert).await {
                Err(_) => {}
                Ok(replies) => assert!(
                    !logged_in(&replies)
                        && replies.iter().all(|r| !matches!(r, Reply::Msg(b'R', _))),
                    "{mode}, {what}: {replies:?}"
                ),
            }
        }
        let replies = plain_startup(sluice.port, &role).await;
        assert_eq!(
            first_error(&replies),
            owned(SSL_REQUIRED),
            "{mode}: {replies:?}"
        );
    }
}

// ---- client leg: real clients ---------------------------------------------

/// psql with `sslmode=verify-full` (by name and by IP), and with
/// `channel_binding=require` under scram-sha-256: Sluice offers
/// SCRAM-SHA-256-PLUS over TLS. tokio-postgres over rustls does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_tokio_postgres_verify_full_with_channel_binding() {
    let pg = PgServer::shared();
    let users = format!("{}\n", pg.userlist_line(ROLE_SCRAM.name));
    let sluice = start(
        &ini(pg, 6432, "scram-sha-256", &client_tls("prefer"), ""),
        &users,
    )
    .await;
    let ca = path(&certs().ca.cert);
    let base = format!(
        "port={} dbname={TEST_DB} user={} sslmode=verify-full sslrootcert={ca}",
        sluice.port, ROLE_SCRAM.name
    );
    for (host, extra) in [
        ("host=localhost hostaddr=127.0.0.1", ""),
        ("host=127.0.0.1", ""),
        (
            "host=localhost hostaddr=127.0.0.1",
            "channel_binding=require",
        ),
    ] {
        let out = psql_conninfo(
            &format!("{host} {base} {extra}"),
            ROLE_SCRAM.password,
            "SELECT current_user",
        )
        .await;
        assert!(out.status.success(), "{host} {extra}: {}", out_text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ROLE_SCRAM.name);
    }
    // Trusting another CA: libpq refuses Sluice's certificate.
    let out = psql_conninfo(
        &format!(
            "host=localhost hostaddr=127.0.0.1 port={} dbname={TEST_DB} user={} \
             sslmode=verify-full sslrootcert={}",
            sluice.port,
            ROLE_SCRAM.name,
            path(&certs().other_ca.cert)
        ),
        ROLE_SCRAM.password,
        "SELECT 1",
    )
    .await;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("certificate verify failed"),
        "{}",
        out_text(&out)
    );

    let mut config = tls_config(sluice.port, ROLE_SCRAM.name, TEST_DB, SslMode::Require);
    config
        .password(ROLE_SCRAM.password.unwrap())
        .channel_binding(ChannelBinding::Require);
    let client = connect_tls(&config, certs().make_tls_connect(None))
        .await
        .unwrap_or_else(|e| panic!("tokio-postgres, channel_binding=require: {}", describe(&e)));
    assert_eq!(
        first_value(&client.simple_query("SELECT current_user").await.unwrap()),
        ROLE_SCRAM.name
    );
}

/// tokio-postgres over rustls: simple and extended queries, a result large
/// enough to span many TLS records, and COPY, all through Sluice's TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_over_rustls_runs_queries() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_queries");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("require"), ""),
        &userlist(&[&role]),
    )
    .await;
    let config = tls_config(sluice.port, &role, TEST_DB, SslMode::Require);
    let client = connect_tls(&config, certs().make_tls_connect(None))
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let row = client
        .query_one(
            "SELECT $1::int + 1, repeat('x', $2)",
            &[&41i32, &100_000i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(row.get::<_, String>(1).len(), 100_000);
    let rows = client
        .simple_query("SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    let n = rows
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(n, 20000);
    let big = "y".repeat(1 << 20);
    let echoed: String = client
        .query_one("SELECT $1::text", &[&big])
        .await
        .unwrap()
        .get(0);
    assert_eq!(echoed.len(), big.len());
}

/// psycopg 3 (libpq) with `sslmode=verify-full` through Sluice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_verify_full() {
    let Some(python) = python() else {
        eprintln!("skipped: no python3");
        return;
    };
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_psycopg");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("require"), ""),
        &userlist(&[&role]),
    )
    .await;
    let conninfo = format!(
        "host=localhost hostaddr=127.0.0.1 port={} dbname={TEST_DB} user={role} \
         sslmode=verify-full sslrootcert={}",
        sluice.port,
        path(&certs().ca.cert)
    );
    let out = run_python(python, "tls_psycopg.py", vec![conninfo]).await;
    if out.status.code() == Some(3) {
        eprintln!("skipped: python3 has no psycopg");
        return;
    }
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ssl_in_use=True\tuser={role}\tvalue=42")
    );
}

// ---- client leg: negotiation edge cases -----------------------------------

/// Direct TLS (no SSLRequest) needs ALPN `postgresql`, as in PostgreSQL
/// 17: with it the handshake succeeds and a StartupMessage inside logs in;
/// without ALPN, or with `http/1.1`, the handshake fails with the alert
/// no_application_protocol. Both through Python's ssl and rustls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_tls_needs_alpn_postgresql() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_direct");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("prefer"), ""),
        &userlist(&[&role]),
    )
    .await;

    // rustls
    let with_alpn = |alpn: &[&[u8]]| {
        let mut config = certs().client_config(None);
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    };
    let mut tls = tls_probe(
        sluice.port,
        with_alpn(&[b"postgresql"]),
        "localhost",
        Negotiation::Direct,
    )
    .await
    .unwrap_or_else(|e| panic!("direct TLS with ALPN postgresql: {e}"));
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"postgresql"[..]));
    tls.write_all(&startup_message(&role, TEST_DB))
        .await
        .unwrap();
    let replies = read_replies(&mut tls, Duration::from_secs(5)).await;
    assert!(logged_in(&replies), "{replies:?}");
    for alpn in [&[][..], &[&b"http/1.1"[..]][..]] {
        let result = tls_probe(
            sluice.port,
            with_alpn(alpn),
            "localhost",
            Negotiation::Direct,
        )
        .await;
        let text = match result {
            Err(e) => e,
            Ok(mut tls) => {
                // TLS 1.3: the alert may come after our side finished.
                let _ = tls.write_all(&startup_message(&role, TEST_DB)).await;
                let replies = read_replies(&mut tls, Duration::from_secs(5)).await;
                assert!(!logged_in(&replies), "ALPN {alpn:?}: logged in");
                format!("{replies:?}")
            }
        };
        assert!(
            text.to_lowercase().contains("noapplicationprotocol")
                || text.to_lowercase().contains("no_application_protocol"),
            "ALPN {alpn:?}: {text}"
        );
    }

    // Python's ssl
    let Some(python) = python() else {
        eprintln!("python part skipped: no python3");
        return;
    };
    let out = run_python(
        python,
        "tls_direct.py",
        vec![
            sluice.port.to_string(),
            path(&certs().ca.cert),
            role.clone(),
            TEST_DB.to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", out_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let line = |case: &str| {
        stdout
            .lines()
            .find(|l| l.split('\t').next() == Some(case))
            .unwrap_or_else(|| panic!("no {case} line in {stdout}"))
            .to_string()
    };
    let ok = line("postgresql");
    assert!(
        ok.starts_with("postgresql\tok\talpn=postgresql\ttags=R") && ok.ends_with("auth=0"),
        "{ok}"
    );
    assert!(line("postgresql").contains('Z'), "{stdout}");
    for case in ["none", "http/1.1"] {
        let l = line(case);
        assert!(
            l.contains("\terror\t")
                && l.to_lowercase()
                    .replace('_', " ")
                    .contains("no application protocol"),
            "{l}"
        );
    }
}

/// Bytes sent after SSLRequest before the answer (CVE-2021-3935 class)
/// never reach a login: PgBouncer and Sluice answer ErrorResponse `08P01
/// received unencrypted data after SSL request` (or close). PostgreSQL's
/// way — `S`, then the error inside TLS — is accepted too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_after_sslrequest_never_log_in() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_inject");
    let port = free_port();
    let text = ini(pg, port, "trust", &client_tls("prefer"), "");
    let users = userlist(&[&role]);
    let sluice = start(&text, &users).await;

    let mut injected = ssl_request().to_vec();
    injected.extend(startup_message(&role, TEST_DB));
    let mut junk = ssl_request().to_vec();
    junk.extend_from_slice(b"hello");
    let mut outcomes = Vec::new();
    for bytes in [&injected, &junk] {
        let outcome = inject(sluice.port, bytes).await;
        match &outcome {
            Injected::Error(code, message) => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    ("08P01", UNENCRYPTED_AFTER_SSL)
                );
            }
            Injected::Closed => {}
            other => panic!("bytes after SSLRequest: {other:?}"),
        }
        outcomes.push(outcome);
    }
    // Sluice still serves.
    assert!(tls_whoami(sluice.port, &role, None).await.is_ok());

    if let Some(bouncer) = Bouncer::start(&text, &users, port) {
        let theirs = inject(bouncer.port(), &injected).await;
        assert_eq!(
            theirs,
            Injected::Error("08P01".to_string(), UNENCRYPTED_AFTER_SSL.to_string()),
            "{}",
            bouncer.log()
        );
        if matches!(outcomes[0], Injected::Error(..)) {
            assert_eq!(outcomes[0], theirs);
        }
    }
}

#[derive(Debug, PartialEq)]
enum Injected {
    /// ErrorResponse (SQLSTATE, message), in plaintext or inside TLS.
    Error(String, String),
    /// Closed without a login.
    Closed,
    /// Something else: a login or a plain `N`.
    Wrong(String),
}

async fn inject(port: u16, bytes: &[u8]) -> Injected {
    let mut tcp = TcpStream::connect((HOST, port)).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut first)).await;
    match read {
        Err(_) => Injected::Wrong("no answer in 5 s".to_string()),
        Ok(Ok(0)) | Ok(Err(_)) => Injected::Closed,
        Ok(Ok(_)) => match first[0] {
            b'E' => {
                // The rest of the ErrorResponse, up to the close.
                let mut bytes = vec![b'E'];
                let mut rest = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
                bytes.extend(rest);
                error_of(&bytes)
            }
            b'S' => {
                let config = certs().client_config(None);
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                match tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                    .connect(name, tcp)
                    .await
                {
                    Err(_) => Injected::Closed,
                    Ok(mut tls) => {
                        let replies = read_replies(&mut tls, Duration::from_secs(5)).await;
                        if logged_in(&replies) {
                            Injected::Wrong(format!("logged in: {replies:?}"))
                        } else if let Some((_, code, message)) = first_error(&replies) {
                            Injected::Error(code, message)
                        } else {
                            Injected::Closed
                        }
                    }
                }
            }
            other => Injected::Wrong(format!("answered {:?}", other as char)),
        },
    }
}

/// The first ErrorResponse in raw backend bytes.
fn error_of(bytes: &[u8]) -> Injected {
    if bytes.len() < 5 {
        return Injected::Wrong(format!("short reply {bytes:?}"));
    }
    let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let body = &bytes[5..(1 + len).min(bytes.len())];
    let fields = sluice_tests::certs::error_fields(body);
    Injected::Error(
        fields.get(&'C').cloned().unwrap_or_default(),
        fields.get(&'M').cloned().unwrap_or_default(),
    )
}

/// GSSENCRequest is answered `N`; the client then goes on with SSLRequest
/// (and TLS) or with a plaintext StartupMessage on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gssencrequest_is_declined_then_tls_or_plaintext_goes_on() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_gssenc");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("prefer"), ""),
        &userlist(&[&role]),
    )
    .await;
    // Plaintext after N.
    let mut tcp = TcpStream::connect((HOST, sluice.port)).await.unwrap();
    tcp.write_all(&gssenc_request()).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"N");
    tcp.write_all(&startup_message(&role, TEST_DB))
        .await
        .unwrap();
    assert!(logged_in(
        &read_replies(&mut tcp, Duration::from_secs(5)).await
    ));

    // SSLRequest after N, then TLS.
    let mut tcp = TcpStream::connect((HOST, sluice.port)).await.unwrap();
    tcp.write_all(&gssenc_request()).await.unwrap();
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"N");
    tcp.write_all(&ssl_request()).await.unwrap();
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S", "SSLRequest after a declined GSSENCRequest");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(certs().client_config(None)))
            .connect(name, tcp)
            .await
            .unwrap();
    tls.write_all(&startup_message(&role, TEST_DB))
        .await
        .unwrap();
    let replies = read_replies(&mut tls, Duration::from_secs(5)).await;
    assert!(logged_in(&replies), "{replies:?}");
}

/// Garbage where the ClientHello should be closes that connection; Sluice
/// goes on serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_client_hello_closes_only_that_connection() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_garbage");
    let sluice = start(
        &ini(pg, 6432, "trust", &client_tls("prefer"), ""),
        &userlist(&[&role]),
    )
    .await;
    let mut http = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    http.extend(vec![0u8; 64]);
    for garbage in [
        http,
        startup_message(&role, TEST_DB),
        // An application-data record before any handshake.
        vec![0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5],
    ] {
        let mut tcp = TcpStream::connect((HOST, sluice.port)).await.unwrap();
        tcp.write_all(&ssl_request()).await.unwrap();
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"S");
        let started = Instant::now();
        let _ = tcp.write_all(&garbage).await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "still open 5 s after garbage {:?}",
            String::from_utf8_lossy(&garbage[..8])
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        // Whatever came back (maybe a TLS alert record), it is no backend message.
        assert!(
            !rest.starts_with(b"R") && !rest.starts_with(b"E"),
            "{rest:?}"
        );
    }
    assert_eq!(
        tls_whoami(sluice.port, &role, None)
            .await
            .map_err(|e| describe(&e)),
        Ok(role.clone())
    );
    // /metrics counts them: three failed handshakes, one that completed.
    let metrics = sluice_core::metrics::render(sluice.sluice().shared());
    assert!(
        metrics.contains("sluice_tls_handshake_failures_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_tls_handshakes_total 1\n"),
        "{metrics}"
    );
}

/// A TLS handshake that stalls — after `S`, mid-record, or direct TLS with
/// half a ClientHello — is closed at client_login_timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_closed_at_client_login_timeout() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_stall");
    let settings = format!("{}client_login_timeout = 1\n", client_tls("prefer"));
    let sluice = start(&ini(pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
    let stalls: [(&str, Vec<u8>, bool); 3] = [
        ("nothing after S", Vec::new(), true),
        (
            "half a record after S",
            vec![0x16, 0x03, 0x01, 0x01, 0x00, 0x01],
            true,
        ),
        (
            "direct TLS, half a ClientHello",
            vec![0x16, 0x03, 0x01, 0x01, 0x00, 0x01],
            false,
        ),
    ];
    let mut tasks = Vec::new();
    for (what, bytes, ssl_first) in stalls {
        let port = sluice.port;
        tasks.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect((HOST, port)).await.unwrap();
            if ssl_first {
                tcp.write_all(&ssl_request()).await.unwrap();
                let mut answer = [0u8; 1];
                tcp.read_exact(&mut answer).await.unwrap();
                assert_eq!(&answer, b"S", "{what}");
            }
            tcp.write_all(&bytes).await.unwrap();
            let started = Instant::now();
            let mut rest = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(6), tcp.read_to_end(&mut rest)).await;
            let took = started.elapsed();
            assert!(read.is_ok(), "{what}: still open after 6 s");
            assert!(
                took >= Duration::from_millis(700) && took < Duration::from_secs(4),
                "{what}: closed after {took:?}"
            );
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(tls_whoami(sluice.port, &role, None).await.is_ok());
}

// ---- client leg: cert auth, SHOW CLIENTS, logs ------------------------------

/// auth_type = cert: the certificate's CN is the user, no password is
/// asked; a certificate for another user gets PgBouncer's `FATAL 08P01
/// certificate authentication failed`; plaintext gets `SSL required`; no
/// certificate fails the handshake. PgBouncer 1.25.2 (which needs
/// verify-full for cert) is checked first, the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_auth_takes_the_user_from_the_certificate() {
    let pg = PgServer::shared();
    let alice = own_role(pg, "tls_cn_alice");
    let bob = own_role(pg, "tls_cn_bob");
    let alice_cert = certs().client(&alice);
    let port = free_port();
    let text = ini(pg, port, "cert", &client_tls("verify-full"), "");
    let users = userlist(&[&alice, &bob]);
    if let Some(bouncer) = Bouncer::start(&text, &users, port) {
        let log = bouncer.log();
        cert_auth(
            bouncer.port(),
            &alice,
            &bob,
            &alice_cert,
            &format!("PgBouncer: {log}"),
        )
        .await;
    }
    let sluice = start(&text, &users).await;
    cert_auth(sluice.port, &alice, &bob, &alice_cert, "Sluice").await;
}

async fn cert_auth(port: u16, alice: &str, bob: &str, alice_cert: &CertKey, who: &str) {
    // tokio-postgres has no password here: a password request would fail.
    assert_eq!(
        tls_whoami(port, alice, Some(alice_cert))
            .await
            .map_err(|e| describe(&e)),
        Ok(alice.to_string()),
        "{who}"
    );
    let mismatch = tls_startup(port, bob, Some(alice_cert)).await.unwrap();
    assert_eq!(
        first_error(&mismatch),
        owned(CERT_AUTH_FAILED),
        "{who}: {mismatch:?}"
    );
    assert!(!logged_in(&mismatch), "{who}");
    let err = tls_whoami(port, bob, Some(alice_cert)).await.unwrap_err();
    assert_eq!(sqlstate(&err), Some("08P01"), "{who}: {err:?}");
    let plain = plain_startup(port, alice).await;
    assert_eq!(first_error(&plain), owned(SSL_REQUIRED), "{who}: {plain:?}");
    assert!(
        tls_whoami(port, alice, None).await.is_err(),
        "{who}: no certificate"
    );
}

/// SHOW CLIENTS `tls` reads `TLSv1.3/<OpenSSL suite name>` for a TLS client
/// and is empty for a plaintext one; the login line says `tls=TLSv1.3/…`
/// or `tls=no` — PgBouncer's formats (PgBouncer 1.25.2 checked first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_clients_and_login_log_name_the_tls_version_and_suite() {
    let pg = PgServer::shared();
    let tls_user = own_role(pg, "tls_show_tls");
    let plain_user = own_role(pg, "tls_show_plain");
    let admin = own_role(pg, "tls_show_admin");
    let port = free_port();
    let settings = format!("{}admin_users = {admin}\n", client_tls("prefer"));
    let text = ini(pg, port, "trust", &settings, "");
    let users = userlist(&[&tls_user, &plain_user, &admin]);

    if let Some(bouncer) = Bouncer::start(&text, &users, port) {
        let (tls_shown, plain_shown) =
            show_tls(bouncer.port(), &tls_user, &plain_user, &admin).await;
        assert!(
            tls_shown.len() == 1 && is_tls13_text(&tls_shown[0]),
            "PgBouncer: {tls_shown:?}"
        );
        assert_eq!(plain_shown, [""], "PgBouncer");
        let log = bouncer.log();
        let line = log
            .lines()
            .find(|l| l.contains(&format!("login attempt: db={TEST_DB} user={tls_user} tls=")))
            .unwrap_or_else(|| panic!("PgBouncer log: {log}"));
        assert!(
            line.ends_with(&format!("tls={} replication=no", tls_shown[0])),
            "{line}"
        );
        assert!(
            log.contains(&format!("user={plain_user} tls=no replication=no")),
            "{log}"
        );
    }

    let sluice = start(&text, &users).await;
    let (tls_shown, plain_shown) = show_tls(sluice.port, &tls_user, &plain_user, &admin).await;
    assert_eq!(tls_shown.len(), 1, "{tls_shown:?}");
    assert!(
        is_tls13_text(&tls_shown[0]),
        "SHOW CLIENTS tls = {:?}",
        tls_shown[0]
    );
    assert_eq!(plain_shown, [""]);
    let line = log_line_with(&[&format!("user={tls_user} tls=TLSv1.3/"), "login attempt"]).await;
    let line = line.unwrap_or_else(|| panic!("no TLS login line in Sluice's log"));
    let suite = line
        .split(" tls=TLSv1.3/")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(TLS13_SUITES.contains(&suite), "{line}");
    assert!(
        log_line_with(&[&format!("user={plain_user} tls=no"), "login attempt"])
            .await
            .is_some(),
        "no plaintext login line"
    );
}

/// One TLS and one plaintext client logged in; SHOW CLIENTS `tls` of each
/// (one entry per connection of that user).
async fn show_tls(
    port: u16,
    tls_user: &str,
    plain_user: &str,
    admin: &str,
) -> (Vec<String>, Vec<String>) {
    let config = tls_config(port, tls_user, TEST_DB, SslMode::Require);
    let tls_client = connect_tls(&config, certs().make_tls_connect(None))
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let config = tls_config(port, plain_user, TEST_DB, SslMode::Disable);
    let (plain_client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    tls_client.simple_query("SELECT 1").await.unwrap();
    plain_client.simple_query("SELECT 1").await.unwrap();
    let rows = show(port, admin, "CLIENTS").await;
    let tls_of = |user: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.get("user").map(String::as_str) == Some(user))
            .map(|r| r.get("tls").cloned().expect("a tls column"))
            .collect()
    };
    (tls_of(tls_user), tls_of(plain_user))
}

/// Cancel over TLS: a CancelRequest inside TLS (SSLRequest, handshake,
/// CancelRequest) stops the query, and so does one sent through Sluice to
/// a backend reached over a TLS server leg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_works_over_tls_on_both_legs() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_cancel");
    let settings = format!("{}server_tls_sslmode = require\n", client_tls("prefer"));
    let sluice = start(&ini(pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
    for client_leg_tls in [false, true] {
        let mode = if client_leg_tls {
            SslMode::Require
        } else {
            SslMode::Disable
        };
        let config = tls_config(sluice.port, &role, TEST_DB, mode);
        let client = connect_tls(&config, certs().make_tls_connect(None))
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        assert!(first_value(&client.simple_query(BACKEND_SSL).await.unwrap()).starts_with("true|"));
        let token = client.cancel_token();
        let sleeping = tokio::spawn(async move {
            let started = Instant::now();
            let result = client.simple_query("SELECT pg_sleep(30)").await;
            (result.map(|_| ()), started.elapsed())
        });
        pg.wait_backends_async(&role, Duration::from_secs(10), |n| n >= 1)
            .await;
        wait_active(pg, &role).await;
        if client_leg_tls {
            token
                .cancel_query(certs().make_tls_connect(None))
                .await
                .unwrap();
        } else {
            token.cancel_query(NoTls).await.unwrap();
        }
        let (result, took) = tokio::time::timeout(Duration::from_secs(10), sleeping)
            .await
            .expect("the cancelled query returns")
            .unwrap();
        let err = result.expect_err("pg_sleep(30) was cancelled");
        assert_eq!(sqlstate(&err), Some("57014"), "{err:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

/// Wait until a backend of `user` runs pg_sleep.
async fn wait_active(pg: &PgServer, user: &str) {
    for _ in 0..100 {
        let n = pg.psql_super(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}' \
             AND state = 'active' AND query LIKE '%pg_sleep%'"
        ));
        if n != "0" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no active pg_sleep of {user}");
}

/// RELOAD with new certificate files: a connected TLS client keeps
/// working, new clients get the new certificate. A RELOAD pointing
/// client_tls_cert_file at garbage keeps the old certificate (new clients
/// still connect) and says why (console error or log line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_the_certificate_and_keeps_it_when_the_new_one_is_bad() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_reload");
    let admin = own_role(pg, "tls_reload_admin");
    let users = userlist(&[&role, &admin]);
    // The certificate files live in a dir of the test's own, copied from
    // the kit's so they can be replaced.
    let files_dir = temp_dir("tls-reload-files");
    let _cleanup = RemoveOnDrop(files_dir.clone());
    let files = CertKey {
        cert: files_dir.join("tls.crt"),
        key: files_dir.join("tls.key"),
    };
    install(&certs().server, &files);
    let text = |cert_file: &str| {
        ini(
            pg,
            6432,
            "trust",
            &format!(
                "client_tls_sslmode = prefer\n\
                 client_tls_cert_file = {}\n\
                 client_tls_key_file = {}\n\
                 admin_users = {admin}\n",
                path(&files_dir.join(cert_file)),
                path(&files.key)
            ),
            "",
        )
    };
    let sluice = start(&text("tls.crt"), &users).await;
    // RELOAD re-reads the ini file the kit wrote.
    let rewrite = |cert_file: &str| {
        let text = text(cert_file).replace("{dir}", &path(&sluice.dir));
        std::fs::write(&sluice.ini_path, text).unwrap()
    };
    let seen = || async {
        peer_certificate(sluice.port, certs().client_config(None), "localhost")
            .await
            .unwrap_or_else(|e| panic!("TLS probe: {e}"))
    };
    let reload = || async {
        let config = tls_config(sluice.port, &admin, "pgbouncer", SslMode::Disable);
        let (console, connection) = config.connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        console
            .simple_query("RELOAD")
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    };
    assert_eq!(seen().await, certs().server.der());

    let config = tls_config(sluice.port, &role, TEST_DB, SslMode::Require);
    let old_client = connect_tls(&config, certs().make_tls_connect(None))
        .await
        .unwrap();

    let next = certs().new_server("reloaded", &["localhost", "127.0.0.1"]);
    install(&next, &files);
    reload().await.unwrap();
    assert_eq!(
        seen().await,
        next.der(),
        "new clients see the new certificate"
    );
    assert_eq!(
        first_value(&old_client.simple_query("SELECT 7").await.unwrap()),
        "7",
        "the connected client goes on"
    );

    // Point at garbage.
    let garbage = files_dir.join("garbage.crt");
    write_file(&garbage, b"this is not a certificate\n", 0o644);
    rewrite("garbage.crt");
    let refused = reload().await;
    let logged = log_line_with(&["garbage.crt"]).await;
    assert!(
        refused.is_err() || logged.is_some(),
        "RELOAD with a garbage certificate: neither an error ({refused:?}) nor a log line"
    );
    assert_eq!(seen().await, next.der(), "the old certificate stays");
    assert_eq!(
        tls_whoami(sluice.port, &role, None)
            .await
            .map_err(|e| describe(&e)),
        Ok(role.clone())
    );
    // Garbage in the file in use, too.
    rewrite("tls.crt");
    write_file(
        &files.cert,
        b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
        0o644,
    );
    let _ = reload().await;
    assert_eq!(seen().await, next.der(), "the old certificate stays");
    assert_eq!(
        first_value(&old_client.simple_query("SELECT 8").await.unwrap()),
        "8"
    );
}

/// Removes a directory when dropped, also when the test panics.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- server leg -----------------------------------------------------------

/// `server_tls_sslmode = require` against the hostssl-only PostgreSQL: the
/// backend runs over TLS; SHOW SERVERS names the TLS version and suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_require_uses_tls_to_a_hostssl_only_postgres() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_require");
    let admin = own_role(pg, "tls_srv_admin");
    let settings = format!("server_tls_sslmode = require\nadmin_users = {admin}\n");
    let sluice = start(
        &ini(pg, 6432, "trust", &settings, ""),
        &userlist(&[&role, &admin]),
    )
    .await;
    let config = tls_config(sluice.port, &role, TEST_DB, SslMode::Disable);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    tokio::spawn(connection);
    let ssl = first_value(&client.simple_query(BACKEND_SSL).await.unwrap());
    assert!(ssl.starts_with("true|TLSv1."), "{ssl}");
    let servers = show(sluice.port, &admin, "SERVERS").await;
    let tls: Vec<&String> = servers
        .iter()
        .filter(|r| r.get("user") == Some(&role))
        .filter_map(|r| r.get("tls"))
        .collect();
    assert_eq!(tls.len(), 1, "{servers:?}");
    assert!(is_tls13_text(tls[0]), "SHOW SERVERS tls = {:?}", tls[0]);
    let metrics = sluice_core::metrics::render(sluice.sluice().shared());
    assert!(
        metrics.contains("sluice_server_tls_handshakes_total 1\n"),
        "{metrics}"
    );
}

/// verify-full with the right CA works by host name and by IP (the
/// certificate has both); verify-ca too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_verify_full_by_name_and_by_ip() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_verify");
    let ca = path(&pg.certs().ca.cert);
    for mode in ["verify-full", "verify-ca"] {
        let databases = format!(
            "by_name = host=localhost port={p} dbname={TEST_DB}\n\
             by_ip = host=127.0.0.1 port={p} dbname={TEST_DB}\n",
            p = pg.port()
        );
        let settings = format!("server_tls_sslmode = {mode}\nserver_tls_ca_file = {ca}\n");
        let sluice = start(
            &ini(pg, 6432, "trust", &settings, &databases),
            &userlist(&[&role]),
        )
        .await;
        for db in ["by_name", "by_ip"] {
            let ssl = plain_query(sluice.port, &role, db, BACKEND_SSL).await;
            assert!(
                ssl.as_deref().is_ok_and(|s| s.starts_with("true|TLSv1.")),
                "{mode} {db}: {ssl:?}"
            );
        }
    }
}

/// A server certificate the leg must refuse fails the waiting client
/// promptly (well before query_wait_timeout, where PgBouncer leaves it
/// waiting) with an error that names a certificate problem.
async fn assert_server_refused(sluice: &TestSluice, role: &str, db: &str, what: &str) {
    let started = Instant::now();
    let result = plain_query(sluice.port, role, db, "SELECT 1").await;
    let took = started.elapsed();
    let err = result.expect_err(&format!("{what}: logged in"));
    assert!(
        took < Duration::from_secs(10),
        "{what}: {took:?} (query_wait_timeout 20 s)"
    );
    assert!(err.to_lowercase().contains("certificate"), "{what}: {err}");
}

const QUICK_FAIL: &str = "query_wait_timeout = 20\nserver_login_retry = 1\n";

/// Server-leg lines for `mode`; the CA only for the verify modes, so that
/// `require` means "TLS, no verification" whatever a CA file would imply
/// (libpq treats require plus a root file as verify-ca; PgBouncer does not).
fn server_tls(mode: &str, ca: &str) -> String {
    let ca_line = if mode.starts_with("verify") {
        format!("server_tls_ca_file = {ca}\n")
    } else {
        String::new()
    };
    format!("server_tls_sslmode = {mode}\n{ca_line}{QUICK_FAIL}")
}

/// verify-full / verify-ca with a CA that did not sign the server's
/// certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_verify_with_the_wrong_ca_fails_promptly() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_wrongca");
    for mode in ["verify-full", "verify-ca"] {
        let settings = format!(
            "server_tls_sslmode = {mode}\nserver_tls_ca_file = {}\n{QUICK_FAIL}",
            path(&pg.certs().other_ca.cert)
        );
        let sluice = start(&ini(pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
        assert_server_refused(&sluice, &role, TEST_DB, &format!("{mode}, wrong CA")).await;
        let metrics = sluice_core::metrics::render(sluice.sluice().shared());
        assert!(
            !metrics.contains("sluice_server_tls_handshake_failures_total 0\n"),
            "{mode}: the failed handshake is counted: {metrics}"
        );
        assert!(
            metrics.contains("sluice_server_tls_handshakes_total 0\n"),
            "{mode}: {metrics}"
        );
    }
}

/// A PostgreSQL presenting a certificate for another host: verify-full
/// refuses it; verify-ca (no host check) and require accept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_verify_full_refuses_a_certificate_for_another_host() {
    let pg = tokio::task::spawn_blocking(|| PgServer::start_tls_presenting(ServerCert::WrongHost))
        .await
        .unwrap();
    let role = own_role(&pg, "tls_srv_wronghost");
    let ca = path(&pg.certs().ca.cert);
    let databases = format!(
        "by_name = host=localhost port={} dbname={TEST_DB}\n",
        pg.port()
    );
    for (mode, refused) in [
        ("verify-full", true),
        ("verify-ca", false),
        ("require", false),
    ] {
        let settings = server_tls(mode, &ca);
        let sluice = start(
            &ini(&pg, 6432, "trust", &settings, &databases),
            &userlist(&[&role]),
        )
        .await;
        for db in [TEST_DB, "by_name"] {
            if refused {
                assert_server_refused(&sluice, &role, db, &format!("{mode} {db}, wrong host"))
                    .await;
            } else {
                let ssl = plain_query(sluice.port, &role, db, BACKEND_SSL).await;
                assert!(
                    ssl.as_deref().is_ok_and(|s| s.starts_with("true|")),
                    "{mode} {db}: {ssl:?}"
                );
            }
        }
    }
}

/// An expired server certificate: verify-ca refuses it, require does not
/// look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_verify_refuses_an_expired_certificate() {
    let pg = tokio::task::spawn_blocking(|| PgServer::start_tls_presenting(ServerCert::Expired))
        .await
        .unwrap();
    let role = own_role(&pg, "tls_srv_expired");
    let ca = path(&pg.certs().ca.cert);
    for (mode, refused) in [
        ("verify-ca", true),
        ("verify-full", true),
        ("require", false),
    ] {
        let settings = server_tls(mode, &ca);
        let sluice = start(&ini(&pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
        if refused {
            assert_server_refused(&sluice, &role, TEST_DB, &format!("{mode}, expired")).await;
        } else {
            let ssl = plain_query(sluice.port, &role, TEST_DB, BACKEND_SSL).await;
            assert!(
                ssl.as_deref().is_ok_and(|s| s.starts_with("true|")),
                "{mode}: {ssl:?}"
            );
        }
    }
}

/// `disable` against the hostssl-only PostgreSQL: its pg_hba refuses the
/// plaintext login and the client gets PostgreSQL's error (28000), as
/// through PgBouncer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_disable_against_a_hostssl_only_postgres_is_refused() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_disable");
    let settings = format!("server_tls_sslmode = disable\n{QUICK_FAIL}");
    let sluice = start(&ini(pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
    let err = plain_query(sluice.port, &role, TEST_DB, "SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        format!(
            "28000 no pg_hba.conf entry for host \"127.0.0.1\", user \"{role}\", \
             database \"{TEST_DB}\", no encryption"
        )
    );
}

/// `prefer` (the default) against a PostgreSQL with ssl = off: plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_prefer_against_a_plain_postgres_stays_plaintext() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_srv_prefer");
    for settings in ["server_tls_sslmode = prefer\n", ""] {
        let sluice = start(&ini(pg, 6432, "trust", settings, ""), &userlist(&[&role])).await;
        assert_eq!(
            plain_query(sluice.port, &role, TEST_DB, BACKEND_SSL).await,
            Ok("false|".to_string()),
            "{settings:?}"
        );
    }
}

/// `require` against a PostgreSQL with ssl = off: the client gets an
/// error promptly (PgBouncer keeps it waiting until query_wait_timeout and
/// logs `server refused SSL`), and it says TLS/SSL was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_require_against_a_plain_postgres_fails_promptly() {
    let pg = PgServer::shared();
    let role = own_role(pg, "tls_srv_norefuse");
    let settings = format!("server_tls_sslmode = require\n{QUICK_FAIL}");
    let sluice = start(&ini(pg, 6432, "trust", &settings, ""), &userlist(&[&role])).await;
    let started = Instant::now();
    let err = plain_query(sluice.port, &role, TEST_DB, "SELECT 1")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let lower = err.to_lowercase();
    assert!(lower.contains("ssl") || lower.contains("tls"), "{err}");
}

/// The server leg presents server_tls_cert_file/key_file: PostgreSQL's
/// `cert` method logs the forced user in by it; without it, PostgreSQL
/// refuses ("connection requires a valid client certificate").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_leg_presents_its_client_certificate() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_certuser");
    let ca = path(&pg.certs().ca.cert);
    let client = pg.certs().client(ROLE_CERT.name);
    let databases = format!(
        "certdb = host=localhost port={} dbname={TEST_DB} user={}\n",
        pg.port(),
        ROLE_CERT.name
    );
    let with_cert = format!(
        "server_tls_sslmode = verify-full\nserver_tls_ca_file = {ca}\n\
         server_tls_cert_file = {}\nserver_tls_key_file = {}\n{QUICK_FAIL}",
        path(&client.cert),
        path(&client.key)
    );
    let sluice = start(
        &ini(pg, 6432, "trust", &with_cert, &databases),
        &userlist(&[&role]),
    )
    .await;
    assert_eq!(
        plain_query(sluice.port, &role, "certdb", "SELECT current_user").await,
        Ok(ROLE_CERT.name.to_string())
    );
    let without =
        format!("server_tls_sslmode = verify-full\nserver_tls_ca_file = {ca}\n{QUICK_FAIL}");
    let sluice = start(
        &ini(pg, 6432, "trust", &without, &databases),
        &userlist(&[&role]),
    )
    .await;
    let err = plain_query(sluice.port, &role, "certdb", "SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(err, "28000 connection requires a valid client certificate");
}

/// A console SET that really changes server TLS closes the idle servers
/// (new ones use the new settings, as PgBouncer ≥ 1.24); a SET naming a
/// file that does not load is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tls_change_closes_idle_servers_and_a_bad_one_is_refused() {
    let pg = PgServer::shared_tls();
    let role = own_role(pg, "tls_srv_change");
    let admin = own_role(pg, "tls_srv_change_admin");
    let settings = format!("server_tls_sslmode = require\nadmin_users = {admin}\n");
    let sluice = start(
        &ini(pg, 6432, "trust", &settings, ""),
        &userlist(&[&role, &admin]),
    )
    .await;
    let query = || async {
        let config = tls_config(sluice.port, &role, TEST_DB, SslMode::Disable);
        let (client, connection) = config.connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        first_value(&client.simple_query(BACKEND_SSL).await.unwrap())
    };
    assert!(query().await.starts_with("true|"));
    // The client left: its server is idle in the pool.
    let idle = settled("backends after the client left", || async {
        pg.count_backends_of(&[&role])
    })
    .await;
    assert_eq!(idle, 1, "the server stays idle in the pool");

    let console = |sql: String| {
        let admin = admin.clone();
        async move {
            let config = tls_config(sluice.port, &admin, "pgbouncer", SslMode::Disable);
            let (client, connection) = config.connect(NoTls).await.unwrap();
            tokio::spawn(connection);
            client
                .simple_query(&sql)
                .await
                .map(drop)
                .map_err(|e| describe(&e))
        }
    };
    let ca = path(&certs().ca.cert);
    console(format!("SET server_tls_ca_file = '{ca}'"))
        .await
        .unwrap();
    console("SET server_tls_sslmode = 'verify-full'".to_string())
        .await
        .unwrap();
    let left = settled("backends after the TLS change", || async {
        pg.count_backends_of(&[&role])
    })
    .await;
    assert_eq!(left, 0, "the idle server was closed");
    assert!(query().await.starts_with("true|"), "verify-full works");

    let refused = console("SET server_tls_ca_file = '/nonexistent/ca.pem'".to_string()).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("SET failed")),
        "{refused:?}"
    );
    assert!(
        query().await.starts_with("true|"),
        "old settings still in use"
    );
}

/// SCRAM pass-through to a TLS PostgreSQL that offers SCRAM-SHA-256-PLUS:
/// Sluice binds to the backend's certificate. PostgreSQL refuses a wrong
/// binding ("channel binding check failed") and a `y` while it offers PLUS
/// (a downgrade), so the login succeeding over TLS proves the binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_leg_scram_binds_to_the_backend_certificate() {
    let pg = PgServer::shared_tls();
    let users = format!("{}\n", pg.userlist_line(ROLE_SCRAM.name));
    let settings = "server_tls_sslmode = require\n";
    let sluice = start(&ini(pg, 6432, "scram-sha-256", settings, ""), &users).await;
    let mut config = tls_config(sluice.port, ROLE_SCRAM.name, TEST_DB, SslMode::Disable);
    config.password(ROLE_SCRAM.password.unwrap());
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    tokio::spawn(connection);
    let ssl = first_value(&client.simple_query(BACKEND_SSL).await.unwrap());
    assert!(ssl.starts_with("true|TLSv1."), "{ssl}");
    let user = first_value(&client.simple_query("SELECT current_user").await.unwrap());
    assert_eq!(user, ROLE_SCRAM.name);
}
