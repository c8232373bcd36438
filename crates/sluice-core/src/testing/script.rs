//! The backend's side of one connection: a tiny PostgreSQL that answers
//! by the text of each statement (see [`Backend`](super::Backend)):
//!
//! - `SELECT 1` (any `SELECT`): one int4 row; `SELECT big N`: N rows of
//!   1 KiB, written as the pipe takes them (backpressure);
//! - `BEGIN` / `COMMIT` / `ROLLBACK`, with the transaction status;
//! - anything containing `fail`: ErrorResponse (in the extended protocol
//!   the statement fails at Execute and the backend skips to Sync);
//! - `SET name = value`: ParameterStatus for reported names; `DISCARD ALL`
//!   puts the login values back;
//! - `COPY … FROM STDIN` / `COPY … TO STDOUT` (three rows out).
//!
//! Output is buffered until Sync, Flush or the end of a Query, as
//! Postgres does.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use sluice_proto::backend::{self as msg, FieldDescription, PgError};
use sluice_proto::fields::parse_cstring;
use sluice_proto::frame::{encode_message, split_message};
use sluice_proto::startup::{decode_startup, CancelKey, StartupPacket};
use sluice_proto::tags::{backend, frontend, status};
use sluice_proto::SqlState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backend::{Backend, Conn, Login};
use crate::stream::Stream;

