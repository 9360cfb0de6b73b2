//! A registry gives the breakers it makes its listeners and its store.

use std::sync::{Arc, Mutex};

use fusebox::store::{MemoryStore, Store};
use fusebox::{Registry, State};

#[test]
fn breakers_made_by_a_registry_reach_its_listeners() {
    let seen: Arc<Mutex<Vec<(String, State)>>> = Arc::default();
    let log = seen.clone();
    let registry = Registry::new();
    let before = registry.get_or_create("made_before");
    let registry =
        registry.on_transition(move |t| log.lock().unwrap().push((t.name.to_string(), t.to)));
    registry.get_or_create("payments").trip();
    registry.get_or_create("search").force_open();
    registry.get_or_create("payments").reset();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("payments".to_owned(), State::Open),
            ("search".to_owned(), State::ForcedOpen),
            ("payments".to_owned(), State::Closed),
        ]
    );
    // Breakers are made with the listeners of their time.
    before.trip();
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn registries_with_one_store_share_their_breakers_state() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let here = Registry::new().with_shared_store(store.clone());
    let there = Registry::new().with_shared_store(store);
    here.get_or_create("payments").trip();
    assert_eq!(there.get_or_create("payments").state(), State::Open);
    assert_eq!(there.get_or_create("search").state(), State::Closed);
    let own = Registry::new().with_store(MemoryStore::new());
    assert_eq!(own.get_or_create("payments").state(), State::Closed);
}
