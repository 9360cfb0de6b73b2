//! A store error keeps the database's or client's own error as its
//! source, for programs that inspect it, and stays comparable.

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
}
