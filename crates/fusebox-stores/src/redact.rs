//! Store URLs as they may be shown: passwords replaced by `***`.

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

#[cfg(test)]
mod tests {
    use super::redact_url;

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
