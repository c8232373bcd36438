use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use sluice_proto::backend::*;
use sluice_proto::startup::CancelKey;
use sluice_proto::SqlState;

use crate::written;

/// Parse exactly one message with postgres-protocol's independent parser.
fn theirs(mut buf: BytesMut) -> Message {
    let m = Message::parse(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    m
}

/// (type, value) pairs of an ErrorResponse/NoticeResponse as they parse it.
fn error_fields(
    mut fields: postgres_protocol::message::backend::ErrorFields<'_>,
) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while let Some(f) = fields.next().unwrap() {
        out.push((
            f.type_(),
            String::from_utf8_lossy(f.value_bytes()).into_owned(),
        ));
    }
    out
}

#[test]
fn error_response_fields() {
    let e = PgError::fatal(
        SqlState::INVALID_PASSWORD,
        "password authentication failed for user \"a\"",
    );
    let Message::ErrorResponse(body) = theirs(written(|b| e.encode(b))) else {
        panic!("not an ErrorResponse");
    };
    assert_eq!(
        error_fields(body.fields()),
        vec![
            (b'S', "FATAL".to_string()),
            (b'V', "FATAL".to_string()),
            (b'C', "28P01".to_string()),
            (
                b'M',
                "password authentication failed for user \"a\"".to_string()
            ),
        ]
    );

    let e = PgError::error(SqlState::QUERY_CANCELED, "canceled")
        .with_detail("det")
        .with_hint("hin");
    let Message::ErrorResponse(body) = theirs(written(|b| e.encode(b))) else {
        panic!("not an ErrorResponse");
    };
    let fields = error_fields(body.fields());
    assert_eq!(fields[0], (b'S', "ERROR".to_string()));
    assert_eq!(fields[2], (b'C', "57014".to_string()));
    assert_eq!(fields[4], (b'D', "det".to_string()));
    assert_eq!(fields[5], (b'H', "hin".to_string()));
}

#[test]
fn notice_response_and_severities() {
    let severities = [
        (Severity::Error, "ERROR"),
        (Severity::Fatal, "FATAL"),
        (Severity::Panic, "PANIC"),
        (Severity::Warning, "WARNING"),
        (Severity::Notice, "NOTICE"),
        (Severity::Debug, "DEBUG"),
        (Severity::Info, "INFO"),
        (Severity::Log, "LOG"),
    ];
    for (severity, word) in severities {
        let e = PgError::new(severity, SqlState::SUCCESSFUL_COMPLETION, "m");
        let Message::NoticeResponse(body) = theirs(written(|b| e.encode_notice(b))) else {
            panic!("not a NoticeResponse");
        };
        let fields = error_fields(body.fields());
        assert_eq!(fields[0], (b'S', word.to_string()));
        assert_eq!(fields[1], (b'V', word.to_string()));
    }
}

#[test]
fn nul_in_text_cannot_break_framing() {
    let e = PgError::error(SqlState::INTERNAL_ERROR, "bad\0Cfake");
    let Message::ErrorResponse(body) = theirs(written(|b| e.encode(b))) else {
        panic!("not an ErrorResponse");
    };
    let fields = error_fields(body.fields());
    assert_eq!(fields[3], (b'M', "badCfake".to_string()));
    assert_eq!(fields.len(), 4);
}

#[test]
fn pg_error_builders_and_display() {
    let e = PgError::fatal(SqlState::ADMIN_SHUTDOWN, "shutting down");
    assert_eq!(e.severity, Severity::Fatal);
    assert_eq!((e.detail.clone(), e.hint.clone()), (None, None));
    assert_eq!(e.to_string(), "FATAL: shutting down (57P01)");
    assert_eq!(
        PgError::error(SqlState::INTERNAL_ERROR, "x").severity,
        Severity::Error
    );
}

#[test]
fn authentication_messages() {
    assert!(matches!(
        theirs(written(authentication_ok)),
        Message::AuthenticationOk
    ));
    assert!(matches!(
        theirs(written(authentication_cleartext)),
        Message::AuthenticationCleartextPassword
    ));
    let Message::AuthenticationMd5Password(body) =
        theirs(written(|b| authentication_md5([1, 2, 3, 4], b)))
    else {
        panic!("not md5");
    };
    assert_eq!(body.salt(), [1, 2, 3, 4]);

    let Message::AuthenticationSasl(body) = theirs(written(|b| {
        authentication_sasl(&["SCRAM-SHA-256", "OTHER"], b)
    })) else {
        panic!("not SASL");
    };
    let mechanisms: Vec<String> = body
        .mechanisms()
        .map(|m| Ok(m.to_string()))
        .collect()
        .unwrap();
    assert_eq!(mechanisms, ["SCRAM-SHA-256", "OTHER"]);

    let Message::AuthenticationSaslContinue(body) = theirs(written(|b| {
        authentication_sasl_continue(b"r=abc,s=x,i=1", b)
    })) else {
        panic!("not SASL continue");
    };
    assert_eq!(body.data(), b"r=abc,s=x,i=1");
    let Message::AuthenticationSaslFinal(body) =
        theirs(written(|b| authentication_sasl_final(b"v=xyz", b)))
    else {
        panic!("not SASL final");
    };
    assert_eq!(body.data(), b"v=xyz");
}

