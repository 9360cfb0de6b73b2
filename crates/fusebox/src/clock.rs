use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod recent;

/// Nanoseconds since a clock's origin. Every deadline a breaker keeps is in
/// this unit, so comparing against one is a single integer compare.
pub(crate) type Nanos = u64;

/// How far the coarse clock may lag the precise one: a few scheduler ticks
/// (a tick is 1 to 10 ms depending on the kernel's HZ).
pub(crate) const COARSE_LAG: Nanos = 20_000_000;

pub(crate) fn to_nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The time source of a breaker.
///
/// The default is the system's monotonic clock. Tests pass a [`ManualClock`]
/// so that they move time by hand instead of sleeping.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    System { origin: Instant },
    Manual(ManualClock),
}

/// The origin of every system clock in the process, so that one cached
/// reading (see `recent`) serves them all.
fn origin() -> (Instant, coarsetime::Instant) {
    static ORIGIN: OnceLock<(Instant, coarsetime::Instant)> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        (
            Instant::now(),
            coarsetime::Instant::now_without_cache_update(),
        )
    })
}

/// The kernel's coarse clock in nanoseconds since the process origin.
fn coarse_since_origin() -> Nanos {
    let now = coarsetime::Instant::now_without_cache_update();
    now.duration_since(origin().1).as_nanos()
}

impl Clock {
    /// The system's monotonic clock ([`Instant`]).
    ///
    /// The first in-memory breaker on a system clock starts a thread,
    /// `fusebox-clock`, that sleeps until a breaker is open and then
    /// publishes the time every millisecond, so that rejecting a call does
    /// not have to read the clock (unless the process has called
    /// [`Clock::forbid_background_thread`]).
    pub fn system() -> Clock {
        Clock {
            source: Source::System { origin: origin().0 },
        }
    }

    /// Makes every system clock of this process do without the
    /// `fusebox-clock` thread from now on: a running one stops and none is
    /// started again. Rejections by open breakers then read the kernel's
    /// coarse clock themselves, a few nanoseconds more each; admissions and
    /// deadlines are unchanged.
    ///
    /// For processes that fork, or that must have no thread they did not
    /// start: the Python package calls it when imported, as CPython warns on
    /// `os.fork()` in a process with more than one thread.
    pub fn forbid_background_thread() {
        recent::forbid();
    }

    /// Whether this is the system's clock (not a [`ManualClock`]).
    #[cfg_attr(fusebox_loom, allow(dead_code))]
    pub(crate) fn is_system(&self) -> bool {
        matches!(self.source, Source::System { .. })
    }

    /// Nanoseconds since this clock's origin.
    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        match &self.source {
            Source::System { origin, .. } => to_nanos(origin.elapsed()),
            Source::Manual(manual) => manual.offset(),
        }
    }

    /// Like [`now`](Self::now) but from the kernel's coarse clock
    /// (`CLOCK_MONOTONIC_COARSE` on Linux), and read from memory that a
    /// background thread refreshes every millisecond, so it costs a load.
    /// Behind the precise clock by up to [`COARSE_LAG`], or by more if that
    /// thread was held up (see `recent` for why that stays safe): only for
    /// telling that a deadline is still far away. A manual clock is exact.
    #[inline]
    pub(crate) fn recent(&self) -> Nanos {
        match &self.source {
            Source::System { .. } => recent::recent(),
            Source::Manual(manual) => manual.offset(),
        }
    }

    /// Makes [`recent`](Self::recent) ready, so that no call pays for it:
    /// for the system clock, starts its (parked) background thread.
    pub(crate) fn prepare_recent(&self) {
        if let Source::System { .. } = self.source {
            recent::start();
        }
    }

    /// Converts a reading of this clock back to an [`Instant`].
    pub(crate) fn instant(&self, at: Nanos) -> Instant {
        let origin = match &self.source {
            Source::System { origin, .. } => *origin,
            Source::Manual(manual) => manual.inner.origin,
        };
        origin + Duration::from_nanos(at)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Self {
        Clock {
            source: Source::Manual(clock),
        }
    }
}

/// A clock that moves only when told to.
///
/// Clones share one time, so a test keeps one clone and hands another to the
/// breaker:
///
/// ```
/// use fusebox::{CircuitBreaker, ManualClock, State};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder("db")
///     .failure_threshold(1)
///     .recovery_timeout(Duration::from_secs(10))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// breaker.trip();
/// assert_eq!(breaker.state(), State::Open);
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(breaker.state(), State::HalfOpen);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    origin: Instant,
    offset: AtomicU64,
}

impl ManualClock {
    /// A clock standing at its origin (elapsed time zero).
    pub fn new() -> ManualClock {
        ManualClock {
            inner: Arc::new(ManualInner {
                origin: Instant::now(),
                offset: AtomicU64::new(0),
            }),
        }
    }

    /// Moves time forward by `by` for every clone of this clock.
    ///
    /// Time stops at the clock's far end (2^64 - 1 ns, about 584 years,
    /// after its origin): a jump past it lands there, never back near the
    /// origin, so time read from this clock never goes backwards.
    pub fn advance(&self, by: Duration) {
        let by = to_nanos(by);
        // `fetch_add` would wrap; the closure always returns `Some`.
        let _ = self
            .inner
            .offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Time elapsed since the clock's origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset())
    }

    /// The current time of this clock as an [`Instant`].
    pub fn now(&self) -> Instant {
        self.inner.origin + self.elapsed()
    }

    fn offset(&self) -> Nanos {
        self.inner.offset.load(Ordering::SeqCst)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

/// A store's time: `clock`'s nanoseconds since its origin when a test
/// gives one, else nanoseconds since the Unix epoch by the wall clock.
pub fn store_now(clock: Option<&crate::ManualClock>) -> u64 {
    match clock {
        Some(clock) => to_nanos(clock.elapsed()),
        None => wall_clock_nanos(),
    }
}

/// Nanoseconds since the Unix epoch by the system's wall clock.
pub fn wall_clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, to_nanos)
}
