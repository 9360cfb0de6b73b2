//! Reading breakers without touching them, for tools that watch a store.
//!
//! A breaker's own reads renew its key's time to live (a breaker in use
//! must not expire); a person or a dashboard looking at the store is not
//! use, and must not keep idle breakers alive for ever.

use std::sync::LazyLock;

use fusebox::store::StoreError;
use redis::{Script, Value};

use super::RedisStore;
use crate::deadline::Deadline;

const PEEK_LUA: &str = include_str!("../../scripts/peek.lua");
static PEEK: LazyLock<Script> = LazyLock::new(|| Script::new(PEEK_LUA));

/// Keys read per round trip: few enough that one script stays short
/// (Redis runs nothing else meanwhile), many enough that a thousand
/// breakers take a handful of round trips.
const BATCH: usize = 200;

impl RedisStore {
    /// The stored state of each breaker in `names`, in order, read without
    /// changing anything (no time to live is renewed): `None` for a breaker
    /// the store does not hold. A key of another type reads as a text no
    /// breaker accepts (`(a redis string, not a hash)`), as for a call.
    /// Each round trip of up to 200 names has the store's timeout.
    pub fn peek(&self, names: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut states = Vec::with_capacity(names.len());
        for batch in names.chunks(BATCH) {
            let deadline = Deadline::after(self.timeout);
            let mut connection = match self.pool.take() {
                Some(connection) => connection,
                None => self.connect(&deadline)?,
            };
            self.limit(&connection, &deadline)?;
            let mut invocation = PEEK.prepare_invoke();
            for name in batch {
                invocation.key(format!("{}{name}", self.prefix));
            }
            let values: Vec<Value> = invocation
                .invoke(&mut connection)
                .map_err(|e| self.error_by(&e, Some(&deadline)))?;
            self.pool.put(connection);
            states.extend(values.into_iter().map(|value| match value {
                Value::BulkString(bytes) => Some(String::from_utf8(bytes).unwrap_or_else(|e| {
                    format!(
                        "(machine holds {} bytes that are not UTF-8)",
                        e.as_bytes().len()
                    )
                })),
                Value::SimpleString(text) => Some(text),
                _ => None,
            }));
        }
        Ok(states)
    }
}
