//! Codec micro-benchmarks: the per-message work on Sluice's hot path
//! (header scan over a result stream) and the per-connection work (startup
//! decode, ErrorResponse build).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::{many_rows_response, select_only_response};
use sluice_proto::frame::{parse_header, split_message};
use sluice_proto::startup::{decode_startup, encode_startup_message};
use sluice_proto::{PgError, SqlState};

const MAX_LEN: usize = 1 << 30;

/// Walk every header of `buf` the way the relay does: read the header,
/// jump over the body. Returns the message count.
fn scan_headers(buf: &[u8]) -> usize {
    let mut at = 0;
    let mut messages = 0;
    while let Ok(Some(header)) = parse_header(&buf[at..], MAX_LEN) {
        at += header.total_len();
        messages += 1;
    }
    messages
}

fn header_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("header_scan");
    for (name, buf) in [
        ("select_only", select_only_response()),
        ("200_rows", many_rows_response(200)),
    ] {
        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_function(name, |b| b.iter(|| scan_headers(black_box(&buf))));
    }
    group.finish();
}

fn split_messages(c: &mut Criterion) {
    // split_message copies nothing but moves BytesMut views; the clone in
    // setup is not measured.
    let buf = many_rows_response(200);
    let mut group = c.benchmark_group("split_message");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("200_rows", |b| {
        b.iter_batched(
            || buf.clone(),
            |mut buf| {
                let mut n = 0;
                while let Ok(Some(msg)) = split_message(&mut buf, MAX_LEN) {
                    n += msg.body.len();
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn startup(c: &mut Criterion) {
    let mut packet = BytesMut::new();
    encode_startup_message(
        &[
            ("user", "bench_scram"),
            ("database", "bench"),
            ("application_name", "pgbench"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
        ],
        &mut packet,
    );
    c.bench_function("decode_startup", |b| {
        b.iter_batched(
            || packet.clone(),
            |mut buf| decode_startup(&mut buf),
            BatchSize::SmallInput,
        )
    });
}

fn error_response(c: &mut Criterion) {
    let error = PgError::fatal(SqlState::PROTOCOL_VIOLATION, "query_wait_timeout")
        .with_detail("the client waited longer than query_wait_timeout for a server");
    let mut buf = BytesMut::with_capacity(256);
    c.bench_function("error_response_encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&error).encode(&mut buf);
            buf.len()
        })
    });
}

criterion_group!(
    benches,
    header_scan,
    split_messages,
    startup,
    error_response
);
criterion_main!(benches);
