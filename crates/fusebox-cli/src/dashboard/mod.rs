//! `fusebox dashboard`: a live web page with every breaker in a store.
//!
//! One background task reads the store once per interval and publishes
//! the result through a `watch` channel (the newest snapshot only); every
//! viewer (the page's server-sent events, `/api/breakers`, `/metrics`)
//! reads that snapshot, so the store is scanned once per interval however
//! many people look, and a slow viewer holds at most one snapshot. Control
//! requests (trip, reset, force open, disable) need the token from
//! `--token-file`, and are answered by the same code as `fusebox trip`.
//!
//! tokio and axum live here only: the core crate stays free of a runtime.

mod assets;
mod auth;
mod control;
mod host;
mod listen;
mod prometheus;
mod routes;
mod scanner;
mod snapshot;
mod sse;

use std::sync::Arc;
use std::time::Duration;

use crate::args::{BreakerArgs, DashboardArgs};
use crate::store::{self, Location};
use crate::Exit;

/// How often the store is read unless `--interval` says otherwise.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

pub(crate) fn dashboard(args: DashboardArgs) -> Result<u8, Exit> {
    let location = store::locate(&BreakerArgs {
        store: args.store.clone(),
        ..BreakerArgs::default()
    })?;
    if matches!(location, Location::Memory) {
        return Err(Exit::Usage(
            "the memory: store holds no breaker another process can see: give --store sqlite://… or redis://…".into(),
        ));
    }
    let interval = match &args.interval {
        Some(text) => crate::breaker::duration("interval", text)?,
        None => DEFAULT_INTERVAL,
    };
    let token = args
        .token_file
        .as_deref()
        .map(auth::Token::load)
        .transpose()?;
    let address = listen::address(&args.listen, token.is_some())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::Other(71, format!("cannot start the server: {e}")))?;
    runtime.block_on(routes::serve(routes::Settings {
        location: Arc::new(location),
        interval,
        token,
        address,
    }))
}
