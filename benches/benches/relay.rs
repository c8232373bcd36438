//! Relay micro-benchmark: `Half::scan` over what a server sends back, with
//! an observer that looks inside the same messages the session's link
//! policy does (ReadyForQuery and ParameterStatus bodies) and only reads
//! the header of everything else.
//!
//! Pool checkout/checkin is not benchmarked here: a pool only hands out
//! `ServerConn`s it opened itself over a real socket (`server::connect`,
//! with a login), and `PooledServer` can only come from `Pool::checkout`,
//! so a pool cannot be exercised without a live server. The load bench
//! covers it end to end.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::{many_rows_response, select_only_extended_response, select_only_response};
use sluice_core::relay::{Half, Observer, Verdict};
use sluice_proto::ProtoError;

/// Mirrors the transaction-mode server policy: gather `Z` and `S` whole,
/// count ReadyForQuery as a transaction end.
#[derive(Default)]
struct ServerSide {
    ready: u64,
    messages: u64,
}

impl Observer for ServerSide {
    fn wants(&self, tag: u8, body_len: usize) -> usize {
        match tag {
            b'Z' | b'S' => body_len,
            _ => 0,
        }
    }

    fn on_message(&mut self, tag: u8, _len: usize, body: &[u8]) -> Result<Verdict, ProtoError> {
        self.messages += 1;
        if tag == b'Z' {
            let _status = body
                .first()
                .ok_or(ProtoError::Malformed("empty ReadyForQuery"))?;
            self.ready += 1;
        }
        Ok(Verdict::Forward)
    }
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("half_scan");
    for (name, bytes) in [
        ("select_only_simple", select_only_response()),
        ("select_only_extended", select_only_extended_response()),
        ("200_rows", many_rows_response(200)),
    ] {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut half = Half::new();
                    half.seed(&bytes);
                    half
                },
                |mut half| {
                    let mut obs = ServerSide::default();
                    half.scan(&mut obs, 1 << 30).map(|()| obs.ready)
                },
                BatchSize::SmallInput,
            )
        });
    }
    // Arrival in 1 KiB pieces: the scan resumes over a partial tail.
    let bytes = many_rows_response(200);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("200_rows_in_1k_reads", |b| {
        b.iter(|| {
            let mut half = Half::new();
            let mut obs = ServerSide::default();
            for piece in bytes.chunks(1024) {
                half.seed(piece);
                half.scan(&mut obs, 1 << 30)?;
            }
            Ok::<u64, ProtoError>(obs.messages)
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
