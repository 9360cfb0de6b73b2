//! Where the state lives, and opening it: for writing (`run` and the manual
//! commands), or only for reading (`status`), which never creates, changes
//! or converts anything.
//!
//! A state file is fusebox's own: a regular file owned by the user running
//! fusebox, either new (created 0600 in a 0700 directory, as XDG asks) or an
//! SQLite database holding fusebox's table. Anything else, such as another
//! application's database, a device or another user's file reached through
//! a symbolic link, is refused before SQLite touches it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fusebox::store::{Store, StoreError};
use fusebox_stores::{SqliteStore, StoreUrl, DEFAULT_PREFIX, DEFAULT_TTL};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::args::BreakerArgs;
use crate::Exit;

/// How long the CLI waits for a store: longer than the library's default,
/// since a cron job would rather wait a second than run on local state.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The table fusebox keeps its state in.
const TABLE: &str = "fusebox_state";

/// Where the state is, as the command line, the environment or the
/// defaults say.
pub(crate) enum Location {
    /// An SQLite file.
    Sqlite {
        path: PathBuf,
        prefix: Option<String>,
        timeout: Option<Duration>,
    },
    /// A Redis server (`url` as given, for the store to parse).
    Redis { url: String },
    /// This process only.
    Memory,
}

/// One breaker's stored state, as read without changing it.
pub(crate) struct Record {
    /// The name, as stored (lossy if the store holds bytes that are not
    /// UTF-8).
    pub(crate) name: String,
    /// The stored text, or why it cannot be read.
    pub(crate) text: Result<String, String>,
}

/// The store named by `--store`, else `$FUSEBOX_STORE`, else the default
/// file. Bad URLs are bad usage, naming where they came from.
pub(crate) fn locate(args: &BreakerArgs) -> Result<Location, Exit> {
    let from_env = std::env::var("FUSEBOX_STORE")
        .ok()
        .filter(|v| !v.is_empty());
    let (url, source) = match (&args.store, from_env) {
        (Some(url), _) => (url.clone(), "--store"),
        (None, Some(url)) => (url, "$FUSEBOX_STORE"),
        (None, None) => {
            return Ok(Location::Sqlite {
                path: default_state_path()?,
                prefix: None,
                timeout: None,
            })
        }
    };
    let bad = |why: String| Exit::Usage(format!("{source}: {why}"));
    let parsed = StoreUrl::parse(&url).map_err(|e| bad(e.message))?;
    let zero_timeout = |timeout: &Option<Duration>| timeout.is_some_and(|t| t.is_zero());
    match parsed {
        StoreUrl::Memory => Ok(Location::Memory),
        // `sync` (fleet mode) is accepted and changes nothing here: one run
        // is one call, which is one transaction either way.
        StoreUrl::Sqlite {
            path,
            prefix,
            timeout,
            ..
        } => {
            if zero_timeout(&timeout) {
                return Err(bad(format!(
                    "bad store URL {url:?}: timeout must be longer than zero"
                )));
            }
            Ok(Location::Sqlite {
                path,
                prefix,
                timeout,
            })
        }
        StoreUrl::Redis {
            url: client_url,
            timeout,
            ..
        } => {
            if zero_timeout(&timeout) {
                return Err(bad(format!(
                    "bad store URL {url:?}: timeout must be longer than zero"
                )));
            }
            // fusebox's own parameters are taken out, and the store reads
            // `ca`; any other would be ignored by the client, so a typo
            // would go unnoticed.
            if let Some((_, query)) = client_url.split_once('?') {
                if let Some(first) = query.split('&').find(|pair| !pair.starts_with("ca=")) {
                    return Err(bad(format!(
                        "bad store URL {url:?}: unknown parameter {first:?} (known: prefix, timeout, sync, ca)"
                    )));
                }
            }
            // The client checks the rest (host, port, database number)
            // without connecting.
            fusebox_stores::RedisStore::open(&client_url).map_err(|e| bad(e.message))?;
            Ok(Location::Redis { url })
        }
        _ => Err(bad(format!("unsupported store URL {url:?}"))),
    }
}

