//! MD5 password authentication, server side.
//!
//! Many existing PgBouncer userlists and `pg_authid` rows still hold
//! `md5…` secrets, and some servers still ask for md5, so Sluice must both
//! verify a client's md5 response and compute one from a stored secret. The
//! stored secret is itself password-equivalent for this method: knowing
//! `md5(password || user)` is enough to answer any salt.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Length of the hex digest in a secret or response.
const HEX_LEN: usize = 32;

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    let digest: [u8; 16] = hasher.finalize().into();
    let mut out = String::with_capacity(HEX_LEN);
    for byte in digest {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `"md5" + hex(md5(password || user))`: the `pg_authid` / userlist form.
pub fn md5_secret(user: &str, password: &str) -> String {
    format!("md5{}", md5_hex(&[password.as_bytes(), user.as_bytes()]))
}

/// The 32 lowercase hex digits of a well-formed `md5…` secret.
fn secret_hex(secret: &str) -> Option<String> {
    let hex = secret.strip_prefix("md5")?;
    if hex.len() != HEX_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Clients hash the lowercase text, so an uppercase secret must be
    // lowered first or it could never match.
    Some(hex.to_ascii_lowercase())
}

/// What a client sends for AuthenticationMD5Password:
/// `"md5" + hex(md5(hex_part_of_secret || salt))`. `None` if `secret` is not
/// `md5` followed by 32 hex digits.
pub fn md5_response_from_secret(secret: &str, salt: [u8; 4]) -> Option<String> {
    let hex = secret_hex(secret)?;
    Some(format!("md5{}", md5_hex(&[hex.as_bytes(), &salt])))
}

/// Check a client's md5 response against a stored md5 secret, in constant
/// time. A plain-text password must first be turned into a secret with
/// [`md5_secret`] (that needs the user name); anything that is not an md5
/// secret never matches.
pub fn verify_md5_response(stored_md5_secret: &str, salt: [u8; 4], response: &str) -> bool {
    let Some(expected) = md5_response_from_secret(stored_md5_secret, salt) else {
        return false;
    };
    // Slices of different lengths compare unequal; the length of an md5
    // response is public anyway.
    bool::from(expected.as_bytes().ct_eq(response.as_bytes()))
}
