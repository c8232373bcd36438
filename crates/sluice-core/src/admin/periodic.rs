//! Every `stats_period`: recompute the per-database averages SHOW STATS
//! reports and log PgBouncer's `stats:` line (when `log_stats` is on).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::data::{totals_by_db, Counters};
use crate::shared::{RunState, Shared};

/// Runs until the instance stops running.
pub async fn stats_loop(shared: Arc<Shared>) {
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
            _ = super::until_state(&mut run_state, |s| *s != RunState::Running) => return,
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
        shared.admin.set_averages(averages);
        if shared.settings().config.general.log_stats {
            tracing::info!("{}", stats_line(&total_now.averages(&total_prev, elapsed)));
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
