//! The server side of one SCRAM-SHA-256(-PLUS) exchange with a client.
//!
//! Follows PostgreSQL's `auth-scram.c`: the same checks in the same order,
//! the same channel-binding rules (PLUS needs `p=tls-server-end-point`,
//! plain SCRAM must not carry `p=`, `y` is a downgrade when PLUS was
//! offered), extensions ignored, and for unknown users a mock exchange that
//! looks identical on the wire — channel-binding checks included — and
//! fails only at the proof, so user names cannot be probed.

use subtle::ConstantTimeEq;

use super::attr::{is_printable_nonce, Attrs};
use super::{
    auth_message, b64_decode_32, b64_encode, bound_cbind, check_message, hmac, sha256, xor_into,
    ScramError, ScramSecret, CBIND_TYPE, DEFAULT_ITERATIONS, RAW_NONCE_LEN, SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS,
};

/// Salt length of a mock secret, as PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`.
const MOCK_SALT_LEN: usize = 16;

/// `base64("n,,")` and `base64("y,,")`: the only channel-binding attributes
/// possible without channel binding and without an authorization identity.
const CBIND_N: &[u8] = b"biws";
const CBIND_Y: &[u8] = b"eSws";

/// PostgreSQL's `sanitize_str` limit for a name quoted in an error.
const SANITIZED_LEN: usize = 30;

/// The gs2 channel-binding flag the client sent in its first message; the
/// final message's `c=` must repeat it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    /// `n`: the client cannot bind.
    N,
    /// `y`: the client could bind but thinks we cannot.
    Y,
    /// `p=tls-server-end-point`: the client binds.
    P,
}

