//! The client side of SCRAM for pass-through: log in to a PostgreSQL server
//! as a user whose password Sluice does not know.
//!
//! A SCRAM proof is `ClientKey XOR HMAC(StoredKey, AuthMessage)`, and
//! `StoredKey = H(ClientKey)`, so the ClientKey recovered from a client's
//! successful proof is enough to build a valid proof for any other exchange
//! with a server holding the same secret. The ServerKey from the stored
//! secret lets us check that server in turn.

use postgres_protocol::authentication::sasl::ChannelBinding;
use subtle::ConstantTimeEq;

use super::attr::{is_printable_nonce, Attrs};
use super::{
    auth_message, b64_decode, b64_decode_32, b64_encode, bound_cbind, check_message, hmac, sha256,
    xor_into, ScramError, GS2_HEADER_PLUS, RAW_NONCE_LEN, SCRAM_SHA_256, SCRAM_SHA_256_PLUS,
};

/// What the client side does about channel binding on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientChannelBinding {
    /// `n,,`: no TLS, or a certificate whose hash cannot be computed.
    Unsupported,
    /// `y,,`: we could bind but the server did not offer PLUS. A server
    /// that did offer it refuses this, which catches a stripped offer.
    Unrequested,
    /// `p=tls-server-end-point,,` with SCRAM-SHA-256-PLUS; the data is the
    /// `tls-server-end-point` hash of the server's certificate.
    TlsServerEndPoint(Vec<u8>),
}

impl ClientChannelBinding {
    /// Decide from the binding data of our TLS connection to the server
    /// (`None` without TLS or without a usable certificate hash; empty data
    /// counts as none) and whether its AuthenticationSASL listed
    /// SCRAM-SHA-256-PLUS.
    pub fn choose(binding: Option<Vec<u8>>, plus_offered: bool) -> Self {
        match binding.filter(|b| !b.is_empty()) {
            Some(data) if plus_offered => ClientChannelBinding::TlsServerEndPoint(data),
            Some(_) => ClientChannelBinding::Unrequested,
            None => ClientChannelBinding::Unsupported,
        }
    }

    /// The mechanism to name in SASLInitialResponse.
    pub fn mechanism(&self) -> &'static str {
        match self {
            ClientChannelBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            _ => SCRAM_SHA_256,
        }
    }

    /// The same decision for postgres-protocol's password client, so both
    /// ways of logging in bind alike.
    pub fn postgres_protocol(&self) -> ChannelBinding {
        match self {
            ClientChannelBinding::Unsupported => ChannelBinding::unsupported(),
            ClientChannelBinding::Unrequested => ChannelBinding::unrequested(),
            ClientChannelBinding::TlsServerEndPoint(data) => {
                ChannelBinding::tls_server_end_point(data.clone())
            }
        }
    }

    fn gs2_header(&self) -> &'static [u8] {
        match self {
            ClientChannelBinding::Unsupported => b"n,,",
            ClientChannelBinding::Unrequested => b"y,,",
            ClientChannelBinding::TlsServerEndPoint(_) => GS2_HEADER_PLUS,
        }
    }

    /// The `c=` value: base64 of the gs2 header, plus the data if bound.
    fn cbind(&self) -> String {
        match self {
            ClientChannelBinding::TlsServerEndPoint(data) => bound_cbind(data),
            other => b64_encode(other.gs2_header()),
        }
    }
}

/// Client side of one exchange, authenticating with keys instead of a
/// password.
pub struct ScramKeyClient {
    client_key: [u8; 32],
    server_key: [u8; 32],
    client_nonce: String,
    binding: ClientChannelBinding,
    /// Set once the server-first-message has been answered.
    auth_message: Option<Vec<u8>>,
}

impl ScramKeyClient {
    /// `client_nonce_raw` must be fresh random bytes for every exchange.
    /// Without [`with_channel_binding`](Self::with_channel_binding) the
    /// exchange does not bind (`n,,`, SCRAM-SHA-256).
    pub fn new(
        client_key: [u8; 32],
        server_key: [u8; 32],
        client_nonce_raw: [u8; RAW_NONCE_LEN],
    ) -> Self {
        Self::with_nonce(client_key, server_key, b64_encode(&client_nonce_raw))
    }

    pub(super) fn with_nonce(
        client_key: [u8; 32],
        server_key: [u8; 32],
        client_nonce: String,
    ) -> Self {
        ScramKeyClient {
            client_key,
            server_key,
            client_nonce,
            binding: ClientChannelBinding::Unsupported,
            auth_message: None,
        }
    }