/// The default SQLite file: $FUSEBOX_STATE, else
/// $XDG_STATE_HOME/fusebox/state.db, else ~/.local/state/fusebox/state.db.
/// A relative $XDG_STATE_HOME is ignored, as the XDG specification says.
fn default_state_path() -> Result<PathBuf, Exit> {
    let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(path) = non_empty("FUSEBOX_STATE") {
        return Ok(PathBuf::from(path));
    }
    if let Some(dir) = non_empty("XDG_STATE_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(dir).join("fusebox").join("state.db"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/fusebox/state.db")),
        None => Err(Exit::Store(
            "no place for state: set FUSEBOX_STATE, XDG_STATE_HOME or HOME, or pass --store".into(),
        )),
    }
}

/// Opens the store to run breakers on, creating the state file if needed.
pub(crate) fn open_for_writing(location: &Location) -> Result<Arc<dyn Store>, Exit> {
    match location {
        Location::Sqlite {
            path,
            prefix,
            timeout,
        } => {
            prepare_state_file(path)?;
            let mut store = SqliteStore::open(path)
                .map(|s| s.timeout(timeout.unwrap_or(STORE_TIMEOUT)))
                .map_err(|e| Exit::Store(state_file_error(path, &e.message)))?;
            if let Some(prefix) = prefix {
                store = store.prefix(prefix.clone());
            }
            Ok(Arc::new(store))
        }
        Location::Redis { url } => open_redis(url),
        Location::Memory => {
            warn_memory();
            Ok(Arc::new(fusebox::store::MemoryStore::new()))
        }
    }
}

fn open_redis(url: &str) -> Result<Arc<dyn Store>, Exit> {
    let with_timeout = if url.contains("timeout=") {
        url.to_owned()
    } else {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}timeout={}ms", STORE_TIMEOUT.as_millis())
    };
    fusebox_stores::open(&with_timeout).map_err(|e| Exit::Usage(e.message))
}

fn warn_memory() {
    crate::warn("the memory: store keeps nothing once this command ends");
}

/// Makes sure `path` is a state file fusebox may write: creates it (0600,
/// in a 0700 directory) when missing, else checks it is ours.
fn prepare_state_file(path: &Path) -> Result<(), Exit> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    Exit::Store(format!(
                        "cannot create state directory {}: {e}",
                        dir.display()
                    ))
                })?;
        }
    }
    // create_new never follows a symbolic link, and fails if anything is
    // already there: then the existing file is checked instead.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_ours(path).map_err(Exit::Store)
        }
        Err(e) => Err(Exit::Store(format!(
            "cannot create state file {}: {e}",
            path.display()
        ))),
    }
}

/// Whether the existing file at `path` is a fusebox state file we may use.
fn check_ours(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let link = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot read state file {shown}: {e}"))?;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read state file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{shown} is not a regular file, so not a fusebox state file"
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me || (link.file_type().is_symlink() && link.uid() != me) {
        return Err(format!(
            "{shown} belongs to another user; fusebox keeps its state only in files of its own"
        ));
    }
    if meta.len() == 0 {
        return Ok(()); // new, or left empty: fusebox sets it up
    }
    if !has_sqlite_header(path) {
        return Err(not_sqlite(path));
    }
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| state_file_error(path, &e.to_string()))?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| state_file_error(path, &e.to_string()))?;
    if tables.is_empty() || tables.iter().any(|t| t == TABLE) {
        Ok(())
    } else {
        Err(not_a_state_file(
            path,
            &format!("it is another application's database (no {TABLE} table)"),
        ))
    }
}

fn has_sqlite_header(path: &Path) -> bool {
    let mut header = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && &header == b"SQLite format 3\0"
}

/// A file that is not SQLite at all: someone else's, or fusebox's damaged.
fn not_sqlite(path: &Path) -> String {
    format!(
        "{} is not an SQLite database: if it is fusebox's state file it is damaged, and deleting it resets every breaker kept in it; else name another file with FUSEBOX_STATE or --store",
        path.display()
    )
}

