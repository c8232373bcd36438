//! Result sets of the admin console. Each SHOW declares its columns once,
//! as a table of [`Column`]s (name, PgBouncer's wire type, how a row gives
//! its value), and [`send`] derives both the RowDescription and every
//! DataRow from that one table, so a header can never drift from the
//! values under it. Wire types as PgBouncer's (`s`→text, `i`→int4,
//! `q`→int8, `N`→numeric). Also the timestamp format SHOW CLIENTS/SERVERS
//! use.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use sluice_proto::backend::{self, FieldDescription, INT4_OID, INT8_OID, NUMERIC_OID, TEXT_OID};

/// Type OID of `bytea` (SHOW FDS's key columns).
const BYTEA_OID: u32 = 17;

/// A column's wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Int4,
    Int8,
    Numeric,
    Bytea,
}

impl Ty {
    pub fn oid(self) -> u32 {
        match self {
            Ty::Text => TEXT_OID,
            Ty::Int4 => INT4_OID,
            Ty::Int8 => INT8_OID,
            Ty::Numeric => NUMERIC_OID,
            Ty::Bytea => BYTEA_OID,
        }
    }

    fn len(self) -> i16 {
        match self {
            Ty::Int4 => 4,
            Ty::Int8 => 8,
            Ty::Text | Ty::Numeric | Ty::Bytea => -1,
        }
    }
}

/// One value, sent in text format.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}

impl From<Option<String>> for Val {
    fn from(s: Option<String>) -> Val {
        s.map_or(Val::Null, Val::Text)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Val {
            fn from(n: $t) -> Val {
                // Counters beyond i64 cannot occur in practice; saturate.
                Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
    )*};
}
from_int!(u16, u32, u64, usize, i32, i64);

/// One column of a SHOW: its name and wire type, and its value in a row.
pub struct Column<R> {
    pub name: &'static str,
    pub kind: Ty,
    pub value: fn(&R) -> Val,
}

impl<R> Column<R> {
    pub const fn new(name: &'static str, kind: Ty, value: fn(&R) -> Val) -> Column<R> {
        Column { name, kind, value }
    }
}

/// The row type of the SHOWs of features Sluice does not have (peers,
/// DNS cache, slab allocator): they answer with the header and no rows,
/// and having no values is then a fact the compiler checks.
#[derive(Debug, Clone, Copy)]
pub enum NoRow {}

fn no_value(row: &NoRow) -> Val {
    match *row {}
}

impl Column<NoRow> {
    pub const fn header(name: &'static str, kind: Ty) -> Column<NoRow> {
        Column::new(name, kind, no_value)
    }
}

/// A header-only table (`Column<NoRow>`), one `name: Ty` per column.
macro_rules! headers {
    ($($name:ident: $kind:ident),* $(,)?) => {
        &[$($crate::admin::rows::Column::header(
            stringify!($name),
            $crate::admin::rows::Ty::$kind,
        )),*]
    };
}
pub(crate) use headers;

/// For columns PgBouncer fills from state Sluice does not keep (cancel
/// queues, socket buffers, tested servers): always 0.
pub fn zero<R>(_: &R) -> Val {
    Val::Int(0)
}

/// For text columns that are always empty here (e.g. `tls`).
pub fn empty<R>(_: &R) -> Val {
    Val::Text(String::new())
}

/// RowDescription from `columns`, a DataRow per row, CommandComplete `SHOW`.
pub fn send<R>(columns: &[Column<R>], rows: impl IntoIterator<Item = R>, buf: &mut BytesMut) {
    send_parts(&[columns], rows, buf);
}

/// [`send`] for a SHOW whose columns are several tables one after the
/// other (SHOW SOCKETS is SHOW CLIENTS' columns and its own).
pub fn send_parts<R>(
    parts: &[&[Column<R>]],
    rows: impl IntoIterator<Item = R>,
    buf: &mut BytesMut,
) {
    let columns = || parts.iter().flat_map(|p| p.iter());
    let fields: Vec<FieldDescription<'_>> = columns()
        .map(|c| FieldDescription {
            name: c.name,
            type_oid: c.kind.oid(),
            type_len: c.kind.len(),
        })
        .collect();
    backend::row_description(&fields, buf);
    for row in rows {
        let texts: Vec<Option<String>> = columns()
            .map(|c| match (c.value)(&row) {
                Val::Text(s) => Some(s),
                Val::Int(n) => Some(n.to_string()),
                Val::Null => None,
            })
            .collect();
        let values: Vec<Option<&[u8]>> = texts
            .iter()
            .map(|t| t.as_deref().map(str::as_bytes))
            .collect();
        backend::data_row(&values, buf);
    }
    backend::command_complete("SHOW", buf);
}

/// `YYYY-MM-DD HH:MM:SS UTC`: PgBouncer prints local time with the zone
/// name; Sluice has no time-zone database, so it always prints UTC (what
/// PgBouncer prints in a container without TZ).
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_proto::tags::backend as tags;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(timestamp(t), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn header_and_rows_come_from_one_table() {
        const COLUMNS: &[Column<(&str, u32)>] = &[
            Column::new("a", Ty::Text, |r| r.0.into()),
            Column::new("b", Ty::Int4, |r| r.1.into()),
        ];
        let mut buf = BytesMut::new();
        send(COLUMNS, [("x", 5)], &mut buf);
        assert_eq!(buf[0], tags::ROW_DESCRIPTION);
        let header_len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        let (header, rest) = buf.split_at(1 + header_len);
        assert!(header.windows(4).any(|w| w == 23u32.to_be_bytes()));
        let mut row = vec![tags::DATA_ROW, 0, 0, 0, 16, 0, 2];
        row.extend_from_slice(b"\0\0\0\x01x\0\0\0\x015");
        assert_eq!(&rest[..row.len()], &row[..]);
        assert!(rest.ends_with(b"SHOW\0"));
    }
}
