//! The `/metrics` body: the families of `catalogue`, valued from the
//! admin console's data, rendered through a per-scrape
//! `PrometheusRecorder` (gauges, integer counters) plus text (fractional
//! counters, histograms).

use std::fmt::Write as _;

use metrics_exporter_prometheus::PrometheusBuilder;

use super::catalogue::{self, Family, Kind, Metric};
use super::clients;
use crate::admin::data;
use crate::admin::PGBOUNCER_VERSION;
use crate::shared::Shared;
use crate::stats::{HistogramSnapshot, HISTOGRAM_BOUNDS};

/// One scrape's writer. Recorded kinds go to the `PrometheusRecorder`
/// that `render` installs as the thread's local recorder; the others are
/// appended to `text`.
#[derive(Debug, Default)]
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, m: &Metric) {
        match m.kind {
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::SecondsCounter | Kind::Histogram => {
                let _ = writeln!(self.text, "# HELP {} {}", m.name, m.help);
                let _ = writeln!(self.text, "# TYPE {} {}", m.name, m.kind.type_name());
            }
        }
    }

    /// One sample; `values` are the label values in `m.labels`' order.
    fn sample(&mut self, m: &Metric, values: &[&str], value: f64) {
        debug_assert_eq!(values.len(), m.labels.len(), "{}", m.name);
        let recorded = || -> Vec<metrics::Label> {
            m.labels
                .iter()
                .zip(values)
                .map(|(k, v)| metrics::Label::new(*k, v.to_string()))
                .collect()
        };
        match m.kind {
            Kind::Gauge => metrics::gauge!(m.name, recorded()).set(value),
            // Integer counters come from u64 atomics; the cast back is
            // exact below 2^53.
            Kind::Counter => metrics::counter!(m.name, recorded()).absolute(value as u64),
            Kind::SecondsCounter | Kind::Histogram => {
                self.text_sample(m.name, &pairs(m, values), value)
            }
        }
    }

    fn text_sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn histogram(&mut self, m: &Metric, values: &[&str], h: &HistogramSnapshot) {
        let labels = pairs(m, values);
        let bucket = format!("{}_bucket", m.name);
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = HISTOGRAM_BOUNDS
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let mut with_le = labels.clone();
            with_le.push(("le", &le));
            self.text_sample(&bucket, &with_le, *count as f64);
        }
        self.text_sample(&format!("{}_sum", m.name), &labels, h.sum_seconds);
        let total = h.cumulative.last().copied().unwrap_or(0);
        self.text_sample(&format!("{}_count", m.name), &labels, total as f64);
    }

    /// Every family of `families` over `rows` (a source and its label
    /// values), then those with a legacy name again under it.
    fn families<S, const N: usize>(&mut self, families: &[Family<S>], rows: &[(&S, [&str; N])]) {
        let legacy = families
            .iter()
            .filter_map(|f| f.legacy_name.map(|name| (Metric { name, ..f.metric }, f)));
        for (metric, f) in families.iter().map(|f| (f.metric, f)).chain(legacy) {
            self.family(&metric);
            for (source, labels) in rows {
                self.sample(&metric, labels, (f.value)(source));
            }
        }
    }
}

fn pairs<'a>(m: &Metric, values: &[&'a str]) -> Vec<(&'static str, &'a str)> {
    m.labels
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Render every metric. Each scrape builds its own `PrometheusRecorder`
/// and installs it with `metrics::with_local_recorder` for the duration
/// of the render, so nothing is global (many instances can share a
/// process) and no series outlives the pool or client it describes.
pub fn render(shared: &Shared) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut out = Out::default();
    metrics::with_local_recorder(&recorder, || render_into(&mut out, shared));
    let mut text = recorder.handle().render();
    text.push_str(&out.text);
    text
}

fn render_into(out: &mut Out, shared: &Shared) {
    out.family(&catalogue::UP);
    out.sample(&catalogue::UP, &[], 1.0);
    out.family(&catalogue::VERSION_INFO);
    out.sample(&catalogue::VERSION_INFO, &[PGBOUNCER_VERSION], 1.0);
    for (list, n) in data::lists(shared) {
        if let Some((_, metric)) = catalogue::LISTS.iter().find(|(l, _)| *l == list) {
            out.family(metric);
            out.sample(metric, &[], n as f64);
        }
    }
    let settings = shared.settings();
    out.families(catalogue::CONFIG, &[(&settings.config.general, [])]);
    render_clients(out, shared);
    render_databases(out, shared);
    let totals = data::totals_by_db(shared);
    let rows: Vec<_> = totals.iter().map(|(db, c)| (c, [db.as_str()])).collect();
    out.families(catalogue::STATS_TOTALS, &rows);
    render_pools(out, shared);
    out.families(catalogue::INSTANCE, &[(shared, [])]);
}

