//! Result sets of the admin console: a column list with PgBouncer's wire
//! types (`s`→text, `i`→int4, `q`→int8, `N`→numeric) and rows of values,
//! encoded as RowDescription + DataRows + CommandComplete `SHOW`. Also the
//! timestamp format SHOW CLIENTS/SERVERS use.

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

/// A result set being built.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<(&'static str, Ty)>,
    pub rows: Vec<Vec<Val>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Ty)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Add a row; it must have one value per column (a bug otherwise, so
    /// short rows are padded with NULL rather than sent malformed).
    pub fn push(&mut self, mut row: Vec<Val>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width");
        row.resize(self.columns.len(), Val::Null);
        self.rows.push(row);
    }

    /// RowDescription, DataRows and CommandComplete `SHOW`.
    pub fn encode(&self, buf: &mut BytesMut) {
        let fields: Vec<FieldDescription<'_>> = self
            .columns
            .iter()
            .map(|(name, ty)| FieldDescription {
                name,
                type_oid: ty.oid(),
                type_len: ty.len(),
            })
            .collect();
        backend::row_description(&fields, buf);
        for row in &self.rows {
            let texts: Vec<Option<String>> = row
                .iter()
                .map(|v| match v {
                    Val::Text(s) => Some(s.clone()),
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
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(timestamp(t), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn encodes_types() {
        let mut t = Table::new(&[("a", Ty::Text), ("b", Ty::Int4)]);
        t.push(vec!["x".into(), 5u32.into()]);
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        assert_eq!(buf[0], b'T');
        assert!(buf.windows(4).any(|w| w == 23u32.to_be_bytes()));
        assert!(buf.ends_with(b"SHOW\0"));
    }
}
