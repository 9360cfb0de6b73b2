//! Helpers shared by the fleet-mode tests.
#![allow(dead_code)] // each test file uses its own share

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, Error};

pub(crate) fn fail(b: &CircuitBreaker) -> Result<(), Error<&'static str>> {
    b.call(|| Err("down"))
}

pub(crate) fn succeed(b: &CircuitBreaker) -> Result<(), Error<&'static str>> {
    b.call(|| Ok(()))
}

/// The field `key` of the record `store` keeps for `name`, if both exist.
pub(crate) fn stored_field(store: &MemoryStore, name: &str, key: &str) -> Option<String> {
    let raw = store.raw(name)?;
    let value = raw
        .split(' ')
        .find_map(|f| f.strip_prefix(&format!("{key}=")))?;
    Some(value.to_owned())
}
