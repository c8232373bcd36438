//! Scalar value syntax shared by every reader. PgBouncer reads integers with
//! `strtol(…, 0)` (so `0777` is octal and `0x10` hex), times as fractional
//! seconds with `strtod`, and prints times with `%g`; reproducing those rules
//! here, in one place, is what lets a pgbouncer.ini mean the same thing to
//! Sluice and lets SHOW CONFIG print the same text.

use std::time::Duration;

/// `strtol(s, &end, 0)` that must consume the whole string: optional leading
/// whitespace and sign, then `0x` hex, `0` octal or decimal digits.
/// Overflow is an error (PgBouncer would silently clamp and truncate).
pub fn parse_c_long(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let bytes = rest.as_bytes();
    let (radix, digits) = if bytes.len() > 2
        && bytes[0] == b'0'
        && (bytes[1] == b'x' || bytes[1] == b'X')
        && bytes[2].is_ascii_hexdigit()
    {
        (16, &rest[2..])
    } else if bytes.len() > 1 && bytes[0] == b'0' {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// An integer key converted into its Rust type, with PgBouncer-like wording.
pub fn parse_int<T: TryFrom<i64>>(s: &str) -> Result<T, String> {
    let v = parse_c_long(s).ok_or_else(|| format!("invalid integer value: {s}"))?;
    T::try_from(v).map_err(|_| format!("value out of range: {s}"))
}

/// A PgBouncer boolean: an integer (non-zero is true, as PgBouncer stores
/// booleans as ints), or one of on/off, true/false, yes/no.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    if let Some(v) = parse_c_long(s) {
        return Ok(v != 0);
    }
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("invalid boolean value: {s}")),
    }
}

/// A PgBouncer time: non-negative seconds, fractional allowed, no unit
/// (PgBouncer's parser is plain `strtod`; `10s` is an error there too).
/// Stored with microsecond precision, truncated like PgBouncer's cast.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim_start()
        .parse()
        .map_err(|_| format!("invalid time value: {s} (pgbouncer.ini times are seconds)"))?;
    seconds_f64(v).ok_or_else(|| format!("invalid time value: {s}"))
}

fn seconds_f64(v: f64) -> Option<Duration> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let micros = v * 1e6;
    if micros >= u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_micros(micros as u64))
}

/// Whole seconds via strtol, for the few time keys PgBouncer keeps as ints
/// (`stats_period`, `query_wait_notify`).
pub fn parse_whole_seconds(s: &str) -> Result<Duration, String> {
    let v: u64 = parse_int(s)?;
    Ok(Duration::from_secs(v))
}

/// A duration written with a unit, for TOML: `"500ms"`, `"10s"`, `"1.5 min"`,
/// `"2h"`, `"1d"`, `"250us"`; a bare number means seconds.
pub fn parse_duration_with_unit(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == 'e' || c == 'E'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let v: f64 = number.parse().map_err(|_| {
        format!("invalid duration: {s:?} (expected e.g. \"10s\", \"500ms\", \"5min\")")
    })?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?} (use us, ms, s, min, h, d)"
            ))
        }
    };
    seconds_f64(v * scale).ok_or_else(|| format!("invalid duration: {s:?}"))
}

/// Seconds as PgBouncer prints a time in SHOW CONFIG: `printf("%g")`.
pub fn format_seconds(d: Duration) -> String {
    format_g(d.as_micros() as f64 / 1e6)
}

/// Seconds with microsecond precision in ini syntax, for handing TOML
/// durations to the ini value parsers without losing precision.
pub fn seconds_text(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}.{:06}", d.as_secs(), micros)
    }
}

/// C's `%g` with the default precision of 6 significant digits.
pub fn format_g(v: f64) -> String {
    const P: i32 = 6;
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if !(-4..P).contains(&exp) {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A comma-separated list, items trimmed, empty items dropped.
pub fn parse_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strtol_base_zero() {
        assert_eq!(parse_c_long("0777"), Some(511));
        assert_eq!(parse_c_long("0x1F"), Some(31));
        assert_eq!(parse_c_long("0X1f"), Some(31));
        assert_eq!(parse_c_long("42"), Some(42));
        assert_eq!(parse_c_long("-7"), Some(-7));
        assert_eq!(parse_c_long("+7"), Some(7));
        assert_eq!(parse_c_long("0"), Some(0));
        assert_eq!(parse_c_long("  12"), Some(12));
        assert_eq!(parse_c_long("08"), None);
        assert_eq!(parse_c_long("0x"), None);
        assert_eq!(parse_c_long("12abc"), None);
        assert_eq!(parse_c_long(""), None);
        assert_eq!(parse_c_long("-"), None);
        assert_eq!(parse_c_long("99999999999999999999999"), None);
    }

    #[test]
    fn int_range() {
        assert_eq!(parse_int::<u16>("65535"), Ok(65535));
        assert!(parse_int::<u16>("65536")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_int::<usize>("-1")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_int::<u32>("ten")
            .unwrap_err()
            .contains("invalid integer"));
    }

    #[test]
    fn booleans() {
        for t in ["1", "2", "on", "TRUE", "yes"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "off", "False", "NO", "0x0"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("1e3"), Ok(Duration::from_secs(1000)));
        assert_eq!(parse_seconds("0.0000015"), Ok(Duration::from_micros(1)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("10s").is_err());
        assert!(parse_seconds("nan").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("").is_err());
        assert_eq!(parse_whole_seconds("60"), Ok(Duration::from_secs(60)));
        assert!(parse_whole_seconds("1.5").is_err());
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration_with_unit("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(
            parse_duration_with_unit("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration_with_unit("5min"),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration_with_unit("1.5 h"),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration_with_unit("2d"),
            Ok(Duration::from_secs(172_800))
        );
        assert_eq!(
            parse_duration_with_unit("250us"),
            Ok(Duration::from_micros(250))
        );
        assert_eq!(parse_duration_with_unit("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration_with_unit("5 fortnights").is_err());
        assert!(parse_duration_with_unit("ms").is_err());
        assert!(parse_duration_with_unit("-1s").is_err());
    }

    #[test]
    fn printf_g() {
        assert_eq!(format_g(3600.0), "3600");
        assert_eq!(format_g(0.5), "0.5");
        assert_eq!(format_g(5.0), "5");
        assert_eq!(format_g(120.25), "120.25");
        assert_eq!(format_g(1_000_000.0), "1e+06");
        assert_eq!(format_g(123_456.0), "123456");
        assert_eq!(format_g(1_234_567.0), "1.23457e+06");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(0.00001), "1e-05");
        assert_eq!(format_g(0.000001), "1e-06");
        assert_eq!(format_g(999_999.5), "1e+06");
        assert_eq!(format_seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(format_seconds(Duration::ZERO), "0");
    }

    #[test]
    fn seconds_text_round_trips() {
        for d in [
            Duration::from_secs(3),
            Duration::from_micros(1_500_001),
            Duration::ZERO,
        ] {
            assert_eq!(parse_seconds(&seconds_text(d)), Ok(d));
        }
        assert_eq!(seconds_text(Duration::from_millis(2500)), "2.500000");
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list(" a, b ,,c "), vec!["a", "b", "c"]);
        assert!(parse_list("").is_empty());
        assert_eq!(parse_list("*"), vec!["*"]);
    }
}
