//! The validated configuration that the rest of Sluice reads: plain data
//! with real types (`Duration`, enums, `Option` for "not set"), no text left
//! to interpret. Both readers produce exactly these types, so nothing
//! downstream knows or cares whether the file was pgbouncer.ini or TOML.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use crate::general::General;

/// The whole configuration after loading and validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub general: General,
    /// `[databases]` entries in file order, without `*`.
    pub databases: Vec<Database>,
    /// The `*` entry ("auto-database"): used for names not listed, with
    /// `dbname` defaulting to the requested name.
    pub fallback_database: Option<Database>,
    /// `[users]` entries in file order.
    pub users: Vec<UserOverrides>,
    /// The file the config was read from (the top file for `%include`).
    pub source: PathBuf,
}

impl Config {
    /// The `[databases]` entry with exactly this name; the caller decides
    /// whether to fall back to [`Config::fallback_database`].
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.iter().find(|db| db.name == name)
    }

    /// The `[users]` entry with exactly this name.
    pub fn user(&self, name: &str) -> Option<&UserOverrides> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Every `[pgbouncer]` key as SHOW CONFIG prints it, alphabetical.
    pub fn settings_table(&self) -> Vec<SettingRow> {
        crate::keys::settings_table(&self.general, &self.source)
    }
}

/// One row of SHOW CONFIG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingRow {
    pub key: &'static str,
    /// The effective value, formatted as PgBouncer prints it (times with
    /// `%g` seconds, booleans and ints as numbers, unset strings empty).
    pub value: String,
    /// PgBouncer's default text for the key (unset defaults are empty).
    pub default: String,
    /// `false` for keys that need a restart (PgBouncer's `CF_NO_RELOAD`).
    pub changeable: bool,
}

/// How long a client keeps its server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolMode {
    Session,
    Transaction,
    Statement,
}

impl FromStr for PoolMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "session" => Ok(PoolMode::Session),
            "transaction" => Ok(PoolMode::Transaction),
            "statement" => Ok(PoolMode::Statement),
            _ => Err(format!("invalid pool mode: {s}")),
        }
    }
}

impl fmt::Display for PoolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        })
    }
}

/// How clients authenticate to Sluice (`auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    Trust,
    Any,
    Plain,
    Md5,
    ScramSha256,
    Cert,
    Hba,
}

impl FromStr for AuthType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "trust" => Ok(AuthType::Trust),
            "any" => Ok(AuthType::Any),
            "plain" => Ok(AuthType::Plain),
            "md5" => Ok(AuthType::Md5),
            "scram-sha-256" => Ok(AuthType::ScramSha256),
            "cert" => Ok(AuthType::Cert),
            "hba" => Ok(AuthType::Hba),
            "ldap" | "pam" => Err(format!("auth_type {s} is not supported by Sluice")),
            _ => Err(format!("invalid auth_type: {s}")),
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthType::Trust => "trust",
            AuthType::Any => "any",
            AuthType::Plain => "plain",
            AuthType::Md5 => "md5",
            AuthType::ScramSha256 => "scram-sha-256",
            AuthType::Cert => "cert",
            AuthType::Hba => "hba",
        })
    }
}

/// One `[databases]` line. `None` means "not set here, inherit".
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub name: String,
    /// Host, IP, Unix socket directory, `@abstract` or comma list; `None`
    /// means the Unix socket in `unix_socket_dir`.
    pub host: Option<String>,
    pub port: u16,
    /// Backend database name; `None` means the client-side name.
    pub dbname: Option<String>,
    /// Forced user: every client shares one pool logged in as this user.
    pub user: Option<String>,
    pub password: Option<String>,
    pub auth_user: Option<String>,
    pub auth_query: Option<String>,
    pub auth_dbname: Option<String>,
    pub pool_size: Option<usize>,
    pub min_pool_size: Option<usize>,
    /// Also accepted as `reserve_pool`, PgBouncer's older spelling.
    pub reserve_pool_size: Option<usize>,
    pub max_db_connections: Option<usize>,
    pub max_db_client_connections: Option<usize>,
    pub pool_mode: Option<PoolMode>,
    pub connect_query: Option<String>,
    pub query_wait_timeout: Option<Duration>,
    pub server_lifetime: Option<Duration>,
    /// `round-robin` or `disable`.
    pub load_balance_hosts: Option<String>,
    pub client_encoding: Option<String>,
    pub datestyle: Option<String>,
    pub timezone: Option<String>,
    pub application_name: Option<String>,
    /// Line of the definition, for messages.
    pub line: usize,
}

impl Database {
    /// An entry with nothing set (port 5432).
    pub fn new(name: impl Into<String>) -> Self {
        Database {
            name: name.into(),
            host: None,
            port: 5432,
            dbname: None,
            user: None,
            password: None,
            auth_user: None,
            auth_query: None,
            auth_dbname: None,
            pool_size: None,
            min_pool_size: None,
            reserve_pool_size: None,
            max_db_connections: None,
            max_db_client_connections: None,
            pool_mode: None,
            connect_query: None,
            query_wait_timeout: None,
            server_lifetime: None,
            load_balance_hosts: None,
            client_encoding: None,
            datestyle: None,
            timezone: None,
            application_name: None,
            line: 0,
        }
    }
}

/// One `[users]` line. `None` means "not set here, inherit".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserOverrides {
    pub name: String,
    pub pool_mode: Option<PoolMode>,
    pub pool_size: Option<usize>,
    pub reserve_pool_size: Option<usize>,
    pub max_user_connections: Option<usize>,
    pub max_user_client_connections: Option<usize>,
    pub query_timeout: Option<Duration>,
    pub query_wait_timeout: Option<Duration>,
    pub idle_transaction_timeout: Option<Duration>,
    pub transaction_timeout: Option<Duration>,
    pub client_idle_timeout: Option<Duration>,
}

impl UserOverrides {
    /// An entry with nothing set.
    pub fn new(name: impl Into<String>) -> Self {
        UserOverrides {
            name: name.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pool_mode_is_case_insensitive_and_prints_lower() {
        assert_eq!("Transaction".parse::<PoolMode>(), Ok(PoolMode::Transaction));
        assert_eq!("SESSION".parse::<PoolMode>(), Ok(PoolMode::Session));
        assert_eq!("statement".parse::<PoolMode>(), Ok(PoolMode::Statement));
        assert!("tx".parse::<PoolMode>().is_err());
        assert_eq!(PoolMode::Transaction.to_string(), "transaction");
    }

    #[test]
    fn auth_type_round_trips() {
        for a in [
            AuthType::Trust,
            AuthType::Any,
            AuthType::Plain,
            AuthType::Md5,
            AuthType::ScramSha256,
            AuthType::Cert,
            AuthType::Hba,
        ] {
            assert_eq!(a.to_string().to_uppercase().parse::<AuthType>(), Ok(a));
        }
        assert_eq!(AuthType::ScramSha256.to_string(), "scram-sha-256");
        assert!("pam"
            .parse::<AuthType>()
            .unwrap_err()
            .contains("not supported"));
        assert!("scram".parse::<AuthType>().is_err());
    }

    #[test]
    fn lookups() {
        let config = Config {
            databases: vec![Database::new("a"), Database::new("b")],
            users: vec![UserOverrides::new("u")],
            ..Default::default()
        };
        assert_eq!(config.database("b").map(|d| d.name.as_str()), Some("b"));
        assert!(config.database("B").is_none());
        assert!(config.database("c").is_none());
        assert!(config.user("u").is_some());
        assert!(config.user("v").is_none());
        assert_eq!(Database::new("x").port, 5432);
    }
}