fn render_clients(out: &mut Out, shared: &Shared) {
    let m = &catalogue::CLIENT_CONNECTIONS;
    out.family(m);
    for ((db, user, app, state), n) in clients::series(shared) {
        out.sample(m, &[&db, &user, &app, state], n as f64);
    }
}

fn render_databases(out: &mut Out, shared: &Shared) {
    let dbs = data::databases(shared);
    let owned: Vec<(String, String)> = dbs
        .iter()
        .map(|d| {
            let mode = d.pool_mode.map(|m| m.to_string()).unwrap_or_default();
            (d.port.to_string(), mode)
        })
        .collect();
    let rows: Vec<_> = dbs
        .iter()
        .zip(&owned)
        .map(|(d, (port, mode))| {
            let labels = [
                d.name.as_str(),
                d.host.as_deref().unwrap_or(""),
                port.as_str(),
                d.database.as_str(),
                d.force_user.as_deref().unwrap_or(""),
                mode.as_str(),
            ];
            (d, labels)
        })
        .collect();
    out.families(catalogue::DATABASES, &rows);
}

fn render_pools(out: &mut Out, shared: &Shared) {
    let pools = data::pools(shared);
    let rows: Vec<_> = pools
        .iter()
        .map(|p| (p, [p.database.as_str(), p.user.as_str()]))
        .collect();
    out.families(catalogue::POOLS, &rows);
    // The admin console's pool has no servers, counters or histograms.
    let real: Vec<_> = pools
        .iter()
        .filter_map(|p| p.pool.as_deref())
        .map(|p| (p, [p.key.database.as_str(), p.key.user.as_str()]))
        .collect();
    out.families(catalogue::POOL_STATE, &real);
    let stats: Vec<_> = real.iter().map(|(p, labels)| (&p.stats, *labels)).collect();
    out.families(catalogue::POOL_COUNTERS, &stats);
    for f in catalogue::POOL_HISTOGRAMS {
        out.family(&f.metric);
        for (s, labels) in &stats {
            out.histogram(&f.metric, labels, &(f.value)(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn each_scrape_has_its_own_recorder() {
        let settings =
            crate::Settings::new(Default::default(), Default::default()).expect("settings");
        let (a, b) = (Shared::new(settings.clone()), Shared::new(settings));
        a.cancel_requests.store(3, Ordering::Relaxed);
        let (text_a, text_b) = (render(&a), render(&b));
        for text in [&text_a, &text_b] {
            assert!(
                text.contains("# TYPE pgbouncer_up gauge\npgbouncer_up 1\n"),
                "{text}"
            );
            assert!(
                text.contains("# TYPE sluice_cancel_requests_total counter\n"),
                "{text}"
            );
            assert!(
                text.contains("pgbouncer_version_info{version=\"1.25.2\"} 1\n"),
                "{text}"
            );
        }
        assert!(
            text_a.contains("sluice_cancel_requests_total 3\n"),
            "{text_a}"
        );
        assert!(
            text_b.contains("sluice_cancel_requests_total 0\n"),
            "{text_b}"
        );
        // Nothing leaked into the global recorder or the next scrape (the
        // recorder orders families as it likes, so compare line sets).
        let lines = |t: &str| {
            let mut v: Vec<String> = t
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        assert_eq!(lines(&render(&b)), lines(&text_b));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histogram_lines() {
        let mut out = Out::default();
        let h = HistogramSnapshot {
            cumulative: (0..=HISTOGRAM_BOUNDS.len() as u64).collect(),
            sum_seconds: 1.5,
        };
        let m = Metric {
            name: "x",
            help: "",
            kind: Kind::Histogram,
            labels: &["database"],
        };
        out.histogram(&m, &["d"], &h);
        assert!(out
            .text
            .contains("x_bucket{database=\"d\",le=\"0.0005\"} 0\n"));
        assert!(out
            .text
            .contains("x_bucket{database=\"d\",le=\"+Inf\"} 14\n"));
        assert!(out.text.contains("x_sum{database=\"d\"} 1.5\n"));
        assert!(out.text.contains("x_count{database=\"d\"} 14\n"));
    }
}
