//! sluice.toml: the same settings as pgbouncer.ini in a format with types.
//! `[sluice]` holds the `[pgbouncer]` keys, `[databases.<name>]` and
//! `[users.<name>]` hold one entry each (`[databases."*"]` is the fallback).
//! This is the serde layer: strict structs (`deny_unknown_fields`) whose
//! values are converted to ini text and fed to the same builder as the ini
//! reader, so validation is shared. Errors carry the line of the offending
//! key, computed from toml's byte spans.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::assemble::{Builder, Param};
use crate::error::ConfigError;
use crate::keys::RawGeneral;
use crate::kinds::TomlDuration;
use crate::values::seconds_text;
use crate::Loaded;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    sluice: Option<RawGeneral>,
    #[serde(default)]
    databases: BTreeMap<String, Spanned<RawDatabase>>,
    #[serde(default)]
    users: BTreeMap<String, Spanned<RawUser>>,
    /// Accepted and ignored, as in the ini reader.
    #[serde(default)]
    #[allow(dead_code)]
    peers: Option<toml::Table>,
}

/// A value of a database or user entry, as ini text.
trait IniText {
    fn ini_text(&self) -> String;
}
impl IniText for String {
    fn ini_text(&self) -> String {
        self.clone()
    }
}
impl IniText for i64 {
    fn ini_text(&self) -> String {
        self.to_string()
    }
}
impl IniText for TomlDuration {
    fn ini_text(&self) -> String {
        seconds_text(self.0)
    }
}

macro_rules! entry_struct {
    ($(#[$meta:meta])* $raw:ident { $( $(#[doc = $doc:literal])* $(#[serde($attr:meta)])? $field:ident : $ty:ty, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $raw {
            $( $(#[doc = $doc])* #[serde(default)] $(#[serde($attr)])? $field: Option<Spanned<$ty>>, )*
        }
        impl $raw {
            fn params(&self, text: &str) -> Vec<Param> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$field {
                    out.push(Param {
                        key: stringify!($field).to_string(),
                        value: v.get_ref().ini_text(),
                        line: line_of(text, v.span().start),
                    });
                } )*
                out
            }
        }
    };
}

entry_struct! {
    /// One `[databases.<name>]` table: the keys of a pgbouncer.ini connection string.
    RawDatabase {
        /// Host, IP, socket directory or comma list. Default: Unix socket.
        host: String,
        /// Default 5432.
        port: i64,
        /// Backend database. Default: the entry's name.
        dbname: String,
        /// Forced user.
        user: String,
        /// Password of the forced user. Default: from auth_file.
        password: String,
        auth_user: String,
        auth_query: String,
        auth_dbname: String,
        pool_size: i64,
        min_pool_size: i64,
        /// Also accepted as `reserve_pool`.
        #[serde(alias = "reserve_pool")]
        reserve_pool_size: i64,
        max_db_connections: i64,
        max_db_client_connections: i64,
        /// session, transaction or statement.
        pool_mode: String,
        connect_query: String,
        /// Seconds or "10s"-style string.
        query_wait_timeout: TomlDuration,
        /// Seconds or "10s"-style string.
        server_lifetime: TomlDuration,
        /// round-robin or disable.
        load_balance_hosts: String,
        client_encoding: String,
        datestyle: String,
        timezone: String,
        application_name: String,
    }
}

entry_struct! {
    /// One `[users.<name>]` table.
    RawUser {
        /// session, transaction or statement.
        pool_mode: String,
        pool_size: i64,
        reserve_pool_size: i64,
        max_user_connections: i64,
        max_user_client_connections: i64,
        query_timeout: TomlDuration,
        query_wait_timeout: TomlDuration,
        idle_transaction_timeout: TomlDuration,
        transaction_timeout: TomlDuration,
        client_idle_timeout: TomlDuration,
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Read TOML text; `origin` names it in messages.
pub fn read(text: &str, origin: &Path) -> Result<Loaded, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| convert_error(&e, text, origin))?;
    let mut builder = Builder::new(origin);
    if let Some(general) = &raw.sluice {
        for entry in general.entries() {
            let line = line_of(text, entry.span.start);
            let value = entry
                .text
                .map_err(|m| ConfigError::key(origin, Some(line), entry.key, m))?;
            builder.set_general(entry.key, &value, origin, line)?;
        }
    }
    let mut databases: Vec<_> = raw.databases.iter().collect();
    databases.sort_by_key(|(_, db)| db.span().start);
    for (name, db) in databases {
        let line = line_of(text, db.span().start);
        builder.database(name, &db.get_ref().params(text), origin, line)?;
    }
    let mut users: Vec<_> = raw.users.iter().collect();
    users.sort_by_key(|(_, u)| u.span().start);
    for (name, user) in users {
        let line = line_of(text, user.span().start);
        builder.user(name, &user.get_ref().params(text), origin, line)?;
    }
    builder.finish()
}

/// The table header (`[sluice]`, `[databases.app]`) in force at `line`.
fn table_at(text: &str, line: usize) -> Option<&str> {
    text.lines()
        .take(line)
        .map(str::trim)
        .filter(|l| l.starts_with('['))
        .last()
}

/// The key name a span points at or sits behind (`key = <span>`).
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    let key = match before.rfind('=') {
        Some(eq) => before[..eq].trim(),
        None => text.get(span.clone())?.trim(),
    };
    let key = key.trim_matches(|c| c == '"' || c == '\'' || c == '[' || c == ']');
    let key = key.rsplit('.').next().unwrap_or(key).trim_matches('"');
    (!key.is_empty() && !key.contains('\n')).then(|| key.to_string())
}

fn convert_error(e: &toml::de::Error, text: &str, origin: &Path) -> ConfigError {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return ConfigError::file(origin, message);
    };
    let line = line_of(text, span.start);
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
        .map(|(name, _)| name.to_string());
    match unknown {
        Some(name) => {
            let message = match table_at(text, line) {
                Some(table) if !table.starts_with(&format!("[{name}")) => {
                    format!("unknown key in {table}")
                }
                _ => "unknown key (expected sluice, databases, users or peers)".to_string(),
            };
            ConfigError::key(origin, Some(line), &name, message)
        }
        None => ConfigError {
            file: origin.to_path_buf(),
            line: Some(line),
            key: key_at(text, &span),
            message,
        },
    }
}
