//! Review: StoreError's Display after the "own words" change.

use fusebox::store::{StoreError, StoreErrorKind};

/// `message` is a public field documented as "the whole story, fit to show
/// on its own"; a caller that adds context to it (the usual way with a
/// public message field) gets a Display cut off mid-word, because Display
/// slices `message` at a byte offset remembered from before the edit.
#[test]
fn a_store_error_whose_message_gained_context_displays_whole_words() {
    let cause = std::io::Error::other("disk I/O error");
    let mut error = StoreError::new(StoreErrorKind::Unavailable, "sqlite store /var/lib/app/state.db")
        .caused_by(cause);
    error.message = format!("loading the breakers: {}", error.message);
    let shown = error.to_string();
    assert!(
        shown == "loading the breakers: sqlite store /var/lib/app/state.db"
            || shown == error.message,
        "Display shows a cut-off message: {shown:?}"
    );
}
