use std::fmt;

/// Where a breaker is in its life cycle.
///
/// `Closed`, `Open` and `HalfOpen` are driven by call outcomes and time;
/// `ForcedOpen` and `Disabled` are entered only by hand and left only by
/// [`reset`](crate::CircuitBreaker::reset) (or another manual call).
///
/// States order as declared (`Closed < Open < HalfOpen < ForcedOpen <
/// Disabled`), so they sort and key maps; parsing takes the names of
/// [`State::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Calls pass; outcomes are counted by the failure policy.
    Closed,
    /// Calls are rejected at once until the open duration has elapsed.
    Open,
    /// A limited number of trial calls (probes) pass; the rest are rejected.
    HalfOpen,
    /// Every call is rejected until the breaker is reset by hand.
    ForcedOpen,
    /// Every call passes and is counted, but the breaker never changes state.
    Disabled,
}

impl State {
    /// The stable lower-case name used in logs, JSON and the Python package:
    /// `closed`, `open`, `half_open`, `forced_open`, `disabled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    /// Parses the name given by [`State::as_str`].
    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Every state, in declaration order.
    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    /// Whether a call in this state may run (possibly subject to probe limits).
    pub const fn admits_calls(self) -> bool {
        matches!(self, State::Closed | State::HalfOpen | State::Disabled)
    }

    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }

    #[inline]
    pub(crate) const fn from_bits(bits: u64) -> State {
        match bits {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

/// The name [`FromStr`](std::str::FromStr) refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseStateError {
    given: String,
}

impl fmt::Display for ParseStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown state {:?}: expected closed, open, half_open, forced_open or disabled",
            self.given
        )
    }
}

impl std::error::Error for ParseStateError {}

impl std::str::FromStr for State {
    type Err = ParseStateError;

    fn from_str(name: &str) -> Result<State, ParseStateError> {
        State::from_name(name).ok_or_else(|| ParseStateError {
            given: name.to_owned(),
        })
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
