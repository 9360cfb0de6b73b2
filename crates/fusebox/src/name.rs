//! A breaker's name, as rejections, metrics and transitions carry it.
//!
//! A rejection must not write memory other threads write, so it cannot bump
//! a reference count all threads share; and names must be freed with their
//! last breaker, so they cannot be leaked to `'static` either (a service
//! naming breakers per host or tenant would grow without bound). Names are
//! short in practice, so a name of up to [`INLINE`] bytes is copied by value,
//! with no pointer at all. A longer one is shared behind an `Arc`, and a
//! breaker keeps one such `Arc` per thread slot (see `counters`), each in a
//! cache line of its own, for its rejections to clone: the count a
//! rejection writes is one only the rejecting thread writes.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU8;
use std::ops::Deref;
use std::sync::Arc;

use crate::counters::{thread_slot, STRIPES};

/// The longest name kept inline, copied without touching shared memory.
const INLINE: usize = 23;

/// A breaker's name: a cheap, immutable string.
///
/// It dereferences to `str` and compares with `&str`, so
/// `rejected.name == "s3_upload"` and `format!("{}", rejected.name)` work.
/// Cloning a name of up to 23 bytes copies it; a longer one is shared (a
/// breaker's rejections clone a copy kept for the rejecting thread, so
/// threads refusing calls at once never write one reference count). It
/// is 24 bytes: every byte of it is copied by every rejection and enlarges
/// every `Result` a call returns, so the inline length is a trade (47 bytes
/// inline made a ready `call_async` half as fast as 23).
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    /// The first `len - 1` bytes of `bytes`. `len` is never 0, which leaves
    /// 0 to tell `Shared` apart: a `Name` is 24 bytes, not 32.
    Inline {
        bytes: [u8; INLINE],
        len: NonZeroU8,
    },
    Shared(Arc<Long>),
}

/// A name longer than [`INLINE`] bytes. Its own 128-byte block (two cache
/// lines, as adjacent-line prefetch pairs them), so that the copies a
/// breaker keeps per thread slot never share a line's reference count.
#[repr(align(128))]
struct Long {
    /// Shared by a breaker's copies: the text is stored once.
    text: Arc<str>,
}

const _: () = assert!(std::mem::size_of::<Name>() == INLINE + 1);

impl Repr {
    /// The empty name, left behind by a shared name being dropped.
    const EMPTY: Repr = Repr::Inline {
        bytes: [0; INLINE],
        len: NonZeroU8::MIN,
    };
}

impl Name {
    /// A name holding `name`.
    pub fn new(name: &str) -> Name {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            // At most INLINE + 1 = 24: in range of a u8, and never 0.
            let len = NonZeroU8::new(name.len() as u8 + 1).unwrap_or(NonZeroU8::MIN);
            Name(Repr::Inline { bytes, len })
        } else {
            Name(Repr::Shared(Arc::new(Long {
                text: Arc::from(name),
            })))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Copied from a `str` in `new`, so always valid UTF-8.
            Repr::Inline { bytes, len } => {
                let len = usize::from(len.get() - 1);
                std::str::from_utf8(&bytes[..len]).unwrap_or_default()
            }
            Repr::Shared(long) => &long.text,
        }
    }
}

/// The names a breaker's rejections carry: its own, copied, when short;
/// when long, one separately counted copy per thread slot, so that threads
/// refusing calls at once never write the same reference count. The text
/// is stored once; the copies cost a breaker with a long name 16 blocks of
/// 128 bytes, made when it is built (a rejection allocates nothing).
pub(crate) struct RejectionNames {
    /// Empty for a name kept inline.
    per_slot: Box<[Name]>,
}

impl RejectionNames {
    pub(crate) fn new(name: &Name) -> RejectionNames {
        let per_slot = match &name.0 {
            Repr::Inline { .. } => Box::default(),
            Repr::Shared(long) => (0..STRIPES)
                .map(|_| {
                    Name(Repr::Shared(Arc::new(Long {
                        text: long.text.clone(),
                    })))
                })
                .collect(),
        };
        RejectionNames { per_slot }
    }

    /// `name` for a rejection on this thread: a copy if it is inline,
    /// else this thread slot's shared copy.
    #[inline(always)]
    pub(crate) fn get(&self, name: &Name) -> Name {
        match name.0 {
            Repr::Inline { bytes, len } => Name(Repr::Inline { bytes, len }),
            Repr::Shared(_) => self.slot_copy(name),
        }
    }

