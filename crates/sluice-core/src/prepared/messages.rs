//! The few message bodies the statement layer reads and writes: Parse,
//! Bind, Describe and Close from the client, Sluice's own Parse/Close and
//! fake responses, the `C` field of an ErrorResponse, and a SQL
//! `DEALLOCATE` recognised in a query string.
//!
//! Readers work on borrowed bytes and never panic on hostile input: a
//! malformed body is a `ProtoError` (the client gets 08P01).

use bytes::{BufMut, BytesMut};
use sluice_proto::tags::{self, backend, frontend};
use sluice_proto::ProtoError;

/// Split a NUL-terminated byte string off the front of `body`.
pub fn split_cstr(body: &[u8]) -> Result<(&[u8], &[u8]), ProtoError> {
    match body.iter().position(|b| *b == 0) {
        Some(nul) => Ok((&body[..nul], &body[nul + 1..])),
        None => Err(ProtoError::Malformed("unterminated string")),
    }
}

/// A Parse body: statement name, then the key (query text, NUL,
/// parameter count, parameter type OIDs). The key is checked to be well
/// formed, since Sluice sends it again under its own name.
pub fn parse_parse(body: &[u8]) -> Result<(&[u8], &[u8]), ProtoError> {
    let (name, key) = split_cstr(body)?;
    let (_query, rest) = split_cstr(key)?;
    let count = rest
        .first_chunk::<2>()
        .map(|b| i16::from_be_bytes(*b))
        .ok_or(ProtoError::Malformed("Parse without parameter count"))?;
    let count = usize::try_from(count).map_err(|_| ProtoError::Malformed("Parse count"))?;
    if rest.len() != 2 + 4 * count {
        return Err(ProtoError::Malformed("Parse parameter types"));
    }
    Ok((name, key))
}

/// The two names at the front of a Bind body (portal, statement) and the
/// offset of what follows them.
pub fn parse_bind_names(body: &[u8]) -> Result<(&[u8], &[u8], usize), ProtoError> {
    let (portal, rest) = split_cstr(body)?;
    let (statement, rest) = split_cstr(rest)?;
    Ok((portal, statement, body.len() - rest.len()))
}

/// Describe or Close: the kind byte (`S` or `P`) and the name.
pub fn parse_target(body: &[u8]) -> Result<(u8, &[u8]), ProtoError> {
    let (&kind, rest) = body
        .split_first()
        .ok_or(ProtoError::Malformed("empty Describe/Close"))?;
    let (name, rest) = split_cstr(rest)?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed("trailing bytes after name"));
    }
    Ok((kind, name))
}

/// Append a message whose body is written by `body`, with its length.
fn message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let at = out.len();
    out.put_u32(0);
    body(out);
    // Bodies here are bounded by MAX_REWRITTEN_PARSE, far below u32::MAX.
    let len = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Parse of `key` (query, types) under `name`.
pub fn put_parse(out: &mut BytesMut, name: &[u8], key: &[u8]) {
    message(out, frontend::PARSE, |b| {
        b.put_slice(name);
        b.put_u8(0);
        b.put_slice(key);
    });
}

/// Close or Describe of statement `name`.
pub fn put_target(out: &mut BytesMut, tag: u8, kind: u8, name: &[u8]) {
    message(out, tag, |b| {
        b.put_u8(kind);
        b.put_slice(name);
        b.put_u8(0);
    });
}

/// A Bind header and its gathered prefix with the statement renamed; the
/// rest of the original body (`body_len - prefix.len()` bytes) follows
/// unchanged in the stream.
pub fn put_renamed_bind(
    out: &mut BytesMut,
    body_len: usize,
    prefix: &[u8],
    portal: &[u8],
    old_name_len: usize,
    new_name: &[u8],
    after_names: usize,
) {
    let new_body = body_len - old_name_len + new_name.len();
    out.put_u8(frontend::BIND);
    out.put_u32(u32::try_from(new_body + 4).unwrap_or(u32::MAX));
    out.put_slice(portal);
    out.put_u8(0);
    out.put_slice(new_name);
    out.put_u8(0);
    out.put_slice(&prefix[after_names..]);
}

