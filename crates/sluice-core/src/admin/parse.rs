//! The admin console's command grammar, as PgBouncer's regexes accept it
//! (case-insensitive): `WORD [ARG] [;]` where ARG is a word or a
//! `"quoted name"`, and `SET key = value` / `SET key TO value` where the
//! value is a word or a `'quoted string'` (`''` escapes a quote).
//! Anything else is an invalid command.

/// A parsed console command. Words are lower-cased; arguments keep case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `WORD [ARG]`; `SHOW x` and `SELECT x` arrive as `("show", Some(x))`.
    Word {
        cmd: String,
        arg: Option<String>,
    },
    Set {
        key: String,
        value: String,
    },
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) -> bool {
        let trimmed = self.rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let skipped = trimmed.len() != self.rest.len();
        self.rest = trimmed;
        skipped
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> Option<&'a str> {
        let end = self.rest.find(|c: char| !f(c)).unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }

    /// `"..."` without escapes, as PgBouncer's `"[^"]*"`; returns the inside.
    fn quoted_ident(&mut self) -> Option<&'a str> {
        let inner = self.rest.strip_prefix('"')?;
        let end = inner.find('"')?;
        self.rest = &inner[end + 1..];
        Some(&inner[..end])
    }

    /// `'...'` with `''` for a quote.
    fn quoted_string(&mut self) -> Option<String> {
        let all: &'a str = self.rest;
        let inner = all.strip_prefix('\'')?;
        let mut chars = inner.char_indices().peekable();
        let mut out = String::new();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                self.rest = &inner[i + 1..];
                return Some(out);
            }
            out.push(c);
        }
        None
    }

    /// Optional `;` and trailing white space, then the end.
    fn at_end(&mut self) -> bool {
        self.skip_ws();
        if let Some(rest) = self.rest.strip_prefix(';') {
            self.rest = rest;
            self.skip_ws();
        }
        self.rest.is_empty()
    }
}

/// Parse one console query; `None` means "invalid command".
pub fn parse(query: &str) -> Option<Command> {
    parse_set(query).or_else(|| parse_word(query))
}

fn parse_word(query: &str) -> Option<Command> {
    let mut c = Cursor { rest: query };
    c.skip_ws();
    let cmd = c.take_while(is_word_char)?.to_ascii_lowercase();
    let mut arg = None;
    if c.skip_ws() {
        arg = c
            .take_while(is_word_char)
            .or_else(|| c.quoted_ident())
            .map(str::to_string);
    }
    if !c.at_end() {
        return None;
    }
    Some(Command::Word { cmd, arg })
}

fn parse_set(query: &str) -> Option<Command> {
    let mut c = Cursor { rest: query };
    c.skip_ws();
    let word = c.take_while(is_word_char)?;
    if !word.eq_ignore_ascii_case("set") || !c.skip_ws() {
        return None;
    }
    let key = c
        .take_while(is_word_char)
        .or_else(|| c.quoted_ident())?
        .to_ascii_lowercase();
    c.skip_ws();
    if let Some(rest) = c.rest.strip_prefix('=') {
        c.rest = rest;
    } else if c.rest.len() >= 2 && c.rest[..2].eq_ignore_ascii_case("to") {
        c.rest = &c.rest[2..];
    } else {
        return None;
    }
    c.skip_ws();
    let value = match c.quoted_string() {
        Some(v) => v,
        None => c
            .take_while(|ch| is_word_char(ch) || ch == '.' || ch == '-')
            .or_else(|| c.quoted_ident())?
            .to_string(),
    };
    if !c.at_end() {
        return None;
    }
    Some(Command::Set { key, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(cmd: &str, arg: Option<&str>) -> Option<Command> {
        Some(Command::Word {
            cmd: cmd.into(),
            arg: arg.map(Into::into),
        })
    }

    #[test]
    fn words() {
        assert_eq!(parse("SHOW POOLS"), word("show", Some("POOLS")));
        assert_eq!(
            parse("  show\tstats_totals ;  "),
            word("show", Some("stats_totals"))
        );
        assert_eq!(parse("pause"), word("pause", None));
        assert_eq!(parse("PAUSE;"), word("pause", None));
        assert_eq!(parse("kill_client 42"), word("kill_client", Some("42")));
        assert_eq!(parse("RESUME \"My Db\""), word("resume", Some("My Db")));
        assert_eq!(parse("select version"), word("select", Some("version")));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            ";",
            "SELECT 1+1",
            "SHOW POOLS x",
            "show 'x'",
            "a b c",
            "SHOW;;",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sets() {
        let set = |k: &str, v: &str| {
            Some(Command::Set {
                key: k.into(),
                value: v.into(),
            })
        };
        assert_eq!(
            parse("SET default_pool_size = 7"),
            set("default_pool_size", "7")
        );
        assert_eq!(
            parse("set Default_Pool_Size TO 7;"),
            set("default_pool_size", "7")
        );
        assert_eq!(
            parse("SET admin_users = 'a, b'"),
            set("admin_users", "a, b")
        );
        assert_eq!(parse("SET x='it''s'"), set("x", "it's"));
        assert_eq!(
            parse("SET query_wait_timeout = 1.5"),
            set("query_wait_timeout", "1.5")
        );
        assert_eq!(parse("SET x = 'open"), None);
        assert_eq!(parse("SET x 1"), None);
    }
}
