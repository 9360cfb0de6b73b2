//! `/events`: the snapshots as server-sent events, one `snapshot` event per
//! scan.
//!
//! Each viewer only subscribes to the scanner's `watch` channel, which
//! holds the newest snapshot alone: a viewer that reads slowly skips
//! snapshots instead of queueing them, so memory does not grow with slow
//! or idle viewers, and no viewer causes a scan. The event's bytes are
//! framed once per scan and shared (reference-counted) by every viewer.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;

use super::routes::{guarded, App};

/// A comment line sent when nothing else was, so proxies keep the
/// connection open and the page notices a dead one.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `snapshot` as an SSE event: `event: snapshot`, its scan as the id, the
/// JSON (one line) as the data.
pub(super) fn frame(scan: u64, json: &str) -> Bytes {
    Bytes::from(format!("event: snapshot\nid: {scan}\ndata: {json}\n\n"))
}

pub(super) async fn events(State(app): State<App>) -> Response {
    let mut snapshots = app.snapshots.clone();
    // The current snapshot first, then each new one.
    snapshots.mark_changed();
    let stream = futures_util::stream::unfold(snapshots, |mut snapshots| async move {
        match tokio::time::timeout(KEEP_ALIVE, snapshots.changed()).await {
            Err(_) => Some((Ok::<_, Infallible>(Bytes::from_static(b":\n\n")), snapshots)),
            // Closed only when the server stops: then the stream ends.
            Ok(Err(_)) => None,
            Ok(Ok(())) => {
                let event = snapshots.borrow_and_update().event.clone();
                Some((Ok(event), snapshots))
            }
        }
    });
    guarded("text/event-stream", Body::from_stream(stream))
}
