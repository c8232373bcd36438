//! Arbitrary bytes through every decoder: nothing may panic, and whatever
//! is accepted must be consistent. A deterministic stand-in for the fuzz
//! targets so that `cargo test` covers the same ground on stable.

use bytes::{BufMut, BytesMut};
use sluice_proto::fields::*;
use sluice_proto::frame::{split_message, HEADER_LEN};
use sluice_proto::scram::{ScramKeyClient, ScramSecret, ScramServer};
use sluice_proto::startup::{decode_startup, MAX_STARTUP_PACKET};

/// xorshift64*: tiny, seeded, good enough to spread bytes around.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Random bytes, biased toward the structure decoders look for (small
    /// lengths, NULs, commas, '=' and protocol letters) so that inputs get
    /// past the first check often enough to exercise the deeper paths.
    fn bytes(&mut self) -> Vec<u8> {
        const INTERESTING: &[u8] = b"\0\0\0,,,==nrpcvesiyNSVCMmx0123456789+/";
        let len = self.below(64)
            + if self.below(8) == 0 {
                self.below(400)
            } else {
                0
            };
        (0..len)
            .map(|_| match self.below(4) {
                0 => INTERESTING[self.below(INTERESTING.len())],
                _ => self.next() as u8,
            })
            .collect()
    }

    /// Bytes that start with a plausible length word for `prefix_len`-byte
    /// headers, so length checks pass some of the time.
    fn framed(&mut self, tagged: bool) -> Vec<u8> {
        let body = self.bytes();
        let mut out = Vec::new();
        if tagged {
            out.push(b"QSEpZRC"[self.below(7)]);
        }
        let declared = match self.below(4) {
            0 => self.next() as u32,
            1 => body.len() as u32 + 4 + if tagged { 0 } else { 4 },
            _ => self.below(body.len() + 12) as u32,
        };
        out.extend_from_slice(&declared.to_be_bytes());
        if !tagged && self.below(2) == 0 {
            out.extend_from_slice(&(3u32 << 16).to_be_bytes());
        }
        out.extend_from_slice(&body);
        out
    }
}

const ROUNDS: usize = 20_000;

#[test]
fn startup_decoder_survives_noise() {
    let mut rng = Rng(0x5eed_0001);
    let mut accepted = 0;
    for _ in 0..ROUNDS {
        let input = if rng.below(2) == 0 {
            rng.bytes()
        } else {
            rng.framed(false)
        };
        let mut buf = BytesMut::from(&input[..]);
        match decode_startup(&mut buf) {
            Ok(Some(_)) => {
                accepted += 1;
                let declared = u32::from_be_bytes(input[..4].try_into().unwrap()) as usize;
                assert!(declared <= MAX_STARTUP_PACKET);
                assert_eq!(buf.len(), input.len() - declared);
            }
            Ok(None) => assert_eq!(&buf[..], &input[..], "consumed without a packet"),
            Err(_) => {}
        }
    }
    assert!(accepted > 0, "the generator never produced a valid packet");
}

#[test]
fn message_splitter_and_body_parsers_survive_noise() {
    let mut rng = Rng(0x5eed_0002);
    let mut bodies = 0;
    for _ in 0..ROUNDS {
        let mut buf = BytesMut::new();
        for _ in 0..rng.below(4) + 1 {
            buf.put_slice(&rng.framed(true));
        }
        let max = 16 + rng.below(1024);
        loop {
            let before = buf.len();
            match split_message(&mut buf, max) {
                Ok(Some(m)) => {
                    bodies += 1;
                    assert_eq!(before - buf.len(), HEADER_LEN + m.body.len());
                    assert!(m.body.len() + 4 <= max);
                    let _ = parse_error_fields(&m.body);
                    let _ = parse_parameter_status(&m.body);
                    let _ = parse_cstring(&m.body);
                    let _ = parse_password_message(&m.body);
                    let _ = parse_sasl_initial_response(&m.body);
                    let _ = parse_query(&m.body);
                    let _ = parse_command_complete(&m.body);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before);
                    break;
                }
                Err(_) => break,
            }
        }
        // And the parsers on raw noise, not only on framed bodies.
        let noise = rng.bytes();
        let _ = parse_error_fields(&noise);
        let _ = parse_parameter_status(&noise);
        let _ = parse_sasl_initial_response(&noise);
    }
    assert!(bodies > 1000, "only {bodies} messages split");
}

#[test]
fn scram_survives_noise() {
    let secret = ScramSecret::from_password("pw", b"salty", 1);
    let mut rng = Rng(0x5eed_0003);
    for i in 0..ROUNDS {
        let mut server = ScramServer::new(secret.clone(), [7; 18]);
        // Half the time, start from a valid first message so that noise
        // reaches client_final.
        let first = if i % 2 == 0 {
            b"n,,n=,r=abc".to_vec()
        } else {
            rng.bytes()
        };
        let _ = server.client_first(&first);
        let _ = server.client_final(&rng.bytes());
        let _ = ScramSecret::parse(&String::from_utf8_lossy(&rng.bytes()));

        let mut client = ScramKeyClient::new([1; 32], [2; 32], [3; 18]);
        let mut reply = b"r=".to_vec();
        if i % 2 == 0 {
            reply.extend_from_slice(&client.client_first()[8..]);
        }
        reply.extend_from_slice(&rng.bytes());
        let _ = client.server_first(&reply);
        let _ = client.server_final(&rng.bytes());
    }
}
