//! Whose listening socket a loopback port is.
//!
//! A test picks a free port, then starts `redis-server` on it; another test
//! may pick the same port in between. The loser exits, but not before its
//! start-up check could have been answered by the winner, and two tests
//! would then share one server (with the wrong options). Asking the kernel
//! which process holds the listening socket settles it.

use std::fs;

/// Whether process `pid` holds the socket listening on `127.0.0.1:port`.
pub(crate) fn listens_on(pid: u32, port: u16) -> bool {
    let Some(inode) = listening_inode(port) else {
        return false;
    };
    let wanted = format!("socket:[{inode}]");
    let Ok(descriptors) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.flatten().any(|entry| {
        fs::read_link(entry.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
    })
}

/// The inode of the IPv4 socket listening on `127.0.0.1:port`.
fn listening_inode(port: u16) -> Option<String> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl, local address, remote address, state (0A = LISTEN), queues,
        // timer, retransmits, uid, timeout, inode.
        (fields.len() > 9 && fields[1] == local && fields[3] == "0A").then(|| fields[9].to_owned())
    })
}
