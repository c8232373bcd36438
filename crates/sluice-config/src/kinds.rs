//! Value kinds of `[pgbouncer]` keys. A kind knows three things about a key's
//! value: how to read PgBouncer's text for it, how SHOW CONFIG prints it, and
//! which TOML shape stands for it and how that shape is written in ini
//! syntax. TOML values are turned into ini text and then read by the same
//! parser, so both formats are validated by one piece of code.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::model::{AuthType, PoolMode};
use crate::values;

pub trait Kind {
    /// The typed value in [`crate::General`].
    type Value;
    /// What a TOML file may write for it.
    type Toml: de::DeserializeOwned;
    fn parse(text: &str) -> Result<Self::Value, String>;
    fn show(value: &Self::Value) -> String;
    fn toml_text(raw: &Self::Toml) -> Result<String, String>;
}

/// Free text, kept as written.
pub struct Text;
impl Kind for Text {
    type Value = String;
    type Toml = String;
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn show(value: &String) -> String {
        value.clone()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

/// Text where empty means "not set".
pub struct OptText;
impl Kind for OptText {
    type Value = Option<String>;
    type Toml = String;
    fn parse(text: &str) -> Result<Option<String>, String> {
        Ok((!text.is_empty()).then(|| text.to_string()))
    }
    fn show(value: &Option<String>) -> String {
        value.clone().unwrap_or_default()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

/// A file name where empty means "not set". Relative names are kept as
/// written (PgBouncer resolves them against its working directory).
pub struct OptPath;
impl Kind for OptPath {
    type Value = Option<PathBuf>;
    type Toml = String;
    fn parse(text: &str) -> Result<Option<PathBuf>, String> {
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
    fn show(value: &Option<PathBuf>) -> String {
        value
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

/// A comma-separated list.
pub struct List;
impl Kind for List {
    type Value = Vec<String>;
    type Toml = TomlList;
    fn parse(text: &str) -> Result<Vec<String>, String> {
        Ok(values::parse_list(text))
    }
    fn show(value: &Vec<String>) -> String {
        value.join(",")
    }
    fn toml_text(raw: &TomlList) -> Result<String, String> {
        Ok(raw.0.clone())
    }
}

/// A boolean (PgBouncer stores these as ints, so SHOW CONFIG prints 0/1).
pub struct Flag;
impl Kind for Flag {
    type Value = bool;
    type Toml = TomlBool;
    fn parse(text: &str) -> Result<bool, String> {
        values::parse_bool(text)
    }
    fn show(value: &bool) -> String {
        if *value { "1" } else { "0" }.to_string()
    }
    fn toml_text(raw: &TomlBool) -> Result<String, String> {
        Ok(Flag::show(&raw.0))
    }
}

/// An integer read like `strtol(…, 0)`, range-checked into `T`.
pub struct Int<T>(PhantomData<T>);
impl<T: TryFrom<i64> + fmt::Display> Kind for Int<T> {
    type Value = T;
    type Toml = i64;
    fn parse(text: &str) -> Result<T, String> {
        values::parse_int(text)
    }
    fn show(value: &T) -> String {
        value.to_string()
    }
    fn toml_text(raw: &i64) -> Result<String, String> {
        Ok(raw.to_string())
    }
}

/// A TCP port, 1..=65535.
pub struct Port;
impl Kind for Port {
    type Value = u16;
    type Toml = i64;
    fn parse(text: &str) -> Result<u16, String> {
        match values::parse_int::<u16>(text) {
            Ok(0) | Err(_) => Err(format!("invalid port: {text} (expected 1..65535)")),
            Ok(port) => Ok(port),
        }
    }
    fn show(value: &u16) -> String {
        value.to_string()
    }
    fn toml_text(raw: &i64) -> Result<String, String> {
        Ok(raw.to_string())
    }
}

/// `peer_id`: 0 (peering off) or 1..=16383.
pub struct PeerId;
impl Kind for PeerId {
    type Value = u32;
    type Toml = i64;
    fn parse(text: &str) -> Result<u32, String> {
        match values::parse_int::<u32>(text) {
            Ok(id) if id <= 16383 => Ok(id),
            _ => Err(format!("invalid peer_id: {text} (expected 0..16383)")),
        }
    }
    fn show(value: &u32) -> String {
        value.to_string()
    }
    fn toml_text(raw: &i64) -> Result<String, String> {
        Ok(raw.to_string())
    }
}

/// A time in fractional seconds, printed with `%g`.
pub struct Time;
impl Kind for Time {
    type Value = Duration;
    type Toml = TomlDuration;
    fn parse(text: &str) -> Result<Duration, String> {
        values::parse_seconds(text)
    }
    fn show(value: &Duration) -> String {
        values::format_seconds(*value)
    }
    fn toml_text(raw: &TomlDuration) -> Result<String, String> {
        Ok(values::seconds_text(raw.0))
    }
}

/// A time PgBouncer keeps as whole seconds in an int.
pub struct WholeSeconds;
impl Kind for WholeSeconds {
    type Value = Duration;
    type Toml = TomlDuration;
    fn parse(text: &str) -> Result<Duration, String> {
        values::parse_whole_seconds(text)
    }
    fn show(value: &Duration) -> String {
        value.as_secs().to_string()
    }
    fn toml_text(raw: &TomlDuration) -> Result<String, String> {
        if raw.0.subsec_nanos() != 0 {
            return Err("must be a whole number of seconds".to_string());
        }
        Ok(raw.0.as_secs().to_string())
    }
}

pub struct Mode;
impl Kind for Mode {
    type Value = PoolMode;
    type Toml = String;
    fn parse(text: &str) -> Result<PoolMode, String> {
        text.parse()
    }
    fn show(value: &PoolMode) -> String {
        value.to_string()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

pub struct Auth;
impl Kind for Auth {
    type Value = AuthType;
    type Toml = String;
    fn parse(text: &str) -> Result<AuthType, String> {
        text.parse()
    }
    fn show(value: &AuthType) -> String {
        value.to_string()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

/// A TLS sslmode, stored lower-case.
pub struct SslMode;
impl Kind for SslMode {
    type Value = String;
    type Toml = String;
    fn parse(text: &str) -> Result<String, String> {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" => Ok(lower),
            _ => Err(format!(
                "invalid sslmode: {text} (expected disable, allow, prefer, require, verify-ca or verify-full)"
            )),
        }
    }
    fn show(value: &String) -> String {
        value.clone()
    }
    fn toml_text(raw: &String) -> Result<String, String> {
        Ok(raw.clone())
    }
}

/// TOML list: an array of strings or one comma-separated string; kept as
/// the comma-joined text.
#[derive(Debug, Clone, PartialEq)]
pub struct TomlList(pub String);

impl<'de> Deserialize<'de> for TomlList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TomlList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings or a comma-separated string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TomlList, E> {
                Ok(TomlList(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TomlList, A::Error> {
                let mut items: Vec<String> = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    if item.contains(',') {
                        return Err(de::Error::custom(format!(
                            "list item {item:?} contains a comma"
                        )));
                    }
                    items.push(item);
                }
                Ok(TomlList(items.join(",")))
            }
        }
        d.deserialize_any(V)
    }
}

/// TOML boolean: `true`/`false`, or 0/1 as in pgbouncer.ini.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TomlBool(pub bool);

impl<'de> Deserialize<'de> for TomlBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TomlBool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean (true/false or 0/1)")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TomlBool, E> {
                Ok(TomlBool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TomlBool, E> {
                Ok(TomlBool(v != 0))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TomlBool, E> {
                Ok(TomlBool(v != 0))
            }
        }
        d.deserialize_any(V)
    }
}

/// TOML duration: a number of seconds (integer or float) or a string with a
/// unit (`"10s"`, `"500ms"`, `"5min"`, `"1h"`, `"1d"`, `"100us"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TomlDuration(pub Duration);

impl<'de> Deserialize<'de> for TomlDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TomlDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number of seconds or a string with a unit such as \"10s\" or \"500ms\"",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TomlDuration, E> {
                u64::try_from(v)
                    .map(|s| TomlDuration(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TomlDuration, E> {
                Ok(TomlDuration(Duration::from_secs(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TomlDuration, E> {
                values::parse_duration_with_unit(&v.to_string())
                    .map(TomlDuration)
                    .map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TomlDuration, E> {
                values::parse_duration_with_unit(v)
                    .map(TomlDuration)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_show() {
        assert_eq!(OptText::parse(""), Ok(None));
        assert_eq!(
            OptPath::parse("/x").map(|p| OptPath::show(&p)),
            Ok("/x".into())
        );
        assert_eq!(List::show(&List::parse("a, b").unwrap_or_default()), "a,b");
        assert_eq!(Flag::show(&true), "1");
        assert_eq!(Int::<u32>::parse("0777"), Ok(511));
        assert!(Port::parse("0").is_err());
        assert!(Port::parse("65536").is_err());
        assert_eq!(Port::parse("6432"), Ok(6432));
        assert!(PeerId::parse("16384").is_err());
        assert_eq!(PeerId::parse("16383"), Ok(16383));
        assert_eq!(Time::show(&Duration::from_millis(2500)), "2.5");
        assert_eq!(WholeSeconds::show(&Duration::from_secs(60)), "60");
        assert_eq!(SslMode::parse("Verify-Full"), Ok("verify-full".into()));
        assert!(SslMode::parse("sometimes").is_err());
        assert!(WholeSeconds::toml_text(&TomlDuration(Duration::from_millis(1500))).is_err());
    }
}
