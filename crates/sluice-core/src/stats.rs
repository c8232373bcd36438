//! Per-pool counters, bumped with relaxed atomics on the hot path and read
//! lazily by the admin console and the metrics exporter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
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
    /// Duration of each query: from the client's request (the first
    /// message while the server owed nothing) to the ReadyForQuery that
    /// settles everything it asked.
    pub query_hist: Histogram,
}

impl PoolStats {
    pub fn record_wait(&self, waited: Duration) {
        self.server_assignment_count.fetch_add(1, Ordering::Relaxed);
        self.wait_time_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        self.wait_hist.observe(waited);
    }

    /// Time spent linked, in a mode where a link is a transaction.
    pub fn record_link_time(&self, linked: Duration) {
        let us = linked.as_micros() as u64;
        self.xact_time_us.fetch_add(us, Ordering::Relaxed);
        self.xact_hist.observe(linked);
    }

    /// The queries one link timed, added in one go at the link's end so
    /// the hot path touches no shared counter per query.
    pub fn record_queries(&self, queries: &LocalHistogram) {
        if queries.count == 0 {
            return;
        }
        self.query_time_us
            .fetch_add(queries.sum_us, Ordering::Relaxed);
        self.query_hist.merge(queries);
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

/// Bucket index of a duration in [`HISTOGRAM_BOUNDS`] (last = `+Inf`).
fn bucket_of(d: Duration) -> usize {
    let secs = d.as_secs_f64();
    HISTOGRAM_BOUNDS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(HISTOGRAM_BOUNDS.len())
}

/// A histogram owned by one task (no atomics), merged into a pool's
/// [`Histogram`] when the task is done with it.
#[derive(Debug, Default, Clone)]
pub struct LocalHistogram {
    buckets: [u32; HISTOGRAM_BOUNDS.len() + 1],
    pub sum_us: u64,
    pub count: u64,
}

impl LocalHistogram {
    pub fn observe(&mut self, d: Duration) {
        if let Some(bucket) = self.buckets.get_mut(bucket_of(d)) {
            *bucket = bucket.saturating_add(1);
        }
        self.sum_us += d.as_micros() as u64;
        self.count += 1;
    }
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
        if let Some(bucket) = self.buckets.get(bucket_of(d)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn merge(&self, local: &LocalHistogram) {
        for (bucket, n) in self.buckets.iter().zip(local.buckets) {
            if n != 0 {
                bucket.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(local.sum_us, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_histogram_merges_into_the_same_buckets_as_direct_observation() {
        let samples = [0.0001, 0.003, 0.003, 0.7, 42.0].map(Duration::from_secs_f64);
        let direct = Histogram::default();
        let merged = Histogram::default();
        let mut local = LocalHistogram::default();
        for d in samples {
            direct.observe(d);
            local.observe(d);
        }
        merged.merge(&local);
        let (a, b) = (direct.snapshot(), merged.snapshot());
        assert_eq!(a.cumulative, b.cumulative);
        assert_eq!(a.sum_seconds, b.sum_seconds);
        assert_eq!(local.count, 5);
        // +Inf holds everything; the 5 ms bound holds the three small ones.
        assert_eq!(b.cumulative.last(), Some(&5));
        assert_eq!(b.cumulative[3], 3);
    }

    #[test]
    fn queries_feed_query_time_and_histogram_but_not_xact_time() {
        let stats = PoolStats::default();
        let mut local = LocalHistogram::default();
        local.observe(Duration::from_millis(2));
        local.observe(Duration::from_millis(3));
        stats.record_queries(&local);
        stats.record_link_time(Duration::from_millis(10));
        assert_eq!(stats.query_time_us.load(Ordering::Relaxed), 5_000);
        assert_eq!(stats.xact_time_us.load(Ordering::Relaxed), 10_000);
        assert_eq!(stats.query_hist.snapshot().cumulative.last(), Some(&2));
    }
}

/// PgBouncer's statistics fields, in SHOW STATS_TOTALS order. Times are µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub server_assignment_count: u64,
    pub xact_count: u64,
    pub query_count: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub xact_time: u64,
    pub query_time: u64,
    pub wait_time: u64,
    pub client_parse_count: u64,
    pub server_parse_count: u64,
    pub bind_count: u64,
    pub client_login_count: u64,
}

impl Counters {
    pub fn of(s: &PoolStats) -> Counters {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            server_assignment_count: get(&s.server_assignment_count),
            xact_count: get(&s.xact_count),
            query_count: get(&s.query_count),
            bytes_received: get(&s.bytes_received),
            bytes_sent: get(&s.bytes_sent),
            xact_time: get(&s.xact_time_us),
            query_time: get(&s.query_time_us),
            wait_time: get(&s.wait_time_us),
            client_parse_count: get(&s.client_parse_count),
            server_parse_count: get(&s.server_parse_count),
            bind_count: get(&s.bind_count),
            client_login_count: get(&s.client_login_count),
        }
    }

    pub fn add(&mut self, o: &Counters) {
        self.server_assignment_count += o.server_assignment_count;
        self.xact_count += o.xact_count;
        self.query_count += o.query_count;
        self.bytes_received += o.bytes_received;
        self.bytes_sent += o.bytes_sent;
        self.xact_time += o.xact_time;
        self.query_time += o.query_time;
        self.wait_time += o.wait_time;
        self.client_parse_count += o.client_parse_count;
        self.server_parse_count += o.server_parse_count;
        self.bind_count += o.bind_count;
        self.client_login_count += o.client_login_count;
    }

    /// PgBouncer's averages over one period: counts per second, times per
    /// transaction / query / assignment (`now` minus `prev`).
    pub fn averages(&self, prev: &Counters, period: Duration) -> Counters {
        let secs = period.as_secs().max(1);
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let per = |total: u64, n: u64| total.checked_div(n).unwrap_or(0);
        let xacts = d(self.xact_count, prev.xact_count);
        let queries = d(self.query_count, prev.query_count);
        let assignments = d(self.server_assignment_count, prev.server_assignment_count);
        Counters {
            server_assignment_count: assignments / secs,
            xact_count: xacts / secs,
            query_count: queries / secs,
            bytes_received: d(self.bytes_received, prev.bytes_received) / secs,
            bytes_sent: d(self.bytes_sent, prev.bytes_sent) / secs,
            xact_time: per(d(self.xact_time, prev.xact_time), xacts),
            query_time: per(d(self.query_time, prev.query_time), queries),
            wait_time: per(d(self.wait_time, prev.wait_time), assignments),
            client_parse_count: d(self.client_parse_count, prev.client_parse_count) / secs,
            server_parse_count: d(self.server_parse_count, prev.server_parse_count) / secs,
            bind_count: d(self.bind_count, prev.bind_count) / secs,
            client_login_count: d(self.client_login_count, prev.client_login_count) / secs,
        }
    }
}

/// Per-database averages of the last complete `stats_period` (SHOW STATS,
/// STATS_AVERAGES, TOTALS), written by the periodic stats loop.
#[derive(Debug, Default)]
pub struct PeriodAverages {
    by_db: Mutex<HashMap<String, Counters>>,
}

impl PeriodAverages {
    pub fn of(&self, db: &str) -> Counters {
        let by_db = self.by_db.lock().unwrap_or_else(|p| p.into_inner());
        by_db.get(db).copied().unwrap_or_default()
    }

    pub fn replace(&self, averages: HashMap<String, Counters>) {
        *self.by_db.lock().unwrap_or_else(|p| p.into_inner()) = averages;
    }
}
