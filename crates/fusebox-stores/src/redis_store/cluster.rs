//! A Redis Cluster: which master holds which key.
//!
//! Each breaker is one key and each script touches only that key, so a
//! call goes to the one master serving the key's hash slot, and breakers
//! spread over the cluster. The map of slots to masters is read with
//! `CLUSTER SLOTS` from any node that answers (the seeds of the URL, or
//! the masters already known) on first use, after a `MOVED` answer (a
//! failover or resharding moved the slot), and before each listing.
//!
//! The client's own cluster connection is not used: it retries and waits
//! on its own schedule, while here every step of a call, reading the map
//! included, draws on the call's one deadline, and each master keeps the
//! store's fork-aware pool of idle connections.
//!
//! A slot being migrated answers `ASK` for keys already moved; such a call
//! fails as the store being unavailable (the breaker carries on with its
//! local state and retries later), and succeeds again once the migration
//! ends and the slot answers `MOVED`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use redis::{ConnectionInfo, ErrorKind, RedisError, ServerErrorKind, Value};

use super::connect::ConnectError;
use super::servers::Node;
use super::target::node_info;
use crate::deadline::Deadline;

/// How many hash slots a cluster has.
const SLOTS: u16 = 16384;

/// The least time a command may wait for its answer.
const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Slots `first..=last`, served by `node`.
struct Range {
    first: u16,
    last: u16,
    node: Arc<Node>,
}

/// A cluster's masters, found through its seed nodes.
pub(crate) struct Cluster {
    seeds: Vec<Arc<Node>>,
    /// Slot ranges, sorted; empty until first read.
    map: RwLock<Vec<Range>>,
    /// The map is out of date: read it again before using it.
    stale: AtomicBool,
}

impl Cluster {
    /// A cluster reached through `seeds` (at least one).
    pub(super) fn new(seeds: Vec<ConnectionInfo>) -> Cluster {
        Cluster {
            seeds: seeds.into_iter().map(Node::new).collect(),
            map: RwLock::new(Vec::new()),
            stale: AtomicBool::new(true),
        }
    }

    /// The seed nodes' settings.
    pub(super) fn seeds(&self) -> Vec<ConnectionInfo> {
        self.seeds.iter().map(|seed| seed.info.clone()).collect()
    }

    /// The settings every node shares (user, password, TLS).
    pub(super) fn template(&self) -> &ConnectionInfo {
        &self.seeds[0].info
    }

    /// The master serving `key`'s slot.
    pub(super) fn node_for(
        &self,
        key: &str,
        deadline: &Deadline,
    ) -> Result<Arc<Node>, ConnectError> {
        if self.stale.load(Ordering::Acquire) {
            self.refresh(deadline)?;
        }
        let slot = key_slot(key.as_bytes());
        let map = self
            .map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = map.partition_point(|range| range.last < slot);
        match map.get(at) {
            Some(range) if range.first <= slot => Ok(Arc::clone(&range.node)),
            _ => {
                self.stale.store(true, Ordering::Release);
                Err(ConnectError::Lookup(format!(
                    "no master of the cluster serves slot {slot} (of key {key:?})"
                )))
            }
        }
    }

    /// Every master, from a freshly read map.
    pub(super) fn masters(&self, deadline: &Deadline) -> Result<Vec<Arc<Node>>, ConnectError> {
        self.refresh(deadline)?;
        let map = self
            .map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut masters: Vec<Arc<Node>> = Vec::new();
        for range in map.iter() {
            if !masters.iter().any(|known| Arc::ptr_eq(known, &range.node)) {
                masters.push(Arc::clone(&range.node));
            }
        }
        Ok(masters)
    }

    /// Whether `error` says a key moved to another master; if so, the map
    /// is read again before the next call.
    pub(super) fn learn(&self, error: &RedisError) -> bool {
        let moved = error.kind() == ErrorKind::Server(ServerErrorKind::Moved);
        if moved {
            self.stale.store(true, Ordering::Release);
        }
        moved
    }

