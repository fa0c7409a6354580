//! A client's attachment to a live session: what a driver (the gateway's socket handler, an
//! embedder's loop) holds while one client is connected.

use super::queue;
use viva_protocol::ClientMessage;

pub use super::outbox::Next;

use super::command::Command;
use super::outbox::Inbox;
use crate::EngineError;

/// One client attached to one session: [`Connection::next`] yields `session.ready` first,
/// then the durable events after the client's `last_seq` (if it gave one the log still has),
/// then live events. Only the newest connection of a session is served; an older one is told
/// to close with [`CloseCode::Replaced`](viva_protocol::CloseCode::Replaced).
#[derive(Debug)]
pub struct Connection {
    pub(crate) id: u64,
    pub(crate) inbox: Inbox,
    pub(crate) commands: queue::Sender<Command>,
}

impl Connection {
    /// Hands a client message to the session. Waits while the session's queue is full.
    pub async fn send(&self, message: ClientMessage) -> Result<(), EngineError> {
        let command = Command::Client { connection: self.id, message: Box::new(message) };
        self.commands.send(command).await.map_err(|_| EngineError::Unavailable("the session stopped".into()))
    }

    /// The next thing to do: a message to send, or a close.
    pub async fn next(&mut self) -> Next {
        self.inbox.next().await
    }

    /// A message already queued, without waiting (to batch writes before a flush).
    pub fn try_next(&mut self) -> Option<Next> {
        self.inbox.try_next()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Best effort: if the queue is full the session notices the closed channel later.
        let _ = self.commands.try_send(Command::Detach { connection: self.id });
    }
}
