//! The server side of the WebSocket handshake (RFC 6455 §4.2), done here
//! rather than by axum so the connection is a `tokio-tungstenite` stream whose
//! buffers we size and whose large frames we can fragment.

use axum::body::Body;
use axum::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sunday_edge::{ErrorKind, Problem};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Config;

fn has_token(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `Sec-WebSocket-Accept` answer, if the request is a version-13 upgrade.
pub(crate) fn accept_key(headers: &HeaderMap) -> Result<String, Problem> {
    if !has_token(headers, UPGRADE, "websocket") || !has_token(headers, CONNECTION, "upgrade") {
        return Err(Problem::new(ErrorKind::BadRequest, "/v1/ws takes a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)"));
    }
    if headers.get(SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        return Err(Problem::new(ErrorKind::BadRequest, "Sec-WebSocket-Version must be 13"));
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).ok_or_else(|| Problem::new(ErrorKind::BadRequest, "Sec-WebSocket-Key is missing"))?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// `101 Switching Protocols`.
pub(crate) fn switching_protocols(accept: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// Buffer sizes and limits of every socket: tungstenite's defaults allocate a
/// 128 KiB read buffer per socket up front.
pub(crate) fn socket_config(c: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(c.read_buffer)
        .write_buffer_size(c.write_buffer)
        .max_write_buffer_size(c.write_buffer.max(c.max_message) * 4)
        .max_message_size(Some(c.max_message))
        .max_frame_size(Some(c.max_message))
}
