//! `GET /v1/sessions/{id}/ws`: the WebSocket of one session.
//!
//! The handshake checks the web origin (a browser's page must be the gateway's own or an
//! allowed one), authenticates (bearer token, or a single-use `?ticket=` for browsers),
//! negotiates the encoding (`viva.v1.json` or `viva.v1.msgpack`) and attaches to the session
//! before upgrading, so refusals are plain HTTP errors. After it, this module only moves
//! frames: it decodes client frames into protocol messages for the engine and encodes the
//! engine's events, feeding a batch of frames before each flush. The handshake itself is in
//! [`upgrade`], with the IO that frees an idle socket's write buffer.

mod upgrade;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use viva_engine::core::SessionId;
use viva_engine::{Connection, Engine, EngineError, Next, SessionAccess};
use viva_protocol::server::ErrorEvent;
use viva_protocol::{ClientMessage, CloseCode, Encoding, ErrorCode, Limits, ServerMessage};

use self::upgrade::{Upgrade, Upgrading, WebSocket};
use crate::AppState;
use crate::auth;
use crate::error::{AppError, PathParams, socket_refusal};

/// Per-socket limits.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketLimits {
    /// Largest client frame; a larger one closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Read buffer per socket (tungstenite allocates it up front and keeps it; the connection
    /// is read ahead in larger pieces, `upgrade::READ_AHEAD`, so a small one costs no reads).
    pub read_buffer: usize,
    /// Bytes buffered before a write goes to the socket.
    pub write_buffer: usize,
    /// Most bytes a socket may have waiting to be written (backpressure past it).
    pub max_write_buffer: usize,
    /// Average client messages per second.
    pub rate_per_s: f64,
    /// Burst of client messages allowed.
    pub burst: f64,
    /// Average `input_audio.append` messages per second: audio does not spend the message
    /// rate (20 ms frames are 50 a second); the engine refuses audio faster than twice real
    /// time, whatever its framing.
    pub audio_rate_per_s: f64,
    /// Burst of `input_audio.append` messages allowed (a re-sent utterance).
    pub audio_burst: f64,
    /// Messages refused in a row for the rate after which the socket is closed (4029).
    pub flood_close_after: u32,
    /// Most queued events written before one flush.
    pub batch: usize,
    /// Longest a write may stay blocked (the client stopped reading) before the socket is
    /// dropped: its queued events are durable and replayed when it reconnects.
    pub write_timeout: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: Limits::default().max_frame_bytes,
            // Small: an idle socket keeps it (tungstenite allocates the read buffer up front);
            // a batch above 2 KiB is written as it fills, and the flush after the batch writes
            // the rest.
            read_buffer: 256,
            write_buffer: 2 * 1024,
            max_write_buffer: 512 * 1024,
            rate_per_s: 10.0,
            burst: 30.0,
            audio_rate_per_s: 100.0,
            audio_burst: 300.0,
            flood_close_after: 200,
            batch: 64,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// The query of the socket URL.
#[derive(Debug, Deserialize)]
pub struct SocketQuery {
    /// Replay every durable event after this seq.
    last_seq: Option<u64>,
}

/// The credential part of the query, read on its own so that a bad `last_seq` does not hide
/// an authentication failure.
#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    /// A ticket from `POST /v1/sessions/{id}/ticket`, instead of the `Authorization` header.
    ticket: Option<String>,
}

/// The handshake.
pub async fn upgrade(
    State(state): State<AppState>,
    PathParams(session_id): PathParams<SessionId>,
    credential: Result<Query<TicketQuery>, axum::extract::rejection::QueryRejection>,
    query: Result<Query<SocketQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    ws: Result<Upgrade, AppError>,
) -> Result<Response, AppError> {
    // Everything that can be refused without a credential comes first, so that a refused
    // page, a plain GET or a bad `last_seq` does not use up a ticket.
    check_origin(&headers, &state.allowed_origins)?;
    // A draining node takes no new socket: the client retries, through the balancer, elsewhere.
    state.node.refuse_if_draining()?;
    let ws = ws?;
    check_key(&headers)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
    let offered = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let chosen = Encoding::negotiate(offered).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let encoding = chosen.unwrap_or(Encoding::Json);
    let user = match credential.ok().and_then(|Query(q)| q.ticket) {
        Some(ticket) => {
            let redeemed = state.tickets.redeem(&ticket, &session_id, state.engine.now()).await;
            redeemed.map_err(EngineError::from)?.ok_or(auth::INVALID_TOKEN)?
        }
        None => auth::bearer(&headers, &state).await?,
    };
    // Refuse strangers here, as plain HTTP (the one ownership check); attach only once
    // upgraded, so that a handshake that fails never displaces the session's current socket.
    let access = state.engine.authorize(&user.0, &session_id).await?;
    let limits = Arc::clone(&state.socket);
    let config = WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer)
        .max_write_buffer_size(limits.max_write_buffer)
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes));
    let write_buffer = limits.write_buffer;
    let (response, upgrading) = ws.respond(chosen.map(Encoding::subprotocol), config, write_buffer);
    let engine = state.engine.clone();
    tokio::spawn(state.sockets.track_future(serve(upgrading, engine, access, query.last_seq, encoding, limits)));
    Ok(response)
}

