//! DNS rebinding: a web page elsewhere can point a name of its own at
//! 127.0.0.1 and have a visitor's browser read a dashboard that listens on
//! loopback. Such requests carry the other site's name in `Host`, so a
//! dashboard on loopback answers only requests addressed to a loopback
//! name (any port, so `ssh -L 8080:127.0.0.1:7040` works).

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether requests must name a loopback host (the dashboard listens on
/// loopback).
#[derive(Clone, Copy)]
pub(super) struct LoopbackOnly(pub(super) bool);

pub(super) async fn guard(
    State(rule): State<LoopbackOnly>,
    request: Request,
    next: Next,
) -> Response {
    if rule.0 {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_name(host) {
            return (
                StatusCode::FORBIDDEN,
                "this dashboard listens on loopback and answers only requests to localhost, 127.0.0.1 or [::1]\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port. A request
/// without `Host` (HTTP/1.0 from a script on this host) passes: browsers
/// always send one.
fn is_loopback_name(host: &str) -> bool {
    if host.is_empty() {
        return true;
    }
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass() {
        for host in [
            "localhost:7040",
            "127.0.0.1:7040",
            "127.0.0.1",
            "[::1]:7040",
            "LOCALHOST",
            "",
        ] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "evil.example:7040",
            "localhost.evil.example",
            "10.0.0.1:7040",
            "[::2]:80",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }
}
