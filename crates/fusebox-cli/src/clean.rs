//! Messages made fit to show: a store URL's password hidden wherever it
//! appears, and the Redis client's internal type names taken out.

/// `message` with every `scheme://user:password@host` shown as
/// `scheme://user:***@host`, and names like `- InvalidClientConfig` or
/// `Server(ResponseError)` removed.
pub(crate) fn message(message: &str) -> String {
    without_type_names(&hide_passwords(message))
}

/// Hides the password of every URL in `text`.
pub(crate) fn hide_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the path, the query, or the end of the URL.
        let end = after
            .find(|c: char| c == '/' || c == '?' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        match authority.rsplit_once('@') {
            Some((credentials, host)) => {
                match credentials.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***@{host}")),
                    // `redis://secret@host` is read as a password too.
                    None => out.push_str(&format!("***@{host}")),
                }
            }
            None => out.push_str(authority),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Drops ` - TypeName` parts and `Server(...)`-style wrappers that name the
/// client library's error types rather than the problem.
fn without_type_names(text: &str) -> String {
    let is_type_name = |part: &str| {
        let part = part.trim().trim_end_matches(':');
        !part.is_empty()
            && part.starts_with(|c: char| c.is_ascii_uppercase())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '(' || c == ')')
            && part.chars().skip(1).any(|c| c.is_ascii_uppercase())
    };
    let kept: Vec<&str> = text
        .split(" - ")
        .enumerate()
        .filter(|(i, part)| *i == 0 || !is_type_name(part))
        .map(|(_, part)| part)
        .collect();
    kept.join(" - ")
        .split(": ")
        .filter(|part| !is_type_name(part))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            hide_passwords("cannot reach redis store redis://:s3cretpw@host:6379/0: refused"),
            "cannot reach redis store redis://:***@host:6379/0: refused"
        );
        assert_eq!(
            hide_passwords("\"redis://me:pw@h?prefix=a\" and rediss://u:p@x:1"),
            "\"redis://me:***@h?prefix=a\" and rediss://u:***@x:1"
        );
        assert_eq!(hide_passwords("redis://pw@h/0"), "redis://***@h/0");
        assert_eq!(hide_passwords("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(hide_passwords("no url here"), "no url here");
    }

    #[test]
    fn client_type_names_are_dropped() {
        assert_eq!(
            message(
                "bad redis url \"redis://h:1/abc\": Invalid database number - InvalidClientConfig"
            ),
            "bad redis url \"redis://h:1/abc\": Invalid database number"
        );
        assert_eq!(
            message("redis store x: Server(ResponseError): WRONGTYPE Operation"),
            "redis store x: WRONGTYPE Operation"
        );
    }
}
