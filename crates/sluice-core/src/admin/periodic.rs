//! Every `stats_period`: recompute the per-database averages SHOW STATS
//! reports and log PgBouncer's `stats:` line (when `log_stats` is on).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::time::Instant;

use super::data::{totals_by_db, Counters};
use crate::control::{until_state, RunState};
use crate::shared::Shared;

/// Runs until the instance stops running.
pub async fn stats_loop(shared: Arc<Shared>) {
    run(shared, |line| tracing::info!("{line}")).await;
}

/// The loop, with the log line handed to `log` (so tests can read it).
async fn run(shared: Arc<Shared>, mut log: impl FnMut(String)) {
    let mut run_state = shared.run_state.subscribe();
    let mut prev: BTreeMap<String, Counters> = totals_by_db(&shared);
    let mut prev_at = Instant::now();
    loop {
        // Re-read each period: stats_period is reloadable.
        let period = shared
            .settings()
            .config
            .general
            .stats_period
            .max(std::time::Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = until_state(&mut run_state, |s| *s != RunState::Running) => return,
        }
        let now = totals_by_db(&shared);
        let elapsed = prev_at.elapsed();
        prev_at = Instant::now();
        let mut averages = HashMap::new();
        let (mut total_now, mut total_prev) = (Counters::default(), Counters::default());
        for (db, c) in &now {
            let before = prev.get(db).copied().unwrap_or_default();
            averages.insert(db.clone(), c.averages(&before, elapsed));
            total_now.add(c);
            total_prev.add(&before);
        }
        shared.averages.replace(averages);
        if shared.settings().config.general.log_stats {
            log(stats_line(&total_now.averages(&total_prev, elapsed)));
        }
        prev = now;
    }
}

/// PgBouncer's periodic line, from one period's averages.
pub fn stats_line(a: &Counters) -> String {
    format!(
        "stats: {} xacts/s, {} queries/s, {} client parses/s, {} server parses/s, {} binds/s, \
         {} client logins/s, in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us",
        a.xact_count,
        a.query_count,
        a.client_parse_count,
        a.server_parse_count,
        a.bind_count,
        a.client_login_count,
        a.bytes_received,
        a.bytes_sent,
        a.xact_time,
        a.query_time,
        a.wait_time
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn line_has_pgbouncer_1_25_shape() {
        let prev = Counters::default();
        let now = Counters {
            server_assignment_count: 100,
            xact_count: 100,
            query_count: 300,
            bytes_received: 10_000,
            bytes_sent: 20_000,
            xact_time: 100 * 1500,
            query_time: 300 * 400,
            wait_time: 100 * 20,
            client_parse_count: 50,
            server_parse_count: 10,
            bind_count: 60,
            client_login_count: 20,
        };
        let a = now.averages(&prev, Duration::from_secs(10));
        assert_eq!(
            stats_line(&a),
            "stats: 10 xacts/s, 30 queries/s, 5 client parses/s, 1 server parses/s, 6 binds/s, \
             2 client logins/s, in 1000 B/s, out 2000 B/s, xact 1500 us, query 400 us, wait 20 us"
        );
    }

    fn settings(ini: &str) -> crate::Settings {
        let loaded = sluice_config::parse_ini(ini, std::path::Path::new("test.ini")).expect("ini");
        crate::Settings::from_loaded(&loaded, Default::default()).expect("settings")
    }

    /// Every stats_period the averages are recomputed from the counters'
    /// growth and (with log_stats) one line is logged; with log_stats = 0
    /// the averages still update but nothing is logged.
    #[tokio::test(start_paused = true)]
    async fn averages_and_line_every_stats_period() {
        for (log_stats, want_lines) in [("1", true), ("0", false)] {
            let shared = Shared::new(settings(&format!(
                "[databases]\ndb = host=127.0.0.1\n[pgbouncer]\nstats_period = 2\nlog_stats = {log_stats}\n"
            )));
            let db = shared.settings().database("db").expect("configured");
            let pool = shared.pool_for(&db, "u");
            let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = lines.clone();
            let task = tokio::spawn(run(shared.clone(), move |l| {
                sink.lock().expect("lock").push(l)
            }));
            tokio::task::yield_now().await;
            pool.stats.add(&pool.stats.xact_count, 20);
            pool.stats.add(&pool.stats.query_count, 60);
            pool.stats.add(&pool.stats.xact_time_us, 20 * 300);
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let avg = crate::admin::averages(&shared, "db");
            assert_eq!(
                (avg.xact_count, avg.query_count, avg.xact_time),
                (10, 30, 300)
            );
            let got = lines.lock().expect("lock").clone();
            if want_lines {
                assert_eq!(got.len(), 1, "{got:?}");
                assert!(
                    got[0].starts_with("stats: 10 xacts/s, 30 queries/s,"),
                    "{got:?}"
                );
                assert!(
                    got[0].ends_with("xact 300 us, query 0 us, wait 0 us"),
                    "{got:?}"
                );
            } else {
                assert!(got.is_empty(), "{got:?}");
            }
            // A quiet period brings the averages back to zero.
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(crate::admin::averages(&shared, "db"), Counters::default());
            crate::control::shutdown::shutdown(&shared, RunState::Immediate);
            task.await.expect("stats loop ends at shutdown");
        }
    }

    #[test]
    fn idle_period_is_all_zero() {
        let c = Counters {
            xact_count: 7,
            xact_time: 70,
            ..Counters::default()
        };
        let a = c.averages(&c, Duration::from_secs(60));
        assert_eq!(a, Counters::default());
        assert!(stats_line(&a).starts_with("stats: 0 xacts/s, 0 queries/s,"));
    }
}
