//! Tests across modules: whole files in both formats, `%include`, every
//! error path with its line, and the example configs shipped in `config/`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Config, ConfigError, Loaded};

mod equivalence;
mod ini_errors;
mod ini_files;
mod toml_files;

/// A fresh path in the temp dir, unique per process and call.
pub fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sluice-config-{}-{n}-{name}", std::process::id()))
}

pub fn write_temp(name: &str, text: &str) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

pub fn ini(text: &str) -> Loaded {
    crate::parse_ini(text, Path::new("test.ini")).unwrap_or_else(|e| panic!("{e}"))
}

pub fn ini_err(text: &str) -> ConfigError {
    match crate::parse_ini(text, Path::new("test.ini")) {
        Ok(loaded) => panic!("accepted: {text}\n{:?}", loaded.config),
        Err(e) => e,
    }
}

pub fn toml(text: &str) -> Loaded {
    crate::parse_toml(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

pub fn toml_err(text: &str) -> ConfigError {
    match crate::parse_toml(text, Path::new("test.toml")) {
        Ok(loaded) => panic!("accepted: {text}\n{:?}", loaded.config),
        Err(e) => e,
    }
}

/// Drop what legitimately differs between two files describing one setup.
pub fn normalized(mut config: Config) -> Config {
    config.source = PathBuf::new();
    for db in config
        .databases
        .iter_mut()
        .chain(config.fallback_database.iter_mut())
    {
        db.line = 0;
    }
    config
}
