//! Real parts for the store tests: a `redis-server` of our own on a free
//! loopback port, and worker processes that are this test binary run again.
#![allow(dead_code, unreachable_pub)]

pub mod deploy;
pub mod fleet;
#[cfg(unix)]
pub mod fork;
pub mod lossy_proxy;
pub mod port_owner;
pub mod slow_proxy;
pub mod write_lock;

/// The worker entry points of the fleet scenarios, for a test binary that
/// runs them (`spawn_worker` runs the binary again with one of these).
#[allow(unused_macros)] // not every test binary runs the fleet
macro_rules! fleet_workers {
    () => {
        #[test]
        fn worker_fail_until_rejected() {
            if common::is_worker() {
                common::fleet::fail_until_rejected();
            }
        }

        #[test]
        fn worker_take_a_probe() {
            if common::is_worker() {
                common::fleet::take_a_probe();
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use fleet_workers;

/// The worker that holds an SQLite file's write lock for `WriteLock`.
#[allow(unused_macros)] // not every test binary locks a file
macro_rules! write_lock_worker {
    () => {
        #[test]
        fn worker_hold_write_lock() {
            if common::is_worker() {
                common::write_lock::hold();
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use write_lock_worker;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` started for one test, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    /// For a TLS-only server: the CA that signed its certificate.
    tls_ca: Option<std::path::PathBuf>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A server started with extra `redis-server` arguments, on a free
    /// loopback port (another one if the port was taken meanwhile).
    pub fn start_with(args: &[&str]) -> RedisServer {
        RedisServer::start_on_a_free_port(args, None)
    }

    /// A server that speaks only TLS, with a certificate signed by `ca`
    /// (`args` name the certificate files).
    pub fn start_tls(args: &[&str], ca: &std::path::Path) -> RedisServer {
        RedisServer::start_on_a_free_port(args, Some(ca.to_owned()))
    }

    fn start_on_a_free_port(args: &[&str], tls_ca: Option<std::path::PathBuf>) -> RedisServer {
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut server = RedisServer {
                port,
                args: args.iter().map(|a| a.to_string()).collect(),
                tls_ca: tls_ca.clone(),
                child: None,
            };
            if server.try_start() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 20 free ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server again on the same port (after `kill`).
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// Starts the server; false if it exited (its port was taken) or did not
    /// answer PING within 10 s.
    fn try_start(&mut self) -> bool {
        let binary = which_redis();
        let port = self.port.to_string();
        let ports = match self.tls_ca {
            Some(_) => ["--port", "0", "--tls-port", &port],
            None => ["--port", &port, "--tls-port", "0"],
        };
        let mut child = Command::new(binary)
            .args(["--bind", "127.0.0.1"])
            .args(ports)
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Wait until it answers (process start-up, not test time). A PING,
        // not a bare connect: whatever else holds the port accepts those.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !matches!(child.try_wait(), Ok(None)) {
                return false; // exited: the port was not free after all
            }
            let answers = match &self.tls_ca {
                Some(ca) => tls_pong(self.port, ca),
                None => pong(self.port),
            };
            if answers {
                if !port_owner::listens_on(child.id(), self.port) {
                    // Another test's server answered: ours lost the port.
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
                self.child = Some(child);
                return true;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis server on `port` answers PING (a server that wants a
/// password answers NOAUTH, which is an answer too).
fn pong(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
}

/// Whether a TLS Redis server on `port`, with a certificate signed by
/// `ca`, answers PING.
fn tls_pong(port: u16, ca: &std::path::Path) -> bool {
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(std::fs::read(ca).unwrap()),
    };
    match redis::Client::build_with_tls(format!("rediss://localhost:{port}/0"), certificates)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection))
    {
        Ok(_) => true,
        // A certificate for other names (a test of that): it was a TLS
        // server's answer all the same.
        Err(e) => e.to_string().contains("certificate not valid for name"),
    }
}

fn which_redis() -> String {
    let find = || {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
    };
    if let Some(path) = find() {
        return path.to_owned();
    }
    // Not installed: install it, as scripts/test.sh would.
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "redis-server", "redis-tools"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    });
    find()
        .expect("redis-server is not installed and apt-get could not install it; run ./scripts/test.sh as root")
        .to_owned()
}

/// Runs this test binary again as a worker: only the test named `entry`
/// runs, and it sees `vars`.
pub fn spawn_worker(entry: &str, vars: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", entry, "--nocapture", "--test-threads", "1"])
        .env("FUSEBOX_WORKER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in vars {
        command.env(key, value);
    }
    command.spawn().expect("spawn worker")
}

/// Runs the test `entry` in a worker process of its own and checks that it
/// finished what it checks (it reports `checked yes` at its end): for
/// tests that fork, which must not share their process with other tests'
/// threads (one may hold a lock at the fork, SQLite's own say, and the
/// child would wait for it for ever).
pub fn run_alone(entry: &str) {
    let out = run_workers(entry, &[], 1).remove(0);
    assert_eq!(tagged(&out, "checked"), ["yes"], "{out}");
}

/// Runs `count` workers of the test `entry` at once, each seeing `vars`;
/// their outputs, once all have succeeded.
pub fn run_workers(entry: &str, vars: &[(&str, String)], count: usize) -> Vec<String> {
    let children: Vec<_> = (0..count).map(|_| spawn_worker(entry, vars)).collect();
    children
        .into_iter()
        .map(|mut child| {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            assert!(child.wait().unwrap().success(), "worker failed:\n{out}");
            out
        })
        .collect()
}

/// Prints a result for the parent, on a line of its own (libtest writes
/// the test's name before the worker's first output).
pub fn report(tag: &str, value: impl std::fmt::Display) {
    println!("\n@@{tag} {value}");
}

/// The values a worker reported under `tag`.
pub fn tagged(output: &str, tag: &str) -> Vec<String> {
    let marker = format!("@@{tag} ");
    output
        .lines()
        .filter_map(|line| line.strip_prefix(&marker))
        .map(|rest| rest.trim().to_owned())
        .collect()
}

pub fn is_worker() -> bool {
    std::env::var_os("FUSEBOX_WORKER").is_some()
}

pub fn var(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("worker needs {key}"))
}
