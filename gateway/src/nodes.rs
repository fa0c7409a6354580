//! This gateway as one node of several on a store: its entry in the registry of nodes (a
//! heartbeat every few seconds), draining (asked by `POST /v1/admin/nodes/{id}/drain` on any
//! node, or by SIGTERM: `/readyz` answers 503, no new session or socket is taken, then the
//! live sessions are persisted and their sockets closed with 4000 so that clients reconnect
//! through the balancer to other nodes, and the process exits 0), and the admin routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use futures::StreamExt;
use tokio::sync::Notify;
use viva_engine::store::{NodeInfo, Notice};
use viva_protocol::rest::{NodeView, Nodes};

use crate::AppState;
use crate::auth::admin::Admin;
use crate::error::{AppError, PathParams};

/// How often a node writes its entry.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long an entry stands without another heartbeat.
pub const ENTRY_TTL: Duration = Duration::from_secs(15);

/// This node.
#[derive(Debug)]
pub struct Node {
    /// Its id in the registry.
    pub id: String,
    /// Where it says it listens.
    pub address: String,
    draining: AtomicBool,
    drain: Notify,
}

impl Node {
    /// A node with this id and address.
    pub fn new(id: String, address: String) -> Self {
        Self { id, address, draining: AtomicBool::new(false), drain: Notify::new() }
    }

    /// An id for a node that was given none: `node-` and 8 random hex digits.
    pub fn random_id() -> String {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        format!("node-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Whether it is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts draining (at once: new sessions and sockets are refused from now on).
    pub fn drain(&self) {
        if !self.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(node = %self.id, "draining");
        }
        self.drain.notify_one();
    }

    /// Completes when a drain is asked for.
    pub async fn drain_requested(&self) {
        while !self.draining() {
            self.drain.notified().await;
        }
    }

    /// Refuses what a draining node does not take any more: 503, try elsewhere.
    pub fn refuse_if_draining(&self) -> Result<(), AppError> {
        if self.draining() { Err(AppError::Unavailable("this node is draining: try again".into())) } else { Ok(()) }
    }
}

/// Keeps this node's entry in the registry and follows drain requests for it, until aborted.
pub async fn keep_registered(state: AppState) {
    let store = Arc::clone(state.engine.store());
    let mut notices = store.notices();
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let now = state.engine.now();
                let entry = NodeInfo {
                    id: state.node.id.clone(),
                    address: state.node.address.clone(),
                    live_sessions: state.engine.live_sessions() as u64,
                    heartbeat_at: now.0,
                    expires_at: now.plus_ms(ENTRY_TTL.as_millis() as u64).0,
                    draining: state.node.draining(),
                };
                if let Err(error) = store.heartbeat(&entry).await {
                    tracing::warn!(%error, "cannot write this node's heartbeat");
                }
            }
            notice = notices.next() => match notice {
                Some(Notice::Drain { node }) if node == state.node.id => state.node.drain(),
                Some(_) => {}
                None => notices = store.notices(),
            },
        }
    }
}

/// The `{id}` of a node's routes.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NodePath {
    /// The node's id (`id` in `GET /v1/admin/nodes`).
    id: String,
}

/// `GET /v1/admin/nodes`.
pub async fn list(State(state): State<AppState>, _: Admin) -> Result<Json<Nodes>, AppError> {
    let nodes = state.engine.store().nodes(state.engine.now()).await.map_err(viva_engine::EngineError::from)?;
    let items = nodes
        .into_iter()
        .map(|node| NodeView {
            this_node: node.id == state.node.id,
            id: node.id,
            address: node.address,
            live_sessions: node.live_sessions,
            heartbeat_at: node.heartbeat_at,
            draining: node.draining,
        })
        .collect();
    Ok(Json(Nodes { items }))
}

/// `POST /v1/admin/nodes/{id}/drain`: 202, the node drains (this one at once, another when the
/// notice reaches it); 404 for a node not in the registry.
pub async fn drain(
    State(state): State<AppState>,
    _: Admin,
    PathParams(NodePath { id }): PathParams<NodePath>,
) -> Result<StatusCode, AppError> {
    if id == state.node.id {
        state.node.drain();
        return Ok(StatusCode::ACCEPTED);
    }
    let store = state.engine.store();
    let nodes = store.nodes(state.engine.now()).await.map_err(viva_engine::EngineError::from)?;
    if !nodes.iter().any(|n| n.id == id) {
        return Err(AppError::NotFound);
    }
    store.announce(&Notice::Drain { node: id }).await.map_err(viva_engine::EngineError::from)?;
    Ok(StatusCode::ACCEPTED)
}
