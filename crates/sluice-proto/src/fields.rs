//! Decoding of the few message bodies Sluice must look into.
//!
//! Most traffic is relayed by header only. These parsers cover what Sluice
//! has to understand: parameters the server reports (to keep clients'
//! settings apart), errors (to tell the client why a login failed), the
//! client's authentication replies, and admin-console queries. Each one
//! accounts for every byte of the body: trailing garbage is an error, since
//! a message that means two things to two readers is how smuggling starts.

use crate::tags::field;
use crate::wire::take_i32;
use crate::ProtoError;

/// Split a NUL-terminated UTF-8 string off the front of `body`, returning
/// the string and the bytes after its terminator.
pub fn parse_cstring(body: &[u8]) -> Result<(&str, &[u8]), ProtoError> {
    let (raw, rest) = split_cbytes(body)?;
    let s =
        std::str::from_utf8(raw).map_err(|_| ProtoError::Malformed("invalid UTF-8 in string"))?;
    Ok((s, rest))
}

/// Like [`parse_cstring`] without the UTF-8 check.
fn split_cbytes(body: &[u8]) -> Result<(&[u8], &[u8]), ProtoError> {
    match body.iter().position(|b| *b == 0) {
        Some(nul) => Ok((&body[..nul], &body[nul + 1..])),
        None => Err(ProtoError::Malformed("unterminated string")),
    }
}

/// A body that is exactly one string.
fn single_cstring(body: &[u8]) -> Result<&str, ProtoError> {
    let (s, rest) = parse_cstring(body)?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed("trailing bytes after string"));
    }
    Ok(s)
}

/// ParameterStatus (`S` from the server): `(name, value)`.
pub fn parse_parameter_status(body: &[u8]) -> Result<(&str, &str), ProtoError> {
    let (name, rest) = parse_cstring(body)?;
    let value = single_cstring(rest)?;
    Ok((name, value))
}

/// The fields of an ErrorResponse or NoticeResponse Sluice looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// The non-localized severity (`V`) if sent, else the localized one (`S`).
    pub severity: Option<&'a str>,
    /// SQLSTATE (`C`).
    pub code: Option<&'a str>,
    /// Primary message (`M`).
    pub message: Option<&'a str>,
}

/// Decode an ErrorResponse/NoticeResponse body (`E`/`N`).
///
/// Fields not sent stay `None`. A field whose text is not UTF-8 is also
/// `None` rather than an error: a server may send its messages in a
/// non-UTF-8 client_encoding, and that must not turn its error into a
/// protocol violation. The layout itself (code byte, string, final NUL as
/// the last byte) must be right.
pub fn parse_error_fields(body: &[u8]) -> Result<ErrorFields<'_>, ProtoError> {
    let mut fields = ErrorFields::default();
    let mut localized_severity = None;
    let mut rest = body;
    loop {
        let Some((&code, after_code)) = rest.split_first() else {
            return Err(ProtoError::Malformed("error fields without terminator"));
        };
        if code == 0 {
            if !after_code.is_empty() {
                return Err(ProtoError::Malformed("trailing bytes after error fields"));
            }
            break;
        }
        let (raw, after_value) = split_cbytes(after_code)?;
        let value = std::str::from_utf8(raw).ok();
        match code {
            field::SEVERITY_LOCALIZED => localized_severity = value,
            field::SEVERITY => fields.severity = value,
            field::CODE => fields.code = value,
            field::MESSAGE => fields.message = value,
            // Detail, hint, position, … are forwarded, not interpreted.
            _ => {}
        }
        rest = after_value;
    }
    if fields.severity.is_none() {
        fields.severity = localized_severity;
    }
    Ok(fields)
}

/// PasswordMessage (`p`) in cleartext or md5 authentication: the password
/// or the `md5…` response.
pub fn parse_password_message(body: &[u8]) -> Result<&str, ProtoError> {
    single_cstring(body)
}

/// SASLInitialResponse (`p`): mechanism name, then an int32 length and that
/// many bytes of data (-1 means no data, returned as empty).
pub fn parse_sasl_initial_response(body: &[u8]) -> Result<(&str, &[u8]), ProtoError> {
    let (mechanism, rest) = parse_cstring(body)?;
    let (len, data) = take_i32(rest, "SASLInitialResponse without data length")?;
    if len == -1 {
        if !data.is_empty() {
            return Err(ProtoError::Malformed(
                "SASLInitialResponse data after length -1",
            ));
        }
        return Ok((mechanism, &[]));
    }
    match usize::try_from(len) {
        Ok(n) if n == data.len() => Ok((mechanism, data)),
        _ => Err(ProtoError::Malformed(
            "SASLInitialResponse data length mismatch",
        )),
    }
}

/// Query (`Q` from the client): the SQL text.
pub fn parse_query(body: &[u8]) -> Result<&str, ProtoError> {
    single_cstring(body)
}

/// CommandComplete (`C` from the server): the command tag, e.g. `SELECT 1`.
pub fn parse_command_complete(body: &[u8]) -> Result<&str, ProtoError> {
    single_cstring(body)
}
