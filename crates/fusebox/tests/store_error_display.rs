//! What a store or config error shows: its own words, the cause being its
//! source, however its public `message` was edited since.

use fusebox::store::{StoreError, StoreErrorKind};

/// Regression (outside review): `message` is a public field, and a caller
/// that added context to it got a Display cut off mid-word (Display sliced
/// it at an offset remembered from before the edit).
#[test]
fn a_store_error_whose_message_gained_context_displays_whole_words() {
    let cause = std::io::Error::other("disk I/O error");
    let mut error = StoreError::new(
        StoreErrorKind::Unavailable,
        "sqlite store /var/lib/app/state.db",
    )
    .caused_by(cause);
    error.message = format!("loading the breakers: {}", error.message);
    let shown = error.to_string();
    assert!(
        shown == "loading the breakers: sqlite store /var/lib/app/state.db"
            || shown == error.message,
        "Display shows a cut-off message: {shown:?}"
    );
}

#[test]
fn a_store_error_whose_message_was_replaced_shows_it_whole() {
    let mut error = StoreError::new(StoreErrorKind::Unavailable, "sqlite store x")
        .caused_by(std::io::Error::other("disk I/O error"));
    error.message = "short".to_owned();
    assert_eq!(error.to_string(), "short");
    assert_eq!(format!("{error:#}"), "short");
}

#[test]
fn a_config_file_error_whose_message_gained_context_shows_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let mut error = fusebox::Config::from_file(&missing).unwrap_err();
    let own = error.to_string();
    assert!(own.ends_with("cannot read config file"), "{own}");
    error.message = format!("while starting: {}", error.message);
    let shown = error.to_string();
    assert!(
        shown.ends_with("while starting: cannot read config file"),
        "{shown}"
    );
    error.message.push_str(" (retrying)");
    assert!(error.to_string().ends_with("(retrying)"), "{error}");
}
