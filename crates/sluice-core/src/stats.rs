//! Per-pool counters, bumped with relaxed atomics on the hot path and read
//! lazily by the admin console and the metrics exporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct PoolStats {
    pub server_assignment_count: AtomicU64,
    pub xact_count: AtomicU64,
    pub query_count: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub xact_time_us: AtomicU64,
    pub query_time_us: AtomicU64,
    pub wait_time_us: AtomicU64,
    pub client_parse_count: AtomicU64,
    pub server_parse_count: AtomicU64,
    pub bind_count: AtomicU64,
    pub client_login_count: AtomicU64,
    /// Time from asking for a server to getting one.
    pub wait_hist: Histogram,
    /// Duration of each link in transaction/statement mode (≈ one
    /// transaction: from the first query to the release point).
    pub xact_hist: Histogram,
}

impl PoolStats {
    pub fn record_wait(&self, waited: Duration) {
        self.server_assignment_count.fetch_add(1, Ordering::Relaxed);
        self.wait_time_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        self.wait_hist.observe(waited);
    }

    /// Time spent linked, in a mode where a link is a transaction. The
    /// relay does not time single statements, so the link's time stands
    /// for both xact_time and query_time (equal for one-statement
    /// transactions, an upper bound for query_time otherwise).
    pub fn record_link_time(&self, linked: Duration) {
        let us = linked.as_micros() as u64;
        self.xact_time_us.fetch_add(us, Ordering::Relaxed);
        self.query_time_us.fetch_add(us, Ordering::Relaxed);
        self.xact_hist.observe(linked);
    }

    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Upper bounds (seconds) of the latency histogram buckets; `+Inf` is
/// implied. Fixed, so recording is one search and three atomic adds.
pub const HISTOGRAM_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A lock-free latency histogram (per-bucket counts, not cumulative).
#[derive(Debug, Default)]
pub struct Histogram {
    /// One per bound, plus the `+Inf` bucket.
    buckets: [AtomicU64; HISTOGRAM_BOUNDS.len() + 1],
    sum_us: AtomicU64,
}

/// A consistent-enough copy for rendering (each field read once).
#[derive(Debug, Clone, Default)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bound, then the total (`+Inf`).
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = HISTOGRAM_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(HISTOGRAM_BOUNDS.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}
