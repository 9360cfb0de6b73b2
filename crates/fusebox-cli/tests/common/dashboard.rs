//! A `fusebox dashboard` process of the test's own, and plain HTTP/1.0 to
//! talk to it (one request per connection; the body ends when the server
//! closes it, so no chunked encoding to undo).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::Env;

/// A safety net for reads, so a broken server fails a test instead of
/// hanging it; never a measure of speed.
const STUCK: Duration = Duration::from_secs(60);

/// A running `fusebox dashboard`, killed when dropped.
pub(crate) struct Dashboard {
    pub(crate) child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) address: String,
    /// Its stderr (control actions are logged there).
    pub(crate) log: PathBuf,
}

/// A token the tests use (written to a 0600 file).
pub(crate) const TOKEN: &str = "test-token-0123456789abcdef";

impl Dashboard {
    /// Starts `fusebox dashboard --store STORE --interval INTERVAL` on a
    /// free loopback port, with [`TOKEN`] when `token` is true, and waits
    /// until it listens (it prints its address then).
    pub(crate) fn start(env: &Env, store: &str, interval: &str, token: bool) -> Dashboard {
        let log = env.path("dashboard.log");
        let mut command = env.fusebox();
        command.args([
            "dashboard",
            "--store",
            store,
            "--listen",
            "127.0.0.1:0",
            "--interval",
            interval,
        ]);
        if token {
            let path = env.path("token");
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            writeln!(file, "{TOKEN}").unwrap();
            command.arg("--token-file").arg(&path);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let address = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| {
                panic!(
                    "no address in {first:?}: {}",
                    std::fs::read_to_string(&log).unwrap()
                )
            })
            .to_owned();
        Dashboard {
            child,
            address,
            log,
        }
    }

    /// `GET path`: status, headers (lower-case names) and body.
    pub(crate) fn get(&self, path: &str) -> Response {
        self.request(&format!(
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        ))
    }

    /// `GET path` with `Host: host`.
    pub(crate) fn get_with_host(&self, path: &str, host: &str) -> Response {
        self.request(&format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n"))
    }

    /// `POST /api/control` with `body`, and `Authorization: AUTH` if given.
    pub(crate) fn control(&self, body: &str, auth: Option<&str>) -> Response {
        let auth = auth.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
        self.request(&format!(
            "POST /api/control HTTP/1.0\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        ))
    }

    /// `/api/breakers`, parsed.
    pub(crate) fn breakers(&self) -> Value {
        let response = self.get("/api/breakers");
        assert_eq!(response.status, 200, "{}", response.body);
        serde_json::from_str(&response.body).unwrap()
    }

    /// `fusebox_dashboard_scans_total` from `/metrics`.
    pub(crate) fn scans(&self) -> u64 {
        let metrics = self.get("/metrics").body;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("fusebox_dashboard_scans_total "))
            .unwrap_or_else(|| panic!("no scan count in {metrics}"))
            .parse()
            .unwrap()
    }

    /// The number of the first scan sure to start after this call: the
    /// count in `/metrics` is the last scan published, and the one after it
    /// may be under way already, having read the store before now.
    pub(crate) fn scan_after_now(&self) -> u64 {
        self.scans() + 2
    }

    /// Subscribes to `/events`.
    pub(crate) fn events(&self) -> Events {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(STUCK)).unwrap();
        write!(
            stream,
            "GET /events HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
        }
        Events { reader }
    }

    /// What the dashboard wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    fn request(&self, text: &str) -> Response {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(STUCK)).unwrap();
        stream.write_all(text.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_owned(),
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A subscription to `/events`.
pub(crate) struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// The next `snapshot` event's data.
    pub(crate) fn next(&mut self) -> Value {
        serde_json::from_str(&self.next_text()).unwrap()
    }

    /// The next `snapshot` event's data, as sent.
    pub(crate) fn next_text(&mut self) -> String {
        let mut data: Option<String> = None;
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line).unwrap();
            assert!(read > 0, "the event stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return data;
                }
            } else if let Some(rest) = line.strip_prefix("data: ") {
                data = Some(rest.to_owned());
            }
        }
    }

    /// Snapshots until one from scan `scan` or later.
    pub(crate) fn since_scan(&mut self, scan: u64) -> Value {
        loop {
            let snapshot = self.next();
            if snapshot["scan"].as_u64().unwrap() >= scan {
                return snapshot;
            }
        }
    }
}

/// The breaker `name` in a snapshot.
pub(crate) fn breaker<'a>(snapshot: &'a Value, name: &str) -> &'a Value {
    snapshot["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no breaker {name:?} in {snapshot}"))
}
