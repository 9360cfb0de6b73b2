use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fusebox::store::{store_now, Store, StoreError, StoreErrorKind, Update};
use fusebox::ManualClock;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::{state_name, DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_TTL};

/// Breaker state in an SQLite file, shared by the processes of one host.
///
/// One row per breaker in table `fusebox_state`, keyed by prefix and name.
/// Each change is a `BEGIN IMMEDIATE` transaction that reads the row, runs
/// the state machine and writes the row: two processes never both make the
/// same transition. A file locked longer than the timeout is an error (the
/// breaker then works on local state), not a hang.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    path: PathBuf,
    prefix: String,
    ttl: Duration,
    clock: Option<ManualClock>,
}

/// How long opening may wait for another process creating the schema.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. Its directory
    /// must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_owned();
        let fail = |what: &str, e: rusqlite::Error| {
            StoreError::new(
                StoreErrorKind::Open,
                format!("cannot {what} sqlite store {}: {e}", path.display()),
            )
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
        connection
            .busy_timeout(DEFAULT_TIMEOUT)
            .map_err(|e| fail("configure", e))?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            path,
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_TTL,
            clock: None,
        })
    }

    /// Gives up on a locked database after `timeout` (default 50 ms).
    pub fn timeout(self, timeout: Duration) -> Result<SqliteStore, StoreError> {
        self.lock()
            .busy_timeout(timeout)
            .map_err(|e| StoreError::new(StoreErrorKind::Open, e.to_string()))?;
        Ok(self)
    }

    /// Keys are `prefix` + breaker name (default `circuit_breaker:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> SqliteStore {
        self.prefix = prefix.into();
        self
    }

    /// Forgets breakers untouched for `ttl` (default 7 days).
    pub fn ttl(mut self, ttl: Duration) -> SqliteStore {
        self.ttl = ttl;
        self
    }

    /// Uses `clock` (nanoseconds since its origin) instead of the wall
    /// clock, for tests that move time by hand.
    pub fn with_clock(mut self, clock: ManualClock) -> SqliteStore {
        self.clock = Some(clock);
        self
    }

    /// Every breaker in the store: name and stored state text, by name.
    pub fn entries(&self) -> Result<Vec<(String, String)>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT key, machine FROM fusebox_state WHERE key LIKE ?1 || '%' ORDER BY key")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([&self.prefix], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?))
            })
            .map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, machine) = row.map_err(|e| self.error(e))?;
            out.push((key[self.prefix.len()..].to_owned(), machine));
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, e: rusqlite::Error) -> StoreError {
        let kind = if is_busy(&e) {
            StoreErrorKind::Timeout
        } else {
            StoreErrorKind::Unavailable
        };
        StoreError::new(kind, format!("sqlite store {}: {e}", self.path.display()))
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

impl SqliteStore {
    /// Reads the live state of `key` within `transaction`.
    fn read(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        key: &str,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String, i64)> = transaction
            .query_row(
                "SELECT machine, updated_at FROM fusebox_state WHERE key = ?1",
                [key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let ttl = i64::try_from(self.ttl.as_nanos()).unwrap_or(i64::MAX);
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        Ok(row
            .filter(|(_, at)| now.saturating_sub(*at) < ttl)
            .map(|(machine, _)| machine))
    }
}

impl Store for SqliteStore {
    /// Most operations (a closed breaker admitting a call, a success with
    /// no failure streak) change nothing: they run in a read transaction,
    /// which in WAL mode neither waits for nor blocks other processes. Only
    /// when the update wants to write is it run again, on a fresh read,
    /// inside `BEGIN IMMEDIATE`, so the read-modify-write is atomic.
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let key = format!("{}{name}", self.prefix);
        let now = self.local_now();
        let mut connection = self.lock();
        {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(|e| self.error(e))?;
            let stored = self.read(&transaction, &key, now)?;
            if update(stored.as_deref(), now).is_none() {
                return transaction.commit().map_err(|e| self.error(e));
            }
        }
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let stored = self.read(&transaction, &key, now)?;
        if let Some(text) = update(stored.as_deref(), now) {
            transaction
                .execute(
                    "INSERT INTO fusebox_state (key, state, machine, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (key) DO UPDATE SET
                         state = excluded.state,
                         machine = excluded.machine,
                         updated_at = excluded.updated_at",
                    rusqlite::params![key, state_name(&text), text, now as i64],
                )
                .map_err(|e| self.error(e))?;
            // Writes are rare (failures, transitions): a good moment to
            // forget idle breakers, so the file does not grow forever.
            let ttl = i64::try_from(self.ttl.as_nanos()).unwrap_or(i64::MAX);
            transaction
                .execute(
                    "DELETE FROM fusebox_state WHERE key LIKE ?1 || '%' AND updated_at < ?2",
                    rusqlite::params![self.prefix, (now as i64).saturating_sub(ttl)],
                )
                .map_err(|e| self.error(e))?;
        }
        transaction.commit().map_err(|e| self.error(e))
    }

    fn local_now(&self) -> u64 {
        store_now(self.clock.as_ref())
    }

    fn describe(&self) -> String {
        format!("sqlite store {}", self.path.display())
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.entries()?.into_iter().map(|(name, _)| name).collect())
    }
}