enum State {
    /// Waiting for client-first-message.
    Initial,
    /// Waiting for client-final-message.
    SentFirst {
        client_first_bare: Vec<u8>,
        server_first: Vec<u8>,
        nonce: Vec<u8>,
        flag: Flag,
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
    /// `tls-server-end-point` data of the certificate this connection
    /// presented; `Some` means SCRAM-SHA-256-PLUS is offered.
    binding: Option<Vec<u8>>,
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
            binding: None,
            state: State::Initial,
        }
    }

    /// Offer SCRAM-SHA-256-PLUS on this connection, binding to `binding`:
    /// the `tls-server-end-point` hash of the certificate Sluice presented
    /// on it. `None` (no TLS, or a certificate whose signature algorithm
    /// gives no hash) offers plain SCRAM-SHA-256 only; so does empty data,
    /// which no certificate hash can be. Call it on mock exchanges exactly
    /// as on real ones, or an unknown user would answer differently.
    pub fn with_channel_binding(mut self, binding: Option<Vec<u8>>) -> Self {
        self.binding = binding.filter(|b| !b.is_empty());
        // The offer is part of what the client already saw; changing it
        // mid-exchange can only be a bug, so it ends the exchange.
        if !matches!(self.state, State::Initial) {
            self.state = State::Done;
        }
        self
    }

    /// The mechanisms to list in AuthenticationSASL, in PostgreSQL's order
    /// (PLUS first, so clients that take the first they know bind).
    pub fn mechanisms(&self) -> &'static [&'static str] {
        if self.binding.is_some() {
            &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        } else {
            &[SCRAM_SHA_256]
        }
    }

    /// [`client_first_for`](Self::client_first_for) with the client having
    /// chosen plain SCRAM-SHA-256.
    pub fn client_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        self.client_first_for(SCRAM_SHA_256, data)
    }

    /// Take the mechanism and client-first-message of SASLInitialResponse
    /// and return the server-first-message to send in
    /// AuthenticationSASLContinue. A mechanism not in
    /// [`mechanisms`](Self::mechanisms) is [`ScramError::InvalidMechanism`].
    pub fn client_first_for(
        &mut self,
        mechanism: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::Initial) {
            return Err(ScramError::OutOfOrder);
        }
        // Any failure ends the exchange.
        self.state = State::Done;
        let plus = match mechanism {
            SCRAM_SHA_256_PLUS if self.binding.is_some() => true,
            SCRAM_SHA_256 => false,
            _ => return Err(ScramError::InvalidMechanism),
        };
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        let flag_text = attrs.raw("missing channel-binding flag")?;
        let flag = self.gs2_flag(plus, flag_text)?;
        if !attrs
            .raw("missing authorization identity field")?
            .is_empty()
        {
            return Err(ScramError::Malformed(
                "authorization identity is not supported",
            ));
        }
        // The gs2 header is the flag and two commas (no authorization
        // identity): the bare message follows.
        let client_first_bare = data.get(flag_text.len() + 2..).unwrap_or_default();
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
            flag,
        };
        Ok(server_first)
    }

    /// Check the gs2 channel-binding flag against the chosen mechanism and
    /// what was offered, in PostgreSQL's order: the mechanism's demands
    /// first, then the downgrade check, then the binding type.
    fn gs2_flag(&self, plus: bool, flag: &[u8]) -> Result<Flag, ScramError> {
        match flag {
            b"n" | b"y" if plus => Err(ScramError::ChannelBindingRequired),
            b"n" => Ok(Flag::N),
            // The client could bind and believes we cannot, yet we offered
            // PLUS: the offer it saw was not ours.
            b"y" if self.binding.is_some() => Err(ScramError::ChannelBindingNegotiation),
            b"y" => Ok(Flag::Y),
            [b'p', ..] if !plus => Err(ScramError::UnsupportedChannelBinding),
            [b'p', b'=', name @ ..] if name == CBIND_TYPE => Ok(Flag::P),
            [b'p', b'=', name @ ..] => {
                Err(ScramError::UnsupportedChannelBindingType(sanitize(name)))
            }
            _ => Err(ScramError::Malformed("unexpected channel-binding flag")),
        }
    }

    /// Check `c=` of the client-final-message: it must be the base64 of
    /// the gs2 header the client sent first, plus our binding data if it
    /// binds. This is what makes the flag tamper-proof: `c=` is inside the
    /// signed AuthMessage, the first message's gs2 header is not.
    fn check_cbind(&self, flag: Flag, cbind: &[u8]) -> Result<(), ScramError> {
        let expected = match (flag, &self.binding) {
            (Flag::P, Some(binding)) => {
                return if cbind == bound_cbind(binding).as_bytes() {
                    Ok(())
                } else {
                    Err(ScramError::ChannelBindingMismatch)
                };
            }
            // Flag::P was only accepted with binding data; fail closed.
            (Flag::P, None) => return Err(ScramError::ChannelBindingMismatch),
            (Flag::N, _) => CBIND_N,
            (Flag::Y, _) => CBIND_Y,
        };
        if cbind == expected {
            return Ok(());
        }
        // Without PLUS offered, `n` and `y` mean the same to us (no binding
        // either way), so a client that says one first and the other in
        // `c=` is let through as before. With PLUS offered the swap is the
        // downgrade `y` -> `n` done to the first message in transit, and is
        // refused as PostgreSQL refuses any mismatch.
        if self.binding.is_none() && (cbind == CBIND_N || cbind == CBIND_Y) {
            return Ok(());
        }
        if super::b64_decode(cbind).is_some_and(|h| h.starts_with(b"p=")) {
            return Err(ScramError::UnsupportedChannelBinding);
        }
        Err(ScramError::Malformed(
            "unexpected channel-binding attribute",
        ))
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
            flag,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        let cbind = attrs.expect(b'c', "missing channel-binding attribute")?;
        // Checked before the proof, for mock exchanges too: a wrong binding
        // must fail the same way whether or not the user exists.
        self.check_cbind(flag, cbind)?;
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

/// A client-chosen name made safe to quote in an error, as PostgreSQL's
/// `sanitize_str`: the first 30 bytes, anything but printable ASCII as `?`.
fn sanitize(name: &[u8]) -> String {
    name.iter()
        .take(SANITIZED_LEN)
        .map(|b| {
            if (0x21..=0x7e).contains(b) {
                char::from(*b)
            } else {
                '?'
            }
        })
        .collect()
}
