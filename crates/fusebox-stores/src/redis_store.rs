use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use fusebox::store::{store_now, wall_clock_nanos, Store, StoreError, StoreErrorKind, Update};
use fusebox::ManualClock;
use redis::{Client, Connection, Script, Value};

use crate::{state_name, DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_TTL};

static READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../scripts/read.lua")));
static COMPARE_AND_SET: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/compare_and_set.lua")));

/// How often a transaction is retried when another writer got there first.
const ATTEMPTS: usize = 16;

/// Breaker state in Redis, shared by every host using the server.
///
/// Each breaker is one hash, `prefix + name`, with fields `machine` (the
/// state), `state` (its name, for people) and `version`. A change reads the
/// hash and the server's `TIME` with one script, runs the state machine, and
/// stores the result with a compare-and-set script that fails if the version
/// moved on, in which case it reads again. No lock is held in Redis, least
/// of all while a call runs. Writes refresh the key's time to live.
///
/// Every command has the store's timeout (default 50 ms); after a failure
/// the connection is dropped and made again on the next use.
pub struct RedisStore {
    client: Client,
    connection: Mutex<Option<Connection>>,
    url: String,
    prefix: String,
    timeout: Duration,
    ttl: Duration,
    clock: Option<ManualClock>,
    /// Server time minus local wall time at the last read, for degraded mode.
    offset: AtomicI64,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://host:port/db`). Connects
    /// lazily: a server that is down makes calls degrade, not this fail.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        let client = Client::open(url).map_err(|e| {
            StoreError::new(StoreErrorKind::Open, format!("bad redis url {url:?}: {e}"))
        })?;
        Ok(RedisStore {
            client,
            connection: Mutex::new(None),
            url: url.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            ttl: DEFAULT_TTL,
            clock: None,
            offset: AtomicI64::new(0),
        })
    }

    /// Gives up on the server after `timeout` per command (default 50 ms).
    pub fn timeout(mut self, timeout: Duration) -> RedisStore {
        self.timeout = timeout;
        self
    }

    /// Keys are `prefix` + breaker name (default `circuit_breaker:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    /// Idle breakers expire after `ttl` (default 7 days).
    pub fn ttl(mut self, ttl: Duration) -> RedisStore {
        self.ttl = ttl;
        self
    }

    /// Uses `clock` instead of the server's `TIME`, for tests that move
    /// time by hand.
    pub fn with_clock(mut self, clock: ManualClock) -> RedisStore {
        self.clock = Some(clock);
        self
    }

    fn error(&self, e: &redis::RedisError) -> StoreError {
        let kind = if e.is_timeout() {
            StoreErrorKind::Timeout
        } else {
            StoreErrorKind::Unavailable
        };
        StoreError::new(kind, format!("redis store {}: {e}", self.url))
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let connection = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| self.error(&e))?;
        connection
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.error(&e))?;
        Ok(connection)
    }

    fn attempt(
        &self,
        connection: &mut Connection,
        key: &str,
        update: &mut Update<'_>,
    ) -> Result<bool, StoreError> {
        let (machine, version, seconds, micros): (Option<String>, Option<String>, u64, u64) = READ
            .key(key)
            .invoke(connection)
            .map_err(|e| self.error(&e))?;
        let server_now = seconds * 1_000_000_000 + micros * 1_000;
        self.offset.store(
            server_now as i64 - wall_clock_nanos() as i64,
            Ordering::Relaxed,
        );
        let now = match self.clock {
            Some(_) => self.local_now(),
            None => server_now,
        };
        let Some(text) = update(machine.as_deref(), now) else {
            return Ok(true);
        };
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let stored: Value = COMPARE_AND_SET
            .key(key)
            .arg(version.unwrap_or_default())
            .arg(&text)
            .arg(state_name(&text))
            .arg(ttl_ms)
            .invoke(connection)
            .map_err(|e| self.error(&e))?;
        Ok(matches!(stored, Value::Int(1)))
    }
}

impl Store for RedisStore {
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let key = format!("{}{name}", self.prefix);
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(self.connect()?);
        }
        let connection = slot.as_mut().expect("connected above");
        for _ in 0..ATTEMPTS {
            match self.attempt(connection, &key, update) {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(e) => {
                    *slot = None; // reconnect next time
                    return Err(e);
                }
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Timeout,
            format!(
                "redis store {}: {key} kept changing under {ATTEMPTS} attempts",
                self.url
            ),
        ))
    }

    fn local_now(&self) -> u64 {
        match &self.clock {
            Some(_) => store_now(self.clock.as_ref()),
            None => wall_clock_nanos().saturating_add_signed(self.offset.load(Ordering::Relaxed)),
        }
    }

    fn describe(&self) -> String {
        format!("redis store {}", self.url)
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connect()?;
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut connection)
            .map_err(|e| self.error(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.error(&e))?;
        let mut names: Vec<String> = keys
            .into_iter()
            .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
