//! What one scan of the store produced, made ready once for every viewer.

use axum::body::Bytes;

/// The store as read by one scan, in the forms the routes serve: rendered
/// once by the scanner, so a thousand viewers cost no extra work.
pub(super) struct Snapshot {
    /// The snapshot as JSON: `{scan, at, interval, store, control, error,
    /// breakers: […]}` (see the README), one line.
    pub(super) json: String,
    /// The Prometheus text of `/metrics`.
    pub(super) metrics: String,
    /// The `/events` event carrying `json`, framed once for every viewer.
    pub(super) event: Bytes,
}

impl Snapshot {
    /// The snapshot of scan number `scan` (1 for the first; 0 before any).
    pub(super) fn new(scan: u64, json: String, metrics: String) -> Snapshot {
        Snapshot {
            event: super::sse::frame(scan, &json),
            json,
            metrics,
        }
    }

    /// Before the first scan: no breakers yet, and a word saying so.
    pub(super) fn before_first_scan(store: &str, control: bool) -> Snapshot {
        let json = serde_json::json!({
            "scan": 0,
            "at": serde_json::Value::Null,
            "interval": serde_json::Value::Null,
            "store": store,
            "control": control,
            "error": serde_json::Value::Null,
            "breakers": [],
        });
        Snapshot::new(0, json.to_string(), String::new())
    }
}
