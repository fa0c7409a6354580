//! The WebSocket handshake (RFC 6455 section 4.2), done here rather than by axum's extractor so
//! that the upgraded connection's IO is ours: the socket writes through a [`ReleasingIo`],
//! whose buffer is given back whenever it empties. An idle session then holds no write buffer
//! at all, where tungstenite keeps its own at its high-water mark for the socket's life.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::error::AppError;

/// The server's end of an upgraded session socket.
pub type WebSocket = WebSocketStream<ReleasingIo<TokioIo<hyper::upgrade::Upgraded>>>;

/// A request that asks for a WebSocket: checked as RFC 6455 section 4.2.1 says, the upgrade
/// taken from the connection.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let refused = |what: &str| AppError::BadRequest(format!("expected a WebSocket upgrade: {what}"));
        if parts.method != Method::GET {
            return Err(refused("the method must be GET"));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(refused("`Connection` must include `upgrade`"));
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return Err(refused("`Upgrade` must be `websocket`"));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
            return Err(AppError::WebSocketVersion);
        }
        let key =
            parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned().ok_or_else(|| refused("no `Sec-WebSocket-Key`"))?;
        let on_upgrade =
            parts.extensions.remove::<OnUpgrade>().ok_or_else(|| refused("this connection cannot be upgraded"))?;
        Ok(Self { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers 101 (with `protocol` chosen, if any); the [`Upgrading`] becomes the socket once
    /// the connection is upgraded. `write_buffer` is how many bytes the socket gathers before
    /// writing to the connection.
    ///
    /// The caller runs the socket on its own task, starting with [`Upgrading::socket`]: not a
    /// callback run here, whose captures would stay in the task's future beside the copies the
    /// socket's own future makes of them (what every session pays).
    pub fn respond(
        self,
        protocol: Option<&'static str>,
        mut config: WebSocketConfig,
        write_buffer: usize,
    ) -> (Response, Upgrading) {
        let Self { key, on_upgrade } = self;
        // Every frame goes straight to the `ReleasingIo`, which gathers them.
        let gather = config.max_write_buffer_size;
        config.write_buffer_size = 0;
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes())).expect("base64 is a header value");
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        if let Some(protocol) = protocol {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
        }
        (response, Upgrading { on_upgrade, config, write_buffer, gather })
    }
}

/// A connection answered 101, on its way to being a socket.
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    config: WebSocketConfig,
    write_buffer: usize,
    gather: usize,
}