fn not_a_state_file(path: &Path, why: &str) -> String {
    format!(
        "{} is not a fusebox state file: {why}; name another file with FUSEBOX_STATE or --store",
        path.display()
    )
}

/// An SQLite error about the state file, with what to do about it.
fn state_file_error(path: &Path, message: &str) -> String {
    let shown = path.display();
    if message.contains("not a database") || message.contains("malformed") {
        format!(
            "state file {shown} is damaged ({}); deleting it resets every breaker kept in it",
            last_part(message)
        )
    } else if message.contains("readonly") || message.contains("read-only") {
        format!("state file {shown} cannot be written (read-only file or directory)")
    } else {
        format!("state file {shown}: {}", last_part(message))
    }
}

/// The end of a nested error message (`… sqlite store PATH: the reason`).
fn last_part(message: &str) -> &str {
    message.rsplit(": ").next().unwrap_or(message)
}

/// The state of a breaker that has seen no failure yet, in the store's
/// record format (`fusebox/1 …`, the fields every record has).
fn fresh_record(now: u64) -> String {
    use std::hash::{BuildHasher, RandomState};
    // The backoff's jitter seed, random as a new breaker's own would be.
    let rng = RandomState::new().hash_one(now) | 1;
    format!("fusebox/1 state=closed gen=0 since={now} until=0 streak=0 ps=0 next=1 lf=- re=0 rng={rng} probes=")
}

/// Checks that the store answers, in one transaction that also writes a
/// fresh closed state for `name` when the store holds none (with `list`),
/// so `status` lists every breaker that ran, including one that only ever
/// succeeded (a success changes nothing, so the breaker never writes it).
pub(crate) fn reach(store: &dyn Store, name: &str, list: bool) -> Result<(), String> {
    store
        .transact(name, &mut |stored, now| {
            (list && stored.is_none()).then(|| fresh_record(now))
        })
        .map_err(|e| unreachable(store, &e))
}

/// Reads the stored breakers (only `only`, when given) without writing
/// anything; a missing state file holds no breakers.
pub(crate) fn read(location: &Location, only: Option<&str>) -> Result<Vec<Record>, Exit> {
    let mut records = match location {
        Location::Sqlite { path, prefix, .. } => {
            read_sqlite(path, prefix.as_deref().unwrap_or(DEFAULT_PREFIX))?
        }
        Location::Redis { url } => read_redis(url, only)?,
        Location::Memory => {
            warn_memory();
            Vec::new()
        }
    };
    if let Some(name) = only {
        records.retain(|r| r.name == name);
    }
    Ok(records)
}

