//! SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it.
//!
//! Sluice authenticates clients itself, so it needs the server side of
//! SCRAM ([`ScramServer`]) working from the same stored secret PostgreSQL
//! keeps in `pg_authid` ([`ScramSecret`]). A successful exchange also yields
//! the client's ClientKey, and with it plus the secret's ServerKey Sluice
//! can log in to the real server as that user without ever knowing the
//! password ([`ScramKeyClient`]) — the "pass-through" PgBouncer also does.
//!
//! No channel binding: Sluice never offers SCRAM-SHA-256-PLUS, so a client
//! asking for it is refused, and the gs2 headers `n,,` and `y,,` are both
//! accepted, as PostgreSQL does without TLS. Nonces come from the caller so
//! this crate stays deterministic and testable.

mod attr;
mod client;
mod secret;
mod server;
#[cfg(test)]
mod tests;

pub use client::ScramKeyClient;
pub use secret::ScramSecret;
pub use server::ScramServer;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::SqlState;

/// The mechanism name in AuthenticationSASL / SASLInitialResponse.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// Iterations used for mock exchanges and by PostgreSQL's default secrets.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Length of a raw nonce before base64 (PostgreSQL's `SCRAM_RAW_NONCE_LEN`).
pub const RAW_NONCE_LEN: usize = 18;

/// Longest SCRAM message accepted in either direction. Real ones are about
/// 100 bytes; the cap bounds what an exchange keeps for its AuthMessage.
const MAX_MESSAGE: usize = 8192;

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// The message does not follow the SCRAM grammar; the text says where.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding (`p=…`), which was not offered.
    #[error("SCRAM channel binding was requested, but SCRAM-SHA-256-PLUS was not offered")]
    UnsupportedChannelBinding,
    /// The nonce in the final message is not the one agreed on.
    #[error("invalid SCRAM response: nonce does not match")]
    NonceMismatch,
    /// The client's proof is wrong: wrong password (or unknown user).
    #[error("SCRAM proof is invalid")]
    InvalidProof,
    /// The server's signature is wrong: it does not know the secret.
    #[error("invalid SCRAM server signature")]
    InvalidServerSignature,
    /// The server answered with `e=…`.
    #[error("server rejected SCRAM authentication: {0}")]
    ServerRejected(String),
    /// A step was called twice or out of order.
    #[error("SCRAM message out of order")]
    OutOfOrder,
}

impl ScramError {
    /// The SQLSTATE to report to a client: a wrong proof is a failed
    /// password check, everything else a protocol violation.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            ScramError::InvalidProof => SqlState::INVALID_PASSWORD,
            _ => SqlState::PROTOCOL_VIOLATION,
        }
    }
}

/// SHA-256 block size: the HMAC key length that needs no further processing.
const BLOCK_LEN: usize = 64;

/// A keyed HMAC-SHA-256, ready to be cloned for each message.
///
/// The key is brought to block size here (hashed if longer, zero-padded if
/// shorter, exactly as RFC 2104 does internally) so that construction is
/// infallible and no `expect` is needed anywhere in this module.
fn hmac_keyed(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// HMAC-SHA-256 of the concatenated `parts`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_keyed(key);
    for part in parts {
        Mac::update(&mut mac, part);
    }
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PBKDF2-HMAC-SHA-256 with one output block: SCRAM's `Hi()`.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = hmac_keyed(password);
    let mut mac = keyed.clone();
    Mac::update(&mut mac, salt);
    Mac::update(&mut mac, &1u32.to_be_bytes());
    let mut prev: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = prev;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        Mac::update(&mut mac, &prev);
        prev = mac.finalize().into_bytes().into();
        xor_into(&mut out, &prev);
    }
    out
}

fn xor_into(acc: &mut [u8; 32], other: &[u8; 32]) {
    for (a, b) in acc.iter_mut().zip(other) {
        *a ^= b;
    }
}

/// ClientKey and ServerKey derived from a salted password.
fn client_key(salted_password: &[u8; 32]) -> [u8; 32] {
    hmac(salted_password, &[b"Client Key"])
}

fn server_key(salted_password: &[u8; 32]) -> [u8; 32] {
    hmac(salted_password, &[b"Server Key"])
}

/// `client-first-message-bare + "," + server-first-message + "," +
/// client-final-message-without-proof`, the text both sides sign.
fn auth_message(
    client_first_bare: &[u8],
    server_first: &[u8],
    final_without_proof: &[u8],
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(
        client_first_bare.len() + server_first.len() + final_without_proof.len() + 2,
    );
    msg.extend_from_slice(client_first_bare);
    msg.push(b',');
    msg.extend_from_slice(server_first);
    msg.push(b',');
    msg.extend_from_slice(final_without_proof);
    msg
}

/// Refuse empty, oversized and NUL-containing messages, as PostgreSQL does
/// (it treats SCRAM messages as C strings).
fn check_message(data: &[u8]) -> Result<(), ScramError> {
    if data.is_empty() {
        return Err(ScramError::Malformed("the message is empty"));
    }
    if data.len() > MAX_MESSAGE {
        return Err(ScramError::Malformed("the message is too long"));
    }
    if data.contains(&0) {
        return Err(ScramError::Malformed("the message contains a NUL byte"));
    }
    Ok(())
}

fn b64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64_decode(data: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

/// Base64 of 32 bytes expected: a proof, a signature or a key.
fn b64_decode_32(data: &[u8]) -> Option<[u8; 32]> {
    b64_decode(data)?.try_into().ok()
}
