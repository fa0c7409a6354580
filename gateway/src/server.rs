//! The accept loop: HTTP/1.1 connections, bounded before anyone logs in.
//!
//! `axum::serve` keeps a connection that never finishes its headers, or never sends a request,
//! for as long as the peer likes, and accepts as many as the file limit allows. Here every
//! connection holds a permit for as long as its socket is open (an upgraded WebSocket too), so
//! at most [`ConnectionLimits::max_connections`] are open; more are closed as they are
//! accepted. A request's head must arrive within [`ConnectionLimits::header_read_timeout`],
//! which also closes a keep-alive connection idle that long, and may not exceed
//! [`ConnectionLimits::max_header_bytes`]. Accept errors (the file limit reached) back off
//! instead of spinning.
//!
//! A connection the server ends is closed gracefully ("lingering close"): closing a TCP socket
//! with unread input makes the kernel reset the connection, and a reset destroys what the
//! peer has not read yet — the last response, or a WebSocket's close frame (a client flooding
//! a socket that is closed with 4029 lost it). So the server first shuts its sending side down
//! (what it wrote is delivered, then FIN) and reads and drops what the peer still sends until
//! the peer closes too, for at most [`ConnectionLimits::linger`] and
//! [`ConnectionLimits::linger_bytes`]; the connection keeps its place among the open ones
//! meanwhile.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Limits on HTTP connections, whoever opens them.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections at most, WebSockets included; one more is closed as it is accepted.
    pub max_connections: usize,
    /// A request's head must arrive within this; a keep-alive connection idle this long is
    /// closed.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers); a larger one gets 431.
    pub max_header_bytes: usize,
    /// A request must be answered within this, its body read included (a body that drips in
    /// gets 408). An upgraded WebSocket is not a request any more: this does not limit it.
    pub request_timeout: Duration,
    /// The kernel's send buffer per connection (`SO_SNDBUF`; Linux doubles it). On loopback
    /// it would otherwise grow to megabytes for a client that stops reading; an interview's
    /// events are small, and a write blocked for long drops the socket anyway.
    pub send_buffer_bytes: usize,
    /// Longest a closing connection reads what the peer still sends (see the module's docs),
    /// so that the last thing written reaches the peer instead of being destroyed by a reset.
    pub linger: Duration,
    /// Most bytes a closing connection reads for that; past them it is closed at once.
    pub linger_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            send_buffer_bytes: 128 * 1024,
            // Time for a client to read the close frame, and room for the rest of a largest
            // frame (128 KiB) that was refused from its header.
            linger: Duration::from_secs(2),
            linger_bytes: 1024 * 1024,
        }
    }
}

/// Longest pause after a failed accept (the first is 10 ms, doubling).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish the request in hand (at most `grace`), and returns. Upgraded sockets are
/// not waited for here: they live on in their own tasks.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            // The peer gave up before we got to it: nothing to do.
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                tracing::warn!(%error, pause_ms = backoff.as_millis() as u64, "accept failed");
                metrics::counter!("viva_accept_errors_total").increment(1);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            // Full: closing at once costs nothing; the client retries, or another node serves it.
            metrics::counter!("viva_connections_refused_total").increment(1);
            continue;
        };
        // Nagle would hold small event frames back behind delayed ACKs.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        if let Err(error) = socket2::SockRef::from(&stream).set_send_buffer_size(limits.send_buffer_bytes) {
            tracing::debug!(%error, "cannot set SO_SNDBUF");
        }
        let linger = Linger { time: limits.linger, bytes: limits.linger_bytes };
        let io = TokioIo::new(Counted::new(stream, permit, linger));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // The read buffer: room for a whole head and some body (hyper's minimum is 8 KiB).
            .max_buf_size(limits.max_header_bytes.max(8192) * 4)
            .max_header_size(limits.max_header_bytes)
            .serve_connection(io, TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    stopping.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait()).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still busy after the grace period");
    }
}

/// Errors of one connection that the listener itself survives.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// A socket that holds its place among the open connections until it is closed, upgraded or
/// not; dropped, it closes gracefully (see the module's docs).
struct Counted {
    /// `None` once dropped.
    stream: Option<TcpStream>,
    place: Option<Place>,
    linger: Linger,
}

/// A place among the open connections.
struct Place {
    _permit: OwnedSemaphorePermit,
}

impl Drop for Place {
    fn drop(&mut self) {
        metrics::gauge!("viva_connections_open").decrement(1.0);
    }
}

/// How long and how much a closing connection reads.
#[derive(Debug, Clone, Copy)]
struct Linger {
    time: Duration,
    bytes: usize,
}

impl Counted {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, linger: Linger) -> Self {
        metrics::gauge!("viva_connections_open").increment(1.0);
        Self { stream: Some(stream), place: Some(Place { _permit: permit }), linger }
    }

    fn stream(self: Pin<&mut Self>) -> Pin<&mut TcpStream> {
        Pin::new(self.get_mut().stream.as_mut().expect("the stream is there until the socket is dropped"))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let (Some(stream), Some(place)) = (self.stream.take(), self.place.take()) else { return };
        // Without a runtime (the process is ending) the socket is just closed.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream, place, self.linger));
        }
    }
}

/// Closes `stream` gracefully: FIN after what was written, then reads and drops the peer's
/// input until it closes too (or the bounds are reached), then closes.
async fn linger(mut stream: TcpStream, place: Place, limits: Linger) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Fails when the connection is already gone (reset); then the read below ends at once.
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut left = limits.bytes;
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if n >= left => return,
                Ok(n) => left -= n,
            }
        }
    };
    let _ = tokio::time::timeout(limits.time, drain).await;
    drop(stream);
    drop(place);
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }
}
