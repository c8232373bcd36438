//! The SCRAM messages a client controls. The input is split at the first
//! 0xff byte into client-first and client-final; a valid client-first is
//! tried too so that the fuzzer reaches client_final without having to
//! guess the grammar first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_proto::scram::{ScramSecret, ScramServer};

fuzz_target!(|data: &[u8]| {
    let (first, last) = match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    // One iteration: the cost of PBKDF2 is not what is being tested.
    let secret = ScramSecret::from_password("pencil", b"salt", 1);

    let mut server = ScramServer::new(secret.clone(), [7; 18]);
    if server.client_first(first).is_ok() {
        let _ = server.client_final(last);
    }

    let mut server = ScramServer::new(secret, [7; 18]);
    if server.client_first(b"n,,n=,r=fuzz").is_ok() {
        let _ = server.client_final(data);
    }

    let mut mock = ScramServer::mock("user", b"seed", [7; 18]);
    if mock.client_first(first).is_ok() {
        assert!(
            mock.client_final(last).is_err(),
            "a mock exchange succeeded"
        );
    }
});
