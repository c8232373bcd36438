//! Low-level helpers shared by the readers and writers of this crate.
//!
//! Kept in one place so that every reader bounds-checks the same way and
//! every writer frames messages the same way (tag, back-patched length).

use bytes::{BufMut, BytesMut};

use crate::ProtoError;

/// Append one message: `tag`, a length placeholder, whatever `body` writes,
/// then back-patch the length (which counts itself but not the tag).
pub(crate) fn write_message(buf: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(tag);
    let len_at = buf.len();
    buf.put_i32(0);
    body(buf);
    // Messages Sluice builds are tiny; PostgreSQL itself refuses anything
    // over 1 GB. Saturating keeps this panic-free should that ever change.
    let len = i32::try_from(buf.len() - len_at).unwrap_or(i32::MAX);
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Append `s` as a NUL-terminated string.
///
/// An embedded NUL would end the string early and turn the rest into
/// garbage fields on the client's side, so NUL bytes are dropped. Strings
/// from the wire cannot contain them anyway; this guards text Sluice builds.
pub(crate) fn put_cstr(buf: &mut BytesMut, s: &str) {
    if s.as_bytes().contains(&0) {
        buf.extend(s.bytes().filter(|b| *b != 0));
    } else {
        buf.put_slice(s.as_bytes());
    }
    buf.put_u8(0);
}

/// Read a big-endian i32 at the front of `buf`, returning it and the rest.
pub(crate) fn take_i32<'a>(
    buf: &'a [u8],
    what: &'static str,
) -> Result<(i32, &'a [u8]), ProtoError> {
    match buf.split_first_chunk::<4>() {
        Some((bytes, rest)) => Ok((i32::from_be_bytes(*bytes), rest)),
        None => Err(ProtoError::Malformed(what)),
    }
}

/// Read a big-endian u32 from the first four bytes, if there are four.
pub(crate) fn peek_u32(buf: &[u8]) -> Option<u32> {
    buf.first_chunk::<4>().map(|b| u32::from_be_bytes(*b))
}
