//! What nodes sharing a store tell each other about sessions, at once (on Redis: pub/sub on
//! one channel, `viva:notices`; in memory: a broadcast to every engine on the same store).
//!
//! Notices are a fast path, never the guarantee: a node that misses one (Redis unreachable at
//! that moment) still learns of a takeover when its next write is fenced, and of a deletion
//! when its writes find nothing.

use std::str::FromStr;

use super::Epoch;
use crate::core::SessionId;

/// The channel notices are published on.
pub const CHANNEL: &str = "viva:notices";

/// One notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A node loaded the session under `epoch`: any older owner stops at once. `by_client`: a
    /// client's new socket caused it, so the old socket is replaced (4009: do not reconnect);
    /// else (a dead owner's session swept, a drain) it is told to reconnect (4011).
    TakenOver {
        /// The session.
        session_id: SessionId,
        /// The new owner's epoch.
        epoch: Epoch,
        /// Whether a client's socket caused it.
        by_client: bool,
    },
    /// The session was deleted (with its user): its owner closes its socket (4010) and stops.
    Deleted {
        /// The session.
        session_id: SessionId,
    },
    /// An operator asks the node `node` to drain (`POST /v1/admin/nodes/{id}/drain` on any
    /// node).
    Drain {
        /// The node's id.
        node: String,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TakenOver { session_id, epoch, by_client } => {
                write!(f, "taken {session_id} {epoch} {}", if *by_client { "client" } else { "other" })
            }
            Self::Deleted { session_id } => write!(f, "deleted {session_id}"),
            Self::Drain { node } => write!(f, "drain {node}"),
        }
    }
}

impl FromStr for Notice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(' ').collect();
        match parts.as_slice() {
            ["taken", session, epoch, cause @ ("client" | "other")] => Ok(Self::TakenOver {
                session_id: SessionId::from(*session),
                epoch: epoch.parse().map_err(|_| format!("bad epoch in notice `{text}`"))?,
                by_client: *cause == "client",
            }),
            ["deleted", session] => Ok(Self::Deleted { session_id: SessionId::from(*session) }),
            ["drain", node] => Ok(Self::Drain { node: (*node).to_owned() }),
            _ => Err(format!("unknown notice `{text}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_garbage_is_refused() {
        for notice in [
            Notice::TakenOver { session_id: "ses_1".into(), epoch: 7, by_client: true },
            Notice::TakenOver { session_id: "ses_1".into(), epoch: 8, by_client: false },
            Notice::Deleted { session_id: "ses_2".into() },
            Notice::Drain { node: "node-a".into() },
        ] {
            assert_eq!(notice.to_string().parse::<Notice>(), Ok(notice));
        }
        for bad in ["", "taken ses_1 x client", "taken ses_1 1 maybe", "deleted", "hello world"] {
            assert!(bad.parse::<Notice>().is_err(), "{bad:?}");
        }
    }
}
