//! Where both readers deliver what they found: `[pgbouncer]` keys, database
//! entries and user entries, each with the file and line it came from. The
//! builder turns them into the model, records where every key was set (so a
//! later cross-key check can still point at a line), collects warnings, and
//! finally runs validation. Having one builder is what guarantees that an
//! ini file and a TOML file describing the same setup load identically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::connstr::{apply_db_param, apply_user_param};
use crate::error::{ConfigError, Warning};
use crate::keys;
use crate::model::{Config, Database, General, UserOverrides};
use crate::validate;
use crate::Loaded;

/// One parameter of a database or user entry.
pub struct Param {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Where a `[pgbouncer]` key was last set.
pub type Origins = HashMap<&'static str, (PathBuf, usize)>;

pub struct Builder {
    general: General,
    origins: Origins,
    databases: Vec<Database>,
    fallback: Option<Database>,
    users: Vec<UserOverrides>,
    warnings: Vec<Warning>,
    source: PathBuf,
}

impl Builder {
    pub fn new(source: &Path) -> Self {
        Builder {
            general: General::default(),
            origins: Origins::new(),
            databases: Vec::new(),
            fallback: None,
            users: Vec::new(),
            warnings: Vec::new(),
            source: source.to_path_buf(),
        }
    }

    pub fn warn(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.warnings.push(Warning::new(file, line, message));
    }

    /// Set a `[pgbouncer]` key. Unknown keys only warn (PgBouncer refuses
    /// to start; Sluice tells you and carries on).
    pub fn set_general(
        &mut self,
        key: &str,
        value: &str,
        file: &Path,
        line: usize,
    ) -> Result<(), ConfigError> {
        let Some(def) = keys::find(key) else {
            self.warn(file, line, format!("unknown parameter: pgbouncer/{key}"));
            return Ok(());
        };
        (def.set)(&mut self.general, value)
            .map_err(|m| ConfigError::key(file, Some(line), key, m))?;
        self.origins.insert(def.name, (file.to_path_buf(), line));
        Ok(())
    }

    /// A second `[pgbouncer]` header: PgBouncer refills every key with its
    /// default at each header of the main section, so earlier settings are
    /// lost. Sluice does the same (a drop-in must) and says so.
    pub fn restart_general(&mut self, file: &Path, line: usize) {
        if !self.origins.is_empty() {
            self.warn(
                file,
                line,
                "[pgbouncer] appears again: as in PgBouncer, every [pgbouncer] setting made before this line is reset to its default",
            );
        }
        self.general = General::default();
        self.origins.clear();
    }

    /// Add (or redefine) a `[databases]` entry; `*` is the fallback.
    pub fn database(
        &mut self,
        name: &str,
        params: &[Param],
        file: &Path,
        line: usize,
    ) -> Result<(), ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::at(file, line, "empty database name"));
        }
        if name == "pgbouncer" {
            return Err(ConfigError::key(
                file,
                Some(line),
                name,
                "database name \"pgbouncer\" is reserved for the admin console",
            ));
        }
        let mut db = Database::new(name);
        db.line = line;
        for p in params {
            apply_db_param(&mut db, &p.key, &p.value).map_err(|m| {
                ConfigError::key(
                    file,
                    Some(p.line),
                    &p.key,
                    format!("{m} (in [databases] entry {name:?})"),
                )
            })?;
        }
        if name == "*" {
            self.fallback = Some(db);
        } else if let Some(old) = self.databases.iter_mut().find(|d| d.name == name) {
            let first = old.line;
            *old = db;
            self.warn(
                file,
                line,
                format!(
                    "database {name:?} defined again (first at line {first}); this definition wins"
                ),
            );
        } else {
            self.databases.push(db);
        }
        Ok(())
    }

    /// Add (or redefine) a `[users]` entry.
    pub fn user(
        &mut self,
        name: &str,
        params: &[Param],
        file: &Path,
        line: usize,
    ) -> Result<(), ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::at(file, line, "empty user name"));
        }
        let mut user = UserOverrides::new(name);
        for p in params {
            apply_user_param(&mut user, &p.key, &p.value).map_err(|m| {
                ConfigError::key(
                    file,
                    Some(p.line),
                    &p.key,
                    format!("{m} (in [users] entry {name:?})"),
                )
            })?;
        }
        if let Some(old) = self.users.iter_mut().find(|u| u.name == name) {
            *old = user;
            self.warn(
                file,
                line,
                format!("user {name:?} defined again; this definition wins"),
            );
        } else {
            self.users.push(user);
        }
        Ok(())
    }

    /// Validate and hand out the result.
    pub fn finish(mut self) -> Result<Loaded, ConfigError> {
        let config = Config {
            general: self.general,
            databases: self.databases,
            fallback_database: self.fallback,
            users: self.users,
            source: self.source,
        };
        validate::check(&config, &self.origins, &mut self.warnings)?;
        Ok(Loaded {
            config,
            warnings: self.warnings,
            origins: self.origins,
        })
    }
}
