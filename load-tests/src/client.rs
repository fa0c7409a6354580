//! The transport to one gateway: its REST API ([`Api`]) and one session's WebSocket
//! ([`Socket`]). Every call is bounded by a timeout, so a hung gateway fails a session instead
//! of stalling the run.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use viva_protocol::rest::{CreateSession, Plans, Recording, SessionCreated, SessionView};
use viva_protocol::{ClientMessage, Encoding, ServerMessage};

/// A gateway's base URLs, from `ws://host:port` or `http://host:port` (with an optional path
/// prefix). TLS is not built in: put a load test next to the gateway, or behind a local proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    http: String,
    ws: String,
}

impl Target {
    /// Parses `ws://…` or `http://…`.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let url = url.trim().trim_end_matches('/');
        match url.split_once("://") {
            Some(("ws" | "http", rest)) if !rest.is_empty() => {
                Ok(Self { http: format!("http://{rest}"), ws: format!("ws://{rest}") })
            }
            _ => Err(ClientError::Url(url.to_owned())),
        }
    }

    /// The HTTP URL of `path` (which starts with `/`).
    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    /// The WebSocket URL of `path`.
    pub fn ws(&self, path: &str) -> String {
        format!("{}{path}", self.ws)
    }
}

/// What went wrong talking to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not a URL the tool understands.
    #[error("`{0}` is not a ws:// or http:// URL (TLS is not supported)")]
    Url(String),
    /// The gateway answered with an error status.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// The request.
        what: &'static str,
        /// Its status.
        status: u16,
        /// The error body.
        body: String,
    },
    /// The request failed (connection, timeout, body).
    #[error("{what}: {source}")]
    Http {
        /// The request.
        what: &'static str,
        /// What failed.
        source: reqwest::Error,
    },
    /// The TCP connection for a WebSocket could not be made.
    #[error("TCP connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The WebSocket handshake was refused or failed.
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    /// The socket failed after the handshake.
    #[error("WebSocket: {0}")]
    Socket(String),
    /// Nothing happened within the timeout.
    #[error("{0}: timed out")]
    Timeout(&'static str),
    /// A recording line is not valid.
    #[error("recording line {line}: {reason}")]
    Recording {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The gateway's REST API, as one user (bearer token).
#[derive(Debug, Clone)]
pub struct Api {
    target: Target,
    http: reqwest::Client,
}

impl Api {
    /// A client whose every request times out after `timeout`.
    pub fn new(target: Target, timeout: Duration) -> Self {
        // The workspace's reqwest has rustls without a default crypto provider; a client cannot
        // be built before one is installed, even for plain HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Few idle connections kept: each one left open costs the gateway a connection's buffers,
        // which would count against the sessions being measured.
        let http = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(16).build().unwrap_or_default();
        Self { target, http }
    }

    /// The gateway.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `GET /v1/plans`.
    pub async fn plans(&self) -> Result<Plans, ClientError> {
        let request = self.http.get(self.target.http("/v1/plans"));
        json(request, "GET /v1/plans").await
    }

    /// `POST /v1/sessions` on `plan` as the user of `token`.
    pub async fn create_session(&self, token: &str, plan: &str) -> Result<SessionCreated, ClientError> {
        let body = CreateSession { plan: plan.to_owned(), candidate: None, adapt: false };
        let request = self.http.post(self.target.http("/v1/sessions")).bearer_auth(token).json(&body);
        json(request, "POST /v1/sessions").await
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn session(&self, token: &str, session_id: &str) -> Result<SessionView, ClientError> {
        let request = self.http.get(self.target.http(&format!("/v1/sessions/{session_id}"))).bearer_auth(token);
        json(request, "GET /v1/sessions/{id}").await
    }

    /// `GET /v1/sessions/{id}/recording`, parsed.
    pub async fn recording(&self, token: &str, session_id: &str) -> Result<Vec<Recording>, ClientError> {
        const WHAT: &str = "GET /v1/sessions/{id}/recording";
        let url = self.target.http(&format!("/v1/sessions/{session_id}/recording"));
        let response = checked(self.http.get(url).bearer_auth(token), WHAT).await?;
        let text = response.text().await.map_err(|source| ClientError::Http { what: WHAT, source })?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| ClientError::Recording { line: i + 1, reason: e.to_string() })
            })
            .collect()
    }
}

async fn checked(request: reqwest::RequestBuilder, what: &'static str) -> Result<reqwest::Response, ClientError> {
    let response = request.send().await.map_err(|source| ClientError::Http { what, source })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(ClientError::Status { what, status: status.as_u16(), body: body.chars().take(300).collect() })
}

async fn json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &'static str,
) -> Result<T, ClientError> {
    checked(request, what).await?.json().await.map_err(|source| ClientError::Http { what, source })
}

/// What a socket read gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A server message.
    Message(ServerMessage),
    /// A frame that is not a message of the socket's encoding.
    BadFrame(String),
    /// The socket closed, with the server's close code if it sent one.
    Closed(Option<u16>),
}

