//! What the engine and connections ask of a session's task. Kept small (the payloads are
//! boxed): every session's command queue allocates its first block of slots up front.

use tokio::sync::oneshot;
use viva_protocol::ClientMessage;

use super::connection::Connection;
use crate::EngineError;

/// A request to a session's task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Attach a client (replacing any other).
    Attach(Box<Attach>),
    /// A client message from connection `connection`.
    Client { connection: u64, message: Box<ClientMessage> },
    /// Connection `connection` went away.
    Detach { connection: u64 },
    /// Persist, tell the client to reconnect, and stop.
    Shutdown { done: oneshot::Sender<()> },
    /// The session is being deleted: close the client with 4010 and stop without writing.
    Delete { done: oneshot::Sender<()> },
    /// Another node loaded the session under `epoch`: if that is newer than this task's, close
    /// the client (4009 when a client's socket caused it, else 4011) and stop without writing.
    TakenOver { epoch: u64, by_client: bool },
}

/// Attach a client (its owner's: the engine checked), replaying after `last_seq`.
#[derive(Debug)]
pub(crate) struct Attach {
    pub(crate) last_seq: Option<u64>,
    pub(crate) reply: oneshot::Sender<Result<Connection, EngineError>>,
}
