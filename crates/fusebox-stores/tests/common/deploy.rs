//! Redis as deployed, started by the test: one plain server, one server
//! that speaks only TLS (with a CA and certificate made for the test), or
//! a Redis Cluster of three masters. The store cases run against each
//! (`on_every_redis!`), through the URL a user would write.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::ConnectionLike;

use super::RedisServer;

/// Which kind of deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Tls,
    Cluster,
    /// A cluster whose nodes speak only TLS, among themselves too.
    TlsCluster,
}

/// A deployment of one kind, stopped when dropped.
pub struct TestRedis {
    pub kind: Kind,
    pub servers: Vec<RedisServer>,
    /// Certificates and cluster configuration files.
    dir: tempfile::TempDir,
}

/// A CA and a server certificate for `localhost` and `127.0.0.1`, as PEM
/// files in `dir`: (CA certificate, server certificate, server key).
pub fn make_certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    make_certificates_for(dir, &["localhost", "127.0.0.1"])
}

/// A CA and a server certificate for `names`, as PEM files in `dir`.
pub fn make_certificates_for(dir: &std::path::Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fusebox test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
    let files = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&files.0, ca_cert.pem()).unwrap();
    std::fs::write(&files.1, server_cert.pem()).unwrap();
    std::fs::write(&files.2, server_key.serialize_pem()).unwrap();
    files
}

/// `redis-server` arguments for a TLS-only server with the files of
/// `make_certificates`.
pub fn tls_args(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Vec<String> {
    [
        "--tls-cert-file",
        &cert.display().to_string(),
        "--tls-key-file",
        &key.display().to_string(),
        "--tls-ca-cert-file",
        &ca.display().to_string(),
        "--tls-auth-clients",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl TestRedis {
    pub fn start(kind: Kind) -> TestRedis {
        let dir = tempfile::tempdir().unwrap();
        let servers = match kind {
            Kind::Plain => vec![RedisServer::start()],
            Kind::Tls => {
                let (ca, cert, key) = make_certificates(dir.path());
                let args = tls_args(&ca, &cert, &key);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                vec![RedisServer::start_tls(&args, &ca)]
            }
            Kind::Cluster => start_cluster(dir.path(), None),
            Kind::TlsCluster => {
                let files = make_certificates(dir.path());
                start_cluster(dir.path(), Some(files))
            }
        };
        TestRedis { kind, servers, dir }
    }

    /// The URL a user would give the store, with a timeout long enough for
    /// a loaded test machine (a debug build's TLS handshakes take most of
    /// the default 50 ms): these tests are about sharing and faults, and
    /// the tests about deadlines set their own.
    pub fn url(&self) -> String {
        let url = self.url_without_timeout();
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}timeout=5s")
    }

    /// The URL a user would give the store, as is.
    pub fn url_without_timeout(&self) -> String {
        match self.kind {
            Kind::Plain => self.servers[0].url(),
            Kind::Tls => format!(
                "rediss://localhost:{}/0?ca={}",
                self.servers[0].port,
                self.ca().display()
            ),
            Kind::Cluster => {
                let nodes: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| format!("127.0.0.1:{}", s.port))
                    .collect();
                format!("redis+cluster://{}/", nodes.join(","))
            }
            Kind::TlsCluster => {
                let nodes: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| format!("127.0.0.1:{}", s.port))
                    .collect();
                format!(
                    "rediss+cluster://{}/?ca={}",
                    nodes.join(","),
                    self.ca().display()
                )
            }
        }
    }

    /// `url()` with one more query parameter, `pair` (`prefix=a:`).
    pub fn url_with(&self, pair: &str) -> String {
        let url = self.url();
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}{pair}")
    }

    /// The test CA's certificate file (TLS only).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A connection of the test's own, to look at and plant keys.
    pub fn raw(&self) -> Box<dyn ConnectionLike> {
        match self.kind {
            Kind::Plain => Box::new(
                redis::Client::open(self.servers[0].url())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            ),
            Kind::Tls => Box::new(
                redis::Client::build_with_tls(
                    format!("rediss://localhost:{}/0", self.servers[0].port),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(std::fs::read(self.ca()).unwrap()),
                    },
                )
                .unwrap()
                .get_connection()
                .unwrap(),
            ),
            Kind::Cluster => {
                let nodes: Vec<String> = self.servers.iter().map(|s| s.url()).collect();
                Box::new(
                    redis::cluster::ClusterClient::new(nodes)
                        .unwrap()
                        .get_connection()
                        .unwrap(),
                )
            }
            Kind::TlsCluster => {
                let nodes: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| format!("rediss://127.0.0.1:{}/0", s.port))
                    .collect();
                Box::new(
                    redis::cluster::ClusterClient::builder(nodes)
                        .certs(self.certificates())
                        .build()
                        .unwrap()
                        .get_connection()
                        .unwrap(),
                )
            }
        }
    }

    /// `url()` logging in as `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let url = self.url();
        let (scheme, rest) = url.split_once("://").unwrap();
        format!("{scheme}://{user}:{password}@{rest}")
    }

    /// A connection of the test's own to each server (each node of a
    /// cluster, not following redirections).
    pub fn each_server(&self) -> Vec<redis::Connection> {
        self.servers
            .iter()
            .map(|server| connect_to(server.port, self.tls_ca().as_deref()).unwrap())
            .collect()
    }

    /// The CA to trust, for a deployment that speaks TLS.
    fn tls_ca(&self) -> Option<PathBuf> {
        matches!(self.kind, Kind::Tls | Kind::TlsCluster).then(|| self.ca())
    }

    /// The test CA, as the client takes it.
    fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(self.ca()).unwrap()),
        }
    }

    /// Adds the ACL user `user` with `password` on every server, allowed
    /// every command on the store's keys only.
    pub fn add_user(&self, user: &str, password: &str) {
        for mut connection in self.each_server() {
            let _: () = redis::cmd("ACL")
                .arg("SETUSER")
                .arg(user)
                .arg("on")
                .arg(format!(">{password}"))
                .arg("~circuit_breaker:*")
                .arg("+@all")
                .query(&mut connection)
                .unwrap();
        }
    }

    /// Kills the server holding `key` (the only one, unless a cluster);
    /// returns its index for `restart`.
    pub fn kill_holder_of(&mut self, key: &str) -> usize {
        let at = match self.kind {
            Kind::Cluster | Kind::TlsCluster => {
                let mut connection =
                    connect_to(self.servers[0].port, self.tls_ca().as_deref()).unwrap();
                let port = master_port_by(&mut connection, key);
                self.servers.iter().position(|s| s.port == port).unwrap()
            }
            _ => 0,
        };
        self.servers[at].kill();
        at
    }

    /// Starts server `at` again, and waits until the deployment serves.
    pub fn restart(&mut self, at: usize) {
        self.servers[at].restart();
        if matches!(self.kind, Kind::Cluster | Kind::TlsCluster) {
            wait_for_cluster(&self.servers, self.tls_ca().as_deref());
        }
    }
}

