use bytes::{BufMut, BytesMut};
use postgres_protocol::message::frontend;
use sluice_proto::startup::*;
use sluice_proto::{ProtoError, SqlState};

use crate::written;

/// A packet with an arbitrary code and body, length filled in.
fn raw_packet(code: u32, body: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(8 + body.len() as u32);
    buf.put_u32(code);
    buf.put_slice(body);
    buf
}

fn startup(params: &[(&str, &str)]) -> BytesMut {
    written(|b| encode_startup_message(params, b))
}

fn decode_one(mut buf: BytesMut) -> Result<Option<StartupPacket>, ProtoError> {
    let r = decode_startup(&mut buf);
    if let Ok(Some(_)) = r {
        assert!(buf.is_empty(), "packet not fully consumed");
    }
    r
}

#[test]
fn ssl_request_round_trip() {
    let buf = written(encode_ssl_request);
    assert_eq!(&buf[..], &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    assert_eq!(decode_one(buf), Ok(Some(StartupPacket::SslRequest)));
    // And as postgres-protocol writes it.
    let buf = written(frontend::ssl_request);
    assert_eq!(decode_one(buf), Ok(Some(StartupPacket::SslRequest)));
}

#[test]
fn gssenc_request_round_trip() {
    let buf = written(encode_gssenc_request);
    assert_eq!(&buf[..], &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
    assert_eq!(decode_one(buf), Ok(Some(StartupPacket::GssEncRequest)));
}

#[test]
fn cancel_request_round_trip() {
    for key in [
        CancelKey {
            pid: 4242,
            secret: -7,
        },
        CancelKey {
            pid: i32::MIN,
            secret: i32::MAX,
        },
    ] {
        let buf = written(|b| encode_cancel_request(key, b));
        assert_eq!(buf.len(), 16);
        assert_eq!(decode_one(buf), Ok(Some(StartupPacket::Cancel(key))));
        let buf = written(|b| frontend::cancel_request(key.pid, key.secret, b));
        assert_eq!(decode_one(buf), Ok(Some(StartupPacket::Cancel(key))));
    }
}

#[test]
fn special_requests_with_wrong_length_are_malformed() {
    for code in [80_877_103, 80_877_104] {
        assert!(matches!(
            decode_one(raw_packet(code, &[0; 4])),
            Err(ProtoError::Malformed(_))
        ));
    }
    for body_len in [0, 4, 12] {
        let r = decode_one(raw_packet(80_877_102, &vec![0; body_len]));
        assert!(
            matches!(r, Err(ProtoError::Malformed(_))),
            "{body_len}: {r:?}"
        );
    }
}

#[test]
fn startup_3_0_with_params() {
    let params = [
        ("user", "alice"),
        ("database", "app"),
        ("application_name", ""),
    ];
    let expected = StartupMessage {
        major: 3,
        minor: 0,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let ours = startup(&params);
    let mut theirs = BytesMut::new();
    frontend::startup_message(params.iter().copied(), &mut theirs).unwrap();
    assert_eq!(ours, theirs, "our encoder matches postgres-protocol's");
    let Ok(Some(StartupPacket::Startup(msg))) = decode_one(ours) else {
        panic!("not a startup message");
    };
    assert_eq!(msg, expected);
    assert_eq!(msg.get("user"), Some("alice"));
    assert_eq!(msg.get("application_name"), Some(""));
    assert_eq!(msg.get("nope"), None);
    assert!(msg.protocol_options().is_empty());
}

#[test]
fn user_is_not_required() {
    let Ok(Some(StartupPacket::Startup(msg))) = decode_one(startup(&[("database", "x")])) else {
        panic!("not a startup message");
    };
    assert_eq!(msg.get("user"), None);
}

#[test]
fn startup_3_2_keeps_minor_and_lists_protocol_options() {
    let buf = written(|b| {
        encode_startup_message_version(
            3,
            2,
            &[("user", "u"), ("_pq_.compression", "on"), ("_pq_.x", "1")],
            b,
        )
    });
    let Ok(Some(StartupPacket::Startup(msg))) = decode_one(buf) else {
        panic!("not a startup message");
    };
    assert_eq!((msg.major, msg.minor), (3, 2));
    assert_eq!(msg.protocol_options(), vec!["_pq_.compression", "_pq_.x"]);
}

#[test]
fn other_major_versions_are_unsupported() {
    let buf = written(|b| encode_startup_message_version(2, 0, &[("user", "u")], b));
    let err = decode_one(buf).unwrap_err();
    assert_eq!(err, ProtoError::UnsupportedVersion { major: 2, minor: 0 });
    assert_eq!(err.sqlstate(), SqlState::FEATURE_NOT_SUPPORTED);
    assert_eq!(
        err.client_message(),
        "unsupported frontend protocol 2.0: server supports 3.0 to 3.0"
    );
    // Garbage code: reported as the version it would be.
    let err = decode_one(raw_packet(0x1234_5678, b"\0")).unwrap_err();
    assert_eq!(
        err,
        ProtoError::UnsupportedVersion {
            major: 0x1234,
            minor: 0x5678
        }
    );
    let err = decode_one(raw_packet(4 << 16, b"\0")).unwrap_err();
    assert_eq!(err, ProtoError::UnsupportedVersion { major: 4, minor: 0 });
}

#[test]
fn huge_length_is_refused_from_the_length_word_alone() {
    for declared in [0x8000_0000u32, u32::MAX, 10_001] {
        let mut buf = BytesMut::from(&declared.to_be_bytes()[..]);
        let err = decode_startup(&mut buf).unwrap_err();
        assert_eq!(
            err,
            ProtoError::TooLong {
                len: declared as usize,
                max: MAX_STARTUP_PACKET
            }
        );
        assert_eq!(err.sqlstate(), SqlState::PROTOCOL_VIOLATION);
        assert_eq!(err.client_message(), "invalid length of startup packet");
    }
}

#[test]
fn length_at_the_cap_is_accepted() {
    // 8 header + "user\0" + value + "\0" + "\0" == 10_000
    let value = "v".repeat(MAX_STARTUP_PACKET - 8 - 5 - 2);
    let buf = startup(&[("user", &value)]);
    assert_eq!(buf.len(), MAX_STARTUP_PACKET);
    assert!(matches!(
        decode_one(buf),
        Ok(Some(StartupPacket::Startup(_)))
    ));
    let value = "v".repeat(MAX_STARTUP_PACKET - 8 - 5 - 1);
    let buf = startup(&[("user", &value)]);
    assert!(matches!(
        decode_one(buf),
        Err(ProtoError::TooLong { len: 10_001, .. })
    ));
}

#[test]
fn short_lengths_are_refused() {
    for declared in [0u32, 3, 4, 7] {
        let mut buf = BytesMut::from(&declared.to_be_bytes()[..]);
        buf.put_slice(&[0; 8]);
        assert_eq!(
            decode_startup(&mut buf),
            Err(ProtoError::TooShort {
                len: declared as usize
            })
        );
    }
    // Only a startup packet can be too short at 4..8 bytes (a message of
    // that length is valid), so those get the startup wording.
    for len in 4..8 {
        let err = ProtoError::TooShort { len };
        assert_eq!(err.client_message(), "invalid length of startup packet");
    }
    let err = ProtoError::TooShort { len: 3 };
    assert_eq!(err.client_message(), "invalid message length");
}

#[test]
fn partial_packets_need_more_and_consume_nothing() {
    let whole = startup(&[("user", "bob"), ("database", "db")]);
    for cut in 0..whole.len() {
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(decode_startup(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(&buf[..], &whole[..cut], "cut at {cut} consumed bytes");
    }
}

#[test]
fn packets_are_consumed_one_at_a_time() {
    let mut buf = written(encode_ssl_request);
    buf.extend_from_slice(&startup(&[("user", "u")]));
    buf.extend_from_slice(b"Qtrailing");
    assert_eq!(
        decode_startup(&mut buf),
        Ok(Some(StartupPacket::SslRequest))
    );
    assert!(matches!(
        decode_startup(&mut buf),
        Ok(Some(StartupPacket::Startup(_)))
    ));
    assert_eq!(&buf[..], b"Qtrailing");
}

#[test]
fn layout_errors_are_malformed() {
    let v3 = 3 << 16;
    let cases: &[(&str, &[u8])] = &[
        ("no parameters and no terminator", b""),
        ("missing final terminator", b"user\0u\0"),
        ("name without value", b"user\0\0x"),
        ("name without value at the end", b"user\0"),
        ("unterminated name", b"user"),
        ("unterminated value", b"user\0u"),
        ("bytes after the terminator", b"user\0u\0\0extra"),
        ("two terminators", b"user\0u\0\0\0"),
        ("invalid UTF-8 in a value", b"user\0\xff\xfe\0\0"),
        ("invalid UTF-8 in a name", b"us\xc3\x28\0u\0\0"),
        ("duplicate user", b"user\0a\0user\0b\0\0"),
        ("duplicate other name", b"x\0a\0user\0u\0x\0a\0\0"),
    ];
    for (what, body) in cases {
        let r = decode_one(raw_packet(v3, body));
        assert!(matches!(r, Err(ProtoError::Malformed(_))), "{what}: {r:?}");
    }
    let ok = decode_one(raw_packet(v3, b"user\0u\0\0"));
    assert!(matches!(ok, Ok(Some(StartupPacket::Startup(_)))));
}

#[test]
fn malformed_errors_are_protocol_violations() {
    let err = decode_one(raw_packet(3 << 16, b"user\0u\0")).unwrap_err();
    assert_eq!(err.sqlstate(), SqlState::PROTOCOL_VIOLATION);
    assert!(err.client_message().starts_with("invalid message format: "));
}
