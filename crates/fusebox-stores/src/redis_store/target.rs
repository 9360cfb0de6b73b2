//! What a Redis URL names: one server, or the seed nodes of a Redis
//! Cluster, and how to reach them (TLS and the certificates it trusts,
//! the ACL user and password).
//!
//! * `redis://[user:password@]host:port/db`: one server.
//! * `rediss://…`: the same over TLS. The server's certificate is checked
//!   against the Mozilla roots (webpki-roots), or only against the CA
//!   certificates of the PEM file `?ca=/path/ca.pem`. There is no way to
//!   turn the check off.
//! * `redis+cluster://[user:password@]host1:port1,host2:port2/` (and
//!   `rediss+cluster://…`): a Redis Cluster, found through any of the
//!   listed nodes; database 0 only, as the cluster has no other.

use std::path::Path;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};

/// The parsed form of a store's Redis URL.
pub(super) enum Target {
    /// One server (boxed: a connection's settings are large).
    One(Box<ConnectionInfo>),
    /// A cluster, reached through these seed nodes (at least one), which
    /// share their user, password and TLS settings with every node.
    Cluster(Vec<ConnectionInfo>),
}

/// What the schemes mean.
const SCHEMES: &str = "redis://, rediss://, redis+cluster://, rediss+cluster:// or unix://";

impl Target {
    /// Parses `url`; the error is the client's or our words, which may
    /// quote the URL (the caller hides its password).
    pub(super) fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("expected {SCHEMES}"))?;
        let (tls, cluster) = match scheme {
            "redis" | "unix" | "redis+unix" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            other => return Err(format!("unknown scheme {other:?}; expected {SCHEMES}")),
        };
        if rest.contains("#insecure") {
            return Err("certificate checks cannot be turned off (#insecure); \
                 trust the server's CA with ?ca=/path/to/ca.pem instead"
                .to_owned());
        }
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut ca = None;
        let mut others = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("ca", path)) => ca = Some(path),
                _ => others.push(pair),
            }
        }
        if ca.is_some() && !tls {
            return Err("?ca= is for TLS: use a rediss:// URL".to_owned());
        }
        let query = if others.is_empty() {
            String::new()
        } else {
            format!("?{}", others.join("&"))
        };
        let certificates = ca.map(read_ca).transpose()?;
        let one = |url: String| -> Result<ConnectionInfo, String> {
            let info = url.into_connection_info().map_err(|e| e.to_string())?;
            with_roots(info, certificates.as_ref())
        };
        if !cluster {
            let info = one(format!("{scheme}://{base}{query}"))?;
            return Ok(Target::One(Box::new(info)));
        }
        let node_scheme = if tls { "rediss" } else { "redis" };
        // The user-info ends at the last '@' (a password may hold one).
        let (user_info, hosts_and_path) = match base.rfind('@') {
            Some(at) => (&base[..=at], &base[at + 1..]),
            None => ("", base),
        };
        let (hosts, path) = hosts_and_path
            .split_once('/')
            .unwrap_or((hosts_and_path, ""));
        if !matches!(path, "" | "0") {
            return Err(format!("a Redis Cluster has only database 0, not {path:?}"));
        }
        let seeds = hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| one(format!("{node_scheme}://{user_info}{host}/0{query}")))
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err("no cluster node given: expected host1:port1,host2:port2".to_owned());
        }
        Ok(Target::Cluster(seeds))
    }
}

/// The CA certificates of the PEM file at `path`.
fn read_ca(path: &str) -> Result<TlsCertificates, String> {
    let pem = std::fs::read(Path::new(path))
        .map_err(|e| format!("cannot read the CA file {path:?} (?ca=): {e}"))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "the CA file {path:?} (?ca=) holds no PEM certificate"
        ));
    }
    Ok(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

/// `info`, trusting only `certificates` when given. A TLS connection
/// needs a cryptography provider: ring, unless the program chose one.
fn with_roots(
    info: ConnectionInfo,
    certificates: Option<&TlsCertificates>,
) -> Result<ConnectionInfo, String> {
    if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        // Fails only when a provider is installed already: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    match certificates {
        None => Ok(info),
        Some(certificates) => redis::Client::build_with_tls(info, certificates.clone())
            .map(|client| client.get_connection_info().clone())
            .map_err(|e| e.to_string()),
    }
}

/// `template` (a node's user, password, database and TLS settings) for
/// the node at `host:port`.
pub(super) fn node_info(template: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match template.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    template.clone().set_addr(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(url: &str) -> Vec<String> {
        match Target::parse(url) {
            Ok(Target::Cluster(seeds)) => seeds.iter().map(|s| s.addr().to_string()).collect(),
            Ok(Target::One(_)) => panic!("{url} is one server"),
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn cluster_urls_list_their_seeds_and_share_the_credentials() {
        assert_eq!(
            seeds("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"),
            ["10.0.0.1:7000", "10.0.0.2:7001"]
        );
        assert_eq!(seeds("redis+cluster://h:7000"), ["h:7000"]);
        let Ok(Target::Cluster(seeds)) =
            Target::parse("redis+cluster://app:pw@h1:7000,h2:7001/0?protocol=resp2")
        else {
            panic!("not a cluster");
        };
        for seed in &seeds {
            assert_eq!(seed.redis_settings().username(), Some("app"));
            assert_eq!(seed.redis_settings().password(), Some("pw"));
        }
    }

    #[test]
    fn bad_urls_are_named() {
        let cases = [
            ("redis+cluster://h1:7000,h2:7001/3", "only database 0"),
            ("redis+cluster:///", "no cluster node"),
            ("redis://h:6379/0?ca=/etc/ca.pem", "rediss://"),
            ("rediss://h:6379/0#insecure", "cannot be turned off"),
            (
                "rediss://h:6379/0?ca=/no/such/ca.pem",
                "\"/no/such/ca.pem\"",
            ),
            ("http://h:6379", "unknown scheme \"http\""),
        ];
        for (url, says) in cases {
            let error = Target::parse(url).err().unwrap_or_else(|| panic!("{url}"));
            assert!(error.contains(says), "{url}: {error}");
        }
    }

    #[test]
    fn nodes_keep_the_seed_s_tls_settings() {
        let Ok(Target::One(info)) = Target::parse("rediss://u:p@h:6380/0") else {
            panic!("not one server");
        };
        let node = node_info(&info, "10.1.2.3", 7002);
        assert!(matches!(
            node.addr(),
            ConnectionAddr::TcpTls { host, port: 7002, insecure: false, .. } if host == "10.1.2.3"
        ));
        assert_eq!(node.redis_settings().password(), Some("p"));
    }
}
