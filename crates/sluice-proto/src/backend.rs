//! Messages Sluice itself sends to clients, playing the server.
//!
//! Sluice answers the startup and authentication phase on its own, reports
//! its own errors, and serves the admin console, so it needs the server-side
//! writers that `postgres-protocol` (a client library) does not have. Every
//! writer appends one complete message to `buf`, so a caller can batch
//! several into one write.

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::startup::CancelKey;
use crate::tags::{backend, field};
use crate::wire::{put_cstr, write_message};
use crate::SqlState;

/// Type OID of `text`.
pub const TEXT_OID: u32 = 25;
/// Type OID of `int4`.
pub const INT4_OID: u32 = 23;
/// Type OID of `int8`.
pub const INT8_OID: u32 = 20;
/// Type OID of `numeric`.
pub const NUMERIC_OID: u32 = 1700;

/// Severity of an ErrorResponse/NoticeResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
    Panic,
    Warning,
    Notice,
    Debug,
    Info,
    Log,
}

impl Severity {
    /// The word on the wire (`V` field; Sluice does not localize, so `S` too).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Panic => "PANIC",
            Severity::Warning => "WARNING",
            Severity::Notice => "NOTICE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Log => "LOG",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error or notice Sluice reports in its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub severity: Severity,
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl PgError {
    pub fn new(severity: Severity, code: SqlState, message: impl Into<String>) -> Self {
        PgError {
            severity,
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// A FATAL error: the connection closes after it.
    pub fn fatal(code: SqlState, message: impl Into<String>) -> Self {
        Self::new(Severity::Fatal, code, message)
    }

    /// An ERROR: the current query fails, the session goes on.
    pub fn error(code: SqlState, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Append an ErrorResponse (`E`) with fields S, V, C, M and, when set,
    /// D and H.
    pub fn encode(&self, buf: &mut BytesMut) {
        self.encode_as(backend::ERROR_RESPONSE, buf);
    }

    /// Append the same fields as a NoticeResponse (`N`).
    pub fn encode_notice(&self, buf: &mut BytesMut) {
        self.encode_as(backend::NOTICE_RESPONSE, buf);
    }

    fn encode_as(&self, tag: u8, buf: &mut BytesMut) {
        write_message(buf, tag, |buf| {
            let fields = [
                (field::SEVERITY_LOCALIZED, Some(self.severity.as_str())),
                (field::SEVERITY, Some(self.severity.as_str())),
                (field::CODE, Some(self.code.code())),
                (field::MESSAGE, Some(self.message.as_str())),
                (field::DETAIL, self.detail.as_deref()),
                (field::HINT, self.hint.as_deref()),
            ];
            for (field, value) in fields {
                if let Some(value) = value {
                    buf.put_u8(field);
                    put_cstr(buf, value);
                }
            }
            buf.put_u8(0);
        });
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.severity, self.message, self.code)
    }
}

impl std::error::Error for PgError {}

/// Authentication request codes (`R` messages).
const AUTH_OK: i32 = 0;
const AUTH_CLEARTEXT: i32 = 3;
const AUTH_MD5: i32 = 5;
const AUTH_SASL: i32 = 10;
const AUTH_SASL_CONTINUE: i32 = 11;
const AUTH_SASL_FINAL: i32 = 12;

fn authentication(code: i32, data: &[u8], buf: &mut BytesMut) {
    write_message(buf, backend::AUTHENTICATION, |buf| {
        buf.put_i32(code);
        buf.put_slice(data);
    });
}

/// AuthenticationOk.
pub fn authentication_ok(buf: &mut BytesMut) {
    authentication(AUTH_OK, &[], buf);
}

/// AuthenticationCleartextPassword.
pub fn authentication_cleartext(buf: &mut BytesMut) {
    authentication(AUTH_CLEARTEXT, &[], buf);
}

/// AuthenticationMD5Password with its 4-byte salt.
pub fn authentication_md5(salt: [u8; 4], buf: &mut BytesMut) {
    authentication(AUTH_MD5, &salt, buf);
}

/// AuthenticationSASL listing `mechanisms`.
pub fn authentication_sasl(mechanisms: &[&str], buf: &mut BytesMut) {
    write_message(buf, backend::AUTHENTICATION, |buf| {
        buf.put_i32(AUTH_SASL);
        for mechanism in mechanisms {
            put_cstr(buf, mechanism);
        }
        buf.put_u8(0);
    });
}

/// AuthenticationSASLContinue carrying a server-first-message.
pub fn authentication_sasl_continue(data: &[u8], buf: &mut BytesMut) {
    authentication(AUTH_SASL_CONTINUE, data, buf);
}

/// AuthenticationSASLFinal carrying a server-final-message.
pub fn authentication_sasl_final(data: &[u8], buf: &mut BytesMut) {
    authentication(AUTH_SASL_FINAL, data, buf);
}

/// ParameterStatus.
pub fn parameter_status(name: &str, value: &str, buf: &mut BytesMut) {
    write_message(buf, backend::PARAMETER_STATUS, |buf| {
        put_cstr(buf, name);
        put_cstr(buf, value);
    });
}

/// BackendKeyData.
pub fn backend_key_data(key: CancelKey, buf: &mut BytesMut) {
    write_message(buf, backend::BACKEND_KEY_DATA, |buf| {
        buf.put_i32(key.pid);
        buf.put_i32(key.secret);
    });
}

/// ReadyForQuery with transaction status `I`, `T` or `E`.
pub fn ready_for_query(status: u8, buf: &mut BytesMut) {
    write_message(buf, backend::READY_FOR_QUERY, |buf| buf.put_u8(status));
}

/// NegotiateProtocolVersion: the newest 3.x minor version supported and the
/// `_pq_.` options not recognized.
///
/// The protocol documentation calls the first field a minor version, but
/// PostgreSQL sends its full `PG_PROTOCOL_LATEST` (`3 << 16 | minor`) and
/// libpq reads it that way, so that is what goes on the wire. Passing either
/// the bare minor or the full version number works.
pub fn negotiate_protocol_version(newest_minor: u32, unrecognized: &[&str], buf: &mut BytesMut) {
    write_message(buf, backend::NEGOTIATE_PROTOCOL_VERSION, |buf| {
        buf.put_u32((3 << 16) | newest_minor);
        buf.put_i32(i32::try_from(unrecognized.len()).unwrap_or(i32::MAX));
        for option in unrecognized {
            put_cstr(buf, option);
        }
    });
}

/// One column of a RowDescription: table OID 0, column 0, typmod -1, text
/// format, as for the result of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    pub name: &'a str,
    pub type_oid: u32,
    pub type_len: i16,
}

/// The count of a RowDescription or DataRow is an int16. Longer lists are
/// cut to what the count can say, so the message stays self-consistent.
fn count_i16(n: usize) -> i16 {
    i16::try_from(n).unwrap_or(i16::MAX)
}

/// RowDescription (`T`).
pub fn row_description(fields: &[FieldDescription<'_>], buf: &mut BytesMut) {
    let count = count_i16(fields.len());
    write_message(buf, backend::ROW_DESCRIPTION, |buf| {
        buf.put_i16(count);
        for field in fields.iter().take(count as usize) {
            put_cstr(buf, field.name);
            buf.put_u32(0); // table OID
            buf.put_i16(0); // column number
            buf.put_u32(field.type_oid);
            buf.put_i16(field.type_len);
            buf.put_i32(-1); // type modifier
            buf.put_i16(0); // text format
        }
    });
}

/// DataRow (`D`): each value in text format, `None` for NULL.
pub fn data_row(values: &[Option<&[u8]>], buf: &mut BytesMut) {
    let count = count_i16(values.len());
    write_message(buf, backend::DATA_ROW, |buf| {
        buf.put_i16(count);
        for value in values.iter().take(count as usize) {
            match value {
                // A value over 2 GB cannot be described; send NULL instead
                // of a length that would desynchronise the client.
                Some(v) => match i32::try_from(v.len()) {
                    Ok(len) => {
                        buf.put_i32(len);
                        buf.put_slice(v);
                    }
                    Err(_) => buf.put_i32(-1),
                },
                None => buf.put_i32(-1),
            }
        }
    });
}

/// CommandComplete (`C`) with a tag such as `SHOW` or `SELECT 3`.
pub fn command_complete(tag: &str, buf: &mut BytesMut) {
    write_message(buf, backend::COMMAND_COMPLETE, |buf| put_cstr(buf, tag));
}

/// EmptyQueryResponse (`I`), the answer to an empty query string.
pub fn empty_query_response(buf: &mut BytesMut) {
    write_message(buf, backend::EMPTY_QUERY_RESPONSE, |_| {});
}
