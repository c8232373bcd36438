//! Sluice configuration. Reads pgbouncer.ini exactly as PgBouncer 1.25 does
//! (so an existing file drops in) and sluice.toml (the same settings, typed),
//! into one validated [`Config`]; reads userlist.txt into a [`Userlist`].
//!
//! Layout: `ini` and `toml_load` read the two formats; `keys` is the single
//! table of `[pgbouncer]` keys (kinds in `kinds`, scalar syntax in `values`);
//! `connstr` handles `[databases]`/`[users]` entries; `assemble` builds the
//! model both readers share and `validate` checks it; `model`/`general` are
//! the types the rest of Sluice uses.
#![forbid(unsafe_code)]

use std::path::Path;

mod assemble;
mod connstr;
mod error;
mod general;
mod ini;
mod keys;
mod kinds;
mod model;
mod toml_load;
mod userlist;
mod validate;
mod values;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Warning};
pub use general::DEFAULT_AUTH_QUERY;
pub use keys::set_at_run_time;
pub use model::*;
pub use userlist::{Secret, Userlist};

/// A loaded configuration and what was wrong with it but not fatal.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
    /// Where each `[pgbouncer]` key was set, so checks made later (the
    /// TLS files, read by the runtime) can still name the line.
    pub origins: assemble::Origins,
}

impl Loaded {
    /// An error about `key`, pointing at the line that set it (or at the
    /// config file when the key took its default).
    pub fn key_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        match self.origins.get(key) {
            Some((file, line)) => ConfigError::key(file, Some(*line), key, message),
            None => ConfigError::key(&self.config.source, None, key, message),
        }
    }
}

/// Read a config file: `.toml` as sluice.toml, anything else as pgbouncer.ini.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(path, format!("could not read config file: {e}")))?;
    if path.extension().is_some_and(|ext| ext == "toml") {
        parse_toml(&text, path)
    } else {
        parse_ini(&text, path)
    }
}

/// Read pgbouncer.ini text. `origin` is used in messages; `%include` names
/// are resolved against the working directory, as PgBouncer does.
pub fn parse_ini(text: &str, origin: &Path) -> Result<Loaded, ConfigError> {
    ini::read(text, origin)
}

/// Read sluice.toml text. `origin` is used in messages.
pub fn parse_toml(text: &str, origin: &Path) -> Result<Loaded, ConfigError> {
    toml_load::read(text, origin)
}