/// A response with an empty body (ParseComplete `1`, CloseComplete `3`).
pub fn put_empty(out: &mut BytesMut, tag: u8) {
    out.put_u8(tag);
    out.put_u32(4);
}

/// CommandComplete with `tag`.
pub fn put_command_complete(out: &mut BytesMut, tag: &str) {
    message(out, backend::COMMAND_COMPLETE, |b| {
        b.put_slice(tag.as_bytes());
        b.put_u8(0);
    });
}

pub fn put_ready(out: &mut BytesMut, status: u8) {
    message(out, backend::READY_FOR_QUERY, |b| b.put_u8(status));
}

/// The SQLSTATE (`C` field) of an ErrorResponse body, if it is among the
/// bytes given (Postgres sends S, V, C first, so a prefix is enough).
pub fn error_code(body: &[u8]) -> Option<&[u8]> {
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            return None;
        }
        let (value, next) = split_cstr(after).ok()?;
        if field == tags::field::CODE {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// What a SQL `DEALLOCATE` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Deallocate {
    All,
    Name(Vec<u8>),
}

/// Skip ASCII whitespace.
fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// Strip a case-insensitive keyword followed by a word boundary.
fn keyword<'a>(s: &'a [u8], word: &str) -> Option<&'a [u8]> {
    let head = s.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word.as_bytes()) {
        return None;
    }
    let rest = &s[word.len()..];
    match rest.first() {
        Some(b) if b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$' => None,
        _ => Some(rest),
    }
}

/// Whether `seen` (the start of a query) may be a DEALLOCATE, so that the
/// whole query is worth gathering.
pub fn may_be_deallocate(seen: &[u8]) -> bool {
    let s = trim_start(seen);
    let n = s.len().min(10);
    s[..n].eq_ignore_ascii_case(&b"deallocate"[..n])
}

/// Whether `seen` may start a DISCARD (so the whole query is gathered).
pub fn may_be_discard(seen: &[u8]) -> bool {
    let s = trim_start(seen);
    let n = s.len().min(7);
    s[..n].eq_ignore_ascii_case(&b"discard"[..n])
}

/// A query that is exactly `DISCARD ALL` or `DEALLOCATE [PREPARE] ALL`:
/// it drops every prepared statement of the session.
pub fn is_reset_all(sql: &[u8]) -> bool {
    if parse_deallocate(sql) == Some(Deallocate::All) {
        return true;
    }
    let Some(s) = keyword(trim_start(sql), "discard") else {
        return false;
    };
    let Some(rest) = keyword(trim_start(s), "all") else {
        return false;
    };
    let rest = trim_start(rest);
    let rest = rest.strip_prefix(b";").unwrap_or(rest);
    let rest = trim_start(rest);
    rest.is_empty() || rest == [0]
}

