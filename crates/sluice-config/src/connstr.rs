//! `[databases]` and `[users]` entries. In pgbouncer.ini each is one line of
//! libpq-like `key=value` pairs that PgBouncer tokenises itself (it is not
//! libpq), so the tokeniser lives here; the TOML reader builds the same
//! (key, value) pairs from its tables. Both then go through
//! [`apply_db_param`] / [`apply_user_param`], which hold the list of allowed
//! keys and their value rules.

use std::time::Duration;

use crate::model::{Database, PoolMode, UserOverrides};
use crate::values;

/// Split `key=value key='quoted value' key="x"` into pairs.
///
/// Single quotes escape a quote as `''` or `\'`; double quotes as `""` or
/// `\"`. Unquoted values end at whitespace. Empty values are an error, as in
/// PgBouncer.
pub fn split_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        let after_key = rest[key_end..].trim_start();
        let Some(after_eq) = after_key.strip_prefix('=') else {
            return Err(format!(
                "syntax error in connection string: expected '=' after {key:?}"
            ));
        };
        if key.is_empty() {
            return Err("syntax error in connection string: empty parameter name".to_string());
        }
        let after_eq = after_eq.trim_start();
        let (value, remaining) = match after_eq.chars().next() {
            Some(q @ ('\'' | '"')) => unquote(&after_eq[1..], q).ok_or_else(|| {
                format!("syntax error in connection string: unterminated quote in value of {key}")
            })?,
            _ => {
                let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                (after_eq[..end].to_string(), &after_eq[end..])
            }
        };
        if value.is_empty() {
            return Err(format!(
                "syntax error in connection string: empty value for {key}"
            ));
        }
        if remaining.chars().next().is_some_and(|c| !c.is_whitespace()) {
            return Err(format!(
                "syntax error in connection string: text right after the quoted value of {key}"
            ));
        }
        out.push((key.to_string(), value));
        rest = remaining.trim_start();
    }
    Ok(out)
}

/// Read a quoted value after its opening quote; returns the value and the
/// text after the closing quote.
fn unquote(s: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && chars.peek().map(|&(_, n)| n) == Some(quote) {
            value.push(quote);
            chars.next();
        } else if c == quote {
            if chars.peek().map(|&(_, n)| n) == Some(quote) {
                value.push(quote);
                chars.next();
            } else {
                return Some((value, &s[i + c.len_utf8()..]));
            }
        } else {
            value.push(c);
        }
    }
    None
}

fn count(key: &str, val: &str) -> Result<Option<usize>, String> {
    values::parse_int::<usize>(val)
        .map(Some)
        .map_err(|_| format!("invalid value for {key}: {val}"))
}

fn time(key: &str, val: &str) -> Result<Option<Duration>, String> {
    values::parse_seconds(val)
        .map(Some)
        .map_err(|_| format!("invalid value for {key}: {val} (seconds)"))
}

/// `query_wait_timeout` per database/user: -1 means "not set here".
fn wait_time(key: &str, val: &str) -> Result<Option<Duration>, String> {
    if val.trim() == "-1" {
        return Ok(None);
    }
    time(key, val)
}

fn mode(val: &str) -> Result<Option<PoolMode>, String> {
    val.parse().map(Some)
}

/// Apply one connection parameter of a `[databases]` entry.
pub fn apply_db_param(db: &mut Database, key: &str, val: &str) -> Result<(), String> {
    let text = Some(val.to_string());
    match key {
        "dbname" => db.dbname = text,
        "host" => db.host = text,
        "port" => {
            db.port = match values::parse_int::<u16>(val) {
                Ok(port) if port != 0 => port,
                _ => return Err(format!("invalid port: {val}")),
            }
        }
        "user" => db.user = text,
        "password" => db.password = text,
        "auth_user" => db.auth_user = text,
        "auth_query" => db.auth_query = text,
        "auth_dbname" => db.auth_dbname = text,
        "pool_size" => db.pool_size = count(key, val)?,
        "min_pool_size" => db.min_pool_size = count(key, val)?,
        "reserve_pool" | "reserve_pool_size" => db.reserve_pool_size = count(key, val)?,
        "max_db_connections" => db.max_db_connections = count(key, val)?,
        "max_db_client_connections" => db.max_db_client_connections = count(key, val)?,
        "pool_mode" => db.pool_mode = mode(val)?,
        "connect_query" => db.connect_query = text,
        "query_wait_timeout" => db.query_wait_timeout = wait_time(key, val)?,
        "server_lifetime" => db.server_lifetime = time(key, val)?,
        "load_balance_hosts" => {
            let lower = val.to_ascii_lowercase();
            if lower != "round-robin" && lower != "disable" {
                return Err(format!(
                    "invalid load_balance_hosts: {val} (expected round-robin or disable)"
                ));
            }
            db.load_balance_hosts = Some(lower);
        }
        "client_encoding" => db.client_encoding = text,
        "datestyle" => db.datestyle = text,
        "timezone" => db.timezone = text,
        "application_name" => db.application_name = text,
        _ => return Err(format!("unrecognized connection parameter: {key}")),
    }
    Ok(())
}

