use bytes::{BufMut, BytesMut};
use sluice_proto::frame::*;
use sluice_proto::{ProtoError, SqlState};

use crate::written;

fn header_bytes(tag: u8, declared: u32) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&declared.to_be_bytes());
    v
}

#[test]
fn header_needs_five_bytes() {
    let bytes = header_bytes(b'Q', 10);
    for cut in 0..HEADER_LEN {
        assert_eq!(parse_header(&bytes[..cut], 100), Ok(None), "cut at {cut}");
    }
    let header = parse_header(&bytes, 100).unwrap().unwrap();
    assert_eq!(
        header,
        Header {
            tag: b'Q',
            body_len: 6
        }
    );
    assert_eq!(header.total_len(), 11);
}

#[test]
fn header_length_bounds() {
    for declared in 0..4 {
        assert_eq!(
            parse_header(&header_bytes(b'X', declared), 100),
            Err(ProtoError::TooShort {
                len: declared as usize
            })
        );
    }
    assert_eq!(
        parse_header(&header_bytes(b'X', 4), 100),
        Ok(Some(Header {
            tag: b'X',
            body_len: 0
        }))
    );
    assert_eq!(
        parse_header(&header_bytes(b'X', 100), 100),
        Ok(Some(Header {
            tag: b'X',
            body_len: 96
        }))
    );
    assert_eq!(
        parse_header(&header_bytes(b'X', 101), 100),
        Err(ProtoError::TooLong { len: 101, max: 100 })
    );
    // A negative int32 is a huge claim, not a small one.
    assert_eq!(
        parse_header(&header_bytes(b'X', 0x8000_0000), 1 << 20),
        Err(ProtoError::TooLong {
            len: 0x8000_0000,
            max: 1 << 20
        })
    );
}

#[test]
fn length_errors_for_messages_say_message_length() {
    let err = ProtoError::TooLong {
        len: 5000,
        max: 4096,
    };
    assert_eq!(err.client_message(), "invalid message length");
    assert_eq!(err.sqlstate(), SqlState::PROTOCOL_VIOLATION);
    assert_eq!(
        ProtoError::TooShort { len: 2 }.client_message(),
        "invalid message length"
    );
}

#[test]
fn split_round_trip() {
    let mut buf = written(|b| {
        encode_message(b'Q', b"select 1\0", b);
        encode_message(b'S', b"", b);
    });
    buf.put_slice(b"X\0\0"); // start of a third message
    let m = split_message(&mut buf, 1024).unwrap().unwrap();
    assert_eq!(m.tag, b'Q');
    assert_eq!(&m.body[..], b"select 1\0");
    let m = split_message(&mut buf, 1024).unwrap().unwrap();
    assert_eq!((m.tag, m.body.len()), (b'S', 0));
    assert_eq!(split_message(&mut buf, 1024), Ok(None));
    assert_eq!(&buf[..], b"X\0\0");
}

#[test]
fn encode_matches_postgres_protocol() {
    let ours = written(|b| encode_message(b'Q', b"select 1\0", b));
    let mut theirs = BytesMut::new();
    postgres_protocol::message::frontend::query("select 1", &mut theirs).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn partial_message_is_left_alone() {
    let whole = written(|b| encode_message(b'd', &[7; 50], b));
    for cut in 0..whole.len() {
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(split_message(&mut buf, 1024), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut);
    }
    let mut buf = whole.clone();
    let m = split_message(&mut buf, 1024).unwrap().unwrap();
    assert_eq!(&m.body[..], &[7; 50]);
    assert!(buf.is_empty());
}

#[test]
fn split_refuses_oversize_before_the_body_arrives() {
    let mut buf = BytesMut::from(&header_bytes(b'Q', 1_000_000)[..]);
    assert_eq!(
        split_message(&mut buf, 8192),
        Err(ProtoError::TooLong {
            len: 1_000_000,
            max: 8192
        })
    );
    let mut buf = BytesMut::from(&header_bytes(b'Q', 2)[..]);
    assert_eq!(
        split_message(&mut buf, 8192),
        Err(ProtoError::TooShort { len: 2 })
    );
}
