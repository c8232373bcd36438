//! One test binary for the whole crate, one module per source module.
//! Writers are cross-checked against `postgres-protocol`'s independent
//! parsers and readers against its writers wherever it has them.
#![allow(clippy::unwrap_used)]

mod backend;
mod fields;
mod frame;
mod md5;
mod robustness;
mod scram;
mod scram_key_client;
mod startup;

use bytes::BytesMut;

/// Bytes written by `f` into a fresh buffer.
pub fn written(f: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut buf = BytesMut::new();
    f(&mut buf);
    buf
}
