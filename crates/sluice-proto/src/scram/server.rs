//! The server side of one SCRAM-SHA-256 exchange with a client.
//!
//! Follows PostgreSQL's `auth-scram.c`: the same checks in the same order,
//! the same tolerance (either `n,,` or `y,,`, extensions ignored), and for
//! unknown users a mock exchange that looks identical on the wire and fails
//! only at the proof, so user names cannot be probed.

use subtle::ConstantTimeEq;

use super::attr::{is_printable_nonce, Attrs};
use super::{
    auth_message, b64_decode_32, b64_encode, check_message, hmac, sha256, xor_into, ScramError,
    ScramSecret, DEFAULT_ITERATIONS, RAW_NONCE_LEN,
};

/// Salt length of a mock secret, as PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`.
const MOCK_SALT_LEN: usize = 16;

/// `base64("n,,")` and `base64("y,,")`: the only channel-binding attributes
/// possible without channel binding and without an authorization identity.
const CBIND_N: &[u8] = b"biws";
const CBIND_Y: &[u8] = b"eSws";

enum State {
    /// Waiting for client-first-message.
    Initial,
    /// Waiting for client-final-message.
    SentFirst {
        client_first_bare: Vec<u8>,
        server_first: Vec<u8>,
        nonce: Vec<u8>,
    },
    /// Finished or failed; every further call is out of order.
    Done,
}

/// The server side of one exchange. Feed it the client's two messages.
pub struct ScramServer {
    secret: ScramSecret,
    /// base64 of the caller's random bytes.
    server_nonce: String,
    /// A mock exchange for an unknown user: always ends in InvalidProof.
    doomed: bool,
    state: State,
}

impl ScramServer {
    /// Start an exchange against `secret`. `server_nonce_raw` must be fresh
    /// random bytes for every exchange.
    pub fn new(secret: ScramSecret, server_nonce_raw: [u8; RAW_NONCE_LEN]) -> Self {
        Self::with_nonce(secret, b64_encode(&server_nonce_raw), false)
    }

    /// Start a mock exchange for a user that does not exist (or has no SCRAM
    /// secret). The salt is derived from `username` and the per-process
    /// `mock_seed`, as PostgreSQL does, so repeated attempts see the same
    /// salt as they would for a real user; the exchange ends in
    /// [`ScramError::InvalidProof`] whatever the client sends.
    pub fn mock(username: &str, mock_seed: &[u8], server_nonce_raw: [u8; RAW_NONCE_LEN]) -> Self {
        let mut seeded = Vec::with_capacity(username.len() + mock_seed.len());
        seeded.extend_from_slice(username.as_bytes());
        seeded.extend_from_slice(mock_seed);
        let digest = sha256(&seeded);
        let secret = ScramSecret {
            iterations: DEFAULT_ITERATIONS,
            salt: digest[..MOCK_SALT_LEN].to_vec(),
            // Never consulted for success: `doomed` decides. The proof is
            // still checked against them so a mock costs what a real one does.
            stored_key: [0; 32],
            server_key: [0; 32],
        };
        Self::with_nonce(secret, b64_encode(&server_nonce_raw), true)
    }

    /// Constructor with a ready-made nonce, for the RFC 7677 known-answer test.
    pub(super) fn with_nonce(secret: ScramSecret, server_nonce: String, doomed: bool) -> Self {
        ScramServer {
            secret,
            server_nonce,
            doomed,
            state: State::Initial,
        }
    }

