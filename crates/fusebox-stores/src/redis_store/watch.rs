//! Change messages between processes, for fleet mode: a breaker that
//! changes state publishes its name on the prefix's channel
//! (`<prefix>changes`), and one subscriber thread per store and process
//! hands each name to the breakers watching, which synchronise at once.
//! A message lost (a subscriber reconnecting, a server restarted) costs at
//! most one interval: breakers synchronise once per interval anyway.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::store::{StoreError, Watcher};
use redis::ConnectionInfo;

use super::{connect, RedisStore};
use crate::deadline::Deadline;

/// How long the subscriber waits for a message before checking that
/// someone still watches.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The longest pause between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The breakers watching one store, and its subscriber.
#[derive(Default)]
pub(super) struct Watchers {
    list: Mutex<Vec<Watcher>>,
    /// The process whose subscriber thread runs (0: none): a forked child
    /// has no thread of its parent's and starts its own.
    running_in: AtomicU32,
}

impl RedisStore {
    /// The channel of this store's prefix.
    pub(super) fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    pub(super) fn publish(&self, name: &str) -> Result<(), StoreError> {
        let deadline = Deadline::after(self.timeout);
        let mut connection = match self.pool.take() {
            Some(connection) => connection,
            None => self.connect(&deadline)?,
        };
        self.limit(&connection, &deadline)?;
        redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(name)
            .query::<i64>(&mut connection)
            .map_err(|e| self.error_by(&e, Some(&deadline)))?;
        self.pool.put(connection);
        Ok(())
    }

    pub(super) fn add_watcher(&self, watcher: Watcher) -> bool {
        let mut list = lock(&self.watchers.list);
        list.push(watcher);
        let pid = std::process::id();
        if self.watchers.running_in.swap(pid, Ordering::AcqRel) == pid {
            return true;
        }
        let subscriber = Subscriber {
            info: self.info.clone(),
            timeout: self.timeout.max(Duration::from_millis(500)),
            channel: self.channel(),
            watchers: self.watchers.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("fusebox-watch".to_owned())
            .spawn(move || subscriber.run());
        if spawned.is_err() {
            self.watchers.running_in.store(0, Ordering::Release);
            return false;
        }
        true
    }
}

struct Subscriber {
    info: ConnectionInfo,
    timeout: Duration,
    channel: String,
    watchers: Arc<Watchers>,
}

impl Subscriber {
    fn run(self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            if self.listen() {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if !self.tell("") {
                return;
            }
        }
    }

    /// Subscribes and hands on messages until the connection fails (then
    /// `false`: try again) or nobody watches any more (`true`).
    fn listen(&self) -> bool {
        let deadline = Deadline::after(self.timeout);
        let Ok(mut connection) = connect::connect_now(&self.info, &deadline) else {
            return false;
        };
        let mut pubsub = connection.as_pubsub();
        if pubsub.subscribe(&self.channel).is_err()
            || pubsub.set_read_timeout(Some(IDLE_CHECK)).is_err()
        {
            return false;
        }
        loop {
            let name = match pubsub.get_message() {
                Ok(message) => message.get_payload::<String>().unwrap_or_default(),
                Err(e) if e.is_timeout() => String::new(),
                Err(_) => return false,
            };
            if !self.tell(&name) {
                return true;
            }
        }
    }

    /// Hands `name` to every watcher (an empty name only checks who still
    /// watches); `false` when none is left, and the thread ends.
    fn tell(&self, name: &str) -> bool {
        let watchers = lock(&self.watchers.list).clone();
        let gone: Vec<Watcher> = watchers.into_iter().filter(|w| !w(name)).collect();
        let mut list = lock(&self.watchers.list);
        list.retain(|w| !gone.iter().any(|g| Arc::ptr_eq(g, w)));
        if list.is_empty() {
            // Under the lock: a watcher added after this starts a thread.
            self.watchers.running_in.store(0, Ordering::Release);
            return false;
        }
        true
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
