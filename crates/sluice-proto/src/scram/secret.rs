//! The stored SCRAM secret, in PostgreSQL's `rolpassword` text form.
//!
//! Userlists and `auth_query` results carry secrets as
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`; Sluice must
//! read them exactly as PostgreSQL writes them, and derive the same thing
//! from a plain-text password so that either kind of entry can serve a
//! SCRAM login.

use std::fmt;

use super::{b64_decode, b64_decode_32, b64_encode, client_key, hi, server_key, sha256};

const PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed SCRAM-SHA-256 secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramSecret {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl ScramSecret {
    /// Parse `SCRAM-SHA-256$<iter>:<base64 salt>$<base64 StoredKey>:<base64
    /// ServerKey>`. `None` if the text is not exactly that shape (then it is
    /// some other kind of password entry).
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(PREFIX)?;
        let (iter_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iter_salt.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        // u32::from_str would also take a leading '+'.
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let iterations: u32 = iterations.parse().ok().filter(|i| *i > 0)?;
        let salt = b64_decode(salt.as_bytes()).filter(|s| !s.is_empty())?;
        Some(ScramSecret {
            iterations,
            salt,
            stored_key: b64_decode_32(stored_key.as_bytes())?,
            server_key: b64_decode_32(server_key.as_bytes())?,
        })
    }

    /// Derive the secret PostgreSQL would store for `password` with this
    /// salt and iteration count (an iteration count of 0 is taken as 1).
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Self {
        let iterations = iterations.max(1);
        let salted = hi(&normalize(password), salt, iterations);
        let client_key = client_key(&salted);
        ScramSecret {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: server_key(&salted),
        }
    }
}

impl fmt::Display for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            b64_encode(&self.salt),
            b64_encode(&self.stored_key),
            b64_encode(&self.server_key)
        )
    }
}

/// SASLprep the password as PostgreSQL does: if it contains characters
/// SASLprep prohibits, PostgreSQL hashes the raw bytes instead of failing,
/// and so must we or such passwords would never match.
pub(super) fn normalize(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}