    /// Reads the map from the first node that answers: the masters known,
    /// then the seeds.
    fn refresh(&self, deadline: &Deadline) -> Result<(), ConnectError> {
        let mut candidates: Vec<Arc<Node>> = {
            let map = self
                .map
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.iter().map(|range| Arc::clone(&range.node)).collect()
        };
        candidates.dedup_by(|a, b| Arc::ptr_eq(a, b));
        candidates.extend(self.seeds.iter().cloned());
        let mut last = None;
        for node in candidates {
            match read_slots(&node, deadline) {
                Ok(ranges) => {
                    self.install(&ranges);
                    return Ok(());
                }
                Err(e @ ConnectError::TimedOut(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ConnectError::Lookup("the cluster has no node".to_owned())))
    }

    /// Makes `ranges` (first slot, last slot, host, port) the map, keeping
    /// the nodes (and their idle connections) already known by address.
    fn install(&self, ranges: &[(u16, u16, String, u16)]) {
        let mut map = self
            .map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut known: HashMap<String, Arc<Node>> = map
            .iter()
            .map(|range| (range.node.info.addr().to_string(), Arc::clone(&range.node)))
            .collect();
        let template = self.template();
        let mut fresh: Vec<Range> = ranges
            .iter()
            .map(|(first, last, host, port)| {
                let info = node_info(template, host, *port);
                let node = known
                    .entry(info.addr().to_string())
                    .or_insert_with(|| Node::new(info))
                    .clone();
                Range {
                    first: *first,
                    last: *last,
                    node,
                }
            })
            .collect();
        fresh.sort_by_key(|range| range.first);
        *map = fresh;
        self.stale.store(false, Ordering::Release);
    }
}

/// The slot ranges `node` reports, with their masters' addresses.
fn read_slots(
    node: &Arc<Node>,
    deadline: &Deadline,
) -> Result<Vec<(u16, u16, String, u16)>, ConnectError> {
    let mut lease = node.lease(deadline)?;
    let left = deadline.wait_at_most(MIN_WAIT);
    let reply: Value = lease
        .connection
        .set_read_timeout(Some(left))
        .and_then(|()| lease.connection.set_write_timeout(Some(left)))
        .and_then(|()| {
            redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query(&mut lease.connection)
        })
        .map_err(ConnectError::Redis)?;
    let ranges = parse_slots(&reply, node_host(&node.info)).map_err(ConnectError::Lookup)?;
    lease.give_back();
    Ok(ranges)
}

/// The host a node was reached at: a master with no known address of its
/// own is reported with an empty one, meaning "the node you asked".
fn node_host(info: &ConnectionInfo) -> &str {
    match info.addr() {
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => host,
        _ => "",
    }
}

/// The ranges of a `CLUSTER SLOTS` reply: each `[first, last, [host,
/// port, id, …], replicas…]`.
fn parse_slots(reply: &Value, asked: &str) -> Result<Vec<(u16, u16, String, u16)>, String> {
    let bad = || format!("the cluster's CLUSTER SLOTS reply is not understood: {reply:?}");
    let Value::Array(entries) = reply else {
        return Err(bad());
    };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(fields) = entry else {
            return Err(bad());
        };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return Err(bad());
        };
        let host = match master.first() {
            Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Some(Value::SimpleString(text)) => text.clone(),
            _ => return Err(bad()),
        };
        let host = if host.is_empty() || host == "?" {
            asked.to_owned()
        } else {
            host
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err(bad());
        };
        let slot = |n: &i64| u16::try_from(*n).ok().filter(|n| *n < SLOTS);
        let (Some(first), Some(last), Ok(port)) = (slot(first), slot(last), u16::try_from(*port))
        else {
            return Err(bad());
        };
        ranges.push((first, last, host, port));
    }
    Ok(ranges)
}

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag
/// (the text between the first `{` and the next `}`, if not empty).
fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let tag = &key[open + 1..];
            let close = tag.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &tag[..close])
        })
        .unwrap_or(key);
    crc16_xmodem(hashed) % SLOTS
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_s() {
        // The check value of CRC16/XMODEM, and slots Redis reports for
        // CLUSTER KEYSLOT (the cluster tests compare many more).
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % SLOTS);
        assert_eq!(key_slot(b"{}x"), crc16_xmodem(b"{}x") % SLOTS);
    }

    #[test]
    fn slot_replies_are_read_and_bad_ones_named() {
        let int = Value::Int;
        let text = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                int(0),
                int(5460),
                Value::Array(vec![text("10.0.0.1"), int(7000), text("id1")]),
            ]),
            Value::Array(vec![
                int(5461),
                int(16383),
                Value::Array(vec![text(""), int(7001), text("id2")]),
                Value::Array(vec![text("10.0.0.9"), int(7009), text("replica")]),
            ]),
        ]);
        assert_eq!(
            parse_slots(&reply, "seed").unwrap(),
            [
                (0, 5460, "10.0.0.1".to_owned(), 7000),
                (5461, 16383, "seed".to_owned(), 7001)
            ]
        );
        let bad = Value::Array(vec![Value::Array(vec![int(0), int(99999)])]);
        assert!(parse_slots(&bad, "seed")
            .unwrap_err()
            .contains("CLUSTER SLOTS"));
    }
}
