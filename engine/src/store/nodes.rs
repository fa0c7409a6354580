//! The registry of gateway nodes sharing a store: each node writes its entry every few
//! seconds (a heartbeat with an expiry); a node that stops writing drops out of the list once
//! its entry expires. For operators (`GET /v1/admin/nodes`), never for correctness: ownership
//! of sessions is the fencing epoch's.

use serde::{Deserialize, Serialize};

/// One node as it last said it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its id (`--node-id`).
    pub id: String,
    /// Where it listens, as it says.
    pub address: String,
    /// Sessions it runs.
    pub live_sessions: u64,
    /// When it last wrote this, ms since the epoch.
    pub heartbeat_at: u64,
    /// Until when the entry stands without another heartbeat, ms since the epoch.
    pub expires_at: u64,
    /// Whether it is draining (taking no new sessions, handing its own over, then exiting).
    pub draining: bool,
}
