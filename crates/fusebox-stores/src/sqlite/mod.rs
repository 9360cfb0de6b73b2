use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fusebox::__private::store_now;
use fusebox::store::{Store, StoreError, StoreErrorKind, Update};
use fusebox::ManualClock;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::deadline::Deadline;
use crate::pool::Pool;
use crate::{state_name, DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_TTL};

mod row;

use row::{text_of, Row, MANUAL_STATES};

/// Breaker state in an SQLite file, shared by the processes of one host.
///
/// One row per breaker in table `fusebox_state`, keyed by prefix and name.
/// Each change is a `BEGIN IMMEDIATE` transaction that reads the row, runs
/// the state machine and writes the row: two processes never both make the
/// same transition.
///
/// The timeout (default 50 ms) bounds each call as a whole: threads of one
/// process do not queue behind one connection (each call takes an idle
/// connection or opens one), and a file locked by another process is waited
/// on only for what is left of the call's budget. A call over budget is an
/// error (the breaker then works on local state), not a hang.
///
/// Rows untouched for the TTL (default 7 days) are forgotten; reads keep a
/// breaker in use alive, and a manual state (forced open, disabled) is kept
/// until someone changes it.
pub struct SqliteStore {
    pool: Pool<Connection>,
    path: PathBuf,
    prefix: String,
    timeout: Duration,
    ttl: Duration,
    clock: Option<ManualClock>,
    /// Fleet mode's interval (`None`: one transaction per call).
    sync: Option<Duration>,
}

