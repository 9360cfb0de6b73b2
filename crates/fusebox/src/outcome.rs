/// How a finished call counts toward the breaker's failure policy.
///
/// By default every `Err` is a failure and every `Ok` a success; a
/// classifier passed to [`call_with`](crate::CircuitBreaker::call_with) can
/// say otherwise, e.g. that a "not found" error is the caller's problem and
/// says nothing about the dependency's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency worked.
    Success,
    /// The dependency failed.
    Failure,
    /// Neither: the call is counted as ignored and changes no state.
    Ignored,
}

impl Outcome {
    /// The default classification: `Ok` is a success, `Err` a failure.
    #[inline]
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}
