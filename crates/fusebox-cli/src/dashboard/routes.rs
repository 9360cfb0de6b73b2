//! The HTTP side: binding, the routes, and control requests.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (HTML, CSS and JS compiled in), with the latest snapshot |
//! | `GET /events` | server-sent events: one `snapshot` per scan |
//! | `GET /api/breakers` | the latest snapshot as JSON |
//! | `GET /metrics` | Prometheus text |
//! | `POST /api/control` | `{"name": …, "action": "trip"/"reset"/"force_open"/"disable"}` with `Authorization: Bearer TOKEN` |

use std::future::IntoFuture;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fusebox::BreakerConfig;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use super::auth::Token;
use super::host::{self, LoopbackOnly};
use super::scanner::{self, Scanner};
use super::snapshot::Snapshot;
use super::{assets, sse};
use crate::store::{self, Location};
use crate::{clean, Exit};

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
    token: Option<Arc<Token>>,
    location: Arc<Location>,
    /// Tells the scanner to read the store now (after a control action).
    rescan: Arc<Notify>,
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
        .route("/api/control", post(control_action))
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
fn guarded(content_type: &'static str, body: impl IntoResponse) -> Response {
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
fn answer(status: StatusCode, body: Value) -> Response {
    guarded("application/json", (status, body.to_string()))
}

/// `POST /api/control`: trips, resets, forces open or disables a breaker
/// in the store, as `fusebox trip` and its siblings do.
async fn control_action(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = &app.token else {
        return answer(
            StatusCode::FORBIDDEN,
            json!({"error": "this dashboard is read-only: start it with --token-file to allow control"}),
        );
    };
    if !token.admits(&headers) {
        tracing::warn!("dashboard: control refused for {client}: missing or wrong token");
        let mut response = answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong token (Authorization: Bearer TOKEN)"}),
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let (name, action) = match request(&body) {
        Ok(request) => request,
        Err(why) => return answer(StatusCode::BAD_REQUEST, json!({ "error": why })),
    };
    if let Err(exit) = crate::breaker::check_name(&name) {
        return answer(StatusCode::BAD_REQUEST, json!({ "error": exit.message() }));
    }
    let location = app.location.clone();
    let changed = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let store = store::open_for_writing(&location)?;
            crate::breaker::change(&name, &BreakerConfig::default(), store, action.to)
        })
        .await
    };
    let shown = crate::human::name(&name, 80);
    match changed {
        Ok(Ok(now)) => {
            tracing::info!(
                "dashboard: {} circuit '{shown}' for {client}: now {now}",
                action.word
            );
            app.rescan.notify_one();
            answer(StatusCode::OK, json!({"name": name, "state": now.as_str()}))
        }
        Ok(Err(exit)) => {
            let why = clean::message(exit.message());
            tracing::warn!(
                "dashboard: {} circuit '{shown}' for {client} failed: {why}",
                action.word
            );
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": why }))
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": format!("the change did not finish: {e}") }),
        ),
    }
}

/// A control action: its word and the state it moves a breaker to.
#[derive(Clone, Copy, Debug)]
struct Action {
    word: &'static str,
    to: fusebox::State,
}

const ACTIONS: [Action; 4] = [
    Action {
        word: "trip",
        to: fusebox::State::Open,
    },
    Action {
        word: "reset",
        to: fusebox::State::Closed,
    },
    Action {
        word: "force_open",
        to: fusebox::State::ForcedOpen,
    },
    Action {
        word: "disable",
        to: fusebox::State::Disabled,
    },
];

/// The breaker and the action a control request's body names.
fn request(body: &[u8]) -> Result<(String, Action), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!("the body is not JSON like {{\"name\": \"api\", \"action\": \"trip\"}}: {e}")
    })?;
    let name = value["name"]
        .as_str()
        .ok_or("the body names no breaker (\"name\": \"…\")")?;
    let word = value["action"].as_str().ok_or(
        "the body names no action (\"action\": \"trip\", \"reset\", \"force_open\" or \"disable\")",
    )?;
    let action = ACTIONS
        .iter()
        .find(|a| a.word == word.replace('-', "_"))
        .ok_or_else(|| format!("unknown action {word:?}: trip, reset, force_open or disable"))?;
    Ok((name.to_owned(), *action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_a_breaker_and_a_known_action() {
        let (name, action) = request(br#"{"name": "api", "action": "force-open"}"#).unwrap();
        assert_eq!(
            (name.as_str(), action.to),
            ("api", fusebox::State::ForcedOpen)
        );
        assert!(request(br#"{"name": "api", "action": "explode"}"#)
            .unwrap_err()
            .contains("\"explode\""));
        assert!(request(br#"{"action": "trip"}"#)
            .unwrap_err()
            .contains("no breaker"));
        assert!(request(b"trip api").unwrap_err().contains("not JSON"));
    }
}
