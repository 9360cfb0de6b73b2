//! What one scan of the store produced, made ready once for every viewer.

/// The store as read by one scan, in the forms the routes serve: rendered
/// once by the scanner, so a thousand viewers cost no extra work.
pub(super) struct Snapshot {
    /// The number of this scan (1 for the first; 0 before any).
    pub(super) scan: u64,
    /// The snapshot as JSON: `{scan, at, interval, store, control, error,
    /// breakers: […]}` (see the README), one line.
    pub(super) json: String,
    /// The Prometheus text of `/metrics`.
    pub(super) metrics: String,
}

impl Snapshot {
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
        Snapshot {
            scan: 0,
            json: json.to_string(),
            metrics: String::new(),
        }
    }
}
