//! Tracked session parameters (PgBouncer's "varcache").
//!
//! A client's view of `TimeZone`, `DateStyle`, … must survive being moved
//! between server connections in transaction mode, and must never leak to
//! another client. Each client and each server keeps a `VarCache`; on
//! checkout the differences become one `SET` query sent before the client's
//! own traffic (invariant 4 in ARCHITECTURE.md).

use std::sync::Arc;

/// Parameters PgBouncer always tracks, spelled as the server reports them.
pub const ALWAYS_TRACKED: [&str; 5] = [
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "standard_conforming_strings",
    "application_name",
];

/// Values of the tracked parameters, positionally aligned with a shared
/// list of names so a compare is a handful of string comparisons.
#[derive(Debug, Clone)]
pub struct VarCache {
    names: Arc<[String]>,
    values: Vec<Option<String>>,
    /// Bumped whenever a value changes, so "nothing changed since we last
    /// compared" is one integer compare (see [`VarCache::version`]).
    version: u64,
}

impl VarCache {
    pub fn new(names: Arc<[String]>) -> Self {
        let values = vec![None; names.len()];
        VarCache {
            names,
            values,
            version: 0,
        }
    }

    /// Changes whenever any value changes (never goes back to an earlier
    /// number), so two equal versions of the same cache hold the same
    /// values.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.eq_ignore_ascii_case(name))
    }

    pub fn is_tracked(&self, name: &str) -> bool {
        self.index(name).is_some()
    }

    /// Record a value if `name` is tracked; returns whether it was.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        match self.index(name) {
            Some(i) => {
                if self.values[i].as_deref() != Some(value) {
                    self.values[i] = Some(value.to_string());
                    self.version += 1;
                }
                true
            }
            None => false,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.index(name).and_then(|i| self.values[i].as_deref())
    }

    /// Fill every unset value from `defaults` (the pool's welcome set), so
    /// a client that never named a parameter still pins the server default.
    pub fn fill_unset<'a>(&mut self, defaults: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in defaults {
            if let Some(i) = self.index(name) {
                if self.values[i].is_none() {
                    self.values[i] = Some(value.to_string());
                    self.version += 1;
                }
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names
            .iter()
            .zip(self.values.iter())
            .filter_map(|(n, v)| v.as_deref().map(|v| (n.as_str(), v)))
    }

    /// The `SET` statements that bring `server` in line with `self`, or
    /// `None` when they already agree. Values compare case-insensitively,
    /// as PgBouncer does, because the server normalises some spellings.
    pub fn sync_query(&self, server: &VarCache) -> Option<String> {
        // Caches made from the same tracked list line up by position; a
        // reload may change the list, and then we look names up.
        let aligned = Arc::ptr_eq(&self.names, &server.names);
        let mut query = String::new();
        for (i, value) in self.values.iter().enumerate() {
            let Some(value) = value else { continue };
            let name = &self.names[i];
            let current = if aligned {
                server.values[i].as_deref()
            } else {
                server.get(name)
            };
            // Usually byte-equal (a length check and a memcmp); the
            // case-insensitive compare only when they differ.
            let matches = current
                .is_some_and(|current| current == value || current.eq_ignore_ascii_case(value));
            if !matches {
                query.push_str("SET ");
                query.push_str(&quote_ident(name));
                query.push('=');
                query.push_str(&quote_literal(value));
                query.push(';');
            }
        }
        (!query.is_empty()).then_some(query)
    }
}

