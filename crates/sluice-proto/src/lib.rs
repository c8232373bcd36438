//! PostgreSQL wire protocol (v3) for Sluice, with no IO.
//!
//! Everything here is a pure function over byte buffers so it can be unit
//! tested and fuzzed without sockets or a runtime: decoding what clients and
//! servers send (`startup`, `frame`, `fields`), building what Sluice itself
//! says to clients (`backend`), and the authentication arithmetic
//! (`scram`, `md5auth`). `postgres-protocol` covers the client half (messages
//! Sluice sends to servers as a client); this crate writes the server half in
//! the same style: `Ok(None)` means "need more bytes", writers append to a
//! `BytesMut`, and every declared length is checked before anything is
//! allocated for it.
#![forbid(unsafe_code)]

pub mod backend;
pub mod error;
pub mod fields;
pub mod frame;
pub mod md5auth;
pub mod scram;
pub mod sqlstate;
pub mod startup;
pub mod tags;

mod wire;

pub use backend::{PgError, Severity};
pub use error::ProtoError;
pub use sqlstate::SqlState;