/// One session's WebSocket, speaking one encoding, counting what it moves.
pub struct Socket {
    stream: WebSocketStream<TcpStream>,
    encoding: Encoding,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// The node that took the socket (the gateway's `x-viva-node` header), if it said.
    pub node: Option<String>,
}

impl Socket {
    /// Opens `GET /v1/sessions/{id}/ws` as the user of `token`, offering `encoding`, from a
    /// source address of its own when the gateway is on loopback ([`crate::net`]).
    pub async fn connect(
        target: &Target,
        token: &str,
        session_id: &str,
        encoding: Encoding,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::open(target, token, session_id, encoding, timeout, None).await
    }

    /// Opens the session's socket again, resuming after `last_seq` (the last durable event
    /// received): the gateway replays what came after it.
    pub async fn resume(
        target: &Target,
        token: &str,
        session_id: &str,
        encoding: Encoding,
        timeout: Duration,
        last_seq: u64,
    ) -> Result<Self, ClientError> {
        Self::open(target, token, session_id, encoding, timeout, Some(last_seq)).await
    }

    async fn open(
        target: &Target,
        token: &str,
        session_id: &str,
        encoding: Encoding,
        timeout: Duration,
        last_seq: Option<u64>,
    ) -> Result<Self, ClientError> {
        let query = last_seq.map(|seq| format!("?last_seq={seq}")).unwrap_or_default();
        let url = target.ws(&format!("/v1/sessions/{session_id}/ws{query}"));
        let mut request = url.into_client_request().map_err(|e| ClientError::Handshake(e.to_string()))?;
        let headers = request.headers_mut();
        let bearer =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| ClientError::Handshake(e.to_string()))?;
        headers.insert("authorization", bearer);
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(encoding.subprotocol()));
        // Small buffers: a run holds thousands of these.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let host = request.uri().host().unwrap_or_default().to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let connect = async {
            let tcp = crate::net::connect(&host, port).await.map_err(ClientError::Connect)?;
            Ok(tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await)
        };
        let (stream, response) = match tokio::time::timeout(timeout, connect).await {
            Err(_) => return Err(ClientError::Timeout("WebSocket handshake")),
            Ok(Err(error)) => return Err(error),
            Ok(Ok(handshake)) => match handshake {
                Err(tungstenite::Error::Http(response)) => {
                    let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                    let status = response.status().as_u16();
                    return Err(ClientError::Handshake(format!("HTTP {status}: {}", body.unwrap_or_default())));
                }
                Err(error) => return Err(ClientError::Handshake(error.to_string())),
                Ok(connected) => connected,
            },
        };
        let chosen = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        if chosen.and_then(Encoding::from_subprotocol) != Some(encoding) {
            return Err(ClientError::Handshake(format!("asked for {}, got {chosen:?}", encoding.subprotocol())));
        }
        let node = response.headers().get("x-viva-node").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { stream, encoding, bytes_in: 0, bytes_out: 0, messages_out: 0, node })
    }

    /// Sends one message in the socket's encoding.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        let bytes = self.encoding.encode(message).map_err(|e| ClientError::Socket(e.to_string()))?;
        self.bytes_out += bytes.len() as u64;
        self.messages_out += 1;
        let frame = match self.encoding {
            Encoding::Json => Message::text(String::from_utf8_lossy(&bytes).into_owned()),
            Encoding::MsgPack => Message::binary(bytes),
        };
        self.stream.send(frame).await.map_err(|e| ClientError::Socket(format!("send: {e}")))
    }

    /// The next message, bad frame or close. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Incoming {
        loop {
            let frame = match self.stream.next().await {
                None | Some(Err(_)) => return Incoming::Closed(None),
                Some(Ok(frame)) => frame,
            };
            let (bytes, binary): (&[u8], bool) = match &frame {
                Message::Text(text) => (text.as_bytes(), false),
                Message::Binary(bytes) => (bytes, true),
                Message::Close(close) => return Incoming::Closed(close.as_ref().map(|c| u16::from(c.code))),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            self.bytes_in += bytes.len() as u64;
            if binary != self.encoding.is_binary() {
                return Incoming::BadFrame(format!(
                    "{} frame on a {} socket",
                    if binary { "binary" } else { "text" },
                    self.encoding.subprotocol()
                ));
            }
            return match self.encoding.decode::<ServerMessage>(bytes) {
                Ok(message) => Incoming::Message(message),
                Err(error) => Incoming::BadFrame(error.to_string()),
            };
        }
    }

    /// Closes the socket politely (bounded by `timeout`).
    pub async fn close(mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.stream.close(None)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_ws_and_http_urls() {
        for url in ["ws://127.0.0.1:8080", "http://127.0.0.1:8080/", " http://127.0.0.1:8080 "] {
            let target = Target::parse(url).unwrap();
            assert_eq!(target.http("/v1/plans"), "http://127.0.0.1:8080/v1/plans");
            assert_eq!(target.ws("/v1/sessions/s/ws"), "ws://127.0.0.1:8080/v1/sessions/s/ws");
        }
        assert_eq!(Target::parse("ws://localhost:1/prefix").unwrap().http("/x"), "http://localhost:1/prefix/x");
        for bad in ["127.0.0.1:8080", "ftp://x", "ws://", "https://viva.example"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