/// Quote a parameter name for SET (names with upper case need quotes to
/// be matched; Postgres folds GUC names case-insensitively anyway).
fn quote_ident(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A standard-conforming string literal; backslashes need the `E''` form
/// only when standard_conforming_strings is off, which we avoid by using
/// the escape-free form with doubled quotes.
pub fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// Split a startup `options` value into `-c key=value` / `--key=value`
/// settings. Returns `Err(option)` for anything else, which PgBouncer
/// refuses unless `options` is in `ignore_startup_parameters`.
pub fn parse_options(options: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut words = split_option_words(options).into_iter();
    while let Some(word) = words.next() {
        let setting = if word == "-c" {
            match words.next() {
                Some(next) => next,
                None => return Err(word),
            }
        } else if let Some(rest) = word.strip_prefix("--") {
            rest.to_string()
        } else if let Some(rest) = word.strip_prefix("-c") {
            rest.to_string()
        } else {
            return Err(word);
        };
        match setting.split_once('=') {
            Some((k, v)) => out.push((k.replace('-', "_"), v.to_string())),
            None => return Err(setting),
        }
    }
    Ok(out)
}

/// libpq escapes spaces in `options` values with a backslash.
fn split_option_words(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Arc<[String]> {
        ALWAYS_TRACKED
            .iter()
            .map(|s| s.to_string())
            .chain(["IntervalStyle".to_string()])
            .collect()
    }

    #[test]
    fn sync_query_sets_only_differences() {
        let mut client = VarCache::new(names());
        let mut server = VarCache::new(names());
        client.set("TimeZone", "Europe/Paris");
        client.set("datestyle", "ISO, DMY");
        server.set("TimeZone", "UTC");
        server.set("DateStyle", "iso, dmy");
        let q = client.sync_query(&server).expect("differs");
        assert_eq!(q, "SET \"TimeZone\"='Europe/Paris';");
        server.set("timezone", "europe/paris");
        assert_eq!(client.sync_query(&server), None);
    }

    #[test]
    fn version_moves_only_on_change() {
        let mut cache = VarCache::new(names());
        let v0 = cache.version();
        cache.set("TimeZone", "UTC");
        let v1 = cache.version();
        assert_ne!(v0, v1);
        cache.set("timezone", "UTC");
        cache.set("search_path", "x");
        assert_eq!(cache.version(), v1);
        cache.fill_unset([("TimeZone", "Asia/Tokyo")]);
        assert_eq!(cache.version(), v1);
        cache.fill_unset([("DateStyle", "ISO, MDY")]);
        assert_ne!(cache.version(), v1);
    }

    #[test]
    fn sync_query_by_name_across_tracked_lists() {
        let mut client = VarCache::new(names());
        let other: Arc<[String]> = ["TimeZone".to_string(), "DateStyle".to_string()].into();
        let mut server = VarCache::new(other);
        client.set("TimeZone", "UTC");
        server.set("DateStyle", "ISO");
        assert_eq!(
            client.sync_query(&server).as_deref(),
            Some("SET \"TimeZone\"='UTC';")
        );
        server.set("TimeZone", "utc");
        assert_eq!(client.sync_query(&server), None);
    }

    #[test]
    fn untracked_names_are_ignored() {
        let mut cache = VarCache::new(names());
        assert!(!cache.set("search_path", "x"));
        assert!(cache.set("intervalstyle", "iso_8601"));
        assert_eq!(cache.get("IntervalStyle"), Some("iso_8601"));
    }

    #[test]
    fn literals_are_quoted_safely() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b'"), "E'a\\\\b'''");
    }

    #[test]
    fn fill_unset_keeps_client_values() {
        let mut cache = VarCache::new(names());
        cache.set("TimeZone", "Asia/Tokyo");
        cache.fill_unset([("TimeZone", "UTC"), ("DateStyle", "ISO, MDY")]);
        assert_eq!(cache.get("TimeZone"), Some("Asia/Tokyo"));
        assert_eq!(cache.get("DateStyle"), Some("ISO, MDY"));
    }

    #[test]
    fn options_parse_like_libpq() {
        assert_eq!(
            parse_options("-c TimeZone=UTC --DateStyle=ISO -cstatement_timeout=5"),
            Ok(vec![
                ("TimeZone".into(), "UTC".into()),
                ("DateStyle".into(), "ISO".into()),
                ("statement_timeout".into(), "5".into())
            ])
        );
        assert_eq!(
            parse_options("-c application_name=my\\ app"),
            Ok(vec![("application_name".into(), "my app".into())])
        );
        assert_eq!(parse_options("-x"), Err("-x".to_string()));
        assert_eq!(parse_options("-c"), Err("-c".to_string()));
    }
}
