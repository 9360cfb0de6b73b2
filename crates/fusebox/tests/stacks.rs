//! The breaker fits the stacks services are written with: tower's
//! `ServiceBuilder` with timeouts, buffers, concurrency limits and boxed
//! errors, and `?` into `Box<dyn Error + Send + Sync>`.
#![cfg(feature = "tower")]

use std::error::Error as StdError;
use std::time::Duration;

use fusebox::{CircuitBreaker, CircuitBreakerLayer, Error};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Boxed = Box<dyn StdError + Send + Sync>;

fn breaker(name: &str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(2)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_layer_composes_with_timeout_buffer_and_concurrency_limit() {
    let breaker = breaker("stack");
    let mut service = ServiceBuilder::new()
        .buffer(16)
        .concurrency_limit(4)
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .timeout(Duration::from_secs(5))
        .service_fn(|x: u32| async move {
            if x == 0 {
                Err::<u32, BoxError>("zero".into())
            } else {
                Ok(x * 2)
            }
        });
    assert_eq!(service.ready().await.unwrap().call(21).await.unwrap(), 42);
    for _ in 0..2 {
        let error = service.ready().await.unwrap().call(0).await.unwrap_err();
        assert_eq!(error.to_string(), "zero");
    }
    let refused = service.ready().await.unwrap().call(1).await.unwrap_err();
    let refused = refused
        .downcast_ref::<Error<BoxError>>()
        .expect("the breaker's error, boxed by the buffer");
    assert!(refused.is_open(), "{refused}");
}

fn question_mark_boxes(breaker: &CircuitBreaker, fail: bool) -> Result<u32, Boxed> {
    let value = breaker.call(|| {
        if fail {
            Err(String::from("disk on fire"))
        } else {
            Ok(7)
        }
    })?;
    let boxed = breaker.call(|| Ok::<_, Boxed>(value))?;
    Ok(boxed)
}

#[tokio::test]
async fn call_async_with_string_and_boxed_errors_converts_with_question_mark() {
    let breaker = breaker("boxed");
    async fn run(breaker: &CircuitBreaker) -> Result<u32, Boxed> {
        let a = breaker.call_async(|| async { Ok::<_, String>(1) }).await?;
        let b = breaker.call_async(|| async { Ok::<_, Boxed>(2) }).await?;
        Ok(a + b)
    }
    assert_eq!(run(&breaker).await.unwrap(), 3);
    assert_eq!(question_mark_boxes(&breaker, false).unwrap(), 7);
    let error = question_mark_boxes(&breaker, true).unwrap_err();
    assert_eq!(error.to_string(), "disk on fire");
    assert!(
        error.source().is_none(),
        "shown once, not again as its source"
    );
}