/// Recognise a query that is exactly one `DEALLOCATE [PREPARE] name|ALL`
/// (optional `;`, surrounding whitespace). The name follows SQL rules:
/// unquoted names fold to lower case, quoted ones keep case and `""`.
pub fn parse_deallocate(sql: &[u8]) -> Option<Deallocate> {
    let s = trim_start(sql);
    let s = trim_start(keyword(s, "deallocate")?);
    let s = match keyword(s, "prepare") {
        Some(rest) => trim_start(rest),
        None => s,
    };
    let (target, rest) = if let Some(quoted) = s.strip_prefix(b"\"") {
        let mut name = Vec::new();
        let mut i = 0;
        loop {
            match (quoted.get(i), quoted.get(i + 1)) {
                (Some(b'"'), Some(b'"')) => {
                    name.push(b'"');
                    i += 2;
                }
                (Some(b'"'), _) => break,
                (Some(&c), _) => {
                    name.push(c);
                    i += 1;
                }
                (None, _) => return None,
            }
        }
        (Deallocate::Name(name), &quoted[i + 1..])
    } else {
        let n = s
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'$' || **b >= 0x80)
            .count();
        if n == 0 {
            return None;
        }
        let word = &s[..n];
        let target = if word.eq_ignore_ascii_case(b"all") {
            Deallocate::All
        } else {
            Deallocate::Name(word.to_ascii_lowercase())
        };
        (target, &s[n..])
    };
    let rest = trim_start(rest);
    let rest = rest.strip_prefix(b";").unwrap_or(rest);
    let rest = trim_start(rest);
    // A query string from the wire may carry its NUL terminator.
    if rest.is_empty() || rest == [0] {
        Some(target)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deallocate_forms() {
        let name = |s: &str| Some(Deallocate::Name(s.as_bytes().to_vec()));
        assert_eq!(parse_deallocate(b"DEALLOCATE foo"), name("foo"));
        assert_eq!(
            parse_deallocate(b"  deallocate prepare Foo ;\n"),
            name("foo")
        );
        assert_eq!(
            parse_deallocate(b"DEALLOCATE \"Mixed\"\"Q\""),
            name("Mixed\"Q")
        );
        assert_eq!(parse_deallocate(b"DEALLOCATE ALL"), Some(Deallocate::All));
        assert_eq!(
            parse_deallocate(b"deallocate prepare all;\0"),
            Some(Deallocate::All)
        );
        assert_eq!(parse_deallocate(b"DEALLOCATE foo; SELECT 1"), None);
        assert_eq!(parse_deallocate(b"DEALLOCATEfoo"), None);
        assert_eq!(parse_deallocate(b"DEALLOCATE \"open"), None);
        assert_eq!(parse_deallocate(b"SELECT 1"), None);
        assert!(may_be_deallocate(b"  dealloc"));
        assert!(may_be_deallocate(b"DEALLOCATE x"));
        assert!(!may_be_deallocate(b"select"));
        assert!(is_reset_all(b"discard all;\0"));
        assert!(is_reset_all(b"DEALLOCATE ALL"));
        assert!(!is_reset_all(b"DISCARD PLANS"));
        assert!(!is_reset_all(b"DISCARD ALL; SELECT 1"));
        assert!(may_be_discard(b" disc"));
    }

    #[test]
    fn parse_bodies() {
        let body = b"s1\0select $1\0\x00\x01\x00\x00\x00\x17";
        let (name, key) = parse_parse(body).expect("parse");
        assert_eq!(name, b"s1");
        assert_eq!(key, &body[3..]);
        assert!(parse_parse(b"s1\0select\0\x00\x01").is_err());
        assert!(parse_parse(b"s1\0select\0\xff\xff").is_err());
        let (portal, stmt, at) = parse_bind_names(b"\0s1\0rest").expect("bind");
        assert_eq!((portal, stmt, at), (&b""[..], &b"s1"[..], 4));
        assert!(parse_bind_names(b"\0s1").is_err());
        assert_eq!(parse_target(b"Sx\0").expect("target"), (b'S', &b"x"[..]));
        assert!(parse_target(b"").is_err());
    }

    #[test]
    fn renamed_bind_keeps_the_rest() {
        let body = b"p\0s1\0\x00\x00\x00\x00\x00\x00";
        let mut out = BytesMut::new();
        put_renamed_bind(&mut out, body.len(), &body[..7], b"p", 2, b"sluice_s_7", 5);
        out.extend_from_slice(&body[7..]);
        assert_eq!(out[0], b'B');
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len());
        assert_eq!(&out[5..], b"p\0sluice_s_7\0\x00\x00\x00\x00\x00\x00");
    }

    #[test]
    fn error_code_from_prefix() {
        assert_eq!(
            error_code(b"SERROR\0VERROR\0C0A000\0Mcached plan\0\0"),
            Some(&b"0A000"[..])
        );
        assert_eq!(error_code(b"SERROR\0VERR"), None);
    }
}
