//! Viva's gateway: the session engine served over WebSockets (JSON or MessagePack) and REST.
//!
//! The gateway is a driver: it authenticates, decodes frames into protocol messages, hands
//! them to the [`viva_engine::Engine`] and writes the events back. No interview logic lives
//! here.
//!
//! - [`config`]: flags and `VIVA_*` variables, checked all at once.
//! - [`auth`]: bearer tokens (dev or JWT) and single-use socket tickets.
//! - [`server`]: the accept loop, with the limits on connections before any login.
//! - [`rest`] and [`ws`]: the endpoints; [`openapi`]: the REST routes' OpenAPI document.
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
pub mod openapi;
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

use aide::axum::ApiRouter;
use aide::axum::routing::{delete_with, get_with, post_with, put_with};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use viva_engine::Engine;
use viva_protocol::rest::{
    Credited, DeadWebhooks, Events, Export, MySessions, Nodes, Plans, Progress, Report, ResumeUploaded, ResumeView,
    SessionCreated, SessionView, SocketTicket, Usage, WebhookEndpoints,
};

use crate::auth::AuthMode;
use crate::auth::ticket::Tickets;
use crate::error::AppError;
use crate::openapi::Doc;
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
    pub socket: Arc<SocketLimits>,
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
            socket: Arc::default(),
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

