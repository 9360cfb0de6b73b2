//! The `--listen` address, and the rule that keeps a dashboard without a
//! token on this host.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::Exit;

/// The address to serve on. Without a token every address `listen` names
/// must be a loopback one: a page that could change breakers (or shows a
/// fleet's state) is not served to the network unguarded.
pub(super) fn address(listen: &str, has_token: bool) -> Result<SocketAddr, Exit> {
    let bad = |why: String| Exit::Usage(format!("--listen {listen:?}: {why}"));
    let addresses: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| {
            bad(format!(
                "not an address with a port, like 127.0.0.1:7040 ({e})"
            ))
        })?
        .collect();
    let Some(first) = addresses.first().copied() else {
        return Err(bad("the name has no address".into()));
    };
    if !has_token && !addresses.iter().all(|a| a.ip().is_loopback()) {
        return Err(bad(format!(
            "{} is not a loopback address; a dashboard without --token-file is served to this host only: give --token-file FILE to serve it to the network, or listen on 127.0.0.1",
            first.ip()
        )));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        assert!(address("127.0.0.1:7040", false).is_ok());
        assert!(address("[::1]:7040", false).is_ok());
        assert!(address("localhost:7040", false).is_ok());
        let refused = address("0.0.0.0:7040", false).unwrap_err();
        assert!(refused.message().contains("not a loopback address"));
        assert!(refused.message().contains("--token-file"));
        assert!(address("0.0.0.0:7040", true).is_ok());
        assert!(address("127.0.0.1", false)
            .unwrap_err()
            .message()
            .contains("with a port"));
    }
}
