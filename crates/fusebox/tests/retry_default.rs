//! The default retry policy is usable as is, sync and async.

use fusebox::retry::Retry;
use fusebox::CircuitBreaker;

#[tokio::test]
async fn the_default_policy_retries_async_calls() {
    let breaker = CircuitBreaker::builder("default_retry").build().unwrap();
    let mut attempts = 0;
    let result = Retry::default()
        .call_async(
            &breaker,
            || {
                attempts += 1;
                let n = attempts;
                async move {
                    if n < 3 {
                        Err("busy")
                    } else {
                        Ok(n)
                    }
                }
            },
            |_| std::future::ready(()),
        )
        .await;
    assert_eq!(result, Ok(3));
}