#[test]
fn session_messages() {
    let Message::ParameterStatus(body) =
        theirs(written(|b| parameter_status("client_encoding", "UTF8", b)))
    else {
        panic!("not ParameterStatus");
    };
    assert_eq!(
        (body.name().unwrap(), body.value().unwrap()),
        ("client_encoding", "UTF8")
    );

    let key = CancelKey {
        pid: 77,
        secret: -123_456,
    };
    let Message::BackendKeyData(body) = theirs(written(|b| backend_key_data(key, b))) else {
        panic!("not BackendKeyData");
    };
    assert_eq!((body.process_id(), body.secret_key()), (77, -123_456));

    for status in [b'I', b'T', b'E'] {
        let Message::ReadyForQuery(body) = theirs(written(|b| ready_for_query(status, b))) else {
            panic!("not ReadyForQuery");
        };
        assert_eq!(body.status(), status);
    }
    let Message::CommandComplete(body) = theirs(written(|b| command_complete("SHOW", b))) else {
        panic!("not CommandComplete");
    };
    assert_eq!(body.tag().unwrap(), "SHOW");
    assert!(matches!(
        theirs(written(empty_query_response)),
        Message::EmptyQueryResponse
    ));
}

#[test]
fn row_description_and_data_rows() {
    let fields = [
        FieldDescription {
            name: "database",
            type_oid: TEXT_OID,
            type_len: -1,
        },
        FieldDescription {
            name: "cl_active",
            type_oid: INT4_OID,
            type_len: 4,
        },
        FieldDescription {
            name: "total",
            type_oid: INT8_OID,
            type_len: 8,
        },
        FieldDescription {
            name: "avg",
            type_oid: NUMERIC_OID,
            type_len: -1,
        },
    ];
    let Message::RowDescription(body) = theirs(written(|b| row_description(&fields, b))) else {
        panic!("not RowDescription");
    };
    let mut parsed = body.fields();
    for expected in fields {
        let f = parsed.next().unwrap().unwrap();
        assert_eq!(f.name(), expected.name);
        assert_eq!(f.type_oid(), expected.type_oid);
        assert_eq!(f.type_size(), expected.type_len);
        assert_eq!((f.table_oid(), f.column_id()), (0, 0));
        assert_eq!((f.type_modifier(), f.format()), (-1, 0));
    }
    assert!(parsed.next().unwrap().is_none());
    assert_eq!(
        (TEXT_OID, INT4_OID, INT8_OID, NUMERIC_OID),
        (25, 23, 20, 1700)
    );

    let values: [Option<&[u8]>; 3] = [Some(b"pgbouncer"), None, Some(b"")];
    let Message::DataRow(body) = theirs(written(|b| data_row(&values, b))) else {
        panic!("not DataRow");
    };
    let ranges: Vec<_> = body.ranges().collect().unwrap();
    assert_eq!(ranges.len(), 3);
    let buffer = body.buffer();
    assert_eq!(&buffer[ranges[0].clone().unwrap()], b"pgbouncer");
    assert!(ranges[1].is_none());
    assert_eq!(ranges[2].clone().unwrap().len(), 0);

    assert!(matches!(
        theirs(written(|b| row_description(&[], b))),
        Message::RowDescription(_)
    ));
    assert!(matches!(
        theirs(written(|b| data_row(&[], b))),
        Message::DataRow(_)
    ));
}

#[test]
fn negotiate_protocol_version_wire_format() {
    // postgres-protocol has no parser for it: check the bytes.
    let buf = written(|b| negotiate_protocol_version(0, &["_pq_.a", "_pq_.bc"], b));
    let mut expected = vec![b'v'];
    expected.extend_from_slice(&(4u32 + 4 + 4 + 7 + 8).to_be_bytes());
    expected.extend_from_slice(&0x0003_0000u32.to_be_bytes());
    expected.extend_from_slice(&2u32.to_be_bytes());
    expected.extend_from_slice(b"_pq_.a\0_pq_.bc\0");
    assert_eq!(&buf[..], &expected[..]);
    // Passing the full version number gives the same bytes.
    let full = written(|b| negotiate_protocol_version(3 << 16, &["_pq_.a", "_pq_.bc"], b));
    assert_eq!(buf, full);
    let none = written(|b| negotiate_protocol_version(0, &[], b));
    assert_eq!(&none[..], &[b'v', 0, 0, 0, 12, 0, 3, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn writers_append() {
    let mut buf = BytesMut::new();
    authentication_ok(&mut buf);
    parameter_status("a", "b", &mut buf);
    ready_for_query(b'I', &mut buf);
    assert!(matches!(
        Message::parse(&mut buf).unwrap(),
        Some(Message::AuthenticationOk)
    ));
    assert!(matches!(
        Message::parse(&mut buf).unwrap(),
        Some(Message::ParameterStatus(_))
    ));
    assert!(matches!(
        Message::parse(&mut buf).unwrap(),
        Some(Message::ReadyForQuery(_))
    ));
    assert!(buf.is_empty());
}
