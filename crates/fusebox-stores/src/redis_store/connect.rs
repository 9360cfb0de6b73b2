//! Connecting within a call's deadline.
//!
//! The Redis client looks the host name up with no time limit and then
//! gives each address it found the whole timeout. Here the lookup runs on a
//! helper thread that the call waits for only until its deadline, and each
//! address gets only what is left of the call's budget.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use redis::{ConnectionAddr, ConnectionInfo, RedisError};

use crate::deadline::Deadline;

/// Host name lookups still running on helper threads, across all stores.
/// A resolver that hangs would otherwise leave one thread per call.
static LOOKUPS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// At most this many lookups run at once; more calls fail at once.
const MAX_LOOKUPS: usize = 4;

/// Why a connection could not be made.
pub(super) enum ConnectError {
    /// The deadline passed (during the lookup or between addresses).
    TimedOut(&'static str),
    /// The lookup failed or found nothing.
    Lookup(String),
    /// Every address refused or failed; the last error.
    Redis(RedisError),
}

/// A connection to the server `info` names, made before `deadline`.
pub(super) fn connect(
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
    let addresses = resolve(host, *port, deadline)?;
    let mut last = None;
    for address in addresses {
        let left = deadline
            .remaining()
            .ok_or(ConnectError::TimedOut("while trying the host's addresses"))?;
        let one = info
            .clone()
            .set_addr(ConnectionAddr::Tcp(address.ip().to_string(), address.port()));
        match redis::Client::open(one).and_then(|client| client.get_connection_with_timeout(left))
        {
            Ok(connection) => return Ok(connection),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || ConnectError::Lookup(format!("host {host:?} has no address")),
        ConnectError::Redis,
    ))
}

/// The addresses of `host`, looked up within `deadline`.
fn resolve(host: &str, port: u16, deadline: &Deadline) -> Result<Vec<SocketAddr>, ConnectError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if LOOKUPS_RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
        LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
        return Err(ConnectError::Lookup(format!(
            "earlier lookups of hosts are still running; not looking up {host:?}"
        )));
    }
    let (answer, answered) = mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("fusebox-lookup".to_owned())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
            let _ = answer.send(found); // the caller may have given up
        });
    if let Err(e) = spawned {
        LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
        return Err(ConnectError::Lookup(format!("cannot look up {host:?}: {e}")));
    }
    let left = deadline
        .remaining()
        .ok_or(ConnectError::TimedOut("before looking up the host"))?;
    match answered.recv_timeout(left) {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(ConnectError::Lookup(format!("cannot look up {host:?}: {e}"))),
        Err(_) => Err(ConnectError::TimedOut("looking up the host")),
    }
}
