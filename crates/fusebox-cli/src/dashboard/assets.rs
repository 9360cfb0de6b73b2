//! The page: HTML, CSS and JavaScript compiled into the binary, so the
//! dashboard needs no network, CDN or build step.

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Where the page takes the first snapshot, so it shows breakers before
/// the first event arrives.
const SLOT: &str = "{{SNAPSHOT}}";

/// The page with `snapshot` (JSON) inside it, made safe to sit in HTML.
pub(super) fn page(snapshot: &str) -> String {
    PAGE.replacen(SLOT, &inert_json(snapshot), 1)
}

/// A file under `/assets/`: its content type and content.
pub(super) fn file(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        "style.css" => Some(("text/css; charset=utf-8", STYLE)),
        _ => None,
    }
}

/// JSON that can sit inside `<script type="application/json">` whatever
/// its strings hold: `<`, `>` and `&` are written as JSON escapes (which
/// only occur inside strings, and decode to the same text), so no breaker
/// name can close the element or open another.
fn inert_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_the_json_element() {
        let json =
            serde_json::json!({"name": "</script><script>alert(1)</script> & co"}).to_string();
        let page = page(&json);
        assert!(!page.contains("alert(1)</script>"));
        let inert = inert_json(&json);
        let back: serde_json::Value = serde_json::from_str(&inert).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script> & co");
    }
}
