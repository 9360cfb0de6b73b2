//! A TCP proxy in front of a redis-server that a test switches between
//! passing, cutting every connection, losing the answer to the next write
//! of a record (it arrives too late) and swallowing that write; and the
//! fleet-mode scenarios' set-up around it.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock};
use fusebox_stores::RedisStore;

use super::RedisServer;

pub const PASS: u8 = 0;
/// Every connection is cut, and new ones are closed at once.
pub const AWAY: u8 = 1;
/// The next write of a record reaches the server; its answer comes late.
pub const LOSE_ANSWER: u8 = 2;
/// The next write of a record never reaches the server (no answer comes).
pub const SWALLOW: u8 = 3;

pub fn proxy(target: u16, mode: Arc<AtomicU8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            if mode.load(Ordering::SeqCst) == AWAY {
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let drop_next = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_in, mut c_out) = (server, client);
            let (m, d) = (mode.clone(), drop_next.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match c_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    match m.load(Ordering::SeqCst) {
                        AWAY => break,
                        LOSE_ANSWER
                            if buf[..n].windows(9).any(|w| w == b"fusebox/1")
                                && m.compare_exchange(
                                    LOSE_ANSWER,
                                    PASS,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst,
                                )
                                .is_ok() =>
                        {
                            d.store(true, Ordering::SeqCst);
                        }
                        SWALLOW
                            if buf[..n].windows(9).any(|w| w == b"fusebox/1")
                                && m.compare_exchange(
                                    SWALLOW,
                                    PASS,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst,
                                )
                                .is_ok() =>
                        {
                            continue;
                        }
                        _ => {}
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_in.shutdown(Shutdown::Both);
                let _ = s_out.shutdown(Shutdown::Both);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match s_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if drop_next.swap(false, Ordering::SeqCst) {
                        // Past the client's timeout: the answer comes too late.
                        std::thread::sleep(Duration::from_millis(600));
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_in.shutdown(Shutdown::Both);
                let _ = c_out.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

/// A redis-server behind the proxy (`mode` switches it) and a manual clock:
/// where every scenario here starts.
pub struct Scene {
    pub server: RedisServer,
    pub mode: Arc<AtomicU8>,
    pub url: String,
    pub clock: ManualClock,
}

pub fn scene() -> Scene {
    let server = RedisServer::start();
    let mode = Arc::new(AtomicU8::new(PASS));
    let url = format!("redis://127.0.0.1:{}/0", proxy(server.port, mode.clone()));
    Scene {
        server,
        mode,
        url,
        clock: ManualClock::new(),
    }
}

pub fn breaker(url: &str, clock: &ManualClock, fleet: bool) -> CircuitBreaker {
    let mut store = RedisStore::open(url)
        .unwrap()
        .timeout(Duration::from_millis(300))
        .with_clock(clock.clone());
    if fleet {
        store = store.sync_every(Duration::from_secs(3600));
    }
    CircuitBreaker::builder("api")
        .failure_threshold(4)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap()
}

/// Lets the store pass again and synchronises a few times, the retry
/// interval apart: whatever waited to be written is written.
pub fn sync_until_back(b: &CircuitBreaker, mode: &AtomicU8, clock: &ManualClock) {
    mode.store(PASS, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    for _ in 0..3 {
        let _ = b.sync_now();
        clock.advance(Duration::from_secs(2));
    }
    assert!(!b.metrics().degraded, "the store is back");
}

/// Synchronises with the answer to the write lost (it comes too late): the
/// record is written, the breaker cannot know it.
pub fn lose_the_answer(b: &CircuitBreaker, mode: &AtomicU8, clock: &ManualClock) {
    mode.store(LOSE_ANSWER, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    let lost = b.sync_now();
    assert!(
        matches!(&lost, Err(e) if e.maybe_written),
        "the write-back's answer is lost: {lost:?}"
    );
    assert_eq!(mode.load(Ordering::SeqCst), PASS, "the record was written");
}

/// A fleet-mode breaker (see `breaker`) that has synchronised once.
pub fn synced_breaker(url: &str, clock: &ManualClock) -> CircuitBreaker {
    let b = breaker(url, clock, true);
    b.call(|| Ok::<(), &str>(())).unwrap();
    b.sync_now().unwrap();
    b
}

/// Synchronises on a thread of its own, and returns once the proxy has
/// acted on its write (as `mode` was set to): it is in flight.
pub fn sync_in_flight(
    b: &CircuitBreaker,
    mode: &AtomicU8,
) -> std::thread::JoinHandle<Result<(), fusebox::store::StoreError>> {
    let syncing = {
        let b = b.clone();
        std::thread::spawn(move || b.sync_now())
    };
    wait_for_the_write(mode);
    syncing
}

/// Waits until the proxy has seen (and acted on) the write it was set for.
pub fn wait_for_the_write(mode: &AtomicU8) {
    let start = std::time::Instant::now();
    while mode.load(Ordering::SeqCst) != PASS {
        assert!(start.elapsed() < Duration::from_secs(5), "no write came");
        std::thread::sleep(Duration::from_millis(1));
    }
}