/// The gateway's routes: the REST routes ([`routes`]), the WebSocket, the console, and the
/// layers every request goes through.
pub fn router(state: AppState) -> Router {
    let request_timeout = state.connections.request_timeout;
    let dev_auth = matches!(state.auth, AuthMode::Dev);
    let csp = content_security_policy(&state.allowed_origins);
    // Which node answered, for operators and load tests behind a balancer (node ids are
    // letters, digits, `-`, `_` and `.`: always a valid header value).
    let node = HeaderValue::from_str(&state.node.id).unwrap_or(HeaderValue::from_static("unknown"));
    let (rest, _) = openapi::generate(routes);
    let router = rest
        .route("/v1/sessions/{id}/ws", get(ws::upgrade))
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

/// Every REST route, each with its documentation: what the OpenAPI document
/// (`GET /v1/openapi.json`, [`openapi`]) says of it besides what its extractors say (its body,
/// parameters and who may call). docs/protocol.md section 8 tells the same in words.
fn routes() -> ApiRouter<AppState> {
    const NO_SESSION: &str = "`not_found`: no such session, or another user's";
    const STORE: &str = "`unavailable`: the store does not answer (or the session is moving to another node); retry";
    const NO_WEBHOOKS: &str = "`not_found`: no `--webhook-url` configured";
    const NO_METERING: &str = "`not_found`: minutes are not metered (no `--metering minutes`)";
    const CREATED_ID: &str = "$response.body#/session_id";
    const BAD_PAGE: &str = "`bad_request`: a `limit` out of range, or a `cursor` this server did not give";
    ApiRouter::new()
        .api_route(
            "/v1/sessions",
            post_with(rest::create_session, |op| {
                op.named("createSession", "sessions", "Create an interview session")
                    .ok::<SessionCreated>(201, "The session, `created`: open its socket at `ws_path`")
                    .link(201, "getSession", "id", CREATED_ID)
                    .link(201, "getReport", "id", CREATED_ID)
                    .link(201, "createTicket", "id", CREATED_ID)
                    .link(201, "getEvents", "id", CREATED_ID)
                    .link(201, "getRecording", "id", CREATED_ID)
                    .error(400, "`bad_request`: not JSON, no JSON `Content-Type`, an unknown plan, a field too long")
                    .error(413, "`bad_request`: a body over 64 KiB")
                    .error(429, "`rate_limited`: the user's sessions per hour are used up")
                    .error(503, "`at_capacity`: the node runs `--max-live-sessions`; or `unavailable`: it drains")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}",
            get_with(rest::session, |op| {
                op.named("getSession", "sessions", "A session as stored: status, transcript, scores")
                    .ok::<SessionView>(200, "The session")
                    .error(404, NO_SESSION)
                    .error(500, "`internal`: the session's stored data is damaged (`unreadable` in the lists)")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}/report",
            get_with(rest::report, |op| {
                op.named("getReport", "sessions", "A finished session's report")
                    .ok::<Report>(200, "The report (from `report.ready` on)")
                    .error(404, NO_SESSION)
                    .error(409, "`not_ready`: before `report.ready`")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}/ticket",
            post_with(rest::ticket, |op| {
                op.named("createTicket", "sessions", "A single-use ticket for the session's socket (browsers)")
                    .ok::<SocketTicket>(200, "The ticket: `GET /v1/sessions/{id}/ws?ticket=...` within `expires_in_s`")
                    .error(404, NO_SESSION)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}/events",
            get_with(rest::events, |op| {
                op.named("getEvents", "sessions", "The session's durable events, as its clients received them")
                    .ok::<Events>(200, "The events, in `seq` order")
                    .error(404, NO_SESSION)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}/recording",
            get_with(rest::recording, |op| {
                op.named("getRecording", "sessions", "The client's messages, with times, for `viva-load replay`")
                    .ok_as(200, "application/x-ndjson", None, "JSON lines: one `Recording` (`{t_ms, message}`) a line")
                    .error(404, NO_SESSION)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/sessions/{id}/answers/{answer_id}/audio",
            get_with(rest::answer_audio, |op| {
                op.named("getAnswerAudio", "sessions", "A spoken answer's audio (`--audio-recordings on`)")
                    .ok_as(200, "audio/wav", None, "WAV, PCM16 mono 16 kHz")
                    .error(404, "`not_found`: no such session (or another user's) or answer, or its audio not kept")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/plans",
            get_with(rest::plans, |op| {
                op.named("listPlans", "plans", "The interview plans").ok::<Plans>(200, "Every plan, by id")
            }),
        )
        .api_route(
            "/v1/me/sessions",
            get_with(rest::my_sessions, |op| {
                op.named("listMySessions", "me", "The caller's sessions, newest first, a page at a time")
                    .ok::<MySessions>(200, "A page")
                    .error(400, BAD_PAGE)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/me/export",
            get_with(rest::export, |op| {
                op.named("exportMe", "me", "Everything stored about the caller")
                    .ok::<Export>(200, "Streamed: a store failure midway ends the body early (not valid JSON)")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/me/progress",
            get_with(rest::my_progress, |op| {
                op.named("getProgress", "me", "The caller's progress across finished sessions")
                    .ok::<Progress>(200, "Progress per dimension, weaknesses, what to practise")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/me",
            delete_with(rest::delete_me, |op| {
                op.named("deleteMe", "me", "Delete everything stored about the caller")
                    .empty(204, "Deleted; live sessions' sockets closed with 4010")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/me/usage",
            get_with(minutes::my_usage, |op| {
                op.named("getMyUsage", "me", "The caller's minutes: balance, holds, ledger (newest first)")
                    .ok::<Usage>(200, "A page of the ledger")
                    .error(400, BAD_PAGE)
                    .error(404, NO_METERING)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/me/resume",
            put_with(resume::put, |op| {
                op.named("putResume", "me", "Keep the caller's résumé (the file as the body)")
                    .file_body(
                        &resume::extract::Kind::ALL.map(resume::extract::Kind::media_type),
                        "The file, at most 2 MiB; `Content-Disposition: attachment; filename=...` names it",
                    )
                    .ok::<ResumeUploaded>(200, "Kept: its text's length, skills, file")
                    .error(413, "`bad_request`: a file over 2 MiB")
                    .error(415, "`unsupported_media_type`: another `Content-Type`, or none")
                    .error(422, "`unreadable_resume`: its text cannot be read; the message says why")
                    .error(503, "`unavailable`: résumé files are off, or too many are being read (retry)")
                    .error(503, STORE)
            })
            .get_with(resume::get, |op| {
                op.named("getResume", "me", "The caller's résumé")
                    .ok::<ResumeView>(200, "Its text, skills and file")
                    .error(404, "`not_found`: none is kept")
                    .error(503, STORE)
            })
            .delete_with(resume::delete, |op| {
                op.named("deleteResume", "me", "Delete the caller's résumé")
                    .empty(204, "Deleted, or none was kept")
                    .error(503, STORE)
            })
            .layer(DefaultBodyLimit::max(resume::MAX_FILE_BYTES)),
        )
        .api_route(
            "/v1/admin/users/{user}/usage",
            get_with(minutes::user_usage, |op| {
                op.named("getUserUsage", "admin", "A user's minutes, as `GET /v1/me/usage`")
                    .ok::<Usage>(200, "A page of the ledger")
                    .error(400, "`bad_request`: not a user id, or a bad `limit` or `cursor`")
                    .error(404, NO_METERING)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/users/{user}/credits",
            post_with(minutes::credit, |op| {
                op.named("creditUser", "admin", "Add seconds to a user's balance, once per `idempotency_key`")
                    .ok::<Credited>(201, "Credited")
                    .ok::<Credited>(200, "The same `idempotency_key` again: nothing added (`duplicate: true`)")
                    .error(400, "`bad_request`: a bad body, seconds, key, reason or user id")
                    .error(413, "`bad_request`: a body over 64 KiB")
                    .error(404, NO_METERING)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/nodes",
            get_with(nodes::list, |op| {
                op.named("listNodes", "admin", "The gateway nodes on the store")
                    .ok::<Nodes>(200, "Every node whose heartbeat has not expired")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/nodes/{id}/drain",
            post_with(nodes::drain, |op| {
                op.named("drainNode", "admin", "Drain a node: it hands its sessions over and exits")
                    .empty(202, "The node drains")
                    .error(404, "`not_found`: no such node")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/webhooks",
            get_with(webhooks::endpoints, |op| {
                op.named("listWebhookEndpoints", "admin", "The webhook endpoints and the outbox")
                    .ok::<WebhookEndpoints>(200, "The endpoints, deliveries pending, dead letters")
                    .link(200, "enableWebhookEndpoint", "id", "$response.body#/endpoints/0/id")
                    .error(404, NO_WEBHOOKS)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/webhooks/dead",
            get_with(webhooks::dead, |op| {
                op.named("listDeadWebhooks", "admin", "The newest dead letters")
                    .ok::<DeadWebhooks>(200, "Dead letters, newest first, and their total")
                    .link(200, "redriveWebhook", "id", "$response.body#/items/0/id")
                    .error(400, "`bad_request`: a `limit` out of range")
                    .error(404, NO_WEBHOOKS)
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/webhooks/dead/{id}/redrive",
            post_with(webhooks::redrive, |op| {
                op.named("redriveWebhook", "admin", "Deliver a dead letter again")
                    .empty(204, "Due again at once, same `webhook-id`")
                    .error(404, "`not_found`: no such dead letter, or no `--webhook-url`")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/v1/admin/webhooks/endpoints/{id}/enable",
            post_with(webhooks::enable, |op| {
                op.named("enableWebhookEndpoint", "admin", "Switch an endpoint (off after a 410) on again")
                    .empty(204, "On again")
                    .error(404, "`not_found`: no such endpoint configured")
                    .error(503, STORE)
            }),
        )
        .api_route(
            "/healthz",
            get_with(rest::healthz, |op| {
                op.named("healthz", "operations", "The process is up").ok::<rest::Health>(200, "Up")
            }),
        )
        .api_route(
            "/readyz",
            get_with(rest::readyz, |op| {
                op.named("readyz", "operations", "The node can serve: its store answers, it does not drain")
                    .ok::<rest::Readiness>(200, "Ready")
                    .error(503, "`unavailable`: the store does not answer, or the node drains")
            }),
        )
        .api_route(
            "/metrics",
            get_with(rest::metrics, |op| {
                op.named("metrics", "operations", "Prometheus metrics (`viva_*`)")
                    .ok_as(200, "text/plain", None, "Prometheus text format")
                    .error(404, "`not_found`: no metrics recorder (an embedding that installs none)")
            }),
        )
        .api_route(
            "/v1/openapi.json",
            get_with(openapi::serve, |op| {
                op.named("openapi", "operations", "This document").ok_as(200, "application/json", None, "OpenAPI 3.1")
            }),
        )
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
