//! Finds the line of a key in a configuration file after it was read.
//!
//! Some settings are wrong only together (a `minimum_calls` above the
//! window, a backoff cap below the recovery timeout), so they are checked
//! once the whole file is read, when the parser no longer says where a value
//! was. The parsers give a line only with an error, so this walks the text
//! again to the key and stops there with one, and reads its line.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::file::KeySeed;

/// The marker error that means "the key is here".
const FOUND: &str = "fusebox: found the key";

/// The line of the value under `path` (keys from the top), if the text has
/// one; `read` hands a fresh deserializer of the text.
pub(super) fn line_of<'de, D, E>(
    read: impl FnOnce() -> Result<D, E>,
    path: &[&str],
    line: impl FnOnce(&E) -> Option<usize>,
) -> Option<usize>
where
    D: Deserializer<'de, Error = E>,
    E: de::Error,
{
    let error = match read() {
        Ok(d) => Seek { path }.deserialize(d).err()?,
        Err(_) => return None,
    };
    error
        .to_string()
        .contains(FOUND)
        .then(|| line(&error))
        .flatten()
}

/// Walks down `path`; at its end, fails with [`FOUND`] from inside the
/// value, so the parser attaches that value's position.
struct Seek<'p> {
    path: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key_seed(KeySeed::any())? {
            if key.as_deref() == Some(*first) {
                return map.next_value_seed(Seek { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.path.is_empty() {
            return Err(de::Error::custom(FOUND));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Seek<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}
