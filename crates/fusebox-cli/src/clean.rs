//! Messages made fit to show, by the stores' own rules
//! ([`fusebox_stores::messages`]): a store URL's password hidden wherever
//! it appears, and the Redis client's internal type names taken out.

use fusebox_stores::messages::{redact_urls, without_type_names};

/// `message` with every `scheme://user:password@host` shown as
/// `scheme://user:***@host`, and names like `- InvalidClientConfig` or
/// `Server(ResponseError)` removed.
pub(crate) fn message(message: &str) -> String {
    without_type_names(&redact_urls(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_type_names_dropped() {
        assert_eq!(
            message("cannot reach redis store redis://:s3cretpw@host:6379/0: refused"),
            "cannot reach redis store redis://:***@host:6379/0: refused"
        );
        assert_eq!(
            message(
                "bad redis url \"redis://u:pw@h:1/abc\": Invalid database number - InvalidClientConfig"
            ),
            "bad redis url \"redis://u:***@h:1/abc\": Invalid database number"
        );
        assert_eq!(
            message("redis store x: Server(ResponseError): WRONGTYPE Operation"),
            "redis store x: WRONGTYPE Operation"
        );
    }
}
