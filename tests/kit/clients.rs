//! Real PostgreSQL clients pointed at any host and port — a `PgServer`
//! directly, or Sluice in front of it: psql, pgbench (PostgreSQL 15's, from
//! the same bin dir as the server) and tokio-postgres.
//!
//! `psql*` and `pgbench` block until the client exits. Against an in-process
//! Sluice on a *current-thread* runtime that would deadlock (the pooler could
//! not run while the test thread waits), so from async tests use the
//! `*_async` variants (they run on `spawn_blocking`) or a multi-thread runtime.
//!
//! `host` may be an IP address or, when it starts with `/`, a Unix socket dir.
//! libpq environment variables of the caller are ignored; every client gets
//! `PGSSLMODE=disable`, `PGCONNECT_TIMEOUT=10` and no password file.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::pg::{pg_bin, scrub_pg_env};

fn client_cmd(bin: &str, host: &str, port: u16, user: &str, password: Option<&str>) -> Command {
    let mut cmd = Command::new(pg_bin(bin));
    scrub_pg_env(&mut cmd);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.args(["-h", host, "-p", &port.to_string(), "-U", user])
        .stdin(Stdio::null());
    cmd
}

/// `psql -XAtq -v ON_ERROR_STOP=1 -c SQL`. The SQL goes as one simple-query
/// message (several `;`-separated statements run in one implicit transaction,
/// as most applications send them). Output rows are unaligned, `|`-separated.
pub fn psql(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    sql: &str,
) -> Output {
    psql_args(host, port, user, password, db, &["-c", sql])
}

/// psql with `-XAtq -v ON_ERROR_STOP=1 -d db` and then `args` (e.g. `-f file`).
pub fn psql_args(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    args: &[&str],
) -> Output {
    let mut cmd = client_cmd("psql", host, port, user, password);
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db])
        .args(args);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// [`psql`] that must succeed; returns trimmed stdout.
pub fn psql_ok(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    sql: &str,
) -> String {
    let out = psql(host, port, user, password, db, sql);
    expect_success(
        &out,
        &format!("psql as {user} on {host}:{port}/{db}: {sql}"),
    )
}

/// `pgbench -h host -p port -U user ARGS db`. pgbench prints its report on
/// stdout; parse it with [`pgbench_summary`].
pub fn pgbench(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    args: &[&str],
) -> Output {
    let mut cmd = client_cmd("pgbench", host, port, user, password);
    cmd.args(args).arg(db);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// [`psql`] on a blocking thread, for async tests.
pub async fn psql_async(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    sql: &str,
) -> Output {
    let (host, user, password, db, sql) = owned(host, user, password, db, sql);
    tokio::task::spawn_blocking(move || psql(&host, port, &user, password.as_deref(), &db, &sql))
        .await
        .expect("psql task panicked")
}

/// [`pgbench`] on a blocking thread, for async tests.
pub async fn pgbench_async(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    args: &[&str],
) -> Output {
    let (host, user, password, db, _) = owned(host, user, password, db, "");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pgbench(&host, port, &user, password.as_deref(), &db, &args)
    })
    .await
    .expect("pgbench task panicked")
}

fn owned(
    host: &str,
    user: &str,
    password: Option<&str>,
    db: &str,
    sql: &str,
) -> (String, String, Option<String>, String, String) {
    (
        host.to_string(),
        user.to_string(),
        password.map(str::to_string),
        db.to_string(),
        sql.to_string(),
    )
}

/// Panic with stdout and stderr unless the client exited 0; returns trimmed stdout.
pub fn expect_success(out: &Output, what: &str) -> String {
    if !out.status.success() {
        panic!(
            "{what}: exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The figures of a pgbench 15 report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgbenchSummary {
    /// "tps = N (without initial connection time)".
    pub tps: f64,
    /// "number of transactions actually processed: N[/M]" (the N).
    pub transactions: u64,
    /// "number of failed transactions: N (x%)"; 0 if the line is absent.
    pub failed: u64,
}

impl PgbenchSummary {
    /// Parse pgbench's stdout; `None` if the transactions or tps line is missing.
    pub fn parse(stdout: &str) -> Option<PgbenchSummary> {
        let mut transactions = None;
        let mut failed = 0;
        let mut tps = None;
        for line in stdout.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("number of transactions actually processed:") {
                transactions = rest.trim().split('/').next()?.trim().parse().ok();
            } else if let Some(rest) = line.strip_prefix("number of failed transactions:") {
                failed = rest.split_whitespace().next()?.parse().ok()?;
            } else if let Some(rest) = line.strip_prefix("tps =") {
                tps = rest.split_whitespace().next()?.parse().ok();
            }
        }
        Some(PgbenchSummary {
            tps: tps?,
            transactions: transactions?,
            failed,
        })
    }
}

/// The summary of a pgbench run; panics with its output if there is none.
/// Does not check the exit status: a run with failed or aborted clients
/// still reports (and exits 2) — check `out.status` yourself if it matters.
pub fn pgbench_summary(out: &Output) -> PgbenchSummary {
    PgbenchSummary::parse(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|| {
        panic!(
            "no pgbench summary ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A tokio-postgres config: no TLS, 10 s connect timeout. Tweak and pass to
/// [`connect_with`] for extra options (application_name, options, …).
pub fn config(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .user(user)
        .dbname(db)
        .ssl_mode(tokio_postgres::config::SslMode::Disable)
        .connect_timeout(Duration::from_secs(10));
    if let Some(password) = password {
        config.password(password);
    }
    config
}

/// Connect with `config`, spawning the connection task on the current runtime.
pub async fn connect_with(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    // The task ends when the client is dropped or the server hangs up;
    // the client sees such errors itself, so nothing is reported here.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Connect over TCP (or a Unix socket dir if `host` starts with `/`).
pub async fn try_connect(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    connect_with(&config(host, port, user, password, db)).await
}

/// [`try_connect`] that must succeed.
pub async fn connect(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
) -> tokio_postgres::Client {
    try_connect(host, port, user, password, db)
        .await
        .unwrap_or_else(|e| panic!("connect as {user} to {host}:{port}/{db}: {e:?}"))
}

/// The SQLSTATE of a tokio-postgres error, if the server (or pooler) sent one.
pub fn sqlstate(err: &tokio_postgres::Error) -> Option<&str> {
    err.code().map(|c| c.code())
}

/// The first column of the first row of a `simple_query` answer (which
/// starts with a RowDescription in tokio-postgres ≥ 0.7.11).
pub fn first_value(rows: &[tokio_postgres::SimpleQueryMessage]) -> String {
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some(r.get(0).unwrap_or("NULL").to_string())
            }
            _ => None,
        })
        .expect("a row")
}
