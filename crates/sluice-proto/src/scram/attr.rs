//! The attribute grammar shared by all SCRAM messages: comma-separated
//! `letter=value` pairs.
//!
//! Values never contain a comma (user names escape it as `=2C`, base64 has
//! none), so splitting on commas is exact. Parsing works on bytes because
//! PostgreSQL ignores the user name, which need not be UTF-8.

use super::ScramError;

/// Iterates over the attributes of a message, tracking byte offsets so the
/// caller can slice out "everything before the proof".
pub(super) struct Attrs<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

/// One `letter=value` attribute.
pub(super) struct Attr<'a> {
    pub name: u8,
    pub value: &'a [u8],
    /// Offset of the attribute's first byte in the message.
    pub start: usize,
}

impl<'a> Attrs<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Attrs {
            data,
            pos: 0,
            done: false,
        }
    }

    /// The next raw comma-separated part and its offset.
    fn next_part(&mut self) -> Option<(usize, &'a [u8])> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let rest = self.data.get(start..)?;
        match rest.iter().position(|b| *b == b',') {
            Some(comma) => {
                self.pos = start + comma + 1;
                Some((start, &rest[..comma]))
            }
            None => {
                self.done = true;
                Some((start, rest))
            }
        }
    }

    /// The next attribute, which must exist and be well-formed.
    pub(super) fn next_attr(&mut self, missing: &'static str) -> Result<Attr<'a>, ScramError> {
        let (start, part) = self.next_part().ok_or(ScramError::Malformed(missing))?;
        match part {
            [name, b'=', value @ ..] if name.is_ascii_alphabetic() => Ok(Attr {
                name: *name,
                value,
                start,
            }),
            _ => Err(ScramError::Malformed(
                "expected an attribute of the form x=value",
            )),
        }
    }

    /// The next attribute, which must be `name`; returns its value.
    pub(super) fn expect(
        &mut self,
        name: u8,
        missing: &'static str,
    ) -> Result<&'a [u8], ScramError> {
        let attr = self.next_attr(missing)?;
        if attr.name != name {
            return Err(ScramError::Malformed(missing));
        }
        Ok(attr.value)
    }

    /// The next raw part, attribute or not (for the gs2 header).
    pub(super) fn raw(&mut self, missing: &'static str) -> Result<&'a [u8], ScramError> {
        self.next_part()
            .map(|(_, part)| part)
            .ok_or(ScramError::Malformed(missing))
    }

    /// True if every byte has been consumed.
    pub(super) fn is_empty(&self) -> bool {
        self.done
    }
}

/// A nonce must be non-empty printable ASCII without commas (RFC 5802).
pub(super) fn is_printable_nonce(nonce: &[u8]) -> bool {
    !nonce.is_empty()
        && nonce
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b',')
}