/// The parameters every backend reports at login, as Postgres 15 does.
const REPORTED: [(&str, &str); 11] = [
    ("server_version", "15.0"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("application_name", ""),
    ("IntervalStyle", "postgres"),
    ("is_superuser", "off"),
    ("session_authorization", "sluice"),
];

/// Output is written out once this much is buffered.
const FLUSH_AT: usize = 8 * 1024;

/// Run one backend connection until Terminate, EOF or a kill.
pub(super) async fn play(mut stream: Stream, backend: Backend) {
    let mut input = BytesMut::new();
    let Some(startup) = read_startup(&mut stream, &mut input, &backend).await else {
        return;
    };
    let (login, delay) = backend.login_plan();
    tokio::time::sleep(delay).await;
    let mut out = BytesMut::new();
    if login == Login::Fail {
        let user = startup.get("user").unwrap_or("");
        let text = format!("password authentication failed for user \"{user}\"");
        PgError::fatal(SqlState::INVALID_PASSWORD, text).encode(&mut out);
        let _ = stream.write_all(&out).await;
        return;
    }
    let conn = backend.born();
    let mut pg = Pg::new(conn.clone(), startup.get("application_name"));
    msg::authentication_ok(&mut out);
    for (name, value) in &pg.params {
        msg::parameter_status(name, value, &mut out);
    }
    let key = CancelKey {
        pid: conn.pid,
        secret: conn.pid * 7,
    };
    msg::backend_key_data(key, &mut out);
    msg::ready_for_query(status::IDLE, &mut out);
    pg.out = out;
    let _ = pg.serve(&mut stream, input).await;
    conn.ended();
}

/// The startup packet; `None` after a cancel request or a bad packet.
async fn read_startup(
    stream: &mut Stream,
    input: &mut BytesMut,
    backend: &Backend,
) -> Option<sluice_proto::startup::StartupMessage> {
    loop {
        match decode_startup(input).ok()? {
            Some(StartupPacket::Startup(m)) => return Some(m),
            Some(StartupPacket::Cancel(key)) => {
                backend.cancelled(key);
                return None;
            }
            Some(_) => stream.write_all(b"N").await.ok()?,
            None if stream.read_buf(input).await.ok()? == 0 => return None,
            None => {}
        }
    }
}

struct Pg {
    conn: Arc<Conn>,
    out: BytesMut,
    status: u8,
    params: Vec<(String, String)>,
    /// Parameters changed since the last ReadyForQuery: reported just
    /// before it, as Postgres (14+) does.
    changed: Vec<usize>,
    /// After an error in the extended protocol: ignore until Sync.
    skipping: bool,
    /// Rows of a COPY FROM STDIN in progress.
    copy_in: Option<usize>,
    statements: HashMap<String, String>,
    portals: HashMap<String, String>,
}

/// A statement's outcome: its CommandComplete tag, or an error.
type Outcome = Result<String, PgError>;

impl Pg {
    fn new(conn: Arc<Conn>, application_name: Option<&str>) -> Pg {
        let mut params: Vec<(String, String)> = REPORTED
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if let Some(app) = application_name {
            params[7].1 = app.to_string();
        }
        Pg {
            conn,
            out: BytesMut::new(),
            status: status::IDLE,
            params,
            changed: Vec::new(),
            skipping: false,
            copy_in: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
        }
    }

    async fn serve(&mut self, stream: &mut Stream, mut input: BytesMut) -> std::io::Result<()> {
        let conn = self.conn.clone();
        loop {
            while let Some(m) = split_message(&mut input, 1 << 24).map_err(std::io::Error::other)? {
                conn.record(m.tag, m.body.clone());
                if m.tag == frontend::TERMINATE {
                    return Ok(());
                }
                self.handle(stream, m.tag, &m.body).await?;
            }
            self.flush(stream).await?;
            tokio::select! {
                biased;
                _ = conn.kill.notified() => return Ok(()),
                n = stream.read_buf(&mut input) => if n? == 0 { return Ok(()) },
            }
        }
    }

    async fn flush(&mut self, stream: &mut Stream) -> std::io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            self.conn.add_sent(self.out.len());
            self.out.clear();
        }
        Ok(())
    }

    async fn handle(&mut self, stream: &mut Stream, tag: u8, body: &[u8]) -> std::io::Result<()> {
        if let Some(rows) = self.copy_in {
            match tag {
                frontend::COPY_DATA => self.copy_in = Some(rows + 1),
                frontend::COPY_DONE => {
                    self.copy_in = None;
                    msg::command_complete(&format!("COPY {rows}"), &mut self.out);
                    self.ready();
                }
                frontend::COPY_FAIL => {
                    self.copy_in = None;
                    self.error(PgError::error(
                        SqlState::QUERY_CANCELED,
                        "COPY from stdin failed",
                    ));
                    self.ready();
                }
                // Flush and Sync are ignored during COPY, as Postgres does.
                _ => {}
            }
            return Ok(());
        }
        if self.skipping && tag != frontend::SYNC {
            return Ok(());
        }
        let (first, rest) = parse_cstring(body).unwrap_or(("", &[]));
        match tag {
            frontend::QUERY => self.query(stream, first).await?,
            frontend::PARSE => {
                let (sql, _) = parse_cstring(rest).unwrap_or(("", &[]));
                self.statements.insert(first.to_string(), sql.to_string());
                encode_message(backend::PARSE_COMPLETE, &[], &mut self.out);
            }
            frontend::BIND => {
                let (statement, _) = parse_cstring(rest).unwrap_or(("", &[]));
                let sql = self.statements.get(statement).cloned().unwrap_or_default();
                self.portals.insert(first.to_string(), sql);
                encode_message(backend::BIND_COMPLETE, &[], &mut self.out);
            }
            frontend::DESCRIBE => self.describe(body),
            frontend::EXECUTE => {
                let sql = self.portals.get(first).cloned().unwrap_or_default();
                let outcome = self.execute(stream, &sql).await?;
                match outcome {
                    Ok(tag) => msg::command_complete(&tag, &mut self.out),
                    Err(e) => {
                        self.error(e);
                        self.skipping = true;
                    }
                }
            }
            frontend::CLOSE => encode_message(backend::CLOSE_COMPLETE, &[], &mut self.out),
            frontend::SYNC => {
                self.skipping = false;
                self.ready();
            }
            // Flush: the loop writes what is buffered.
            _ => {}
        }
        Ok(())
    }

    fn describe(&mut self, body: &[u8]) {
        let (kind, name) = body.split_first().unwrap_or((&0, &[]));
        let (name, _) = parse_cstring(name).unwrap_or(("", &[]));
        let sql = if *kind == sluice_proto::tags::target::STATEMENT {
            encode_message(backend::PARAMETER_DESCRIPTION, &[0, 0], &mut self.out);
            self.statements.get(name)
        } else {
            self.portals.get(name)
        };
        if sql.is_some_and(|s| s.to_ascii_lowercase().starts_with("select")) {
            self.row_description();
        } else {
            encode_message(backend::NO_DATA, &[], &mut self.out);
        }
    }

    async fn query(&mut self, stream: &mut Stream, sql: &str) -> std::io::Result<()> {
        let lower = sql.trim().to_ascii_lowercase();
        if lower.is_empty() {
            msg::empty_query_response(&mut self.out);
        } else if lower.starts_with("copy") && lower.contains("from stdin") {
            // Format, column count, one text column.
            encode_message(backend::COPY_IN_RESPONSE, &[0, 0, 1, 0, 0], &mut self.out);
            self.copy_in = Some(0);
            return Ok(());
        }
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            let lower = statement.trim().to_ascii_lowercase();
            // A failing statement fails before its row description.
            if lower.starts_with("select") && !lower.contains("fail") {
                self.row_description();
            }
            match self.execute(stream, statement).await? {
                Ok(tag) => msg::command_complete(&tag, &mut self.out),
                Err(e) => {
                    self.error(e);
                    break;
                }
            }
        }
        self.ready();
        Ok(())
    }

    /// Run one statement, writing its rows; ParameterStatus as it goes.
    async fn execute(&mut self, stream: &mut Stream, sql: &str) -> std::io::Result<Outcome> {
        let lower = sql.trim().to_ascii_lowercase();
        let word = lower.split_whitespace().next().unwrap_or("");
        let aborted = self.status == status::FAILED_TRANSACTION;
        if aborted && !matches!(word, "commit" | "end" | "rollback" | "abort") {
            return Ok(Err(PgError::error(
                SqlState("25P02"),
                "current transaction is aborted, commands ignored until end of transaction block",
            )));
        }
        Ok(Ok(match word {
            "begin" => {
                self.status = status::IN_TRANSACTION;
                "BEGIN".into()
            }
            "commit" | "end" | "rollback" | "abort" => {
                self.status = status::IDLE;
                if aborted || word == "rollback" || word == "abort" {
                    "ROLLBACK".into()
                } else {
                    "COMMIT".into()
                }
            }
            _ if lower.contains("fail") => {
                return Ok(Err(PgError::error(
                    SqlState::INTERNAL_ERROR,
                    "scripted failure",
                )))
            }
            "set" => {
                self.set(sql.trim()[3..].trim());
                "SET".into()
            }
            "discard" if self.status != status::IDLE => {
                return Ok(Err(PgError::error(
                    SqlState::ACTIVE_SQL_TRANSACTION,
                    "DISCARD ALL cannot run inside a transaction block",
                )))
            }
            "discard" => {
                for (name, value) in REPORTED {
                    self.set_param(name, value);
                }
                "DISCARD ALL".into()
            }
            "copy" => {
                encode_message(backend::COPY_OUT_RESPONSE, &[0, 0, 1, 0, 0], &mut self.out);
                for i in 0..3 {
                    encode_message(
                        backend::COPY_DATA,
                        format!("{i}\n").as_bytes(),
                        &mut self.out,
                    );
                }
                encode_message(backend::COPY_DONE, &[], &mut self.out);
                "COPY 3".into()
            }
            "select" => {
                let rows = match lower.strip_prefix("select big ") {
                    Some(n) => n.trim().parse().unwrap_or(1),
                    None => 1,
                };
                let value = if rows == 1 {
                    vec![b'1']
                } else {
                    vec![b'x'; 1024]
                };
                for _ in 0..rows {
                    msg::data_row(&[Some(&value)], &mut self.out);
                    if self.out.len() >= FLUSH_AT {
                        self.flush(stream).await?;
                    }
                }
                format!("SELECT {rows}")
            }
            other => other.to_ascii_uppercase(),
        }))
    }

    /// `name = value`, `name TO value`, quotes optional (as Sluice sends).
    fn set(&mut self, assignment: &str) {
        let (name, value) = match assignment.split_once('=') {
            Some(pair) => pair,
            None => assignment.split_once(" TO ").unwrap_or((assignment, "")),
        };
        let name = name.trim().trim_matches('"');
        let value = value.trim().trim_start_matches('E').trim_matches('\'');
        self.set_param(name, value);
    }

    /// Change a parameter (reported at the next ReadyForQuery).
    fn set_param(&mut self, name: &str, value: &str) {
        let found = self
            .params
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        if let Some(i) = found.filter(|i| self.params[*i].1 != value) {
            self.params[i].1 = value.to_string();
            if !self.changed.contains(&i) {
                self.changed.push(i);
            }
        }
    }

    fn row_description(&mut self) {
        let field = FieldDescription {
            name: "?column?",
            type_oid: 23,
            type_len: 4,
        };
        msg::row_description(&[field], &mut self.out);
    }

    fn error(&mut self, e: PgError) {
        e.encode(&mut self.out);
        if self.status == status::IN_TRANSACTION {
            self.status = status::FAILED_TRANSACTION;
        }
    }

    fn ready(&mut self) {
        for i in std::mem::take(&mut self.changed) {
            let (name, value) = &self.params[i];
            msg::parameter_status(name, value, &mut self.out);
        }
        msg::ready_for_query(self.status, &mut self.out);
    }
}
