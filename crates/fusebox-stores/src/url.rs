use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fusebox::store::{MemoryStore, Store, StoreError, StoreErrorKind};

use crate::redact_url;

/// A parsed store URL. Its `Debug` form hides a Redis password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `memory:`: this process only.
    Memory,
    /// `sqlite:///abs/path.db` or `sqlite://relative.db`.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Key prefix (`?prefix=`).
        prefix: Option<String>,
        /// Lock wait (`?timeout=`).
        timeout: Option<Duration>,
        /// Fleet mode's interval (`?sync=10ms`; `None`: `?sync=exact`,
        /// the default).
        sync: Option<Duration>,
    },
    /// `redis://host:port/db`, `rediss://…` (TLS, with `?ca=/path/ca.pem`
    /// to trust a CA of one's own), or a cluster's
    /// `redis+cluster://host1:port1,host2:port2/` (or `rediss+cluster://…`).
    Redis {
        /// The URL given to the Redis client, without fusebox's parameters.
        url: String,
        /// Key prefix (`?prefix=`).
        prefix: Option<String>,
        /// Per-command timeout (`?timeout=`).
        timeout: Option<Duration>,
        /// Fleet mode's interval (`?sync=10ms`; `None`: `?sync=exact`,
        /// the default).
        sync: Option<Duration>,
    },
}

impl StoreUrl {
    /// Parses `url`, naming what is wrong with it.
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |why: String| {
            StoreError::new(
                StoreErrorKind::Open,
                format!("bad store URL {:?}: {why}", redact_url(url)),
            )
        };
        if url == "memory:" || url == "memory://" {
            return Ok(StoreUrl::Memory);
        }
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| bad("expected memory:, sqlite://PATH or redis://HOST:PORT/DB".into()))?;
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut prefix = None;
        let mut timeout = None;
        let mut sync = None;
        let mut others = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", value)) => prefix = Some(value.to_owned()),
                Some(("timeout", value)) => {
                    timeout = Some(fusebox::parse_duration(value).map_err(|e| bad(e.to_string()))?)
                }
                Some(("sync", "exact")) => sync = None,
                Some(("sync", value)) => {
                    let interval = fusebox::parse_duration(value)
                        .map_err(|why| bad(format!("sync: {why} (or `exact`)")))?;
                    if interval.is_zero() {
                        return Err(bad(format!(
                            "sync={value}: the interval must be greater than zero (or `exact`)"
                        )));
                    }
                    sync = Some(interval);
                }
                _ => others.push(pair),
            }
        }
        match scheme {
            "sqlite" => {
                if !others.is_empty() {
                    return Err(bad(format!("unknown parameter {:?}", others[0])));
                }
                let path = base.strip_prefix("//").ok_or_else(|| {
                    bad("expected sqlite:///abs/path.db or sqlite://relative.db".into())
                })?;
                if path.is_empty() {
                    return Err(bad("the database path is empty".into()));
                }
                Ok(StoreUrl::Sqlite {
                    path: PathBuf::from(path),
                    prefix,
                    timeout,
                    sync,
                })
            }
            "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => {
                let mut url = format!("{scheme}:{base}");
                if !others.is_empty() {
                    url = format!("{url}?{}", others.join("&"));
                }
                Ok(StoreUrl::Redis {
                    url,
                    prefix,
                    timeout,
                    sync,
                })
            }
            other => Err(bad(format!(
                "unknown scheme {other:?}; expected memory:, sqlite://PATH or redis://HOST:PORT/DB"
            ))),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Memory => f.write_str("Memory"),
            StoreUrl::Sqlite {
                path,
                prefix,
                timeout,
                sync,
            } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("prefix", prefix)
                .field("timeout", timeout)
                .field("sync", sync)
                .finish(),
            StoreUrl::Redis {
                url,
                prefix,
                timeout,
                sync,
            } => f
                .debug_struct("Redis")
                .field("url", &redact_url(url))
                .field("prefix", prefix)
                .field("timeout", timeout)
                .field("sync", sync)
                .finish(),
        }
    }
}

