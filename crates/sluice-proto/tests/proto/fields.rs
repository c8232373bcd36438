use bytes::BytesMut;
use postgres_protocol::message::frontend;
use sluice_proto::backend::{self, PgError, Severity};
use sluice_proto::fields::*;
use sluice_proto::frame::{split_message, Message};
use sluice_proto::{ProtoError, SqlState};

use crate::written;

fn one_message(mut buf: BytesMut) -> Message {
    let m = split_message(&mut buf, 1 << 20).unwrap().unwrap();
    assert!(buf.is_empty());
    m
}

fn malformed<T: std::fmt::Debug>(r: Result<T, ProtoError>) -> bool {
    matches!(r, Err(ProtoError::Malformed(_)))
}

#[test]
fn cstring() {
    assert_eq!(parse_cstring(b"abc\0rest"), Ok(("abc", &b"rest"[..])));
    assert_eq!(parse_cstring(b"\0"), Ok(("", &b""[..])));
    assert!(malformed(parse_cstring(b"abc")));
    assert!(malformed(parse_cstring(b"")));
    assert!(malformed(parse_cstring(b"\xff\0")));
}

#[test]
fn parameter_status_round_trip() {
    let m = one_message(written(|b| {
        backend::parameter_status("TimeZone", "Europe/Paris", b)
    }));
    assert_eq!(m.tag, b'S');
    assert_eq!(
        parse_parameter_status(&m.body),
        Ok(("TimeZone", "Europe/Paris"))
    );
    assert_eq!(parse_parameter_status(b"a\0\0"), Ok(("a", "")));
    assert!(malformed(parse_parameter_status(b"a\0b\0c")));
    assert!(malformed(parse_parameter_status(b"a\0b")));
    assert!(malformed(parse_parameter_status(b"a\0")));
    assert!(malformed(parse_parameter_status(b"")));
}

#[test]
fn error_fields_from_our_own_error() {
    let err = PgError::fatal(
        SqlState::TOO_MANY_CONNECTIONS,
        "no more connections allowed",
    )
    .with_detail("d")
    .with_hint("h");
    let m = one_message(written(|b| err.encode(b)));
    assert_eq!(m.tag, b'E');
    let f = parse_error_fields(&m.body).unwrap();
    assert_eq!(f.severity, Some("FATAL"));
    assert_eq!(f.code, Some("53300"));
    assert_eq!(f.message, Some("no more connections allowed"));
    let notice = PgError::new(Severity::Warning, SqlState::SUCCESSFUL_COMPLETION, "w");
    let m = one_message(written(|b| notice.encode_notice(b)));
    assert_eq!(m.tag, b'N');
    assert_eq!(
        parse_error_fields(&m.body).unwrap().severity,
        Some("WARNING")
    );
}

#[test]
fn error_fields_prefer_the_non_localized_severity() {
    let body = b"SFEHLER\0VERROR\0C42P01\0Mrelation does not exist\0\0";
    let f = parse_error_fields(body).unwrap();
    assert_eq!(f.severity, Some("ERROR"));
    assert_eq!(f.code, Some("42P01"));
    // V may come first too.
    let f = parse_error_fields(b"VFATAL\0SFATAL-LOCAL\0\0").unwrap();
    assert_eq!(f.severity, Some("FATAL"));
    // Only S (pre-9.6 servers).
    let f = parse_error_fields(b"SPANIC\0\0").unwrap();
    assert_eq!(f.severity, Some("PANIC"));
}

#[test]
fn error_fields_missing_or_unreadable_are_none() {
    let f = parse_error_fields(b"\0").unwrap();
    assert_eq!(
        f,
        ErrorFields {
            severity: None,
            code: None,
            message: None
        }
    );
    // Unknown field types are skipped; a non-UTF-8 message is None, the rest
    // still decodes.
    let f = parse_error_fields(b"Xwhatever\0C28P01\0M\xe9chec\0\0").unwrap();
    assert_eq!(f.code, Some("28P01"));
    assert_eq!(f.message, None);
}

#[test]
fn error_fields_layout_errors() {
    assert!(malformed(parse_error_fields(b"")));
    assert!(
        malformed(parse_error_fields(b"C28P01\0")),
        "no final terminator"
    );
    assert!(
        malformed(parse_error_fields(b"C28P01")),
        "unterminated field"
    );
    assert!(malformed(parse_error_fields(b"C")), "field code only");
    assert!(
        malformed(parse_error_fields(b"C28P01\0\0junk")),
        "bytes after terminator"
    );
}

#[test]
fn password_message() {
    let mut buf = BytesMut::new();
    frontend::password_message(b"md5abcdef", &mut buf).unwrap();
    let m = one_message(buf);
    assert_eq!(m.tag, b'p');
    assert_eq!(parse_password_message(&m.body), Ok("md5abcdef"));
    assert_eq!(parse_password_message(b"\0"), Ok(""));
    assert!(malformed(parse_password_message(b"pw")));
    assert!(malformed(parse_password_message(b"pw\0x")));
}

#[test]
fn sasl_initial_response() {
    let mut buf = BytesMut::new();
    frontend::sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=abc", &mut buf).unwrap();
    let m = one_message(buf);
    assert_eq!(
        parse_sasl_initial_response(&m.body),
        Ok(("SCRAM-SHA-256", &b"n,,n=,r=abc"[..]))
    );
    let with = |len: i32, data: &[u8]| {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(data);
        body
    };
    assert_eq!(
        parse_sasl_initial_response(&with(-1, b"")),
        Ok(("SCRAM-SHA-256", &b""[..]))
    );
    assert_eq!(
        parse_sasl_initial_response(&with(0, b"")),
        Ok(("SCRAM-SHA-256", &b""[..]))
    );
    assert!(malformed(parse_sasl_initial_response(&with(-1, b"x"))));
    assert!(malformed(parse_sasl_initial_response(&with(-2, b""))));
    assert!(malformed(parse_sasl_initial_response(&with(i32::MIN, b""))));
    assert!(
        malformed(parse_sasl_initial_response(&with(4, b"abc"))),
        "short data"
    );
    assert!(
        malformed(parse_sasl_initial_response(&with(2, b"abc"))),
        "long data"
    );
    assert!(malformed(parse_sasl_initial_response(&with(
        i32::MAX,
        b"abc"
    ))));
    assert!(malformed(parse_sasl_initial_response(
        b"SCRAM-SHA-256\0\0\0"
    )));
    assert!(malformed(parse_sasl_initial_response(b"SCRAM-SHA-256")));
}

#[test]
fn query_and_command_complete() {
    let mut buf = BytesMut::new();
    frontend::query("SHOW POOLS;", &mut buf).unwrap();
    let m = one_message(buf);
    assert_eq!(parse_query(&m.body), Ok("SHOW POOLS;"));
    assert!(malformed(parse_query(b"SHOW")));
    assert!(malformed(parse_query(b"a\0b\0")));

    let m = one_message(written(|b| backend::command_complete("SELECT 3", b)));
    assert_eq!(m.tag, b'C');
    assert_eq!(parse_command_complete(&m.body), Ok("SELECT 3"));
    assert!(malformed(parse_command_complete(b"")));
}
