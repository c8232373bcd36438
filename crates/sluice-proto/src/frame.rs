//! Framing of regular messages: a type byte, an int32 length that counts
//! itself, then the body. Used in both directions.
//!
//! The relay forwards most traffic by looking only at headers, so header
//! parsing is separate from splitting whole messages off a buffer. Both
//! refuse a declared length above the caller's cap before any body bytes are
//! awaited, which is what keeps a hostile length from costing memory.

use bytes::{Buf, Bytes, BytesMut};

use crate::wire::{peek_u32, write_message};
use crate::ProtoError;

/// Type byte plus length word.
pub const HEADER_LEN: usize = 5;

/// The five bytes in front of every regular message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// Body length, i.e. declared length - 4.
    pub body_len: usize,
}

impl Header {
    /// Bytes the whole message occupies: 1 + 4 + body_len.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }
}

/// Parse the header at the front of `buf`; `Ok(None)` if fewer than 5 bytes.
///
/// `max_len` caps the declared length (which counts the 4 length bytes but
/// not the tag). A declared length below 4 cannot describe any message.
pub fn parse_header(buf: &[u8], max_len: usize) -> Result<Option<Header>, ProtoError> {
    let (Some(&tag), Some(declared)) = (buf.first(), buf.get(1..).and_then(peek_u32)) else {
        return Ok(None);
    };
    let len = usize::try_from(declared).unwrap_or(usize::MAX);
    if len < 4 {
        return Err(ProtoError::TooShort { len });
    }
    if len > max_len {
        return Err(ProtoError::TooLong { len, max: max_len });
    }
    Ok(Some(Header {
        tag,
        body_len: len - 4,
    }))
}

/// One whole message, its body shared with the buffer it was split from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tag: u8,
    pub body: Bytes,
}

/// Split one whole message off the front of `buf`, or `Ok(None)` if it is
/// not complete yet (then `buf` is untouched).
pub fn split_message(buf: &mut BytesMut, max_len: usize) -> Result<Option<Message>, ProtoError> {
    let Some(header) = parse_header(buf, max_len)? else {
        return Ok(None);
    };
    if buf.len() < header.total_len() {
        return Ok(None);
    }
    let mut whole = buf.split_to(header.total_len());
    whole.advance(HEADER_LEN);
    Ok(Some(Message {
        tag: header.tag,
        body: whole.freeze(),
    }))
}

/// Append a message with type byte `tag` and `body`.
pub fn encode_message(tag: u8, body: &[u8], buf: &mut BytesMut) {
    write_message(buf, tag, |buf| buf.extend_from_slice(body));
}
