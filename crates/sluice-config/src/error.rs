//! Errors and warnings carry a file and a line because the person reading
//! them is editing a config file: "pgbouncer.ini:12: listen_port: ..." tells
//! them where to look, which a bare message would not. Both formats (ini and
//! TOML) and the userlist report through these two types.

use std::fmt;
use std::path::{Path, PathBuf};

/// A config problem that stops loading. `Display` is `file:line: key: message`,
/// leaving out the parts that are unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.file, .line, .key, .message))]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

fn render(file: &Path, line: &Option<usize>, key: &Option<String>, message: &str) -> String {
    let mut out = file.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(": {key}"));
    }
    out.push_str(&format!(": {message}"));
    out
}

impl ConfigError {
    /// An error about a whole file (unreadable, not UTF-8...).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    /// An error at one line, not tied to a key (syntax errors).
    pub fn at(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            key: None,
            message: message.into(),
        }
    }

    /// An error about one key's value.
    pub fn key(file: &Path, line: Option<usize>, key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line,
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// Something PgBouncer would reject or silently misread, but that Sluice
/// accepts so a config that works elsewhere keeps working. `Display` is
/// `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl Warning {
    pub fn new(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_display_omits_missing_parts() {
        let p = Path::new("a.ini");
        assert_eq!(ConfigError::file(p, "gone").to_string(), "a.ini: gone");
        assert_eq!(
            ConfigError::at(p, 3, "syntax").to_string(),
            "a.ini:3: syntax"
        );
        assert_eq!(
            ConfigError::key(p, Some(7), "listen_port", "bad").to_string(),
            "a.ini:7: listen_port: bad"
        );
        assert_eq!(
            ConfigError::key(p, None, "auth_type", "needs file").to_string(),
            "a.ini: auth_type: needs file"
        );
    }

    #[test]
    fn warning_display() {
        let w = Warning::new(Path::new("x/p.ini"), 9, "unknown parameter: pgbouncer/foo");
        assert_eq!(w.to_string(), "x/p.ini:9: unknown parameter: pgbouncer/foo");
    }
}
