//! `POST /api/control`: trip, reset, force open or disable a breaker, for
//! a request that carries the token, as `fusebox trip` and its siblings do.
//! Every action is logged with the breaker and the client's address.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use fusebox::BreakerConfig;
use serde_json::{json, Value};

use super::routes::{answer, App};
use crate::{clean, store};

/// `POST /api/control`: trips, resets, forces open or disables a breaker
/// in the store, as `fusebox trip` and its siblings do.
pub(super) async fn control_action(
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