impl Upgrading {
    /// The socket, once hyper hands the connection over; `None` if it went away first.
    pub async fn socket(self) -> Option<WebSocket> {
        let Self { on_upgrade, config, write_buffer, gather } = self;
        let upgraded = on_upgrade.await.ok()?;
        let io = ReleasingIo::new(TokioIo::new(upgraded), write_buffer, gather);
        Some(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
    }
}

/// Whether header `name` lists `token` (comma-separated, any case).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A connection's IO whose writes gather in a buffer that is freed whenever it empties.
///
/// Writes are accepted into the buffer; once it holds `write_through` bytes, each write also
/// tries to pass them on (without waiting), and only at `most` does it wait for the connection
/// (backpressure). A flush writes everything.
///
/// Reads ask the connection for up to [`READ_AHEAD`] bytes at a time (into the stack), however
/// little the reader asked for: tungstenite's read buffer is allocated up front and kept for
/// the socket's life, so the gateway gives it a small one, and what it has no room for waits
/// here, in a buffer freed as soon as it is taken.
pub struct ReleasingIo<T> {
    inner: T,
    buffer: Vec<u8>,
    write_through: usize,
    most: usize,
    /// Read from the connection, not yet taken; `read_at` is where the rest starts.
    read_ahead: Vec<u8>,
    read_at: usize,
}

/// The most a read asks of the connection.
pub const READ_AHEAD: usize = 8 * 1024;

impl<T> ReleasingIo<T> {
    fn new(inner: T, write_through: usize, most: usize) -> Self {
        Self {
            inner,
            buffer: Vec::new(),
            write_through,
            most: most.max(write_through).max(1),
            read_ahead: Vec::new(),
            read_at: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> ReleasingIo<T> {
    /// Writes from the buffer until it is empty (then frees it), or until the connection
    /// takes no more for now (`Pending`, its waker registered).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.buffer.is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buffer))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.buffer.drain(..written);
        }
        self.buffer = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReleasingIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buffer.len() >= this.most {
            ready!(this.poll_drain(cx))?;
        }
        let taken = bytes.len().min(this.most - this.buffer.len());
        this.buffer.extend_from_slice(&bytes[..taken]);
        if this.buffer.len() >= this.write_through {
            // Pass on what the connection takes now; the rest waits for more or a flush.
            if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
                return Poll::Ready(Err(error));
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReleasingIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.read_at < this.read_ahead.len() {
            let taken = buf.remaining().min(this.read_ahead.len() - this.read_at);
            buf.put_slice(&this.read_ahead[this.read_at..this.read_at + taken]);
            this.read_at += taken;
            if this.read_at == this.read_ahead.len() {
                this.read_ahead = Vec::new();
                this.read_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_AHEAD {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut stack = [MaybeUninit::<u8>::uninit(); READ_AHEAD];
        let mut ahead = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut ahead))?;
        let read = ahead.filled();
        let taken = buf.remaining().min(read.len());
        buf.put_slice(&read[..taken]);
        if taken < read.len() {
            this.read_ahead = read[taken..].to_vec();
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn writes_gather_pass_on_at_the_threshold_and_the_buffer_is_freed_when_empty() {
        let (near, mut far) = duplex(64);
        let mut io = ReleasingIo::new(near, 8, 32);
        io.write_all(b"abc").await.unwrap();
        assert_eq!(io.buffer, b"abc", "below the threshold: gathered");
        io.write_all(b"defgh").await.unwrap();
        assert!(io.buffer.is_empty() && io.buffer.capacity() == 0, "passed on and freed");
        let mut got = [0; 8];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcdefgh");
        io.write_all(b"ij").await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(io.buffer.capacity(), 0);
        let mut got = [0; 2];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ij");
    }

    #[tokio::test]
    async fn a_small_reader_gets_everything_and_what_waited_is_freed() {
        let (near, mut far) = duplex(2 * READ_AHEAD);
        let mut io = ReleasingIo::new(near, 8, 32);
        let sent: Vec<u8> = (0..READ_AHEAD + 100).map(|i| (i % 251) as u8).collect();
        far.write_all(&sent).await.unwrap();
        drop(far);
        let mut got = Vec::new();
        let mut small = [0; 100];
        let mut waited = false;
        loop {
            let n = io.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            waited |= !io.read_ahead.is_empty();
            if io.read_at == io.read_ahead.len() {
                assert_eq!(io.read_ahead.capacity(), 0, "nothing waits: nothing held");
            }
        }
        assert!(waited, "a read brought more than the reader took");
        assert_eq!(got, sent, "in order, then the end");
        // A reader with room reads from the connection directly.
        let (near, mut far) = duplex(2 * READ_AHEAD);
        let mut io = ReleasingIo::new(near, 8, 32);
        far.write_all(&sent).await.unwrap();
        let mut big = vec![0; 2 * READ_AHEAD];
        let n = io.read(&mut big).await.unwrap();
        assert_eq!(&big[..n], &sent[..n]);
        assert_eq!(io.read_ahead.capacity(), 0);
    }

    // Paused time: the timeout fires as soon as nothing else can run.
    #[tokio::test(start_paused = true)]
    async fn a_connection_that_takes_nothing_stops_writes_at_the_most() {
        // The far end never reads: the pipe takes 16 bytes, the buffer 32, then writes wait.
        let (near, _far) = duplex(16);
        let mut io = ReleasingIo::new(near, 8, 32);
        let stuck = tokio::time::timeout(std::time::Duration::from_secs(1), io.write_all(&[7; 100])).await;
        assert!(stuck.is_err(), "the write waits for the connection");
        assert_eq!(io.buffer.len(), 32);
    }
}
