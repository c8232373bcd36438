//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802 / RFC 7677 / RFC 5929)
//! as PostgreSQL speaks them.
//!
//! Sluice authenticates clients itself, so it needs the server side of
//! SCRAM ([`ScramServer`]) working from the same stored secret PostgreSQL
//! keeps in `pg_authid` ([`ScramSecret`]). A successful exchange also yields
//! the client's ClientKey, and with it plus the secret's ServerKey Sluice
//! can log in to the real server as that user without ever knowing the
//! password ([`ScramKeyClient`]) — the "pass-through" PgBouncer also does.
//!
//! Channel binding is `tls-server-end-point` only, as in PostgreSQL: the
//! binding data is a hash of the TLS server certificate, computed by the
//! caller (it owns the TLS stack) and handed in per connection. Each leg
//! binds to its own channel: on the client leg Sluice is the TLS server and
//! binds to its own certificate; on the server leg it binds to the
//! backend's. The server side offers SCRAM-SHA-256-PLUS only when given
//! binding data, and then refuses the `y` flag (a client that could bind
//! but was told it could not: a stripped mechanism list) just as PostgreSQL
//! does over TLS. Without binding data it behaves as PostgreSQL without TLS:
//! `n,,` and `y,,` are accepted and `p=` is refused. The client side picks
//! `p`, `y` or `n` from what it has and what the server offered
//! ([`ClientChannelBinding`]). Nonces come from the caller so this crate
//! stays deterministic and testable.

mod attr;
mod client;
mod secret;
mod server;
#[cfg(test)]
mod tests;

pub use client::{ClientChannelBinding, ScramKeyClient};
pub use secret::ScramSecret;
pub use server::ScramServer;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::SqlState;

/// The mechanism name in AuthenticationSASL / SASLInitialResponse.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// The channel-binding variant's mechanism name.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// The only channel-binding type PostgreSQL supports (and so Sluice):
/// `tls-unique` is undefined for TLS 1.3 and needs TLS internals.
const CBIND_TYPE: &[u8] = b"tls-server-end-point";

/// The gs2 header of a bound exchange. Always this exact text, because an
/// authorization identity is refused: `c=` is its base64 with the binding
/// data appended.
const GS2_HEADER_PLUS: &[u8] = b"p=tls-server-end-point,,";

/// Iterations used for mock exchanges and by PostgreSQL's default secrets.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Length of a raw nonce before base64 (PostgreSQL's `SCRAM_RAW_NONCE_LEN`).
pub const RAW_NONCE_LEN: usize = 18;

/// Longest SCRAM message accepted in either direction. Real ones are about
/// 100 bytes; the cap bounds what an exchange keeps for its AuthMessage.
const MAX_MESSAGE: usize = 8192;

/// Why a SCRAM exchange failed.
///
/// Texts are PostgreSQL's (`auth-scram.c`) where it has the condition;
/// where PostgreSQL sends an errmsg plus an errdetail, the text is
/// `errmsg: errdetail`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// The message does not follow the SCRAM grammar; the text says where.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// SASLInitialResponse named a mechanism that was not offered: not
    /// SCRAM at all, or SCRAM-SHA-256-PLUS without binding data.
    #[error("client selected an invalid SASL authentication mechanism")]
    InvalidMechanism,
    /// The client chose plain SCRAM-SHA-256 but sent channel binding
    /// (`p=` in the gs2 header, or binding data in `c=`).
    #[error(
        "malformed SCRAM message: The client selected SCRAM-SHA-256 without channel binding, \
         but the SCRAM message includes channel binding data."
    )]
    UnsupportedChannelBinding,
    /// The client chose SCRAM-SHA-256-PLUS but its gs2 header is `n` or `y`.
    #[error(
        "malformed SCRAM message: The client selected SCRAM-SHA-256-PLUS, \
         but the SCRAM message does not include channel binding data."
    )]
    ChannelBindingRequired,
    /// `p=` named a type other than `tls-server-end-point` (the name is
    /// sanitized as PostgreSQL does: at most 30 characters, non-printable
    /// ones as `?`).
    #[error("unsupported SCRAM channel-binding type \"{0}\"")]
    UnsupportedChannelBindingType(String),
    /// The client sent `y` (it could bind but believes the server cannot)
    /// while SCRAM-SHA-256-PLUS was offered: something between us removed
    /// PLUS from the mechanism list, so the exchange must not go on.
    #[error(
        "SCRAM channel binding negotiation error: The client supports SCRAM channel binding \
         but thinks the server does not.  However, this server does support channel binding."
    )]
    ChannelBindingNegotiation,
    /// The binding data in `c=` is not the hash of our certificate: the
    /// client's TLS peer is not us (a man in the middle), or it hashed
    /// another way.
    #[error("SCRAM channel binding check failed")]
    ChannelBindingMismatch,
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
    /// The SQLSTATE to report to a client, PostgreSQL's for each case: a
    /// wrong proof is a failed password check; the two channel-binding
    /// failures that are about *who* is on the other end (a downgrade, a
    /// foreign certificate) are 28000, as PostgreSQL reports them;
    /// everything else is a protocol violation.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            ScramError::InvalidProof => SqlState::INVALID_PASSWORD,
            ScramError::ChannelBindingNegotiation | ScramError::ChannelBindingMismatch => {
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            }
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

/// The `c=` value of a bound exchange: base64 of the gs2 header followed by
/// the binding data (RFC 5802 §7, `cbind-input`).
fn bound_cbind(binding: &[u8]) -> String {
    let mut input = Vec::with_capacity(GS2_HEADER_PLUS.len() + binding.len());
    input.extend_from_slice(GS2_HEADER_PLUS);
    input.extend_from_slice(binding);
    b64_encode(&input)
}
