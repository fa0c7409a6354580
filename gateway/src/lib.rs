//! Viva's gateway: the session engine served over WebSockets (JSON or MessagePack) and REST.
//!
//! The gateway is a driver: it authenticates, decodes frames into protocol messages, hands
//! them to the [`viva_engine::Engine`] and writes the events back. No interview logic lives
//! here.
//!
//! - [`config`]: flags and `VIVA_*` variables, checked all at once.
//! - [`auth`]: bearer tokens (dev or JWT) and single-use socket tickets.
//! - [`server`]: the accept loop, with the limits on connections before any login.
//! - [`rest`] and [`ws`]: the endpoints.
//! - [`resume`]: résumé files (`/v1/me/resume`), read in a child process with resource limits.
//! - [`minutes`]: balances, ledgers and the admin's credits (`--metering minutes`).
//! - [`console`]: the web interview console at `/`.
//! - [`error`]: the one place failures become responses.

pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod minutes;
pub mod nodes;
pub mod rest;
pub mod resume;
pub mod server;
pub mod speech;
pub mod webhooks;
pub mod ws;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use viva_engine::Engine;

use crate::auth::AuthMode;
use crate::auth::ticket::Tickets;
use crate::error::AppError;
use crate::server::ConnectionLimits;
use crate::ws::{SocketLimits, normalize_origin};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The session engine.
    pub engine: Engine,
    /// How callers authenticate.
    pub auth: AuthMode,
    /// Issues and redeems WebSocket tickets.
    pub tickets: Arc<Tickets>,
    /// Web origins (normalized) whose pages may open WebSockets, besides the gateway's own.
    pub allowed_origins: Arc<[String]>,
    /// Per-socket limits.
    pub socket: SocketLimits,
    /// Limits on HTTP connections (open at most, header timeout).
    pub connections: ConnectionLimits,
    /// Every upgraded socket's task, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// Renders `/metrics`; `None` when no recorder is installed (an embedding or a test).
    pub metrics: Option<PrometheusHandle>,
    /// The token of the `/v1/admin/*` routes (`None`: they do not exist).
    pub admin_token: Option<Arc<str>>,
    /// Reads résumé files in child processes (off by default: the binary points it at itself).
    pub resume: resume::child::Extractor,
    /// This node: its entry in the registry of nodes, and whether it drains.
    pub node: Arc<nodes::Node>,
    /// How long a draining node answers 503 on `/readyz` before it stops taking connections
    /// (for a balancer's health checks to notice).
    pub drain_delay: Duration,
}

impl AppState {
    /// State for `engine` with the given auth and default socket limits.
    pub fn new(engine: Engine, auth: AuthMode) -> Self {
        let tickets = Arc::new(Tickets::new(Arc::clone(engine.store()), auth::ticket::TICKET_TTL));
        Self {
            engine,
            auth,
            tickets,
            allowed_origins: Arc::new([]),
            socket: SocketLimits::default(),
            connections: ConnectionLimits::default(),
            sockets: TaskTracker::new(),
            metrics: None,
            admin_token: None,
            resume: resume::child::Extractor::default(),
            node: Arc::new(nodes::Node::new(nodes::Node::random_id(), String::new())),
            drain_delay: Duration::ZERO,
        }
    }
}

/// Largest REST request body (a résumé's text fits easily); résumé files have their own
/// limit ([`resume::MAX_FILE_BYTES`]).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The gateway's routes.
pub fn router(state: AppState) -> Router {
    let request_timeout = state.connections.request_timeout;
    let dev_auth = matches!(state.auth, AuthMode::Dev);
    let csp = content_security_policy(&state.allowed_origins);
    // Which node answered, for operators and load tests behind a balancer (node ids are
    // letters, digits, `-`, `_` and `.`: always a valid header value).
    let node = HeaderValue::from_str(&state.node.id).unwrap_or(HeaderValue::from_static("unknown"));
    let router = Router::new()
        .route("/v1/sessions", post(rest::create_session))
        .route("/v1/sessions/{id}", get(rest::session))
        .route("/v1/sessions/{id}/report", get(rest::report))
        .route("/v1/sessions/{id}/ws", get(ws::upgrade))
        .route("/v1/sessions/{id}/ticket", post(rest::ticket))
        .route("/v1/plans", get(rest::plans))
        .route("/v1/sessions/{id}/events", get(rest::events))
        .route("/v1/sessions/{id}/recording", get(rest::recording))
        .route("/v1/sessions/{id}/answers/{answer_id}/audio", get(rest::answer_audio))
        .route("/v1/me/sessions", get(rest::my_sessions))
        .route("/v1/me/export", get(rest::export))
        .route("/v1/me/progress", get(rest::my_progress))
        .route("/v1/me", delete(rest::delete_me))
        .route("/v1/me/usage", get(minutes::my_usage))
        .route(
            "/v1/me/resume",
            put(resume::put)
                .get(resume::get)
                .delete(resume::delete)
                .layer(DefaultBodyLimit::max(resume::MAX_FILE_BYTES)),
        )
        .route("/v1/admin/users/{user}/usage", get(minutes::user_usage))
        .route("/v1/admin/users/{user}/credits", post(minutes::credit))
        .route("/v1/admin/nodes", get(nodes::list))
        .route("/v1/admin/nodes/{id}/drain", post(nodes::drain))
        .route("/v1/admin/webhooks", get(webhooks::endpoints))
        .route("/v1/admin/webhooks/dead", get(webhooks::dead))
        .route("/v1/admin/webhooks/dead/{id}/redrive", post(webhooks::redrive))
        .route("/v1/admin/webhooks/endpoints/{id}/enable", post(webhooks::enable))
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .route("/metrics", get(rest::metrics))
        .route("/", get(console::index))
        .route("/console/{*file}", get(console::asset))
        .fallback(rest::not_found)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .with_state(state);
    let router = if dev_auth { router.layer(middleware::from_fn(loopback_host_only)) } else { router };
    let router = router.layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, csp));
    let router = router.layer(SetResponseHeaderLayer::overriding(NODE_HEADER, node));
    SECURITY_HEADERS.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value)))
    })
}

