//! The HTTP side: binding, the routes, and the headers every answer carries.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (HTML, CSS and JS compiled in), with the latest snapshot |
//! | `GET /events` | server-sent events: one `snapshot` per scan |
//! | `GET /api/breakers` | the latest snapshot as JSON |
//! | `GET /metrics` | Prometheus text |
//! | `POST /api/control` | `{"name": …, "action": "trip"/"reset"/"force_open"/"disable"}` with `Authorization: Bearer TOKEN` (see `control`) |

use std::future::IntoFuture;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::auth::Token;
use super::host::{self, LoopbackOnly};
use super::scanner::{self, Scanner};
use super::snapshot::Snapshot;
use super::{assets, control, sse};
use crate::store::Location;
use crate::Exit;

/// What `fusebox dashboard` was asked to do.
pub(super) struct Settings {
    pub(super) location: Arc<Location>,
    pub(super) interval: Duration,
    pub(super) token: Option<Token>,
    pub(super) address: SocketAddr,
}

/// What every request handler shares.
#[derive(Clone)]
pub(super) struct App {
    /// The newest snapshot; the scanner is its only writer.
    pub(super) snapshots: watch::Receiver<Arc<Snapshot>>,
    pub(super) token: Option<Arc<Token>>,
    pub(super) location: Arc<Location>,
    /// Tells the scanner to read the store now (after a control action).
    pub(super) rescan: Arc<Notify>,
}

/// Binds, starts the scanner, and serves until Ctrl-C or TERM.
pub(super) async fn serve(settings: Settings) -> Result<u8, Exit> {
    let Settings {
        location,
        interval,
        token,
        address,
    } = settings;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Exit::Other(71, format!("cannot listen on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Exit::Other(71, format!("cannot listen on {address}: {e}")))?;
    let control = token.is_some();
    let scanner = Scanner::new(location.clone(), interval, control);
    let (publish, snapshots) = watch::channel(Arc::new(Snapshot::before_first_scan(
        scanner.store(),
        control,
    )));
    let store = scanner.store().to_owned();
    let rescan = Arc::new(Notify::new());
    tokio::spawn(scanner::run(scanner, interval, publish, rescan.clone()));
    let app = App {
        snapshots,
        token: token.map(Arc::new),
        location,
        rescan,
    };
    let mode = if control {
        "control with the token"
    } else {
        "read-only: no --token-file"
    };
    // The address on stdout (the port, with --listen …:0), for people and scripts.
    let _ = writeln!(
        std::io::stdout(),
        "fusebox dashboard on http://{bound}/ for {store} ({mode})"
    );
    let _ = std::io::stdout().flush();
    let router = Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
        .route("/events", get(sse::events))
        .route("/api/breakers", get(breakers))
        .route("/api/control", post(control::control_action))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            LoopbackOnly(bound.ip().is_loopback()),
            host::guard,
        ))
        .with_state(app);
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .into_future();
    tokio::select! {
        served = server => served.map_err(|e| Exit::Other(71, format!("the server stopped: {e}")))?,
        () = stopped() => {}
    }
    Ok(0)
}

/// Ctrl-C or TERM.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match &mut term {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Headers every answer carries: nothing is cached, sniffed, framed, or
/// loaded from elsewhere.
pub(super) fn guarded(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

async fn page(State(app): State<App>) -> Response {
    let snapshot = app.snapshots.borrow().clone();
    guarded("text/html; charset=utf-8", assets::page(&snapshot.json))
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::file(&file) {
        Some((content_type, body)) => guarded(content_type, body),
        None => guarded(
            "text/plain; charset=utf-8",
            (StatusCode::NOT_FOUND, "no such file\n"),
        ),
    }
}

async fn breakers(State(app): State<App>) -> Response {
    let snapshot = app.snapshots.borrow().clone();
    guarded("application/json", snapshot.json.clone())
}

async fn metrics(State(app): State<App>) -> Response {
    let snapshot = app.snapshots.borrow().clone();
    guarded(
        "text/plain; version=0.0.4; charset=utf-8",
        snapshot.metrics.clone(),
    )
}

/// A JSON answer with `status`.
pub(super) fn answer(status: StatusCode, body: Value) -> Response {
    guarded("application/json", (status, body.to_string()))
}
