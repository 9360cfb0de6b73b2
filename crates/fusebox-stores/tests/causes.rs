//! A store error keeps the database's or client's own error as its
//! source, for programs that inspect it, and stays comparable. A report
//! that walks the chain tells each error once: `Display` is the store's own
//! words, `message` (and `{:#}`) the whole story.

use std::error::Error as _;

use fusebox::store::{Store, StoreErrorKind};
use fusebox_stores::{RedisStore, SqliteStore};

#[test]
fn an_sqlite_error_keeps_rusqlite_s() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteStore::open(dir.path().join("no/such/dir/state.db")).unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::Open);
    let cause = error.source().expect("the rusqlite error is kept");
    assert!(
        cause.downcast_ref::<rusqlite::Error>().is_some(),
        "{cause:?}"
    );
    assert_eq!(error.clone(), error);
    assert_told_once(&error, cause);
}

/// `error` shows its own words, its cause shows the rest, and `message`
/// (like `{:#}`) is both, to show on its own.
fn assert_told_once(error: &fusebox::store::StoreError, cause: &dyn std::error::Error) {
    let (own, words) = (error.to_string(), cause.to_string());
    assert!(
        !own.is_empty() && !own.contains(&words),
        "{own:?} repeats {words:?}"
    );
    assert_eq!(format!("{error:#}"), error.message);
    assert!(error.message.starts_with(&own), "{:?}", error.message);
    assert!(
        !error.message.ends_with(&own),
        "{:?} has no cause",
        error.message
    );
}

#[test]
fn a_redis_error_keeps_the_client_s() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    let error = store.transact("api", &mut |_, _| None).unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::Unavailable, "{error}");
    let cause = error.source().expect("the client's error is kept");
    let redis = cause.downcast_ref::<redis::RedisError>().unwrap();
    assert!(redis.is_io_error(), "{redis:?}");
    assert_told_once(&error, cause);
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}