/// How long opening may wait for another process creating the schema.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The rows of one prefix, matched exactly: `?1` is the prefix. (`LIKE`
/// would take `_` and `%` in it as wildcards and ignore ASCII case.)
const UNDER_PREFIX: &str = "key >= ?1 AND substr(key, 1, length(?1)) = ?1";

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. Its directory
    /// must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_owned();
        let fail = |what: &str, e: rusqlite::Error| {
            StoreError::new(
                StoreErrorKind::Open,
                format!("cannot {what} sqlite store {}", path.display()),
            )
            .caused_by(e)
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&path, flags).map_err(|e| fail("open", e))?;
        connection
            .busy_timeout(SETUP_TIMEOUT)
            .map_err(|e| fail("configure", e))?;
        // Switching a new file to WAL takes an exclusive lock, and SQLite
        // does not always wait for one (it answers BUSY at once rather than
        // risk a deadlock): when several processes create the file together,
        // retry until SETUP_TIMEOUT.
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        while let Err(e) = set_up(&connection) {
            if !is_busy(&e) || Instant::now() >= deadline {
                return Err(fail("set up", e));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        let pool = Pool::new();
        pool.put(connection);
        Ok(SqliteStore {
            pool,
            path,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            ttl: DEFAULT_TTL,
            clock: None,
            sync: None,
        })
    }

    /// Gives up on a call after `timeout` (default 50 ms), however much of
    /// it went on waiting for a locked file.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> SqliteStore {
        self.timeout = timeout;
        self
    }

    /// Keys are `prefix` + breaker name (default `circuit_breaker:`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> SqliteStore {
        self.prefix = prefix.into();
        self
    }

    /// Forgets breakers untouched for `ttl` (default 7 days).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> SqliteStore {
        self.ttl = ttl;
        self
    }

    /// Fleet mode: breakers kept here admit and count closed calls in
    /// memory and synchronise with the file every `interval`, so a call
    /// costs what an in-memory breaker's does. SQLite cannot push changes:
    /// other processes see a trip at their next synchronisation. See the
    /// `fusebox` crate's guide, "Fleet mode".
    #[must_use]
    pub fn sync_every(mut self, interval: Duration) -> SqliteStore {
        self.sync = Some(interval);
        self
    }

    /// Uses `clock` (nanoseconds since its origin) instead of the wall
    /// clock, for tests that move time by hand.
    #[must_use]
    pub fn with_clock(mut self, clock: ManualClock) -> SqliteStore {
        self.clock = Some(clock);
        self
    }

    /// Every breaker under the store's prefix: name and stored state text,
    /// by name. A value of a foreign type shows as a description of it; a
    /// key that is not UTF-8 text cannot be a breaker's name and is left
    /// out. Neither hides the other rows.
    pub fn entries(&self) -> Result<Vec<(String, String)>, StoreError> {
        let deadline = Deadline::after(self.timeout);
        let connection = self.connection(&deadline)?;
        let entries = self.entries_on(&connection, &deadline);
        if entries.is_ok() {
            self.pool.put(connection);
        }
        entries
    }

    fn entries_on(
        &self,
        connection: &Connection,
        deadline: &Deadline,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.wait_at_most(connection, deadline)?;
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT key, machine FROM fusebox_state WHERE {UNDER_PREFIX} ORDER BY key"
            ))
            .map_err(|e| self.error(e, deadline))?;
        let mut rows = statement
            .query([&self.prefix])
            .map_err(|e| self.error(e, deadline))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.error(e, deadline))? {
            let key = row.get_ref(0).map_err(|e| self.error(e, deadline))?;
            let Ok(key) = key.as_str() else {
                continue;
            };
            let Some(name) = key.strip_prefix(&self.prefix) else {
                continue;
            };
            let machine = row.get_ref(1).map_err(|e| self.error(e, deadline))?;
            out.push((name.to_owned(), text_of(machine, "machine")));
        }
        Ok(out)
    }

    /// An idle connection, or a new one: a caller never waits for another.
    fn connection(&self, deadline: &Deadline) -> Result<Connection, StoreError> {
        if let Some(connection) = self.pool.take() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection =
            Connection::open_with_flags(&self.path, flags).map_err(|e| self.error(e, deadline))?;
        self.wait_at_most(&connection, deadline)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.error(e, deadline))?;
        Ok(connection)
    }

    /// Lets SQLite wait for a locked file only as long as the call has left
    /// (with nothing left, a free file is still used, a locked one not).
    fn wait_at_most(&self, connection: &Connection, deadline: &Deadline) -> Result<(), StoreError> {
        connection
            .busy_timeout(deadline.wait_at_most(Duration::ZERO))
            .map_err(|e| self.error(e, deadline))
    }

    fn timed_out(&self, deadline: &Deadline) -> StoreError {
        StoreError::new(
            StoreErrorKind::Timeout,
            format!(
                "sqlite store {}: no answer within {:?} (the file stayed locked)",
                self.path.display(),
                deadline.timeout()
            ),
        )
    }

    fn error(&self, e: rusqlite::Error, deadline: &Deadline) -> StoreError {
        if is_busy(&e) {
            return self.timed_out(deadline);
        }
        StoreError::new(
            StoreErrorKind::Unavailable,
            format!("sqlite store {}", self.path.display()),
        )
        .caused_by(e)
    }

    fn ttl_nanos(&self) -> i64 {
        i64::try_from(self.ttl.as_nanos()).unwrap_or(i64::MAX)
    }

    fn now(&self) -> i64 {
        i64::try_from(self.local_now()).unwrap_or(i64::MAX)
    }

    /// Reads `key`'s row within `transaction`, live or not.
    fn read(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        key: &str,
        deadline: &Deadline,
    ) -> Result<Option<Row>, StoreError> {
        transaction
            .prepare_cached("SELECT machine, updated_at FROM fusebox_state WHERE key = ?1")
            .and_then(|mut statement| statement.query_row([key], Row::read).optional())
            .map_err(|e| self.error(e, deadline))
    }

    /// One call: a read transaction, and a write transaction only when the
    /// update changes something or the row's time needs refreshing.
    fn transact_on(
        &self,
        connection: &mut Connection,
        key: &str,
        update: &mut Update<'_>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let ttl = self.ttl_nanos();
        self.wait_at_most(connection, deadline)?;
        let only_touch = {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(|e| self.error(e, deadline))?;
            let row = self.read(&transaction, key, deadline)?;
            // The time is read once the store answers, so waiting for it
            // does not make the time stale.
            let now = self.now();
            let row = row.filter(|row| row.is_live(now, ttl));
            let touch = row.as_ref().is_some_and(|row| row.needs_touch(now, ttl));
            let stored = row.map(Row::into_text);
            let unchanged = update(stored.as_deref(), now as u64).is_none();
            if unchanged && !touch {
                return transaction.commit().map_err(|e| self.error(e, deadline));
            }
            unchanged
        };
        let began = self.wait_at_most(connection, deadline).and_then(|()| {
            connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e, deadline))
        });
        let transaction = match began {
            Ok(transaction) => transaction,
            // Only the row's time wanted refreshing: a busy file can wait
            // for a later read, and this one has its answer.
            Err(e) if only_touch && e.kind == StoreErrorKind::Timeout => return Ok(()),
            Err(e) => return Err(e),
        };
        let now = self.now();
        let row = self
            .read(&transaction, key, deadline)?
            .filter(|row| row.is_live(now, ttl));
        let touch = row.as_ref().is_some_and(|row| row.needs_touch(now, ttl));
        let stored = row.map(Row::into_text);
        match update(stored.as_deref(), now as u64) {
            Some(text) => {
                transaction
                    .prepare_cached(
                        "INSERT INTO fusebox_state (key, state, machine, updated_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET
                             state = excluded.state,
                             machine = excluded.machine,
                             updated_at = excluded.updated_at",
                    )
                    .and_then(|mut statement| {
                        statement.execute(rusqlite::params![key, state_name(&text), text, now])
                    })
                    .map_err(|e| self.error(e, deadline))?;
                // Writes are rare (failures, transitions): a good moment to
                // forget idle breakers, so the file does not grow forever.
                transaction
                    .prepare_cached(&format!(
                        "DELETE FROM fusebox_state WHERE {UNDER_PREFIX} AND updated_at < ?2
                         AND state NOT IN ('{}', '{}')",
                        MANUAL_STATES[0], MANUAL_STATES[1]
                    ))
                    .and_then(|mut statement| {
                        statement.execute(rusqlite::params![self.prefix, now.saturating_sub(ttl)])
                    })
                    .map_err(|e| self.error(e, deadline))?;
            }
            None if touch => {
                // Read but unchanged: keep the breaker alive.
                transaction
                    .prepare_cached("UPDATE fusebox_state SET updated_at = ?2 WHERE key = ?1")
                    .and_then(|mut statement| statement.execute(rusqlite::params![key, now]))
                    .map_err(|e| self.error(e, deadline))?;
            }
            None => {}
        }
        transaction.commit().map_err(|e| self.error(e, deadline))
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// WAL journal, relaxed syncing (safe in WAL mode), and the table.
fn set_up(connection: &Connection) -> rusqlite::Result<()> {
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        connection.pragma_update(None, "journal_mode", "WAL")?;
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS fusebox_state (
             key TEXT PRIMARY KEY,
             state TEXT NOT NULL,
             machine TEXT NOT NULL,
             updated_at INTEGER NOT NULL
         )",
    )
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl Store for SqliteStore {
    /// Most operations (a closed breaker admitting a call, a success with
    /// no failure streak) change nothing: they run in a read transaction,
    /// which in WAL mode neither waits for nor blocks other processes. Only
    /// when the update wants to write (or a breaker in use needs its time
    /// refreshed) is it run again, on a fresh read, inside `BEGIN
    /// IMMEDIATE`, so the read-modify-write is atomic.
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let deadline = Deadline::after(self.timeout);
        let key = format!("{}{name}", self.prefix);
        let mut connection = self.connection(&deadline)?;
        let done = self.transact_on(&mut connection, &key, update, &deadline);
        if done.is_ok() {
            // A failed call's connection is closed: it may be mid-way.
            self.pool.put(connection);
        }
        done
    }

    fn local_now(&self) -> u64 {
        store_now(self.clock.as_ref())
    }

    fn describe(&self) -> String {
        format!("sqlite store {}", self.path.display())
    }

    fn sync_interval(&self) -> Option<Duration> {
        self.sync
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.entries()?.into_iter().map(|(name, _)| name).collect())
    }
}