/// Apply one parameter of a `[users]` entry.
pub fn apply_user_param(user: &mut UserOverrides, key: &str, val: &str) -> Result<(), String> {
    match key {
        "pool_mode" => user.pool_mode = mode(val)?,
        "pool_size" => user.pool_size = count(key, val)?,
        "reserve_pool_size" => user.reserve_pool_size = count(key, val)?,
        "max_user_connections" => user.max_user_connections = count(key, val)?,
        "max_user_client_connections" => user.max_user_client_connections = count(key, val)?,
        "query_timeout" => user.query_timeout = time(key, val)?,
        "query_wait_timeout" => user.query_wait_timeout = wait_time(key, val)?,
        "idle_transaction_timeout" => user.idle_transaction_timeout = time(key, val)?,
        "transaction_timeout" => user.transaction_timeout = time(key, val)?,
        "client_idle_timeout" => user.client_idle_timeout = time(key, val)?,
        _ => return Err(format!("unrecognized user parameter: {key}")),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        split_pairs(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_and_quoted_values() {
        assert_eq!(
            pairs("  host=db1 port = 5433  dbname='my db' "),
            vec![
                ("host".into(), "db1".into()),
                ("port".into(), "5433".into()),
                ("dbname".into(), "my db".into())
            ]
        );
        assert_eq!(pairs("password='it''s'")[0].1, "it's");
        assert_eq!(pairs(r"password='it\'s'")[0].1, "it's");
        assert_eq!(
            pairs(r#"application_name="say ""hi""""#)[0].1,
            r#"say "hi""#
        );
        assert_eq!(pairs(r#"user="a\"b""#)[0].1, r#"a"b"#);
        assert_eq!(
            pairs("connect_query='SELECT 1' x=y")[1],
            ("x".into(), "y".into())
        );
        assert!(pairs("").is_empty());
    }

    #[test]
    fn syntax_errors() {
        assert!(split_pairs("host").unwrap_err().contains("expected '='"));
        assert!(split_pairs("=x")
            .unwrap_err()
            .contains("empty parameter name"));
        assert!(split_pairs("host='db")
            .unwrap_err()
            .contains("unterminated"));
        assert!(split_pairs("host=''").unwrap_err().contains("empty value"));
        assert!(split_pairs("host=").unwrap_err().contains("empty value"));
        assert!(split_pairs("host='a'b=1")
            .unwrap_err()
            .contains("right after"));
        assert!(split_pairs("host x=1")
            .unwrap_err()
            .contains("expected '='"));
    }

    #[test]
    fn database_params() {
        let mut db = Database::new("app");
        for (k, v) in pairs(
            "host=h port=0x1538 dbname=d user=u password=p auth_user=au auth_query='SELECT 1' auth_dbname=ad \
             pool_size=5 min_pool_size=1 reserve_pool=2 max_db_connections=9 max_db_client_connections=99 \
             pool_mode=Transaction connect_query='SET x=1' query_wait_timeout=2.5 server_lifetime=60 \
             load_balance_hosts=Disable client_encoding=UTF8 datestyle=ISO timezone=UTC application_name=app",
        ) {
            assert_eq!(apply_db_param(&mut db, &k, &v), Ok(()), "{k}");
        }
        assert_eq!(db.port, 5432);
        assert_eq!(db.host.as_deref(), Some("h"));
        assert_eq!(db.reserve_pool_size, Some(2));
        assert_eq!(db.pool_mode, Some(PoolMode::Transaction));
        assert_eq!(db.query_wait_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(db.server_lifetime, Some(Duration::from_secs(60)));
        assert_eq!(db.load_balance_hosts.as_deref(), Some("disable"));
        assert_eq!(db.application_name.as_deref(), Some("app"));
        assert_eq!(db.auth_query.as_deref(), Some("SELECT 1"));
        assert_eq!(apply_db_param(&mut db, "reserve_pool_size", "3"), Ok(()));
        assert_eq!(db.reserve_pool_size, Some(3));
        assert_eq!(apply_db_param(&mut db, "query_wait_timeout", "-1"), Ok(()));
        assert_eq!(db.query_wait_timeout, None);
    }

    #[test]
    fn database_param_errors() {
        let mut db = Database::new("app");
        assert_eq!(
            apply_db_param(&mut db, "sslmode", "require"),
            Err("unrecognized connection parameter: sslmode".to_string())
        );
        assert!(apply_db_param(&mut db, "port", "0")
            .unwrap_err()
            .contains("invalid port"));
        assert!(apply_db_param(&mut db, "port", "70000").is_err());
        assert!(apply_db_param(&mut db, "pool_size", "many")
            .unwrap_err()
            .contains("pool_size"));
        assert!(apply_db_param(&mut db, "pool_mode", "sometimes")
            .unwrap_err()
            .contains("invalid pool mode"));
        assert!(apply_db_param(&mut db, "load_balance_hosts", "random").is_err());
        assert!(apply_db_param(&mut db, "server_lifetime", "-5").is_err());
        assert!(
            apply_db_param(&mut db, "Host", "x").is_err(),
            "keys are case-sensitive"
        );
    }

    #[test]
    fn user_params() {
        let mut u = UserOverrides::new("bob");
        for (k, v) in pairs(
            "pool_mode=statement pool_size=3 reserve_pool_size=1 max_user_connections=7 \
             max_user_client_connections=70 query_timeout=30 query_wait_timeout=5 \
             idle_transaction_timeout=0.5 transaction_timeout=600 client_idle_timeout=3600",
        ) {
            assert_eq!(apply_user_param(&mut u, &k, &v), Ok(()), "{k}");
        }
        assert_eq!(u.pool_mode, Some(PoolMode::Statement));
        assert_eq!(u.max_user_client_connections, Some(70));
        assert_eq!(u.idle_transaction_timeout, Some(Duration::from_millis(500)));
        assert_eq!(u.client_idle_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(
            apply_user_param(&mut u, "host", "x"),
            Err("unrecognized user parameter: host".to_string())
        );
        assert!(apply_user_param(&mut u, "pool_size", "-1").is_err());
    }
}
