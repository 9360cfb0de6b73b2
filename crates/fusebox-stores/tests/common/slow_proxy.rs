//! A TCP proxy in front of a server that delays every reply, like a slow
//! network path or an overloaded load balancer.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Forwards connections on its own port to `127.0.0.1:target`; requests
/// pass at once, each chunk of a reply waits `delay` first. Runs until the
/// test process ends.
pub fn start(target: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (client_in, server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client_in, server_out, Duration::ZERO));
            std::thread::spawn(move || pump(server, client, delay));
        }
    });
    port
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    // Each chunk is delivered `delay` after it arrived, however many are
    // in flight: latency, not a narrow pipe.
    let (chunks, delivery) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (arrived, chunk) in delivery {
            let due = arrived + delay;
            // The latency being simulated, not a wait for an event.
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if chunks.send((Instant::now(), buffer[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(chunks);
    let _ = writer.join();
}
