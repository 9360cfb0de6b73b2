//! The synchronisation primitives the breaker uses, swapped for loom's
//! model-checked ones under `--cfg fusebox_loom`.

#[cfg(fusebox_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(fusebox_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Lets another thread run (loom's, under the model checker).
#[cfg(not(fusebox_loom))]
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

#[cfg(fusebox_loom)]
pub(crate) use loom::thread::yield_now;

/// A pause in a spin loop (under loom, a yield: its model needs one).
#[cfg(not(fusebox_loom))]
pub(crate) fn spin() {
    std::hint::spin_loop();
}

#[cfg(fusebox_loom)]
pub(crate) use loom::thread::yield_now as spin;

/// Locks a mutex, carrying on if a panicking thread poisoned it: the machine
/// under it is only ever mutated by code that cannot panic half-way.
#[cfg(not(fusebox_loom))]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(fusebox_loom)]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap()
}

/// [`lock`] for the std mutexes that stay std under loom (stores, registry).
pub(crate) fn lock_std<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
