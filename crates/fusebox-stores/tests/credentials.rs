//! A Redis password never shows: not in `describe()`, not in an error, not
//! in `Debug`.

mod common;

use common::RedisServer;
use fusebox::store::Store;
use fusebox_stores::RedisStore;

const PASSWORD: &str = "s3cretpw";

fn assert_hidden(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "{what} shows the password: {text}"
    );
}

#[test]
fn a_wrong_password_fails_without_showing_it() {
    let server = RedisServer::start_with(&["--requirepass", "the-right-one"]);
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port);
    let store = RedisStore::open(&url).unwrap();
    let shown = format!("redis://:***@127.0.0.1:{}/0", server.port);
    assert_eq!(store.describe(), format!("redis store {shown}"));
    let debug = format!("{store:?}");
    assert_hidden("Debug", &debug);
    assert!(debug.contains(&shown), "{debug}");
    let error = store.transact("api", &mut |_, _| None).unwrap_err();
    assert_hidden("the error", &error.to_string());
    assert_hidden("the error's Debug", &format!("{error:?}"));
    assert!(error.message.contains(&shown), "{error}");
    assert_hidden("listing's error", &store.names().unwrap_err().to_string());
}

#[test]
fn an_unreachable_server_fails_without_showing_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://admin:{PASSWORD}@127.0.0.1:{port}/0?prefix=x:");
    let store = fusebox_stores::open(&url).unwrap();
    let error = store.transact("api", &mut |_, _| None).unwrap_err();
    assert_hidden("the error", &error.to_string());
    assert!(error.message.contains("redis://admin:***@"), "{error}");
    assert_hidden("describe", &store.describe());
    let bad = fusebox_stores::open(&format!("{url}&timeout=soon"))
        .err()
        .unwrap();
    assert_hidden("a bad URL's error", &bad.to_string());
}
