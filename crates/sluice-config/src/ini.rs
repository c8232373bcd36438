//! pgbouncer.ini, read the way PgBouncer's ini parser (libusual) reads it,
//! because a drop-in must accept the same files and mean the same thing:
//! comments only where a line starts with `;` or `#`; `[section]` headers;
//! `key = value` where the value is the rest of the line, trimmed; keys made
//! of `[A-Za-z0-9_.*-]` (or SQL-style double-quoted, for database names such
//! as `"my db"`); `%include file` pulls in another file at that point, with
//! the current section carrying over into and back out of it, nested at most
//! 10 deep, relative names resolved against the working directory.

use std::path::{Path, PathBuf};

use crate::assemble::{Builder, Param};
use crate::connstr::split_pairs;
use crate::error::ConfigError;
use crate::Loaded;

/// PgBouncer's limit on `%include` nesting.
const MAX_INCLUDE_DEPTH: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Main,
    Databases,
    Users,
    Peers,
    Unknown,
}

struct Reader {
    builder: Builder,
    section: Section,
    seen_main: bool,
}

/// Read ini text; `origin` names it in messages.
pub fn read(text: &str, origin: &Path) -> Result<Loaded, ConfigError> {
    let mut reader = Reader {
        builder: Builder::new(origin),
        section: Section::None,
        seen_main: false,
    };
    reader.file(text, origin, 0)?;
    if !reader.seen_main {
        // PgBouncer refuses such a file; it is harmless for Sluice.
        reader.builder.warn(
            origin,
            1,
            "main section [pgbouncer] missing from config file",
        );
    }
    reader.builder.finish()
}

fn syntax_error(file: &Path, line: usize) -> ConfigError {
    ConfigError::at(file, line, "syntax error in configuration")
}

/// A key at the start of `s`: bare or double-quoted. Returns the key and
/// the text after it, or `None` for an unterminated quote.
fn read_key(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = quoted.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().map(|&(_, n)| n) == Some('"') {
                    key.push('"');
                    chars.next();
                } else {
                    return Some((key, &quoted[i + 1..]));
                }
            } else {
                key.push(c);
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-*".contains(c)))
        .unwrap_or(s.len());
    Some((s[..end].to_string(), &s[end..]))
}

impl Reader {
    fn file(&mut self, text: &str, path: &Path, depth: usize) -> Result<(), ConfigError> {
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let mut rest = raw.trim_start();
            // A section header may be followed by more on the same line,
            // which PgBouncer reads as if it started a new line.
            loop {
                if rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') {
                    break;
                }
                if let Some(after) = rest.strip_prefix("%include") {
                    if after.starts_with([' ', '\t']) {
                        self.include(after.trim(), path, line, depth)?;
                        break;
                    }
                }
                if let Some(after) = rest.strip_prefix('[') {
                    let end = after.find(']').ok_or_else(|| syntax_error(path, line))?;
                    self.section(&after[..end], path, line);
                    rest = after[end + 1..].trim_start();
                    continue;
                }
                let (key, after_key) = read_key(rest).ok_or_else(|| syntax_error(path, line))?;
                let value = after_key
                    .trim_start_matches([' ', '\t'])
                    .strip_prefix('=')
                    .ok_or_else(|| syntax_error(path, line))?;
                if key.is_empty() {
                    return Err(syntax_error(path, line));
                }
                self.pair(&key, value.trim(), path, line)?;
                break;
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        name: &str,
        from: &Path,
        line: usize,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(
                from,
                line,
                "include nesting level too deep",
            ));
        }
        let path = PathBuf::from(name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::at(from, line, format!("cannot read included file {name}: {e}"))
        })?;
        self.file(&text, &path, depth + 1)
    }

    fn section(&mut self, name: &str, path: &Path, line: usize) {
        self.section = match name {
            "pgbouncer" => {
                if self.seen_main {
                    self.builder.restart_general(path, line);
                }
                self.seen_main = true;
                Section::Main
            }
            "databases" => Section::Databases,
            "users" => Section::Users,
            "peers" => Section::Peers,
            _ => {
                self.builder.warn(
                    path,
                    line,
                    format!("unknown section: {name} (its lines are ignored)"),
                );
                Section::Unknown
            }
        };
    }

    fn pair(
        &mut self,
        key: &str,
        value: &str,
        path: &Path,
        line: usize,
    ) -> Result<(), ConfigError> {
        let params = || -> Result<Vec<Param>, ConfigError> {
            let pairs =
                split_pairs(value).map_err(|m| ConfigError::key(path, Some(line), key, m))?;
            Ok(pairs
                .into_iter()
                .map(|(key, value)| Param { key, value, line })
                .collect())
        };
        match self.section {
            Section::None => Err(ConfigError::at(
                path,
                line,
                format!("value without section: {key}"),
            )),
            Section::Main => self.builder.set_general(key, value, path, line),
            Section::Databases => self.builder.database(key, &params()?, path, line),
            Section::Users => self.builder.user(key, &params()?, path, line),
            // Peering is not implemented; the entries are accepted silently.
            Section::Peers | Section::Unknown => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_bare_and_quoted() {
        assert_eq!(
            read_key("foo_bar.1-*= x"),
            Some(("foo_bar.1-*".to_string(), "= x"))
        );
        assert_eq!(
            read_key("\"my db\" = x"),
            Some(("my db".to_string(), " = x"))
        );
        assert_eq!(read_key("\"a\"\"b\"=x"), Some(("a\"b".to_string(), "=x")));
        assert_eq!(read_key("\"open = x"), None);
        assert_eq!(read_key("=x"), Some((String::new(), "=x")));
    }
}
