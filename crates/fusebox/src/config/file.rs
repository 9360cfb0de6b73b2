//! The top level of a configuration file, for either shape.
//!
//! fusebox's own file has only fusebox's keys (`defaults`, `breakers`), and
//! any other key is a typo worth an error. A tool's file (one with a
//! top-level `performance` key) holds the tool's own sections (`logging:`,
//! `packages:` …) next to `performance.circuit_breaker`; those are left
//! alone. So the file is read twice: once to see which shape it has, once
//! to read it, where an unknown key is refused while the parser still knows
//! its line.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::BreakerConfig;

/// fusebox's keys at the top of a file.
const TOP_KEYS: &[&str] = &["defaults", "breakers", "performance"];

/// The key of a tool's file, under which `circuit_breaker` is ours.
const TOOL_KEY: &str = "performance";

/// A file's top level as read.
#[derive(Default)]
pub(super) struct File {
    pub(super) defaults: Option<BreakerConfig>,
    pub(super) breakers: Option<BTreeMap<String, BreakerConfig>>,
    pub(super) performance: Option<Performance>,
}

/// Only `circuit_breaker` is ours; the tool's other keys are not checked.
#[derive(Deserialize)]
pub(super) struct Performance {
    pub(super) circuit_breaker: Option<BreakerConfig>,
}

impl File {
    /// Reads a file's top level from `read`, a function that hands a fresh
    /// deserializer of the text to the seed it is given (called twice).
    pub(super) fn read<'de, D: Deserializer<'de>>(
        mut read: impl FnMut() -> Result<D, D::Error>,
    ) -> Result<File, D::Error> {
        // A text that is not a map is not a tool's file; the second read
        // then says what is wrong with it.
        let tools = read()
            .and_then(|d| d.deserialize_any(HasToolKey))
            .unwrap_or(false);
        read()?.deserialize_any(FileVisitor { tools })
    }
}

/// Whether the top level is a map with a `performance` key.
struct HasToolKey;

impl<'de> Visitor<'de> for HasToolKey {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key_seed(KeySeed { tools: true })? {
            found |= key.as_deref() == Some(TOOL_KEY);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
}

struct FileVisitor {
    tools: bool,
}

impl<'de> Visitor<'de> for FileVisitor {
    type Value = File;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `defaults`, `breakers` or `performance`")
    }
    fn visit_unit<E: de::Error>(self) -> Result<File, E> {
        Ok(File::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<File, E> {
        Ok(File::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<File, A::Error> {
        let mut file = File::default();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed { tools: self.tools })? {
            // A key not ours in a tool's file (or not a string): the tool's.
            let Some(key) = key.filter(|k| TOP_KEYS.contains(&k.as_str())) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            match key.as_str() {
                "defaults" => file.defaults = map.next_value()?,
                "breakers" => file.breakers = map.next_value()?,
                _ => file.performance = map.next_value()?,
            }
            seen.push(key);
        }
        Ok(file)
    }
}

/// A top-level key: its text, or `None` for a key that is not a scalar.
/// Outside a tool's file a key that is not fusebox's is refused here, so
/// the error carries the key's own line.
pub(super) struct KeySeed {
    tools: bool,
}

impl KeySeed {
    /// A seed that takes any key, as in a tool's file.
    pub(super) fn any() -> KeySeed {
        KeySeed { tools: true }
    }

    fn named<E: de::Error>(&self, key: String) -> Result<Option<String>, E> {
        if self.tools || TOP_KEYS.contains(&key.as_str()) {
            Ok(Some(key))
        } else {
            Err(E::unknown_field(&key, TOP_KEYS))
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.named(v.to_owned())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.named(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.named(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.named(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.named(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.named("null".to_owned())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.tools {
            return Err(de::Error::custom("a key must be a name, not a list"));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.tools {
            return Err(de::Error::custom("a key must be a name, not a map"));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}
