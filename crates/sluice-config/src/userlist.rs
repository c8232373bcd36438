//! userlist.txt (`auth_file`): `"user" "secret"` per line, as PgBouncer
//! reads it. Fields are double-quoted with `""` for a quote inside; what
//! follows the second field is ignored; blank lines and lines starting with
//! `;` are skipped. PgBouncer stops at a malformed line and keeps what it
//! read so far; Sluice refuses the file instead and names the line, because
//! silently losing the users below a typo is how logins break at 3 a.m.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ConfigError;

/// PgBouncer's field limits (including the terminating NUL in C).
const MAX_USERNAME: usize = 128;
const MAX_PASSWORD: usize = 2048;

/// What an auth_file entry stores for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// A clear-text password (works for every method; also `""`).
    Plain(String),
    /// The full `md5<32 hex>` text: md5(password ‖ username).
    Md5(String),
    /// The full `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` text.
    Scram(String),
}

impl Secret {
    /// Classify a stored secret by its form.
    pub fn classify(s: &str) -> Secret {
        let is_md5 =
            s.len() == 35 && s.starts_with("md5") && s[3..].bytes().all(|b| b.is_ascii_hexdigit());
        if is_md5 {
            Secret::Md5(s.to_string())
        } else if s.starts_with("SCRAM-SHA-256$") {
            Secret::Scram(s.to_string())
        } else {
            Secret::Plain(s.to_string())
        }
    }
}

/// Users and their secrets, by name. A name given twice keeps the later secret.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Userlist {
    users: BTreeMap<String, Secret>,
}

impl Userlist {
    pub fn load(path: &Path) -> Result<Userlist, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(path, format!("could not open auth_file: {e}")))?;
        Userlist::parse(&text, path)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Userlist, ConfigError> {
        let mut list = Userlist::default();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.trim_start();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            let fail =
                |m: &str| ConfigError::at(origin, index + 1, format!("broken auth file: {m}"));
            let after_open = line
                .strip_prefix('"')
                .ok_or_else(|| fail("a line must start with a double-quoted user name"))?;
            let (user, rest) =
                quoted_field(after_open).ok_or_else(|| fail("user name has no closing quote"))?;
            // PgBouncer skips anything up to the next quote.
            let open = rest
                .find('"')
                .ok_or_else(|| fail("missing password field"))?;
            let (secret, _ignored) = quoted_field(&rest[open + 1..])
                .ok_or_else(|| fail("password has no closing quote"))?;
            if user.len() >= MAX_USERNAME {
                return Err(fail("user name too long"));
            }
            if secret.len() >= MAX_PASSWORD {
                return Err(fail("password too long"));
            }
            list.insert(user, Secret::classify(&secret));
        }
        Ok(list)
    }

    pub fn get(&self, user: &str) -> Option<&Secret> {
        self.users.get(user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn insert(&mut self, user: String, secret: Secret) {
        self.users.insert(user, secret);
    }

    /// All users, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.users
            .iter()
            .map(|(name, secret)| (name.as_str(), secret))
    }
}

/// A field after its opening quote: the unescaped text and what follows the
/// closing quote.
fn quoted_field(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if chars.peek().map(|&(_, n)| n) == Some('"') {
                out.push('"');
                chars.next();
            } else {
                return Some((out, &s[i + 1..]));
            }
        } else if c == '\r' && s[i + 1..].is_empty() {
            return None;
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SCRAM: &str = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";

    #[test]
    fn classify() {
        assert_eq!(
            Secret::classify("md5a3556571e93b0d20722ba62be61e8c2d"),
            Secret::Md5("md5a3556571e93b0d20722ba62be61e8c2d".into())
        );
        assert_eq!(Secret::classify(SCRAM), Secret::Scram(SCRAM.into()));
        // Too short, not hex, wrong prefix: all plain.
        assert!(matches!(
            Secret::classify("md5a3556571e93b0d20722ba62be61e8c2"),
            Secret::Plain(_)
        ));
        assert!(matches!(
            Secret::classify("md5z3556571e93b0d20722ba62be61e8c2d"),
            Secret::Plain(_)
        ));
        assert!(matches!(
            Secret::classify("scram-sha-256$x"),
            Secret::Plain(_)
        ));
        assert_eq!(Secret::classify(""), Secret::Plain(String::new()));
    }

    #[test]
    fn parses_all_forms() {
        let text = format!(
            "; comment\n\n  \"alice\" \"secret\"\n\"bob\" \"md5a3556571e93b0d20722ba62be61e8c2d\" trailing junk\n\
             \"carol\"   \"{SCRAM}\"\r\n\"da\"\"ve\" \"pa\"\"ss\"\n\"empty\" \"\"\n\"alice\" \"again\"\n\"sep\" , \"x\"\n"
        );
        let list = Userlist::parse(&text, Path::new("u.txt")).unwrap_or_default();
        assert_eq!(list.len(), 6);
        assert_eq!(list.get("alice"), Some(&Secret::Plain("again".into())));
        assert!(matches!(list.get("bob"), Some(Secret::Md5(_))));
        assert_eq!(list.get("carol"), Some(&Secret::Scram(SCRAM.into())));
        assert_eq!(list.get("da\"ve"), Some(&Secret::Plain("pa\"ss".into())));
        assert_eq!(list.get("empty"), Some(&Secret::Plain(String::new())));
        assert_eq!(list.get("sep"), Some(&Secret::Plain("x".into())));
        assert!(list.get("Alice").is_none());
        assert!(!list.is_empty());
        assert_eq!(list.iter().count(), 6);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("\"a\" \"b\"\nalice secret\n", 2, "must start"),
            ("\n\n\"alice \"x\"\n", 3, "password has no closing quote"),
            ("\"alice\"\n\"b\" \"c\"", 1, "missing password"),
            ("\"alice\" \"secret\n", 1, "password has no closing quote"),
            ("\"alice\" \"secret\r\n", 1, "password has no closing quote"),
            ("\"open\n", 1, "user name has no closing quote"),
            ("# hash is not a comment here\n", 1, "must start"),
        ];
        for (text, line, needle) in cases {
            let err = Userlist::parse(text, Path::new("u.txt")).err();
            let err = err.unwrap_or_else(|| panic!("accepted {text:?}"));
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
            assert_eq!(err.file, Path::new("u.txt"));
        }
    }

    #[test]
    fn length_limits() {
        let long_user = format!("\"{}\" \"x\"", "u".repeat(128));
        assert!(Userlist::parse(&long_user, Path::new("u")).is_err());
        let ok_user = format!("\"{}\" \"x\"", "u".repeat(127));
        assert!(Userlist::parse(&ok_user, Path::new("u")).is_ok());
        let long_pass = format!("\"u\" \"{}\"", "p".repeat(2048));
        assert!(Userlist::parse(&long_pass, Path::new("u")).is_err());
    }

    #[test]
    fn load_reports_missing_file() {
        let err = Userlist::load(Path::new("/nonexistent/sluice/userlist.txt")).err();
        assert!(err.is_some_and(|e| e.line.is_none() && e.message.contains("could not open")));
    }
}
