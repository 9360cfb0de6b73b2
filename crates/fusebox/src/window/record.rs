//! The text form of a window, kept with the state in a shared store.

use super::{count, CallWindow, FAILED, FILLED, SLOW};
use crate::sync::Ordering;

/// A count window is `c<size>:<cursor>:<held>:<slots>` with one digit per
/// slot; a time window is `t<width>:<floor>:` and three hex counters per
/// bucket. Only a window of the same kind and size is restored; another
/// process configured differently starts its own window empty.
impl CallWindow {
    pub(crate) fn encode(&self) -> String {
        match self {
            CallWindow::Count(w) => {
                let slots: String = w.slot_bits().map(|b| char::from(b'0' + b)).collect();
                format!(
                    "c{}:{}:{}:{slots}",
                    w.size,
                    count(w.cursor.load(Ordering::Relaxed)),
                    w.tally().calls
                )
            }
            CallWindow::Time(w) => {
                let buckets: Vec<String> = w
                    .buckets
                    .iter()
                    .map(|b| {
                        format!(
                            "{:x}.{:x}.{:x}",
                            b.calls.load(Ordering::Relaxed),
                            b.failures.load(Ordering::Relaxed),
                            b.slow.load(Ordering::Relaxed)
                        )
                    })
                    .collect();
                format!(
                    "t{}:{}:{}:{}",
                    w.width,
                    w.floor.load(Ordering::Relaxed),
                    buckets.join(","),
                    w.newest.load(Ordering::Relaxed)
                )
            }
        }
    }

    /// Brings slice numbers read from a store within the time `now`: no
    /// call was recorded after it, and nothing after it was cleared. (A
    /// missing or damaged `newest`, or a `floor` from the future, would
    /// otherwise stay in the record for good.)
    pub(crate) fn bound(&self, now: crate::clock::Nanos) {
        if let CallWindow::Time(w) = self {
            let current = now / w.width;
            for word in [&w.floor, &w.newest] {
                let _ = word.fetch_min(current, Ordering::AcqRel);
            }
        }
    }

    /// Restores a window from [`encode`](Self::encode)'s text. `Ok(false)`
    /// when the text is for another kind or size of window (left empty).
    pub(crate) fn decode(&self, text: &str) -> Result<bool, String> {
        let bad = || format!("bad window {text:?}");
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        match self {
            CallWindow::Count(w) => {
                let Some(rest) = text.strip_prefix('c') else {
                    return Ok(false);
                };
                let parts: Vec<&str> = rest.splitn(4, ':').collect();
                let [size, cursor, held, slots] = parts[..] else {
                    return Err(bad());
                };
                if number(size)? != w.size {
                    return Ok(false);
                }
                let (cursor, held) = (number(cursor)?, number(held)?);
                if slots.len() as u64 != w.size || cursor >= w.size || held > w.size {
                    return Err(bad());
                }
                let (mut failures, mut slow) = (0, 0);
                for (slot, digit) in w.slots.iter().zip(slots.bytes()) {
                    let value = digit.wrapping_sub(b'0');
                    if value > FILLED | FAILED | SLOW {
                        return Err(bad());
                    }
                    failures += u64::from(value & FAILED != 0);
                    slow += u64::from(value & SLOW != 0);
                    slot.store(u64::from(value), std::sync::atomic::Ordering::Relaxed);
                }
                w.cursor.store(cursor, Ordering::Relaxed);
                w.held.store(held, Ordering::Relaxed);
                w.failures.store(failures, Ordering::Relaxed);
                w.slow.store(slow, Ordering::Relaxed);
                Ok(true)
            }
            CallWindow::Time(w) => {
                let Some(rest) = text.strip_prefix('t') else {
                    return Ok(false);
                };
                let parts: Vec<&str> = rest.splitn(4, ':').collect();
                let (width, floor, buckets, newest) = match parts[..] {
                    // Written before `newest` existed: tags modulo 2^32
                    // cannot tell how old the buckets are, so the window
                    // starts empty (at most one window of calls is lost,
                    // once) rather than keep `newest = u64::MAX` for good.
                    [_, _, _] => return Ok(false),
                    [width, floor, buckets, newest] => (width, floor, buckets, number(newest)?),
                    _ => return Err(bad()),
                };
                if number(width)? != w.width {
                    return Ok(false);
                }
                let words: Vec<&str> = buckets.split(',').collect();
                if words.len() != w.buckets.len() {
                    return Err(bad());
                }
                for (bucket, triple) in w.buckets.iter().zip(words) {
                    let values: Vec<u64> = triple
                        .split('.')
                        .map(|h| u64::from_str_radix(h, 16).map_err(|_| bad()))
                        .collect::<Result<_, _>>()?;
                    let [calls, failures, slow] = values[..] else {
                        return Err(bad());
                    };
                    bucket.calls.store(calls, Ordering::Relaxed);
                    bucket.failures.store(failures, Ordering::Relaxed);
                    bucket.slow.store(slow, Ordering::Relaxed);
                }
                w.floor.store(number(floor)?, Ordering::Relaxed);
                w.newest.store(newest, Ordering::Relaxed);
                Ok(true)
            }
        }
    }
}
