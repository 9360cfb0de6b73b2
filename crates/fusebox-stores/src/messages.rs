//! Messages made fit to show, for the stores and the programs that report
//! their errors: a store URL's password replaced by `***` (in one URL, or
//! in every URL of a text), and the Redis client's names of its error types
//! (`- AuthenticationFailed`, `Server(ResponseError)`) taken out, leaving
//! the words.

/// `url` with the password of its user-info part (`scheme://user:pass@host`)
/// replaced by `***`. User names stay; a URL without a password is
/// returned as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user-info ends at the last '@' before the query: a password may
    // itself hold '@' or '/' when it was not percent-encoded, and must not
    // show then either.
    let query = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..query].rfind('@') else {
        return url.to_owned();
    };
    let (user_info, host_and_rest) = rest.split_at(at);
    match user_info.split_once(':') {
        Some((user, _password)) if !user.contains('/') => {
            format!("{scheme}://{user}:***{host_and_rest}")
        }
        _ => url.to_owned(),
    }
}

/// `text` with the password of every URL in it hidden as by
/// [`redact_url`]. A URL runs from its scheme to the next white space or
/// quote, so a password holding `/` or `@` is hidden whole.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters (and `+`, `-`, `.`) before `://`.
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..scheme_start]);
        let url_end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&redact_url(&rest[scheme_start..url_end]));
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

/// `text` without the Redis client's names of its error kinds and types,
/// which it adds for programmers: `Password authentication failed -
/// AuthenticationFailed` reads `Password authentication failed`, `Redis
/// URL did not parse - InvalidClientConfig: bad port` reads `Redis URL did
/// not parse: bad port`, and `redis store x: Server(ResponseError): WRONGTYPE
/// Operation` reads `redis store x: WRONGTYPE Operation`. A name is one
/// CamelCase word (capitals and small letters), so the server's codes
/// (`WRONGPASS`, `NOAUTH`) stay.
pub fn without_type_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // ` - Kind` and what follows it.
    while let Some(at) = rest.find(" - ") {
        let tail = &rest[at + 3..];
        let kind_len = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        if is_type_name(&tail[..kind_len]) {
            out.push_str(&rest[..at]);
            rest = &tail[kind_len..];
        } else {
            out.push_str(&rest[..at + 3]);
            rest = tail;
        }
    }
    out.push_str(rest);
    // `: Server(ResponseError): ` parts.
    out.split(": ")
        .filter(|part| !is_type_name(part.trim_end_matches(':')))
        .collect::<Vec<_>>()
        .join(": ")
}

/// Whether `word` is a type's name: CamelCase letters and digits, maybe
/// with one parenthesised name (`Server(ResponseError)`).
fn is_type_name(word: &str) -> bool {
    word.len() > 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '(' || c == ')')
        && word.chars().skip(1).any(|c| c.is_ascii_uppercase())
        && word.chars().any(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::{redact_url, redact_urls, without_type_names};

    #[test]
    fn passwords_are_hidden_in_every_url_of_a_text() {
        assert_eq!(
            redact_urls("cannot reach redis store redis://:s3cretpw@host:6379/0: refused"),
            "cannot reach redis store redis://:***@host:6379/0: refused"
        );
        assert_eq!(
            redact_urls("\"redis://me:pw@h?prefix=a\" and rediss+cluster://u:p/@x:1,y:2/"),
            "\"redis://me:***@h?prefix=a\" and rediss+cluster://u:***@x:1,y:2/"
        );
        assert_eq!(redact_urls("(redis://:p@ss@h/0)"), "(redis://:***@h/0)");
        assert_eq!(redact_urls("redis://bob@h/0"), "redis://bob@h/0");
        assert_eq!(redact_urls("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact_urls("no url here"), "no url here");
    }

    #[test]
    fn client_type_names_are_left_out() {
        let cases = [
            (
                "Password authentication failed - AuthenticationFailed",
                "Password authentication failed",
            ),
            (
                "Redis URL did not parse - InvalidClientConfig: bad port",
                "Redis URL did not parse: bad port",
            ),
            (
                "bad redis url \"redis://h:1/abc\": Invalid database number - InvalidClientConfig",
                "bad redis url \"redis://h:1/abc\": Invalid database number",
            ),
            (
                "redis store x: Server(ResponseError): WRONGTYPE Operation",
                "redis store x: WRONGTYPE Operation",
            ),
            ("a - b - c", "a - b - c"),
            (
                "redis store x: WRONGPASS: invalid pair",
                "redis store x: WRONGPASS: invalid pair",
            ),
            (
                "sqlite store y: database is locked - OK",
                "sqlite store y: database is locked - OK",
            ),
        ];
        for (text, shown) in cases {
            assert_eq!(without_type_names(text), shown, "{text}");
        }
    }

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        let cases = [
            ("redis://:s3cretpw@host:6379/0", "redis://:***@host:6379/0"),
            (
                "redis://bob:pw@host/1?prefix=a:",
                "redis://bob:***@host/1?prefix=a:",
            ),
            ("redis://bob:p@ss@host/1", "redis://bob:***@host/1"),
            ("rediss://:a:b@host", "rediss://:***@host"),
            ("redis://:pa/ss@host/0", "redis://:***@host/0"),
            ("redis://bob@host:6379", "redis://bob@host:6379"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://host/0?next=a@b", "redis://host/0?next=a@b"),
            ("sqlite:///a@b/state.db", "sqlite:///a@b/state.db"),
            ("not a url", "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