    /// Take the client-first-message (the data of SASLInitialResponse) and
    /// return the server-first-message to send in AuthenticationSASLContinue.
    pub fn client_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::Initial) {
            return Err(ScramError::OutOfOrder);
        }
        // Any failure ends the exchange.
        self.state = State::Done;
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        match attrs.raw("missing channel-binding flag")? {
            b"n" | b"y" => {}
            flag if flag.starts_with(b"p=") => return Err(ScramError::UnsupportedChannelBinding),
            _ => return Err(ScramError::Malformed("unexpected channel-binding flag")),
        }
        if !attrs
            .raw("missing authorization identity field")?
            .is_empty()
        {
            return Err(ScramError::Malformed(
                "authorization identity is not supported",
            ));
        }
        // The gs2 header is exactly "n,," or "y,,": the bare message follows.
        let client_first_bare = data.get(3..).unwrap_or_default();
        let first = attrs.next_attr("missing user name")?;
        if first.name == b'm' {
            return Err(ScramError::Malformed(
                "client requires an unsupported SCRAM extension",
            ));
        }
        if first.name != b'n' {
            return Err(ScramError::Malformed("missing user name"));
        }
        // The user name is ignored, as PostgreSQL ignores it: the role was
        // fixed by the startup packet.
        let client_nonce = attrs.expect(b'r', "missing client nonce")?;
        if !is_printable_nonce(client_nonce) {
            return Err(ScramError::Malformed(
                "non-printable characters in SCRAM nonce",
            ));
        }
        while !attrs.is_empty() {
            attrs.next_attr("malformed extension")?;
        }

        let mut nonce = client_nonce.to_vec();
        nonce.extend_from_slice(self.server_nonce.as_bytes());
        let mut server_first = b"r=".to_vec();
        server_first.extend_from_slice(&nonce);
        server_first.extend_from_slice(b",s=");
        server_first.extend_from_slice(b64_encode(&self.secret.salt).as_bytes());
        server_first.extend_from_slice(format!(",i={}", self.secret.iterations).as_bytes());

        self.state = State::SentFirst {
            client_first_bare: client_first_bare.to_vec(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first)
    }

    /// Take the client-final-message (the data of SASLResponse). On success
    /// return the server-final-message (`v=…`, for AuthenticationSASLFinal)
    /// and the ClientKey recovered from the proof, which pass-through uses
    /// to log in to the real server.
    pub fn client_final(&mut self, data: &[u8]) -> Result<(Vec<u8>, [u8; 32]), ScramError> {
        let State::SentFirst {
            client_first_bare,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        let cbind = attrs.expect(b'c', "missing channel-binding attribute")?;
        if cbind != CBIND_N && cbind != CBIND_Y {
            if super::b64_decode(cbind).is_some_and(|h| h.starts_with(b"p=")) {
                return Err(ScramError::UnsupportedChannelBinding);
            }
            return Err(ScramError::Malformed(
                "unexpected channel-binding attribute",
            ));
        }
        if attrs.expect(b'r', "missing nonce")? != nonce.as_slice() {
            return Err(ScramError::NonceMismatch);
        }
        // Extensions are skipped until the proof, which must come last.
        let proof_attr = loop {
            let attr = attrs.next_attr("missing proof")?;
            if attr.name == b'p' {
                break attr;
            }
        };
        if !attrs.is_empty() {
            return Err(ScramError::Malformed(
                "garbage at the end of client-final-message",
            ));
        }
        let proof = b64_decode_32(proof_attr.value).ok_or(ScramError::Malformed(
            "malformed proof in client-final-message",
        ))?;
        // Everything before ",p=".
        let without_proof = data
            .get(..proof_attr.start.saturating_sub(1))
            .unwrap_or_default();

        let auth = auth_message(&client_first_bare, &server_first, without_proof);
        let mut client_key = proof;
        xor_into(&mut client_key, &hmac(&self.secret.stored_key, &[&auth]));
        let matches = sha256(&client_key).ct_eq(&self.secret.stored_key);
        if self.doomed || !bool::from(matches) {
            return Err(ScramError::InvalidProof);
        }
        let signature = hmac(&self.secret.server_key, &[&auth]);
        let mut server_final = b"v=".to_vec();
        server_final.extend_from_slice(b64_encode(&signature).as_bytes());
        Ok((server_final, client_key))
    }
}