/// `Sec-WebSocket-Key` must be 16 bytes, base64-encoded (RFC 6455 section 4.1); [`Upgrade`]
/// checks only that it is there.
fn check_key(headers: &HeaderMap) -> Result<(), AppError> {
    use base64::Engine as _;
    let key = headers.get(header::SEC_WEBSOCKET_KEY).map(|key| base64::engine::general_purpose::STANDARD.decode(key));
    match key {
        Some(Ok(key)) if key.len() == 16 => Ok(()),
        _ => Err(AppError::BadRequest("Sec-WebSocket-Key must be 16 bytes, base64-encoded".to_owned())),
    }
}

/// A browser's page may open a socket only from the gateway's own origin (`http://` + its
/// `Host`, so the console it serves works) or an allowed one; the ticket or token alone does
/// not prove the page is ours. Requests without `Origin` are not from a browser's page.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let refused = || AppError::Forbidden("this web origin may not open sessions here; see --allowed-origins");
    let origin = origin.to_str().ok().and_then(normalize_origin).ok_or_else(refused)?;
    let own = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| normalize_origin(&format!("http://{host}")));
    if own.as_deref() == Some(origin.as_str()) || allowed.contains(&origin) { Ok(()) } else { Err(refused()) }
}

/// `scheme://host[:port]` as browsers send it in `Origin`: lowercase, without the scheme's
/// default port; `None` for anything else (a path, credentials, another scheme, `null`).
pub fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ipv6) => !ipv6.is_empty() && ipv6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        None => !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
    };
    if !host_ok {
        return None;
    }
    match port.strip_prefix(':') {
        None if port.is_empty() => Some(format!("{scheme}://{host}")),
        Some(port) if port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit()) => {
            if port == default_port {
                Some(format!("{scheme}://{host}"))
            } else {
                Some(format!("{scheme}://{host}:{port}"))
            }
        }
        _ => None,
    }
}

/// Attaches the upgraded socket to its session and moves frames between them until either side
/// closes. Not an `async fn`, and the socket is not split: this future is what every connected
/// session costs, and an `async fn` keeps its arguments twice (as arguments and as the body's
/// locals), a split socket once more in the lock its halves share.
fn serve(
    upgrading: Upgrading,
    engine: Engine,
    access: SessionAccess,
    last_seq: Option<u64>,
    encoding: Encoding,
    limits: Arc<SocketLimits>,
) -> impl Future<Output = ()> + Send {
    let mut state = Socket {
        encoding,
        messages: Bucket::new(limits.rate_per_s, limits.burst),
        audio: Bucket::new(limits.audio_rate_per_s, limits.audio_burst),
        limits,
        refused_in_a_row: 0,
    };
    async move {
        // Boxed, as everything a socket does once: their room would be every session's.
        let Some(mut socket) = Box::pin(upgrading.socket()).await else { return };
        match engine.attach(&access, last_seq).await {
            Ok(mut connection) => state.serve(&mut socket, &mut connection).await,
            Err(error) => Box::pin(refuse(&mut socket, state.encoding, error, &state.limits)).await,
        }
        // tungstenite ends its closing handshake by writing the close frame without flushing
        // it: pass on what the socket's buffer holds, if the connection takes it now (a client
        // that stopped reading is not waited for again).
        let _ = socket.get_mut().flush().now_or_never();
    }
}

/// Tells an upgraded client why its session cannot be attached, then closes; a client that
/// does not read is not waited for longer than any other write.
async fn refuse(socket: &mut WebSocket, encoding: Encoding, error: EngineError, limits: &SocketLimits) {
    tracing::warn!(%error, "attach failed after the upgrade");
    let (code, close) = socket_refusal(&error);
    let message = "the session cannot be attached right now; reconnect with last_seq".to_owned();
    let event = ServerMessage::Error(ErrorEvent { code, message, fatal: true, reference: None });
    let goodbye = async {
        socket.feed(frame(encoding, &event)).await?;
        socket.send(close_frame(close)).await
    };
    let _ = tokio::time::timeout(limits.write_timeout, goodbye).await;
}

