//! The first bytes an unauthenticated client sends: decode_startup must
//! never panic, and must either consume exactly one declared packet or
//! nothing at all.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_proto::startup::{decode_startup, MAX_STARTUP_PACKET};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode_startup(&mut buf) {
            Ok(Some(_)) => {
                let consumed = before - buf.len();
                assert!((8..=MAX_STARTUP_PACKET).contains(&consumed));
            }
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
});
