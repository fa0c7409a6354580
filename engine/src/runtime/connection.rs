//! A client's attachment to a live session: what a driver (the gateway's socket handler, an
//! embedder's loop) holds while one client is connected.

use tokio::sync::{mpsc, oneshot};
use viva_protocol::server::SessionReady;
use viva_protocol::{ClientMessage, CloseCode, ServerMessage};

use super::actor::Command;
use crate::EngineError;

/// What the session sends a connection, in order.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// An event to send.
    Message(ServerMessage),
    /// Close after everything before it (session ended, server going away).
    Close(CloseCode),
}

/// What a connection must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Send this to the client.
    Message(ServerMessage),
    /// Close the client's socket with this code.
    Close(CloseCode),
}

/// One client attached to one session. Only the newest connection of a session is served;
/// an older one is told to close with [`CloseCode::Replaced`].
#[derive(Debug)]
pub struct Connection {
    /// Send first: `session.ready`.
    pub ready: SessionReady,
    /// Send next: the durable events after the client's `last_seq`.
    pub replay: Vec<ServerMessage>,
    pub(crate) id: u64,
    pub(crate) deliveries: mpsc::Receiver<Delivery>,
    /// Fires when the connection must close at once, skipping what is queued; `None` once
    /// the session let go of it without firing (an orderly close follows in `deliveries`).
    pub(crate) abort: Option<oneshot::Receiver<CloseCode>>,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl Connection {
    /// Hands a client message to the session. Waits while the session's queue is full.
    pub async fn send(&self, message: ClientMessage) -> Result<(), EngineError> {
        let command = Command::Client { connection: self.id, message };
        self.commands.send(command).await.map_err(|_| EngineError::Unavailable("the session stopped".into()))
    }

    /// The next thing to do: a message to send, or a close.
    pub async fn next(&mut self) -> Next {
        tokio::select! {
            biased;
            code = aborted(&mut self.abort) => Next::Close(code),
            delivery = self.deliveries.recv() => match delivery {
                Some(Delivery::Message(message)) => Next::Message(message),
                Some(Delivery::Close(code)) => Next::Close(code),
                None => Next::Close(CloseCode::InternalError),
            },
        }
    }

    /// A message already queued, without waiting (to batch writes before a flush).
    pub fn try_next(&mut self) -> Option<Next> {
        if let Some(abort) = &mut self.abort {
            match abort.try_recv() {
                Ok(code) => return Some(Next::Close(code)),
                Err(oneshot::error::TryRecvError::Closed) => self.abort = None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        match self.deliveries.try_recv() {
            Ok(Delivery::Message(message)) => Some(Next::Message(message)),
            Ok(Delivery::Close(code)) => Some(Next::Close(code)),
            Err(_) => None,
        }
    }
}

/// The abort code, once the session sends one; pending forever if it never will.
async fn aborted(abort: &mut Option<oneshot::Receiver<CloseCode>>) -> CloseCode {
    if let Some(receiver) = abort {
        if let Ok(code) = receiver.await {
            return code;
        }
        *abort = None;
    }
    std::future::pending().await
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Best effort: if the queue is full the session notices the closed channel later.
        let _ = self.commands.try_send(Command::Detach { connection: self.id });
    }
}