/// The close frame of `code`.
fn close_frame(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame { code: code.code().into(), reason: Utf8Bytes::from_static(code.reason()) }))
}

/// The close a failed read calls for. tungstenite finds the client's protocol errors (RFC 6455
/// section 7.1.7, "Fail the WebSocket Connection") but leaves the close to us: the code says
/// which class of error it was. `None` when the connection itself is gone (reset, closed
/// without a close frame): there is no one to tell.
fn read_error_close(error: tungstenite::Error) -> Option<CloseCode> {
    use tungstenite::error::ProtocolError;
    match error {
        tungstenite::Error::Capacity(_) => Some(CloseCode::TooBig),
        tungstenite::Error::Utf8(_) => Some(CloseCode::InvalidUtf8),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(error) => {
            tracing::debug!(%error, "WebSocket protocol violation");
            Some(CloseCode::ProtocolViolation)
        }
        _ => None,
    }
}

/// What a socket does after a frame from its client.
enum Then {
    /// Reads on.
    Go,
    /// Says why and closes.
    Close(CloseCode),
    /// Goes at once: a reply could not be written (the client stopped reading).
    Drop,
}

/// Per-socket state of the reading side.
struct Socket {
    encoding: Encoding,
    limits: Arc<SocketLimits>,
    /// The rate of messages, audio aside.
    messages: Bucket,
    /// The rate of `input_audio.append` messages.
    audio: Bucket,
    refused_in_a_row: u32,
}

/// A token bucket: `burst` messages at once, `rate_per_s` on average.
struct Bucket {
    rate_per_s: f64,
    burst: f64,
    /// Tokens and when they were counted (on the first message).
    tokens: Option<(f64, tokio::time::Instant)>,
}