/// With dev auth anyone is anyone, so only requests to a loopback host name are served: a web
/// page whose name an attacker rebinds to 127.0.0.1 sends its own name as `Host` and is
/// refused (DNS rebinding), whatever the embedder's listener.
async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
    if host.is_some_and(is_loopback_host) {
        next.run(request).await
    } else {
        AppError::Forbidden("--auth dev serves loopback host names only (localhost, 127.0.0.1, [::1])").into_response()
    }
}

/// Whether a `Host` header names this machine: `localhost`, or a loopback address, with or
/// without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        },
        None => host.split_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The response header naming the node that answered (its `--node-id`).
pub const NODE_HEADER: HeaderName = HeaderName::from_static("x-viva-node");

/// The browser's security policy, on every response: no MIME sniffing, no referrer, no
/// framing (clickjacking); the Content-Security-Policy ([`content_security_policy`]) is built
/// from the configuration when the router is.
pub const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// The Content-Security-Policy on every response: only the gateway's own scripts, styles and
/// images (no inline code, no `eval`), no framing, and connections (`fetch` and WebSockets)
/// only to the page's own origin and to the allowed origins (`--allowed-origins`).
///
/// The own origin is `'self'`: the `Host` a page was served under is not known here, and CSP
/// level 3 has `'self'` match `ws:` and `wss:` on the page's host and port (an `http:` page
/// `ws:`, an `https:` page `wss:`; Chromium does, and the browser tests check that the console
/// connects under this policy and that a socket to another host is refused). Each allowed
/// origin is listed as itself and as its socket (`https://a.example` and `wss://a.example`),
/// so a gateway behind a TLS proxy whose public origin is allowed names its `wss:` explicitly.
/// An origin a CSP source cannot express (an IPv6 literal, a `_` in the host) is left out: it
/// can still open sockets to the gateway, but the console's page cannot connect to it. Never a
/// bare scheme (`ws:`, `wss:`), which would let the page open sockets to any host.
pub fn content_security_policy(allowed_origins: &[String]) -> HeaderValue {
    let mut connect = String::from("'self'");
    for origin in allowed_origins.iter().filter_map(|origin| normalize_origin(origin)) {
        let Some((scheme, authority)) = origin.split_once("://") else { continue };
        let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
        // CSP's host-char is ALPHA / DIGIT / "-"; dots separate labels.
        if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            continue;
        }
        let socket = if scheme == "https" { "wss" } else { "ws" };
        connect.push_str(&format!(" {origin} {socket}://{authority}"));
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy).expect("normalized origins are visible ASCII")
}

/// Binds `addr` with a large accept backlog, so a burst of connects does not overflow it
/// (tokio's `TcpListener::bind` uses 128; overflows show up as 1 s SYN-retransmit tails).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves until `shutdown` completes, then shuts down gracefully: stops accepting, asks every
/// live session to persist and tell its client to reconnect (close 4000), and waits at most
/// `grace` for the sockets to close.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let engine = state.engine.clone();
    let sockets = state.sockets.clone();
    let limits = state.connections.clone();
    let (node, drain_delay) = (Arc::clone(&state.node), state.drain_delay);
    let registered = tokio::spawn(nodes::keep_registered(state.clone()));
    // A drain asked for by an operator ends serving as a shutdown signal does; either way the
    // node first says it drains (`/readyz` 503) for `drain_delay`.
    let draining = Arc::clone(&node);
    let stop = async move {
        tokio::select! {
            () = shutdown => draining.drain(),
            () = draining.drain_requested() => {}
        }
        tokio::time::sleep(drain_delay).await;
    };
    server::serve(listener, router(state), limits, stop, grace).await;
    registered.abort();
    tracing::info!(sessions = engine.live_sessions(), "shutting down");
    engine.shutdown(grace).await;
    sockets.close();
    if tokio::time::timeout(grace, sockets.wait()).await.is_err() {
        tracing::warn!(open = sockets.len(), "sockets still open after the grace period");
    }
    if let Err(error) = engine.store().forget_node(&node.id).await {
        tracing::warn!(%error, "cannot remove this node from the registry; its entry expires");
    }
    Ok(())
}
