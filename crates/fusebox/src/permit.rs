use std::mem::ManuallyDrop;

use crate::breaker::Shared;
use crate::clock::Nanos;
use crate::machine::{Report, Ticket};
use crate::Outcome;

/// Leave to run one call, from [`CircuitBreaker::try_acquire`].
///
/// Report the outcome with [`success`](Permit::success),
/// [`failure`](Permit::failure) or [`record`](Permit::record). Dropping the
/// permit instead is neutral: it frees its half-open trial slot and changes
/// no counts (unless the breaker was built with
/// [`count_cancelled_as_failure`](crate::Builder::count_cancelled_as_failure)).
///
/// The permit borrows its breaker, so taking and completing one costs no
/// reference-count traffic.
///
/// [`CircuitBreaker::try_acquire`]: crate::CircuitBreaker::try_acquire
#[must_use = "report the outcome with success() or failure(); a dropped permit counts as cancelled"]
pub struct Permit<'a> {
    shared: &'a Shared,
    ticket: Ticket,
    /// When the call started, if the breaker times calls.
    started: Nanos,
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(shared: &'a Shared, ticket: Ticket, started: Nanos) -> Permit<'a> {
        Permit {
            shared,
            ticket,
            started,
        }
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.finish(Report::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.finish(Report::Failure);
    }

    /// The call's outcome says nothing about the dependency; only the
    /// `ignored` count changes.
    #[inline]
    pub fn ignore(self) {
        self.finish(Report::Ignored);
    }

    /// Reports a classified outcome.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        self.finish(Report::from(outcome));
    }

    /// Whether this call is a half-open trial call.
    pub fn is_probe(&self) -> bool {
        self.ticket.probe != 0
    }

    /// The generation the call was admitted in. Outcomes are applied only
    /// while the breaker is still in this generation.
    pub fn generation(&self) -> u64 {
        self.ticket.generation
    }

    #[inline]
    fn finish(self, report: Report) {
        let this = ManuallyDrop::new(self);
        this.shared.report(this.ticket, report, this.started);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.shared
            .report(self.ticket, Report::Cancelled, self.started);
    }
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("circuit", &self.shared.name)
            .field("generation", &self.ticket.generation)
            .field("probe", &self.is_probe())
            .finish()
    }
}

/// A [`Permit`] that owns a handle to its breaker, for futures and services
/// that must outlive the borrow; from [`CircuitBreaker::try_acquire_owned`].
///
/// Taking one clones the breaker's handle (one reference-count increment),
/// which is why the borrowed [`Permit`] is the default.
///
/// [`CircuitBreaker::try_acquire_owned`]: crate::CircuitBreaker::try_acquire_owned
#[must_use = "report the outcome with success() or failure(); a dropped permit counts as cancelled"]
pub struct OwnedPermit {
    breaker: crate::CircuitBreaker,
    ticket: Ticket,
    started: u64,
    reported: bool,
}

impl OwnedPermit {
    /// The breaker the permit was taken from.
    #[cfg(feature = "tower")]
    pub(crate) fn breaker(&self) -> &crate::CircuitBreaker {
        &self.breaker
    }

    pub(crate) fn new(breaker: crate::CircuitBreaker, ticket: Ticket, started: u64) -> OwnedPermit {
        OwnedPermit {
            breaker,
            ticket,
            started,
            reported: false,
        }
    }

    /// The call succeeded.
    pub fn success(self) {
        self.finish(Report::Success);
    }

    /// The call failed.
    pub fn failure(self) {
        self.finish(Report::Failure);
    }

    /// The call's outcome says nothing about the dependency: count it as
    /// neither success nor failure (a trial slot is freed).
    pub fn ignore(self) {
        self.finish(Report::Ignored);
    }

    /// Reports a classified outcome.
    pub fn record(self, outcome: Outcome) {
        self.finish(Report::from(outcome));
    }

    /// Whether this call is a half-open trial call (a probe).
    pub fn is_probe(&self) -> bool {
        self.ticket.probe != 0
    }

    /// The generation the call was admitted in.
    pub fn generation(&self) -> u64 {
        self.ticket.generation
    }

    fn finish(mut self, report: Report) {
        self.reported = true;
        self.breaker
            .shared()
            .report(self.ticket, report, self.started);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker
                .shared()
                .report(self.ticket, Report::Cancelled, self.started);
        }
    }
}

impl std::fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("circuit", &self.breaker.name())
            .field("generation", &self.ticket.generation)
            .finish()
    }
}
