//! Errors from decoding what a peer sent.
//!
//! One enum for every framing and layout problem, so that the session code
//! has a single path from "bad bytes" to the client's ErrorResponse: each
//! error knows its SQLSTATE and the text a client may see. The text never
//! echoes the offending bytes back, since they came from an untrusted peer.

use crate::startup::MAX_STARTUP_PACKET;
use crate::SqlState;

/// Something a peer sent does not follow the protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// Declared length (whole packet/message including the 4 length bytes)
    /// is larger than the cap the caller allows.
    #[error("declared length {len} exceeds the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    /// Declared length is smaller than the minimum (< 4 for a message,
    /// < 8 for a startup packet).
    #[error("declared length {len} is too short")]
    TooShort { len: usize },
    /// Malformed content; the text says what.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// StartupMessage with a protocol major version other than 3.
    #[error("unsupported frontend protocol {major}.{minor}")]
    UnsupportedVersion { major: u16, minor: u16 },
}

impl ProtoError {
    /// The SQLSTATE PostgreSQL uses for the same problem.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            ProtoError::UnsupportedVersion { .. } => SqlState::FEATURE_NOT_SUPPORTED,
            _ => SqlState::PROTOCOL_VIOLATION,
        }
    }

    /// The message text a client may see, worded as PostgreSQL words it.
    ///
    /// `ProtoError` does not record whether it came from a startup packet or
    /// a regular message, so the startup wording is chosen from the values:
    /// a cap equal to [`MAX_STARTUP_PACKET`], or a too-short length of 4..8
    /// (a regular message of that length is valid, so only a startup packet
    /// can be too short there).
    pub fn client_message(&self) -> String {
        match self {
            ProtoError::TooLong { max, .. } if *max == MAX_STARTUP_PACKET => {
                "invalid length of startup packet".to_string()
            }
            ProtoError::TooShort { len } if (4..8).contains(len) => {
                "invalid length of startup packet".to_string()
            }
            ProtoError::TooLong { .. } | ProtoError::TooShort { .. } => {
                "invalid message length".to_string()
            }
            ProtoError::Malformed(what) => format!("invalid message format: {what}"),
            ProtoError::UnsupportedVersion { major, minor } => {
                format!("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0")
            }
        }
    }
}