    #[inline]
    fn slot_copy(&self, name: &Name) -> Name {
        // Threads beyond the slots share the breaker's own copy, as they
        // share an overflow line of counters.
        match thread_slot().and_then(|slot| self.per_slot.get(slot)) {
            Some(copy) => copy.clone(),
            None => name.clone(),
        }
    }
}

impl Drop for Name {
    /// Inline names need nothing. A shared one is moved out and released
    /// out of line: the `Arc`'s own drop takes its address, which made
    /// every rejection store the whole error to the stack to drop it, even
    /// with an inline name that needs no drop at all.
    #[inline(always)]
    fn drop(&mut self) {
        if let Repr::Shared(_) = self.0 {
            if let Repr::Shared(long) = std::mem::replace(&mut self.0, Repr::EMPTY) {
                release(long);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn release(long: Arc<Long>) {
    drop(long);
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
    use std::sync::Weak;

    use super::*;
    use crate::CircuitBreaker;

    /// The count a name writes when cloned or dropped, if it has one.
    fn count_of(name: &Name) -> Option<*const Long> {
        match &name.0 {
            Repr::Inline { .. } => None,
            Repr::Shared(long) => Some(Arc::as_ptr(long)),
        }
    }

    /// The text of a long name, watched without keeping it.
    fn text_of(name: &Name) -> Weak<str> {
        match &name.0 {
            Repr::Inline { .. } => panic!("{name} is inline"),
            Repr::Shared(long) => Arc::downgrade(&long.text),
        }
    }

    fn rejection(breaker: &CircuitBreaker) -> crate::Rejected {
        breaker
            .try_acquire()
            .expect_err("the breaker is forced open")
    }

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
        let b = CircuitBreaker::builder(host).build().unwrap();
        b.force_open();
        let rejected = rejection(&b);
        assert_eq!(count_of(&rejected.name), None, "{host} is shared");
        assert_eq!(rejected.name, host);
        assert_eq!(count_of(&Name::new(&"h".repeat(23))), None);
        assert!(count_of(&Name::new(&"h".repeat(24))).is_some());
    }

    /// Defect: every rejection by a breaker with a name longer than 23
    /// bytes cloned (and dropped) the one `Arc` every thread shares, so
    /// threads refusing calls at once fought over its cache line. Each
    /// thread slot now has a copy of its own.
    #[test]
    fn threads_rejecting_with_a_long_name_write_counts_of_their_own() {
        let host = "payments.eu-west-1.example.internal";
        let b = CircuitBreaker::builder(host).build().unwrap();
        b.force_open();
        // A thread beyond the slots shares the breaker's own copy, as it
        // shares the overflow counters; tests running alongside may hold
        // every slot, so each thread notes whether it had one.
        let reject = || (rejection(&b).name, crate::counters::thread_slot());
        let (here, here_slot) = reject();
        let (again, _) = reject();
        let (there, there_slot) = std::thread::scope(|s| s.spawn(reject).join().unwrap());
        assert_eq!((here.as_str(), there.as_str()), (host, host));
        assert_eq!(count_of(&here), count_of(&again), "one thread, one copy");
        let own = count_of(&b.shared().name);
        for (name, slot) in [(&here, here_slot), (&there, there_slot)] {
            assert_eq!(count_of(name) == own, slot.is_none(), "slot {slot:?}");
        }
        if here_slot.is_some() && there_slot.is_some() {
            assert_ne!(count_of(&here), count_of(&there), "two threads, one count");
        }
    }

    /// A rejection is `'static`: it outlives its breaker, name included,
    /// and the name goes with the last of them.
    #[test]
    fn a_long_name_is_freed_with_its_last_holder() {
        let host = "host-".repeat(20);
        let b = CircuitBreaker::builder(&host).build().unwrap();
        b.force_open();
        let text = text_of(&b.shared().name);
        let rejected = rejection(&b);
        let copy = rejected.clone();
        drop(b);
        drop(rejected);
        assert_eq!(copy.name, host.as_str());
        assert_eq!(
            copy.to_string(),
            format!("circuit '{host}' is forced open; reset it to allow calls")
        );
        assert!(text.upgrade().is_some());
        drop(copy);
        assert!(text.upgrade().is_none(), "the name outlived its holders");

        let name = Name::new(&host);
        let text = text_of(&name);
        let copy = name.clone();
        drop(name);
        assert!(text.upgrade().is_some());
        drop(copy);
        assert!(text.upgrade().is_none());
    }
}
