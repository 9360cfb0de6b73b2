//! The control token: read from `--token-file`, and compared with what a
//! request carries in constant time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::http::{header, HeaderMap};

use crate::Exit;

/// The shortest token accepted: shorter ones can be guessed.
const SHORTEST: usize = 16;

/// The secret control requests must carry as `Authorization: Bearer …`.
pub(super) struct Token(Vec<u8>);

/// Never the secret itself, in a log or a panic message.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// Reads the token from `path`: the file's text without the line end
    /// (and spaces) after it. Refuses a file other users can read, an empty
    /// token, one shorter than 16 characters, and one with spaces or control
    /// characters inside (a Bearer token has none).
    pub(super) fn load(path: &Path) -> Result<Token, Exit> {
        let shown = path.display();
        let bad = |why: String| Exit::Usage(format!("--token-file {shown}: {why}"));
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let mode = meta.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(bad(format!(
                "every user can read it (mode {:o}); run chmod 600 {shown}",
                mode & 0o777
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        Token::from_text(&text).map_err(bad)
    }

    /// The token in `text` (a file's content), or why it is refused.
    fn from_text(text: &str) -> Result<Token, String> {
        let token = text.trim_end();
        if token.is_empty() {
            return Err(
                "it is empty; put a long random token in it, e.g. openssl rand -hex 32".into(),
            );
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "the token holds spaces, control characters or several lines; a token is one word"
                    .into(),
            );
        }
        if token.chars().count() < SHORTEST {
            return Err(format!(
                "the token is {} characters long, the least is {SHORTEST}; e.g. openssl rand -hex 32",
                token.chars().count()
            ));
        }
        Ok(Token(token.as_bytes().to_vec()))
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    pub(super) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        same(given, &self.0)
    }
}

/// Compares two byte strings in time that depends on their length only,
/// never on where they differ, so the token cannot be guessed byte by byte
/// from response times.
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let difference = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdeX", b"0123456789abcdef"));
        assert!(!same(b"X123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!same(b"", b"0123456789abcdef"));
    }

    #[test]
    fn tokens_lose_their_line_end_and_must_be_long_single_words() {
        let token = Token::from_text("0123456789abcdef\r\n").unwrap();
        assert_eq!(token.0, b"0123456789abcdef");
        assert!(Token::from_text("\n").unwrap_err().contains("empty"));
        assert!(Token::from_text("short\n")
            .unwrap_err()
            .contains("5 characters"));
        assert!(Token::from_text("0123456789 abcdef")
            .unwrap_err()
            .contains("one word"));
        assert!(Token::from_text("0123456789abcdef\nsecond")
            .unwrap_err()
            .contains("one word"));
    }

    #[test]
    fn only_the_bearer_scheme_with_the_token_is_admitted() {
        let token = Token::from_text("0123456789abcdef").unwrap();
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(token.admits(&with("Bearer 0123456789abcdef")));
        assert!(!token.admits(&with("Bearer 0123456789abcdeg")));
        assert!(!token.admits(&with("Basic 0123456789abcdef")));
        assert!(!token.admits(&with("0123456789abcdef")));
        assert!(!token.admits(&HeaderMap::new()));
    }
}