    /// Bind (or not) as `binding` says. Set it before
    /// [`client_first`](Self::client_first): the choice is in both messages.
    pub fn with_channel_binding(mut self, binding: ClientChannelBinding) -> Self {
        self.binding = binding;
        self
    }

    /// The mechanism to name in SASLInitialResponse with
    /// [`client_first`](Self::client_first).
    pub fn mechanism(&self) -> &'static str {
        self.binding.mechanism()
    }

    /// The user name is empty because PostgreSQL ignores it (the startup
    /// packet named the role).
    fn client_first_bare(&self) -> String {
        format!("n=,r={}", self.client_nonce)
    }

    /// The client-first-message, for SASLInitialResponse.
    pub fn client_first(&self) -> Vec<u8> {
        let mut message = self.binding.gs2_header().to_vec();
        message.extend_from_slice(self.client_first_bare().as_bytes());
        message
    }

    /// Take the server-first-message (AuthenticationSASLContinue data) and
    /// return the client-final-message with the proof, for SASLResponse.
    pub fn server_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        if self.auth_message.is_some() {
            return Err(ScramError::OutOfOrder);
        }
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        let first = attrs.next_attr("missing nonce")?;
        if first.name == b'm' {
            return Err(ScramError::Malformed(
                "server requires an unsupported SCRAM extension",
            ));
        }
        if first.name != b'r' {
            return Err(ScramError::Malformed("missing nonce"));
        }
        let nonce = first.value;
        // The server must extend our nonce, not replace or merely echo it.
        if nonce.len() <= self.client_nonce.len()
            || !nonce.starts_with(self.client_nonce.as_bytes())
            || !is_printable_nonce(nonce)
        {
            return Err(ScramError::NonceMismatch);
        }
        let salt = attrs.expect(b's', "missing salt")?;
        match b64_decode(salt) {
            Some(salt) if !salt.is_empty() => {}
            _ => return Err(ScramError::Malformed("invalid salt")),
        }
        let iterations = attrs.expect(b'i', "missing iteration count")?;
        if !valid_iterations(iterations) {
            return Err(ScramError::Malformed("invalid iteration count"));
        }
        if !attrs.is_empty() {
            return Err(ScramError::Malformed(
                "garbage at the end of server-first-message",
            ));
        }

        // The iteration count and salt only matter to someone deriving keys
        // from a password; we already hold the keys.
        let mut without_proof = format!("c={},r=", self.binding.cbind()).into_bytes();
        without_proof.extend_from_slice(nonce);
        let auth = auth_message(self.client_first_bare().as_bytes(), data, &without_proof);
        let stored_key = sha256(&self.client_key);
        let mut proof = self.client_key;
        xor_into(&mut proof, &hmac(&stored_key, &[&auth]));

        let mut client_final = without_proof;
        client_final.extend_from_slice(b",p=");
        client_final.extend_from_slice(b64_encode(&proof).as_bytes());
        self.auth_message = Some(auth);
        Ok(client_final)
    }

    /// Check the server-final-message (AuthenticationSASLFinal data): the
    /// server must prove it knows the ServerKey.
    pub fn server_final(&self, data: &[u8]) -> Result<(), ScramError> {
        let Some(auth) = &self.auth_message else {
            return Err(ScramError::OutOfOrder);
        };
        check_message(data)?;
        let mut attrs = Attrs::new(data);
        let attr = attrs.next_attr("missing verifier")?;
        match attr.name {
            b'e' => {
                let reason = String::from_utf8_lossy(attr.value);
                return Err(ScramError::ServerRejected(
                    reason.chars().take(200).collect(),
                ));
            }
            b'v' => {}
            _ => return Err(ScramError::Malformed("missing verifier")),
        }
        if !attrs.is_empty() {
            return Err(ScramError::Malformed(
                "garbage at the end of server-final-message",
            ));
        }
        let signature =
            b64_decode_32(attr.value).ok_or(ScramError::Malformed("malformed server signature"))?;
        let expected = hmac(&self.server_key, &[auth]);
        if bool::from(expected.ct_eq(&signature)) {
            Ok(())
        } else {
            Err(ScramError::InvalidServerSignature)
        }
    }
}

/// A positive decimal that fits PostgreSQL's int (the count is unused here,
/// but a server sending nonsense is not a server to trust).
fn valid_iterations(text: &[u8]) -> bool {
    !text.is_empty()
        && text.len() <= 10
        && text.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i32>().ok())
            .is_some_and(|i| i > 0)
}
