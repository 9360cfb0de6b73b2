//! The README quickstart: a breaker around a call, sync and async.

use std::time::Duration;

use fusebox::{CircuitBreaker, Error};

// Your calls: anything returning a `Result`.
fn upload() -> Result<String, std::io::Error> {
    Ok("receipt 1".to_owned())
}
async fn upload_async() -> Result<String, std::io::Error> {
    Ok("receipt 2".to_owned())
}

#[tokio::main(flavor = "current_thread")] // async works on any executor
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let breaker = CircuitBreaker::builder("s3_upload")
        .failure_threshold(5) // consecutive failures
        .recovery_timeout(Duration::from_secs(30)) // how long it stays open
        .success_threshold(1) // trial successes that close it
        .half_open_max_calls(1) // trial calls at once
        .build()?;

    match breaker.call(upload) {
        Ok(receipt) => println!("uploaded: {receipt}"),
        Err(Error::Inner(e)) => eprintln!("upload failed: {e}"),
        Err(Error::Open(rejected)) => eprintln!("{rejected}"), // circuit 's3_upload' is open; retry in 12.3s
    }

    // Async; `?` turns a rejection or the call's own error into your error type.
    let receipt = breaker.call_async(upload_async).await?;
    println!("uploaded: {receipt}");

    // Or in two steps:
    match breaker.try_acquire() {
        Ok(permit) => match upload() {
            Ok(_) => permit.success(),
            Err(_) => permit.failure(),
        },
        Err(rejected) => eprintln!("{rejected}"),
    }
    Ok(())
}
