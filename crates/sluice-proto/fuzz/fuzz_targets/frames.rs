//! Regular messages in either direction: split a buffer into messages and
//! run the body parsers Sluice uses on each. Nothing may panic, and a split
//! must consume exactly one message.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_proto::fields::{
    parse_command_complete, parse_error_fields, parse_parameter_status, parse_password_message,
    parse_query, parse_sasl_initial_response,
};
use sluice_proto::frame::{split_message, HEADER_LEN};

/// Small enough that the fuzzer hits the cap as well as whole messages.
const MAX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match split_message(&mut buf, MAX_LEN) {
            Ok(Some(msg)) => {
                assert_eq!(before - buf.len(), HEADER_LEN + msg.body.len());
                let _ = parse_error_fields(&msg.body);
                let _ = parse_parameter_status(&msg.body);
                let _ = parse_password_message(&msg.body);
                let _ = parse_sasl_initial_response(&msg.body);
                let _ = parse_query(&msg.body);
                let _ = parse_command_complete(&msg.body);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
});
