//! `/events`: the snapshots as server-sent events, one `snapshot` event per
//! scan.
//!
//! Each viewer only subscribes to the scanner's `watch` channel, which
//! holds the newest snapshot alone: a viewer that reads slowly skips
//! snapshots instead of queueing them, so memory does not grow with slow
//! or idle viewers, and no viewer causes a scan.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use super::routes::App;

pub(super) async fn events(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut snapshots = app.snapshots.clone();
    // The current snapshot first, then each new one.
    snapshots.mark_changed();
    let stream = futures_util::stream::unfold(snapshots, |mut snapshots| async move {
        // Closed only when the server stops: then the stream ends.
        snapshots.changed().await.ok()?;
        let snapshot = snapshots.borrow_and_update().clone();
        let event = Event::default()
            .event("snapshot")
            .id(snapshot.scan.to_string())
            .data(&snapshot.json);
        Some((Ok(event), snapshots))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
