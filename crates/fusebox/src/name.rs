//! A breaker's name, as rejections, metrics and transitions carry it.
//!
//! A rejection must not cost a shared write, so it cannot bump a reference
//! count; and names must be freed with their last breaker, so they cannot be
//! leaked to `'static` either (a service naming breakers per host or tenant
//! would grow without bound). Names are short in practice, so a name of up
//! to [`INLINE`] bytes is copied by value, with no pointer at all; a longer
//! one is shared behind an `Arc`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The longest name kept inline, copied without touching shared memory.
/// Unused bytes are 0: a name with a NUL byte in it (no breaker's name has
/// one: control characters are refused) is kept shared.
const INLINE: usize = 23;
/// Words of an inline name.
const WORDS: usize = (INLINE + 1) / 8;

/// A breaker's name: a cheap, immutable string.
///
/// It dereferences to `str` and compares with `&str`, so
/// `rejected.name == "s3_upload"` and `format!("{}", rejected.name)` work.
/// Cloning a name of up to 23 bytes copies it; a longer one is shared (a
/// rejection then increments and decrements its reference count). The
/// inline size is a trade: every byte kept inline is copied by every
/// rejection and enlarges every `Result` a call returns, so async calls and
/// refusals slow down (measured: 47 bytes inline made a ready `call_async`
/// twice as slow as 23).
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    /// Bytes in native order, NUL-padded: aligned words to copy.
    Inline([u64; WORDS]),
    Shared(Arc<str>),
}

impl Name {
    /// A name holding `name`.
    pub fn new(name: &str) -> Name {
        if name.len() <= INLINE && !name.contains('\0') {
            let mut bytes = [0; WORDS * 8];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            let word = |i: usize| {
                let mut chunk = [0; 8];
                chunk.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
                u64::from_ne_bytes(chunk)
            };
            Name(Repr::Inline(std::array::from_fn(word)))
        } else {
            Name(Repr::Shared(Arc::from(name)))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Copied from a `str` in `new`, so always valid UTF-8.
            Repr::Inline(words) => {
                let bytes: &[u8] = bytemuck::cast_slice(words.as_slice());
                let len = bytes.iter().position(|b| *b == 0).unwrap_or(INLINE);
                std::str::from_utf8(&bytes[..len]).unwrap_or_default()
            }
            Repr::Shared(name) => name,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        Name::new(name)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_read_back() {
        for name in [
            "",
            "api",
            "s3_upload",
            "é".repeat(11).as_str(),
            &"a".repeat(23),
            &"a".repeat(24),
            "a\0b",
            &"ü".repeat(300),
        ] {
            let kept = Name::new(name);
            assert_eq!(kept.as_str(), name);
            assert_eq!(kept.clone(), kept);
            assert_eq!(kept, name);
            assert_eq!(format!("{kept}"), name);
        }
    }

    /// Defect: names were leaked for the life of the process; and a
    /// rejection must not write a count other threads share, so a name of
    /// up to 23 bytes is copied into it, not shared.
    #[test]
    fn rejecting_a_call_copies_a_short_name() {
        let host = "payments.example.com";
        let b = crate::CircuitBreaker::builder(host).build().unwrap();
        b.force_open();
        let Err(rejected) = b.try_acquire() else {
            panic!("forced open")
        };
        assert!(
            matches!(rejected.name.0, Repr::Inline(_)),
            "{host} is shared"
        );
        assert_eq!(rejected.name, host);
        assert!(matches!(Name::new(&"h".repeat(23)).0, Repr::Inline(_)));
        assert!(matches!(Name::new(&"h".repeat(24)).0, Repr::Shared(_)));
    }

    #[test]
    fn a_long_name_is_freed_with_its_last_holder() {
        let name = Name::new(&"host-".repeat(20));
        let Repr::Shared(inner) = &name.0 else {
            panic!("a 100-byte name is shared")
        };
        let weak = Arc::downgrade(inner);
        let copy = name.clone();
        drop(name);
        assert!(weak.upgrade().is_some());
        drop(copy);
        assert!(weak.upgrade().is_none());
    }
}
