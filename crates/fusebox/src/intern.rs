//! Breaker names live for the whole process, so a [`crate::Rejected`] can
//! carry its breaker's name without allocating or touching a reference count.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Returns a `'static` copy of `name`, leaking each distinct name once.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = crate::sync::lock_std(NAMES.get_or_init(Default::default));
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}