fn read_sqlite(path: &Path, prefix: &str) -> Result<Vec<Record>, Exit> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Exit::Store(format!(
                "cannot read state file {}: {e}",
                path.display()
            )))
        }
        Ok(_) => {}
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Exit::Store(format!("cannot read state file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Exit::Store(not_a_state_file(
            path,
            "it is not a regular file",
        )));
    }
    if meta.len() == 0 {
        return Ok(Vec::new());
    }
    if !has_sqlite_header(path) {
        return Err(Exit::Store(not_sqlite(path)));
    }
    let fail = |e: rusqlite::Error| Exit::Store(state_file_error(path, &e.to_string()));
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    let _ = connection.busy_timeout(STORE_TIMEOUT);
    let ours: bool = connection
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [TABLE],
            |row| row.get(0),
        )
        .map_err(fail)?;
    if !ours {
        let any: bool = connection
            .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |row| {
                row.get(0)
            })
            .map_err(fail)?;
        return if any {
            Err(Exit::Store(not_a_state_file(
                path,
                &format!("it is another application's database (no {TABLE} table)"),
            )))
        } else {
            Ok(Vec::new())
        };
    }
    let now = i64::try_from(fusebox::__private::wall_clock_nanos()).unwrap_or(i64::MAX);
    let ttl = i64::try_from(DEFAULT_TTL.as_nanos()).unwrap_or(i64::MAX);
    let mut statement = connection
        .prepare(&format!(
            "SELECT key, machine, updated_at FROM {TABLE} ORDER BY key"
        ))
        .map_err(fail)?;
    let mut rows = statement.query([]).map_err(fail)?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let key = lossy(row.get_ref(0).map_err(fail)?);
        let Some(name) = key.strip_prefix(prefix) else {
            continue;
        };
        let updated_at = row.get_ref(2).map_err(fail)?;
        if let ValueRef::Integer(at) = updated_at {
            // Expired: the store no longer has it. A state set by hand
            // (forced open, disabled) never expires: the store still obeys
            // it, so it is listed however old its row is.
            let manual = is_manual(row.get_ref(1).map_err(fail)?);
            if !manual && now.saturating_sub(at) >= ttl {
                continue;
            }
        }
        let text = match updated_at {
            ValueRef::Integer(_) => text_of(row.get_ref(1).map_err(fail)?),
            other => Err(format!(
                "its update time is stored as {}, not a number",
                type_name(other)
            )),
        };
        records.push(Record {
            name: name.to_owned(),
            text,
        });
    }
    Ok(records)
}

/// Whether a stored state is one only a person leaves (`forced_open`,
/// `disabled`), which the stores never expire.
fn is_manual(machine: ValueRef<'_>) -> bool {
    let ValueRef::Text(bytes) = machine else {
        return false;
    };
    String::from_utf8_lossy(bytes)
        .split(' ')
        .find_map(|field| field.strip_prefix("state="))
        .is_some_and(|state| matches!(state, "forced_open" | "disabled"))
}

/// The text of a stored state, or what is wrong with it.
fn text_of(value: ValueRef<'_>) -> Result<String, String> {
    match value {
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| "its state is not valid UTF-8 text".to_owned()),
        other => Err(format!(
            "its state is stored as {}, not text",
            type_name(other)
        )),
    }
}

fn lossy(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Null => String::new(),
    }
}

fn type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a BLOB",
    }
}

/// Reads a Redis store's breakers (only `only`, when given) without
/// touching them: no write, and no time to live renewed, so watching a
/// store keeps no idle breaker alive.
fn read_redis(url: &str, only: Option<&str>) -> Result<Vec<Record>, Exit> {
    let store = open_redis_reader(url)?;
    let names = match only {
        Some(name) => vec![name.to_owned()],
        None => store
            .names()
            .map_err(|e| Exit::Store(unreachable(&store, &e)))?,
    };
    let states = store
        .peek(&names)
        .map_err(|e| Exit::Store(unreachable(&store, &e)))?;
    Ok(names
        .into_iter()
        .zip(states)
        .filter_map(|(name, state)| {
            Some(Record {
                name,
                text: Ok(state?),
            })
        })
        .collect())
}

/// The Redis store at `url` (its prefix and timeout as the URL says), for
/// reading only.
fn open_redis_reader(url: &str) -> Result<fusebox_stores::RedisStore, Exit> {
    let bad = |e: StoreError| Exit::Usage(e.message);
    let StoreUrl::Redis {
        url: client_url,
        prefix,
        timeout,
        ..
    } = StoreUrl::parse(url).map_err(bad)?
    else {
        return Err(Exit::Usage(format!("not a redis store URL: {url:?}")));
    };
    let mut store = fusebox_stores::RedisStore::open(&client_url)
        .map_err(bad)?
        .timeout(timeout.unwrap_or(STORE_TIMEOUT));
    if let Some(prefix) = prefix {
        store = store.prefix(prefix);
    }
    Ok(store)
}

/// The store cannot be reached: one line naming it, password hidden.
pub(crate) fn unreachable(store: &dyn Store, e: &StoreError) -> String {
    format!(
        "cannot reach {}: {}",
        store.describe(),
        last_part(&e.message)
    )
}
