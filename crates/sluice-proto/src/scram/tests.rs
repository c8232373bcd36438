//! Known-answer tests from RFC 7677 §3, which need nonces the public
//! constructors (base64 of raw bytes) cannot produce.
#![allow(clippy::unwrap_used)]

use super::*;

const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_secret() -> ScramSecret {
    let salt = b64_decode(SALT_B64.as_bytes()).unwrap();
    ScramSecret::from_password("pencil", &salt, 4096)
}

#[test]
fn rfc7677_server_exchange_is_byte_exact() {
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), false);
    assert_eq!(server.client_first(CLIENT_FIRST).unwrap(), SERVER_FIRST);
    let (server_final, client_key) = server.client_final(CLIENT_FINAL).unwrap();
    assert_eq!(server_final, SERVER_FINAL);
    // The recovered ClientKey is the one derived from the password.
    let salted = hi(b"pencil", &b64_decode(SALT_B64.as_bytes()).unwrap(), 4096);
    assert_eq!(client_key, super::client_key(&salted));
}

#[test]
fn rfc7677_wrong_proof_is_rejected() {
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), false);
    server.client_first(CLIENT_FIRST).unwrap();
    let mut tampered = CLIENT_FINAL.to_vec();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        server.client_final(&tampered),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn mock_exchange_fails_even_with_a_correct_proof() {
    // Same RFC exchange, but the server is doomed: the proof (valid for the
    // secret) must still be refused.
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), true);
    assert_eq!(server.client_first(CLIENT_FIRST).unwrap(), SERVER_FIRST);
    assert_eq!(
        server.client_final(CLIENT_FINAL),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn key_client_proof_matches_rfc_arithmetic() {
    // The RFC's proof was made with user "user"; our client sends "n=", so
    // recompute the expected proof by hand from the RFC keys and compare.
    let salted = hi(b"pencil", &b64_decode(SALT_B64.as_bytes()).unwrap(), 4096);
    let ck = super::client_key(&salted);
    let sk = super::server_key(&salted);
    let mut client = ScramKeyClient::with_nonce(ck, sk, "rOprNGfwEbeRWgbNEkqO".to_string());
    assert_eq!(client.client_first(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client.server_first(SERVER_FIRST).unwrap();
    let without_proof = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let auth = [
        b"n=,r=rOprNGfwEbeRWgbNEkqO".as_slice(),
        b",",
        SERVER_FIRST,
        b",",
        without_proof,
    ]
    .concat();
    let mut proof = ck;
    xor_into(&mut proof, &hmac(&sha256(&ck), &[&auth]));
    let expected = [
        without_proof.as_slice(),
        b",p=",
        b64_encode(&proof).as_bytes(),
    ]
    .concat();
    assert_eq!(client_final, expected);
    let verifier = format!("v={}", b64_encode(&hmac(&sk, &[&auth])));
    assert_eq!(client.server_final(verifier.as_bytes()), Ok(()));
}

#[test]
fn hmac_matches_rfc4231_case_1_and_long_keys() {
    // RFC 4231 test case 1 (short key) and case 6 (131-byte key, which must
    // be hashed first): checks the block-size key handling in hmac_keyed.
    let out = hmac(&[0x0b; 20], &[b"Hi There"]);
    assert_eq!(
        out,
        [
            0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b,
            0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83, 0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c,
            0x2e, 0x32, 0xcf, 0xf7
        ]
    );
    let out = hmac(
        &[0xaa; 131],
        &[
            b"Test Using Larger Than Block-Size Key - ",
            b"Hash Key First",
        ],
    );
    assert_eq!(
        out,
        [
            0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5,
            0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f,
            0x0e, 0xe3, 0x7f, 0x54
        ]
    );
    // And a 64-byte key, exactly one block, against the hmac crate's own path.
    let key = [0x5a; 64];
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    Mac::update(&mut mac, b"x");
    let reference: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(hmac(&key, &[b"x"]), reference);
}
