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
    /// Each round trip of up to 200 names has the store's timeout. On a
    /// Redis Cluster, where the keys of one script must share a slot, each
    /// name is one round trip to its master.
    pub fn peek(&self, names: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut states = Vec::with_capacity(names.len());
        let batch_size = if self.servers.is_cluster() { 1 } else { BATCH };
        for batch in names.chunks(batch_size) {
            let Some(first) = batch.first() else { break };
            let deadline = Deadline::after(self.timeout);
            let mut lease = self.lease(&format!("{}{first}", self.prefix), false, &deadline)?;
            self.limit(&lease.connection, &deadline)?;
            let mut invocation = PEEK.prepare_invoke();
            for name in batch {
                invocation.key(format!("{}{name}", self.prefix));
            }
            let values: Vec<Value> = invocation.invoke(&mut lease.connection).map_err(|e| {
                self.servers.learn(&mut lease, &e);
                self.error_by(&e, Some(&deadline))
            })?;
            lease.give_back();
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
