//! SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS: the same eleven
//! counters per database (or summed), under the names each SHOW gives them.

use bytes::BytesMut;

use crate::admin::data::{self, Counters};
use crate::admin::rows::{send, send_parts, Column, Ty};
use crate::shared::Shared;

use Ty::{Numeric, Text};

/// One database's counters since start and over the last `stats_period`.
pub struct DbStats {
    database: String,
    totals: Counters,
    averages: Counters,
}

fn by_db(shared: &Shared) -> Vec<DbStats> {
    data::totals_by_db(shared)
        .into_iter()
        .map(|(database, totals)| DbStats {
            averages: crate::admin::averages(shared, &database),
            database,
            totals,
        })
        .collect()
}

#[rustfmt::skip]
const DATABASE: &[Column<DbStats>] =
    &[Column::new("database", Text, |r| r.database.as_str().into())];

/// Each counter once, with its name in every SHOW that has it (PgBouncer
/// names them differently in each), in 1.25.2's column order;
/// client_login_count is not among them, as in 1.25.2. Expands to the
/// counter columns of STATS (totals, then averages), STATS_TOTALS and
/// STATS_AVERAGES, and the row names of TOTALS.
macro_rules! counters {
    ($($field:ident: $stats_total:literal $stats_avg:literal $totals:literal $averages:literal $totals_row:literal;)*) => {
        const STATS_TOTAL: &[Column<DbStats>] =
            &[$(Column::new($stats_total, Numeric, |r| r.totals.$field.into())),*];
        const STATS_AVG: &[Column<DbStats>] =
            &[$(Column::new($stats_avg, Numeric, |r| r.averages.$field.into())),*];
        const TOTALS: &[Column<DbStats>] =
            &[$(Column::new($totals, Numeric, |r| r.totals.$field.into())),*];
        const AVERAGES: &[Column<DbStats>] =
            &[$(Column::new($averages, Numeric, |r| r.averages.$field.into())),*];
        const TOTALS_ROWS: &[(&str, fn(&Counters) -> u64)] = &[$(($totals_row, |c| c.$field)),*];
    };
}

#[rustfmt::skip]
counters! {
    // field:                STATS total_…                   STATS avg_…                   STATS_TOTALS              STATS_AVERAGES            TOTALS (after total_/avg_)
    server_assignment_count: "total_server_assignment_count" "avg_server_assignment_count" "server_assignment_count" "server_assignment_count" "server_assignment_count";
    xact_count:              "total_xact_count"              "avg_xact_count"              "xact_count"              "xact_count"              "xact_count";
    query_count:             "total_query_count"             "avg_query_count"             "query_count"             "query_count"             "query_count";
    bytes_received:          "total_received"                "avg_recv"                    "bytes_received"          "bytes_received"          "client_bytes";
    bytes_sent:              "total_sent"                    "avg_sent"                    "bytes_sent"              "bytes_sent"              "server_bytes";
    xact_time:               "total_xact_time"               "avg_xact_time"               "xact_time"               "xact_time"               "xact_time";
    query_time:              "total_query_time"              "avg_query_time"              "query_time"              "query_time"              "query_time";
    wait_time:               "total_wait_time"               "avg_wait_time"               "wait_time"               "wait_time"               "wait_time";
    client_parse_count:      "total_client_parse_count"      "avg_client_parse_count"      "client_parse_count"      "avg_client_parse_count"  "ps_client_parse_count";
    server_parse_count:      "total_server_parse_count"      "avg_server_parse_count"      "server_parse_count"      "avg_server_parse_count"  "ps_server_parse_count";
    bind_count:              "total_bind_count"              "avg_bind_count"              "bind_count"              "avg_bind_count"          "ps_bind_count";
}

pub fn stats(shared: &Shared, buf: &mut BytesMut) {
    send_parts(&[DATABASE, STATS_TOTAL, STATS_AVG], by_db(shared), buf);
}

pub fn stats_totals(shared: &Shared, buf: &mut BytesMut) {
    send_parts(&[DATABASE, TOTALS], by_db(shared), buf);
}

pub fn stats_averages(shared: &Shared, buf: &mut BytesMut) {
    send_parts(&[DATABASE, AVERAGES], by_db(shared), buf);
}

const NAME_VALUE: &[Column<(String, u64)>] = &[
    Column::new("name", Text, |r| r.0.as_str().into()),
    Column::new("value", Numeric, |r| r.1.into()),
];

/// All databases summed, one row per counter: the totals, then the averages.
pub fn totals(shared: &Shared, buf: &mut BytesMut) {
    let mut total = Counters::default();
    let mut avg = Counters::default();
    for db in by_db(shared) {
        total.add(&db.totals);
        avg.add(&db.averages);
    }
    let rows = [("total", &total), ("avg", &avg)]
        .into_iter()
        .flat_map(|(prefix, c)| {
            TOTALS_ROWS
                .iter()
                .map(move |(name, value)| (format!("{prefix}_{name}"), value(c)))
        });
    send(NAME_VALUE, rows, buf);
}