impl Bucket {
    fn new(rate_per_s: f64, burst: f64) -> Self {
        Self { rate_per_s, burst, tokens: None }
    }

    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let (tokens, at) = self.tokens.get_or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate_per_s).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Socket {
    /// Moves frames between the socket and its session until either side closes.
    ///
    /// What a socket does between waits (writing a batch, handling a frame) is boxed: this
    /// future is every connected session's, and it should hold only what waiting needs. One
    /// allocation per batch or frame costs less than the room held for the socket's life.
    async fn serve(&mut self, socket: &mut WebSocket, connection: &mut Connection) {
        loop {
            // Reading is cancelled while the session's events are written: `next` loses nothing
            // when dropped, and a client that sends while not reading meets backpressure.
            let then = tokio::select! {
                next = connection.next() => Box::pin(self.write_batch(next, socket, connection)).await,
                frame = socket.next() => match frame {
                    None => Then::Drop,
                    // Complete the closing handshake the client started.
                    Some(Ok(Message::Close(_))) => {
                        Box::pin(self.write(SinkExt::close(socket))).await;
                        Then::Drop
                    }
                    // Pings are answered by tungstenite; raw frames are never read.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Then::Go,
                    Some(Ok(Message::Text(text))) => {
                        Box::pin(self.receive(text.as_bytes(), false, connection, socket)).await
                    }
                    Some(Ok(Message::Binary(bytes))) => Box::pin(self.receive(&bytes, true, connection, socket)).await,
                    Some(Err(error)) => read_error_close(error).map_or(Then::Drop, Then::Close),
                },
            };
            match then {
                Then::Go => {}
                Then::Drop => return,
                Then::Close(code) => {
                    // Then the socket is dropped, and its connection closes gracefully
                    // (server.rs): the close frame reaches a client that is still sending too.
                    Box::pin(self.write(socket.send(close_frame(code)))).await;
                    return;
                }
            }
        }
    }

    /// Writes `next` and what else is queued behind it (up to a batch), then flushes.
    async fn write_batch(&self, next: Next, socket: &mut WebSocket, connection: &mut Connection) -> Then {
        let mut next = Some(next);
        let mut fed = 0;
        let mut close = None;
        while let Some(item) = next.take() {
            match item {
                Next::Message(message) => {
                    if !self.write(socket.feed(self.frame(&message))).await {
                        return Then::Drop;
                    }
                    fed += 1;
                    if fed < self.limits.batch {
                        next = connection.try_next();
                    }
                }
                Next::Close(code) => close = Some(code),
            }
        }
        if !self.write(socket.flush()).await {
            return Then::Drop;
        }
        close.map_or(Then::Go, Then::Close)
    }

    /// Handles one client frame.
    async fn receive(&mut self, bytes: &[u8], binary: bool, connection: &Connection, socket: &mut WebSocket) -> Then {
        let limits = Limits { max_frame_bytes: self.limits.max_frame_bytes, ..Limits::default() };
        let decoded = if binary == self.encoding.is_binary() {
            self.encoding.decode_client(bytes, &limits).map_err(|error| (error.code(), error.to_string()))
        } else {
            let expected = if self.encoding.is_binary() { "binary" } else { "text" };
            let message = format!("this socket speaks {}: send {expected} frames", self.encoding.subprotocol());
            Err((ErrorCode::WrongFrameType, message))
        };
        // Every frame counts against the rate, garbage included; a refused message is named
        // by its id so the client knows what to re-send.
        let bucket = match &decoded {
            Ok(ClientMessage::InputAudioAppend { .. }) => &mut self.audio,
            _ => &mut self.messages,
        };
        if !bucket.take() {
            self.refused_in_a_row += 1;
            if self.refused_in_a_row >= self.limits.flood_close_after {
                return Then::Close(CloseCode::RateLimited);
            }
            let reference = decoded.ok().and_then(|m| m.id().map(str::to_owned));
            let message = "too many messages; slow down and re-send with the same id";
            return Box::pin(self.error(socket, ErrorCode::RateLimited, message.to_owned(), reference)).await;
        }
        self.refused_in_a_row = 0;
        match decoded {
            Ok(message) => {
                // A session that stopped (deleted, taken over, shutting down) takes no more
                // messages; its close code is in the connection's queue, or comes when it lets
                // go of it: read on, and the connection says how to close (not 4013 in its stead).
                let _ = connection.send(message).await;
                Then::Go
            }
            Err((code, message)) if bytes.len() > limits.max_frame_bytes => {
                tracing::debug!(%code, %message, "frame too large");
                Then::Close(CloseCode::TooBig)
            }
            Err((code, message)) => {
                let reference = self.encoding.message_id(bytes, &limits);
                Box::pin(self.error(socket, code, message, reference)).await
            }
        }
    }

    /// Replies with an error, bounded like every write. Boxed by its callers: refusals are rare,
    /// and its future would otherwise enlarge the allocation every frame's handling makes.
    async fn error(&self, socket: &mut WebSocket, code: ErrorCode, message: String, reference: Option<String>) -> Then {
        let event = ServerMessage::Error(ErrorEvent { code, message, fatal: false, reference });
        if self.write(socket.send(self.frame(&event))).await { Then::Go } else { Then::Drop }
    }

    fn frame(&self, message: &ServerMessage) -> Message {
        frame(self.encoding, message)
    }

    /// Completes a write; false when the socket failed or stayed blocked too long.
    async fn write<E>(&self, write: impl Future<Output = Result<(), E>>) -> bool {
        match tokio::time::timeout(self.limits.write_timeout, write).await {
            Ok(result) => result.is_ok(),
            Err(_) => {
                tracing::info!(
                    "client not reading: a write was blocked for {:?}; socket dropped",
                    self.limits.write_timeout
                );
                false
            }
        }
    }
}

/// A message as a frame of the socket's encoding.
fn frame(encoding: Encoding, message: &ServerMessage) -> Message {
    // The protocol's own types always encode (the round-trip tests prove it); were one not
    // to, the client gets an empty frame it reports as malformed, and the log says why.
    let bytes = encoding.encode_message(message).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot encode {}", message.type_name());
        Vec::new()
    });
    match encoding {
        Encoding::Json => Message::Text(String::from_utf8(bytes).unwrap_or_default().into()),
        Encoding::MsgPack => Message::Binary(bytes.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_like_browsers_send_them() {
        let cases = [
            ("https://App.Example.com", Some("https://app.example.com")),
            ("https://app.example.com:443", Some("https://app.example.com")),
            ("http://localhost:80", Some("http://localhost")),
            ("http://127.0.0.1:8080", Some("http://127.0.0.1:8080")),
            ("http://[::1]:3000", Some("http://[::1]:3000")),
            ("https://app.example.com:8443", Some("https://app.example.com:8443")),
            ("https://app.example.com/", None),
            ("https://app.example.com/console", None),
            ("https://user@app.example.com", None),
            ("https://app.example.com:0", None),
            ("https://app.example.com:99999", None),
            ("https://app.example.com:+1", None),
            ("ftp://app.example.com", None),
            ("null", None),
            ("*", None),
            ("https://", None),
            ("https://a[b", None),
            ("http://[::1", None),
            ("http://[]", None),
        ];
        for (origin, expected) in cases {
            assert_eq!(normalize_origin(origin).as_deref(), expected, "{origin}");
        }
    }
}
