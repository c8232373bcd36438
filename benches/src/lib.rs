//! Benchmarks for Sluice. Nothing here is used by the pooler itself.
//!
//! - `benches/*.rs`: Criterion micro-benchmarks (codec, relay scan), run with
//!   `cargo bench -p sluice-benches`.
//! - `loadbench.sh` / `loadbench.py`: the load bench (Sluice vs PgBouncer vs
//!   direct PostgreSQL under pgbench); see BENCHMARKS.md at the repo root.
//! - `src/bin/idleclients.rs`: opens N authenticated connections and holds
//!   them idle, for the resident-memory-per-client case of the load bench.
//!
//! This library holds the wire fixtures the micro-benchmarks share: byte
//! streams shaped like what pgbench and Postgres really exchange.

use bytes::BytesMut;
use sluice_proto::backend::{self, FieldDescription};
use sluice_proto::frame::encode_message;

/// What Postgres answers to pgbench's select-only query in the simple
/// protocol: RowDescription, one DataRow, CommandComplete, ReadyForQuery.
pub fn select_only_response() -> BytesMut {
    let mut buf = BytesMut::new();
    backend::row_description(
        &[FieldDescription {
            name: "abalance",
            type_oid: 23,
            type_len: 4,
        }],
        &mut buf,
    );
    backend::data_row(&[Some(b"0")], &mut buf);
    backend::command_complete("SELECT 1", &mut buf);
    backend::ready_for_query(b'I', &mut buf);
    buf
}

/// The extended-protocol answer to the same query: ParseComplete,
/// BindComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery.
pub fn select_only_extended_response() -> BytesMut {
    let mut buf = BytesMut::new();
    encode_message(b'1', &[], &mut buf);
    encode_message(b'2', &[], &mut buf);
    buf.extend_from_slice(&select_only_response());
    buf
}

/// A realistic bigger result: `rows` DataRows of (int, 24-byte text,
/// timestamp) between a RowDescription and CommandComplete + ReadyForQuery.
pub fn many_rows_response(rows: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    let field = |name| FieldDescription {
        name,
        type_oid: 25,
        type_len: -1,
    };
    backend::row_description(&[field("aid"), field("filler"), field("mtime")], &mut buf);
    for i in 0..rows {
        let id = i.to_string();
        backend::data_row(
            &[
                Some(id.as_bytes()),
                Some(b"abcdefghijklmnopqrstuvwx"),
                Some(b"2026-11-30 05:29:29.123456+00"),
            ],
            &mut buf,
        );
    }
    backend::command_complete(&format!("SELECT {rows}"), &mut buf);
    backend::ready_for_query(b'I', &mut buf);
    buf
}
