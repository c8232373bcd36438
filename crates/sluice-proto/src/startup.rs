//! The first packet of a connection: SSLRequest, GSSENCRequest,
//! CancelRequest or StartupMessage.
//!
//! These packets have no type byte (just an int32 length that counts itself,
//! then an int32 code), so they need their own decoder. This is the first
//! thing an unauthenticated peer controls, so the declared length is checked
//! against [`MAX_STARTUP_PACKET`] before waiting for (or buffering) the body,
//! and the parameter list is held to PostgreSQL's layout exactly.

use bytes::{Buf, BufMut, BytesMut};

use crate::wire::peek_u32;
use crate::ProtoError;

/// Largest startup packet accepted, as PostgreSQL's
/// `MAX_STARTUP_PACKET_LENGTH` (here counting the length word too).
pub const MAX_STARTUP_PACKET: usize = 10_000;

/// Request codes that take the place of a protocol version.
const CANCEL_REQUEST_CODE: u32 = 80_877_102;
const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;

/// The key a client presents in a CancelRequest (BackendKeyData).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelKey {
    pub pid: i32,
    pub secret: i32,
}

/// A protocol-3 StartupMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupMessage {
    pub major: u16,
    /// Kept as sent: a client asking for 3.2 gets NegotiateProtocolVersion.
    pub minor: u16,
    /// Name/value pairs in the order sent; names are unique.
    pub params: Vec<(String, String)>,
}

impl StartupMessage {
    /// The value of parameter `key`, if sent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Names starting with `_pq_.` (protocol options), which Sluice does not
    /// support and must list in NegotiateProtocolVersion.
    pub fn protocol_options(&self) -> Vec<&str> {
        self.params
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.starts_with("_pq_."))
            .collect()
    }
}

/// Any packet a client may open a connection with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel(CancelKey),
    Startup(StartupMessage),
}

/// Decode one startup packet from the front of `buf`.
///
/// `Ok(None)` means more bytes are needed and nothing was consumed. On
/// `Ok(Some)` the packet's bytes are consumed. The declared length is checked
/// as soon as its four bytes are present, so an oversized claim fails at once
/// instead of making the caller wait for (and buffer) the body.
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtoError> {
    let Some(declared) = peek_u32(buf) else {
        return Ok(None);
    };
    // u32 -> usize is lossless on every platform Sluice supports; on a 16-bit
    // target the saturation still yields TooLong.
    let len = usize::try_from(declared).unwrap_or(usize::MAX);
    if len > MAX_STARTUP_PACKET {
        return Err(ProtoError::TooLong {
            len,
            max: MAX_STARTUP_PACKET,
        });
    }
    if len < 8 {
        return Err(ProtoError::TooShort { len });
    }
    if buf.len() < len {
        return Ok(None);
    }
    let packet = parse_packet(&buf[4..len])?;
    buf.advance(len);
    Ok(Some(packet))
}

/// Parse a whole packet, `body` being everything after the length word.
fn parse_packet(body: &[u8]) -> Result<StartupPacket, ProtoError> {
    let Some((code, rest)) = body.split_first_chunk::<4>() else {
        return Err(ProtoError::Malformed("startup packet without a code"));
    };
    match u32::from_be_bytes(*code) {
        SSL_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::SslRequest),
        SSL_REQUEST_CODE => Err(ProtoError::Malformed("SSLRequest with a body")),
        GSSENC_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::GssEncRequest),
        GSSENC_REQUEST_CODE => Err(ProtoError::Malformed("GSSENCRequest with a body")),
        CANCEL_REQUEST_CODE => match rest {
            [p0, p1, p2, p3, s0, s1, s2, s3] => Ok(StartupPacket::Cancel(CancelKey {
                pid: i32::from_be_bytes([*p0, *p1, *p2, *p3]),
                secret: i32::from_be_bytes([*s0, *s1, *s2, *s3]),
            })),
            _ => Err(ProtoError::Malformed("CancelRequest of the wrong length")),
        },
        version => {
            // The shifts cannot lose bits: each half fits in 16 bits.
            let major = (version >> 16) as u16;
            let minor = (version & 0xffff) as u16;
            if major != 3 {
                return Err(ProtoError::UnsupportedVersion { major, minor });
            }
            Ok(StartupPacket::Startup(StartupMessage {
                major,
                minor,
                params: parse_params(rest)?,
            }))
        }
    }
}

/// Parse `name\0value\0 … \0`: the list must end with an empty name that is
/// the packet's last byte, as PostgreSQL requires.
///
/// Duplicate names are refused: PostgreSQL lets the last one win while other
/// tools may take the first, and a pooler that reads `user` differently
/// from the server it forwards to would authenticate the wrong role.
fn parse_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, ProtoError> {
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        let (name, after_name) = split_cstr(rest, "startup parameter name")?;
        if name.is_empty() {
            if !after_name.is_empty() {
                return Err(ProtoError::Malformed(
                    "invalid startup packet layout: expected terminator as last byte",
                ));
            }
            return Ok(params);
        }
        let (value, after_value) = split_cstr(after_name, "startup parameter value")?;
        if params.iter().any(|(k, _)| k == name) {
            return Err(ProtoError::Malformed("duplicate startup parameter"));
        }
        params.push((name.to_string(), value.to_string()));
        rest = after_value;
    }
}

/// Split a NUL-terminated UTF-8 string off the front of `buf`.
fn split_cstr<'a>(buf: &'a [u8], what: &'static str) -> Result<(&'a str, &'a [u8]), ProtoError> {
    let Some(nul) = buf.iter().position(|b| *b == 0) else {
        return Err(ProtoError::Malformed(
            "invalid startup packet layout: expected terminator as last byte",
        ));
    };
    let s = std::str::from_utf8(&buf[..nul]).map_err(|_| ProtoError::Malformed(what))?;
    Ok((s, &buf[nul + 1..]))
}

/// Write a protocol 3.0 StartupMessage with `params`.
pub fn encode_startup_message(params: &[(&str, &str)], buf: &mut BytesMut) {
    encode_startup_message_version(3, 0, params, buf);
}

/// Write a StartupMessage asking for protocol `major.minor` (tests of version
/// negotiation need versions other than 3.0).
pub fn encode_startup_message_version(
    major: u16,
    minor: u16,
    params: &[(&str, &str)],
    buf: &mut BytesMut,
) {
    let start = buf.len();
    buf.put_i32(0);
    buf.put_u32(u32::from(major) << 16 | u32::from(minor));
    for (name, value) in params {
        crate::wire::put_cstr(buf, name);
        crate::wire::put_cstr(buf, value);
    }
    buf.put_u8(0);
    let len = i32::try_from(buf.len() - start).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Write an SSLRequest.
pub fn encode_ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_u32(SSL_REQUEST_CODE);
}

/// Write a GSSENCRequest.
pub fn encode_gssenc_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_u32(GSSENC_REQUEST_CODE);
}

/// Write a CancelRequest for `key`.
pub fn encode_cancel_request(key: CancelKey, buf: &mut BytesMut) {
    buf.put_i32(16);
    buf.put_u32(CANCEL_REQUEST_CODE);
    buf.put_i32(key.pid);
    buf.put_i32(key.secret);
}
