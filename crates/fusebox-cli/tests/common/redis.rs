//! A `redis-server` of the test's own on a free loopback port.

use std::net::TcpListener;

#[path = "../../../fusebox-stores/tests/common/port_owner.rs"]
mod port_owner;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` started for one test, killed when dropped.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts a server; with `password`, clients must give it.
    pub(crate) fn start(password: Option<&str>) -> RedisServer {
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if let Some(server) = RedisServer::try_start_on(port, password) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 20 free ports");
    }

    /// Starts a server on `port` (one that was stopped, say).
    pub(crate) fn start_on(port: u16, password: Option<&str>) -> RedisServer {
        RedisServer::try_start_on(port, password)
            .unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    /// Starts a server on `port`; `None` if another process holds the port.
    fn try_start_on(port: u16, password: Option<&str>) -> Option<RedisServer> {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let mut child = command
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        // Wait until it listens (process start-up, not test time). Another
        // test's server on the same port would accept connections too.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_owner::listens_on(child.id(), port) {
            if !matches!(child.try_wait(), Ok(None)) || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Some(RedisServer { port, child })
    }

    /// Runs `redis-cli ARGS` against this server.
    pub(crate) fn cli(&self, password: Option<&str>, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &self.port.to_string()]);
        if let Some(password) = password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        let out = command.args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