/// A connection to the server on `port`, over TLS trusting `ca` if given.
fn connect_to(port: u16, ca: Option<&std::path::Path>) -> redis::RedisResult<redis::Connection> {
    let client = match ca {
        Some(ca) => redis::Client::build_with_tls(
            format!("rediss://localhost:{port}/0"),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(ca).unwrap()),
            },
        )?,
        None => redis::Client::open(format!("redis://127.0.0.1:{port}/0"))?,
    };
    client.get_connection_with_timeout(Duration::from_secs(1))
}

/// Three masters on free loopback ports, joined into one cluster that
/// serves every slot; speaking only TLS with `tls` (CA, certificate, key).
fn start_cluster(
    dir: &std::path::Path,
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
) -> Vec<RedisServer> {
    let servers: Vec<RedisServer> = (0..3)
        .map(|i| {
            let config = dir.join(format!("nodes-{i}.conf"));
            let mut args = vec![
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-config-file".to_owned(),
                config.display().to_string(),
            ];
            match &tls {
                Some((ca, cert, key)) => {
                    args.extend(tls_args(ca, cert, key));
                    args.extend(["--tls-cluster".to_owned(), "yes".to_owned()]);
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    RedisServer::start_tls(&args, ca)
                }
                None => {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    RedisServer::start_with(&args)
                }
            }
        })
        .collect();
    let mut create = Command::new(which_redis_cli());
    if let Some((ca, _, _)) = &tls {
        create.args(["--tls", "--cacert"]).arg(ca);
    }
    let created = create
        .args(["--cluster", "create"])
        .args(servers.iter().map(|s| format!("127.0.0.1:{}", s.port)))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run redis-cli --cluster create");
    assert!(created.success(), "redis-cli --cluster create failed");
    wait_for_cluster(&servers, tls.as_ref().map(|(ca, _, _)| ca.as_path()));
    servers
}

/// Waits (start-up, not test time) until every node reports
/// `cluster_state:ok` and knows every slot's master.
fn wait_for_cluster(servers: &[RedisServer], ca: Option<&std::path::Path>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for server in servers {
        loop {
            let ok = connect_to(server.port, ca)
                .and_then(|mut connection| {
                    redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query::<String>(&mut connection)
                })
                .is_ok_and(|info| info.contains("cluster_state:ok"));
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The port of the master that serves `key`, asked of the node on `port`.
pub fn master_port_of(port: u16, key: &str) -> u16 {
    master_port_by(&mut connect_to(port, None).unwrap(), key)
}

/// The port of the master that serves `key`, asked on `connection`.
fn master_port_by(connection: &mut redis::Connection, key: &str) -> u16 {
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(connection)
        .unwrap();
    let ranges: Vec<(i64, i64, (String, u16))> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<redis::Value>>(connection)
        .unwrap()
        .into_iter()
        .map(|range| match range {
            redis::Value::Array(fields) => {
                let first = redis::from_redis_value(fields[0].clone()).unwrap();
                let last = redis::from_redis_value(fields[1].clone()).unwrap();
                let master: Vec<redis::Value> = redis::from_redis_value(fields[2].clone()).unwrap();
                let host = redis::from_redis_value(master[0].clone()).unwrap();
                let port = redis::from_redis_value(master[1].clone()).unwrap();
                (first, last, (host, port))
            }
            other => panic!("CLUSTER SLOTS gave {other:?}"),
        })
        .collect();
    ranges
        .into_iter()
        .find(|(first, last, _)| (*first..=*last).contains(&slot))
        .map(|(_, _, (_, port))| port)
        .unwrap_or_else(|| panic!("no master serves slot {slot}"))
}

fn which_redis_cli() -> &'static str {
    ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("redis-cli is not installed (Debian: apt-get install redis-tools)")
}

/// Defines each listed case (a function taking a `Kind`) as a test in
/// the modules `plain`, `tls` and `cluster`.
#[allow(unused_macros)]
macro_rules! on_every_redis {
    ($($case:ident),* $(,)?) => {
        mod plain {
            $(#[test] fn $case() { super::$case(crate::common::deploy::Kind::Plain) })*
        }
        mod tls {
            $(#[test] fn $case() { super::$case(crate::common::deploy::Kind::Tls) })*
        }
        mod cluster {
            $(#[test] fn $case() { super::$case(crate::common::deploy::Kind::Cluster) })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_redis;
