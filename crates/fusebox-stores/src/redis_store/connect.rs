//! Connecting within a call's deadline.
//!
//! The Redis client looks the host name up with no time limit, gives each
//! address it found the whole timeout, and then may wait that long again
//! for each reply of its handshake. So a connection is made on a helper
//! thread, which the call waits for only until its deadline; the helper
//! gives each address only what is left of its budget, and a connection it
//! makes after the caller gave up goes to the pool for the next caller.
//!
//! A new connection loads both scripts in one round trip: a server that
//! has not seen them (new, restarted, flushed) would otherwise answer the
//! first run of each with `NOSCRIPT`, and the load and the second try would
//! cost two more round trips in the middle of a call.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use redis::{ConnectionAddr, ConnectionInfo, RedisError};

use crate::deadline::Deadline;
use crate::pool::Pool;

/// Connections being made on helper threads, across all stores. A server
/// or resolver that hangs would otherwise leave one thread per call.
static CONNECTING: AtomicUsize = AtomicUsize::new(0);

/// At most this many connections are made at once; more calls fail at
/// once (and their breakers carry on locally).
const MAX_CONNECTING: usize = 64;

/// The least time a helper has to make a connection.
const HELPER_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a connection could not be made.
pub(super) enum ConnectError {
    /// The deadline passed.
    TimedOut(&'static str),
    /// The lookup failed, found nothing, or could not start.
    Lookup(String),
    /// Every address refused or failed; the last error.
    Redis(RedisError),
}

/// A connection to the server `info` names, made before `deadline`.
/// A connection made after the caller gave up goes to `pool`.
pub(super) fn connect(
    info: &ConnectionInfo,
    deadline: &Deadline,
    pool: &Arc<Pool<redis::Connection>>,
) -> Result<redis::Connection, ConnectError> {
    if CONNECTING.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTING {
        CONNECTING.fetch_sub(1, Ordering::AcqRel);
        return Err(ConnectError::Lookup(format!(
            "{MAX_CONNECTING} connections are still being made; not making another"
        )));
    }
    let (answer, answered) = mpsc::channel();
    let info = info.clone();
    // The helper may go on after the caller gave up, to have a connection
    // ready for the next one; not for ever.
    let budget = Deadline::after(deadline.timeout().max(HELPER_BUDGET));
    let late = Arc::clone(pool);
    let spawned = std::thread::Builder::new()
        .name("fusebox-connect".to_owned())
        .spawn(move || {
            let made = connect_now(&info, &budget);
            CONNECTING.fetch_sub(1, Ordering::AcqRel);
            if let Err(mpsc::SendError(Ok(connection))) = answer.send(made) {
                late.put(connection); // the caller gave up: the next one uses it
            }
        });
    if let Err(e) = spawned {
        CONNECTING.fetch_sub(1, Ordering::AcqRel);
        return Err(ConnectError::Lookup(format!(
            "cannot start connecting: {e}"
        )));
    }
    answered
        .recv_timeout(deadline.wait_at_most(std::time::Duration::from_millis(1)))
        .unwrap_or(Err(ConnectError::TimedOut("connecting")))
}

/// Connects on this thread, giving each step what is left of `deadline`.
pub(super) fn connect_now(
    info: &ConnectionInfo,
    deadline: &Deadline,
) -> Result<redis::Connection, ConnectError> {
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        // A Unix socket: no lookup, one try.
        let left = deadline
            .remaining()
            .ok_or(ConnectError::TimedOut("before connecting"))?;
        return redis::Client::open(info.clone())
            .and_then(|client| client.get_connection_with_timeout(left))
            .map_err(ConnectError::Redis);
    };
    let addresses = resolve(host, *port)?;
    let mut last = None;
    for address in addresses {
        let left = deadline
            .remaining()
            .ok_or(ConnectError::TimedOut("while trying the host's addresses"))?;
        let one = info.clone().set_addr(ConnectionAddr::Tcp(
            address.ip().to_string(),
            address.port(),
        ));
        match redis::Client::open(one)
            .and_then(|client| client.get_connection_with_timeout(left))
            .and_then(|mut connection| {
                load_scripts(&mut connection, deadline)?;
                Ok(connection)
            }) {
            Ok(connection) => return Ok(connection),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || ConnectError::Lookup(format!("host {host:?} has no address")),
        ConnectError::Redis,
    ))
}

/// Loads the store's scripts on the server, in one round trip.
fn load_scripts(connection: &mut redis::Connection, deadline: &Deadline) -> redis::RedisResult<()> {
    let left = deadline
        .remaining()
        .ok_or_else(|| RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?;
    connection.set_read_timeout(Some(left))?;
    connection.set_write_timeout(Some(left))?;
    redis::pipe()
        .cmd("SCRIPT")
        .arg("LOAD")
        .arg(super::READ_LUA)
        .cmd("SCRIPT")
        .arg("LOAD")
        .arg(super::COMPARE_AND_SET_LUA)
        .query::<(String, String)>(connection)?;
    Ok(())
}

/// The addresses of `host` (the caller bounds the wait).
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| ConnectError::Lookup(format!("cannot look up {host:?}: {e}")))
}