/// Opens the store a URL names: `memory:`, `sqlite:///abs/path.db`,
/// `sqlite://relative.db`, `redis://host:port/db` (`rediss://` for TLS,
/// `redis+cluster://host1:port1,host2:port2/` for a Redis Cluster: see
/// [`RedisStore::open`](crate::RedisStore::open)), each SQLite and Redis URL
/// optionally with `?prefix=…&timeout=…&sync=…` (`sync=10ms`: fleet mode,
/// synchronising every 10 ms; `sync=exact`, the default: one transaction
/// per call).
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match StoreUrl::parse(url)? {
        StoreUrl::Memory => Ok(Arc::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite {
            path,
            prefix,
            timeout,
            sync,
        } => {
            let mut store = crate::SqliteStore::open(&path)?;
            if let Some(interval) = sync {
                store = store.sync_every(interval);
            }
            if let Some(prefix) = prefix {
                store = store.prefix(prefix);
            }
            if let Some(timeout) = timeout {
                store = store.timeout(timeout);
            }
            Ok(Arc::new(store))
        }
        #[cfg(feature = "redis")]
        StoreUrl::Redis {
            url,
            prefix,
            timeout,
            sync,
        } => {
            let mut store = crate::RedisStore::open(&url)?;
            if let Some(interval) = sync {
                store = store.sync_every(interval);
            }
            if let Some(prefix) = prefix {
                store = store.prefix(prefix);
            }
            if let Some(timeout) = timeout {
                store = store.timeout(timeout);
            }
            Ok(Arc::new(store))
        }
        #[allow(unreachable_patterns)]
        _ => Err(StoreError::new(
            StoreErrorKind::Open,
            format!(
                "store URL {:?} needs a fusebox-stores feature that is off",
                redact_url(url)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(StoreUrl::parse("memory:"), Ok(StoreUrl::Memory));
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/a.db"),
            Ok(StoreUrl::Sqlite {
                path: "/var/lib/a.db".into(),
                prefix: None,
                timeout: None,
                sync: None,
            })
        );
        assert_eq!(
            StoreUrl::parse("sqlite://rel.db?prefix=x:&timeout=1s"),
            Ok(StoreUrl::Sqlite {
                path: "rel.db".into(),
                prefix: Some("x:".into()),
                timeout: Some(Duration::from_secs(1)),
                sync: None,
            })
        );
        assert_eq!(
            StoreUrl::parse("rediss+cluster://u:p@h1:7000,h2:7001/?ca=/ca.pem&prefix=cb:"),
            Ok(StoreUrl::Redis {
                url: "rediss+cluster://u:p@h1:7000,h2:7001/?ca=/ca.pem".into(),
                prefix: Some("cb:".into()),
                timeout: None,
                sync: None,
            })
        );
        assert_eq!(
            StoreUrl::parse("redis://h:6379/2?prefix=cb:"),
            Ok(StoreUrl::Redis {
                url: "redis://h:6379/2".into(),
                prefix: Some("cb:".into()),
                timeout: None,
                sync: None,
            })
        );
        assert_eq!(
            StoreUrl::parse("redis://h/0?sync=10ms&prefix=cb:"),
            Ok(StoreUrl::Redis {
                url: "redis://h/0".into(),
                prefix: Some("cb:".into()),
                timeout: None,
                sync: Some(Duration::from_millis(10)),
            })
        );
        assert!(matches!(
            StoreUrl::parse("sqlite://a.db?sync=exact"),
            Ok(StoreUrl::Sqlite { sync: None, .. })
        ));
        for bad in [
            "ftp://x",
            "nothing",
            "sqlite:",
            "sqlite://",
            "sqlite://a.db?colour=red",
            "redis://h?timeout=soon",
            "redis://h?sync=often",
            "sqlite://a.db?sync=0ms",
        ] {
            let err = StoreUrl::parse(bad).unwrap_err();
            assert!(err.message.contains(bad), "{err}");
        }
    }

    #[test]
    fn passwords_never_show() {
        let url = "redis://:s3cretpw@host:6379/0?timeout=soon";
        let err = StoreUrl::parse(url).unwrap_err();
        assert!(err.message.contains("redis://:***@host:6379/0"), "{err}");
        assert!(!err.message.contains("s3cretpw"), "{err}");
        let parsed = StoreUrl::parse("redis://bob:s3cretpw@host:6379/0?prefix=a:").unwrap();
        let debug = format!("{parsed:?}");
        assert!(debug.contains("redis://bob:***@host:6379/0"), "{debug}");
        assert!(!debug.contains("s3cretpw"), "{debug}");
    }
}
