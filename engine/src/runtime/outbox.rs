//! The queue from a session's task to its attached connection.
//!
//! A bounded `VecDeque` behind a mutex, rather than a channel, for two reasons that matter
//! at tens of thousands of mostly idle sessions:
//!
//! - **Memory**: an idle connection's queue holds no buffer (it is released once drained
//!   after a burst), where a channel keeps its blocks of slots allocated for its lifetime.
//! - **Coalescing**: while the socket is busy (the writer has not taken the queued delta
//!   yet), a new `turn.delta` of the same turn is appended to the queued one instead of
//!   queued behind it. The connection renumbers later deltas so the client still sees
//!   `index` 0, 1, 2, … without gaps; a connection made later starts from the session's own
//!   count (`state.open_turn.next_index`), so numbering is per connection, as the protocol says.
//!
//! The session side never waits: a full queue means the client cannot keep up, and the
//! session disconnects it (`4008`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use viva_protocol::{CloseCode, ServerMessage};

/// What a connection must do next, as it takes it from its queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Send this to the client.
    Message(ServerMessage),
    /// Close the client's socket with this code (after everything queued before it, unless
    /// it was an abort).
    Close(CloseCode),
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is at its bound: the client is not reading.
    Full,
    /// The connection is gone.
    Gone,
}

/// The session's end.
#[derive(Debug)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the connection; a single waiter, so `notify_one`'s stored permit loses nothing.
    ready: Notify,
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<ServerMessage>,
    bound: usize,
    /// Close once `items` is drained.
    close: Option<CloseCode>,
    /// Close now, dropping what is queued.
    abort: Option<CloseCode>,
    outbox_dropped: bool,
    inbox_dropped: bool,
    /// The deltas of the current turn merged so far, to renumber the ones queued after them.
    merged: Merged,
}

/// How many of one turn's deltas were merged into a delta queued before them: each delta
/// queued later has its `index` lowered by `count`, so the client sees no gaps.
#[derive(Debug, Clone, Copy, Default)]
struct Merged {
    /// The turn whose deltas these are (0, with nothing merged, before the first delta).
    turn_id: u32,
    /// How many of its deltas were appended to a queued one instead of queued.
    count: u32,
}

/// A queue holding at most `bound` messages.
pub(crate) fn outbox(bound: usize) -> (Outbox, Inbox) {
    let queue = Queue {
        items: VecDeque::new(),
        bound,
        close: None,
        abort: None,
        outbox_dropped: false,
        inbox_dropped: false,
        merged: Merged::default(),
    };
    let shared = Arc::new(Shared { queue: Mutex::new(queue), ready: Notify::new() });
    (Outbox { shared: shared.clone() }, Inbox { shared })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// Queues `message`, merging a delta into a queued delta of the same turn.
    pub(crate) fn push(&self, mut message: ServerMessage) -> Result<(), PushError> {
        let mut queue = self.shared.lock();
        if queue.inbox_dropped {
            return Err(PushError::Gone);
        }
        if let ServerMessage::TurnDelta(delta) = &mut message {
            if queue.merged.turn_id != delta.turn_id {
                queue.merged = Merged { turn_id: delta.turn_id, count: 0 };
            }
            if let Some(ServerMessage::TurnDelta(queued)) = queue.items.back_mut()
                && queued.turn_id == delta.turn_id
            {
                queued.text.push_str(&delta.text);
                queue.merged.count += 1;
                return Ok(());
            }
            delta.index -= queue.merged.count;
        }
        if queue.items.len() >= queue.bound {
            return Err(PushError::Full);
        }
        queue.items.push_back(message);
        drop(queue);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Queues a new connection's greeting (`session.ready` and the replay), however long:
    /// the bound is for a client falling behind, not for what it asked to be sent.
    pub(crate) fn greet(&self, messages: impl IntoIterator<Item = ServerMessage>) {
        self.shared.lock().items.extend(messages);
        self.shared.ready.notify_one();
    }

    /// Closes with `code` once what is queued has been taken.
    pub(crate) fn close(self, code: CloseCode) {
        self.shared.lock().close = Some(code);
        self.shared.ready.notify_one();
    }

    /// Closes with `code` now; what is queued is dropped.
    pub(crate) fn abort(self, code: CloseCode) {
        let mut queue = self.shared.lock();
        queue.abort = Some(code);
        queue.items = VecDeque::new();
        drop(queue);
        self.shared.ready.notify_one();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.lock().outbox_dropped = true;
        self.shared.ready.notify_one();
    }
}

impl Inbox {
    /// The next delivery, waiting for one.
    pub(crate) async fn next(&mut self) -> Next {
        loop {
            if let Some(delivery) = self.try_next() {
                return delivery;
            }
            self.shared.ready.notified().await;
        }
    }

    /// The next delivery if there is one now.
    pub(crate) fn try_next(&mut self) -> Option<Next> {
        let mut queue = self.shared.lock();
        if let Some(code) = queue.abort {
            return Some(Next::Close(code));
        }
        if let Some(message) = queue.items.pop_front() {
            // A drained queue keeps its buffer while a turn streams (no allocation per delta)
            // and gives it back after anything else, such as the `turn.done` ending a turn.
            if queue.items.is_empty() && !matches!(message, ServerMessage::TurnDelta(_)) {
                queue.items.shrink_to_fit();
            }
            return Some(Next::Message(message));
        }
        if let Some(code) = queue.close {
            return Some(Next::Close(code));
        }
        // The session let go without a word: it stopped abnormally.
        queue.outbox_dropped.then_some(Next::Close(CloseCode::InternalError))
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.shared.lock().inbox_dropped = true;
    }
}

#[cfg(test)]
mod tests {
    use viva_protocol::server::{Clock, TurnDelta};

    use super::*;

    fn delta(turn_id: u32, index: u32, text: &str) -> ServerMessage {
        ServerMessage::TurnDelta(TurnDelta { turn_id, index, text: text.into() })
    }

    fn clock(remaining_s: u64) -> ServerMessage {
        ServerMessage::Clock(Clock { elapsed_s: 0, remaining_s })
    }

    fn drain(inbox: &mut Inbox) -> Vec<Next> {
        std::iter::from_fn(|| inbox.try_next()).take(100).collect()
    }

    #[test]
    fn deltas_queued_behind_each_other_merge_and_later_ones_are_renumbered() {
        let (outbox, mut inbox) = outbox(16);
        for (index, word) in ["Design ", "a ", "cache."].into_iter().enumerate() {
            outbox.push(delta(2, index as u32, word)).unwrap();
        }
        assert_eq!(drain(&mut inbox), [Next::Message(delta(2, 0, "Design a cache."))]);
        // The writer caught up: the next delta is sent alone, numbered after the merged one.
        outbox.push(delta(2, 3, " Go.")).unwrap();
        outbox.push(clock(10)).unwrap();
        outbox.push(delta(2, 4, " Now.")).unwrap();
        let expected =
            [Next::Message(delta(2, 1, " Go.")), Next::Message(clock(10)), Next::Message(delta(2, 2, " Now."))];
        assert_eq!(drain(&mut inbox), expected);
        // A new turn starts its own numbering.
        outbox.push(delta(3, 0, "Next")).unwrap();
        assert_eq!(drain(&mut inbox), [Next::Message(delta(3, 0, "Next"))]);
    }

    #[test]
    fn deltas_of_different_turns_do_not_merge() {
        let (outbox, mut inbox) = outbox(16);
        outbox.push(delta(1, 5, "end.")).unwrap();
        outbox.push(delta(2, 0, "Start")).unwrap();
        assert_eq!(drain(&mut inbox), [Next::Message(delta(1, 5, "end.")), Next::Message(delta(2, 0, "Start"))]);
    }

    #[test]
    fn bounded_and_gone() {
        let (outbox, mut inbox) = outbox(2);
        outbox.push(clock(1)).unwrap();
        outbox.push(clock(2)).unwrap();
        assert_eq!(outbox.push(clock(3)), Err(PushError::Full));
        // A delta merging into a queued one needs no slot.
        let (deltas, _keep) = super::outbox(1);
        deltas.push(delta(1, 0, "a")).unwrap();
        assert_eq!(deltas.push(delta(1, 1, "b")), Ok(()));
        assert_eq!(drain(&mut inbox).len(), 2);
        drop(inbox);
        assert_eq!(outbox.push(clock(4)), Err(PushError::Gone));
    }

    #[test]
    fn close_after_the_queue_abort_before_it() {
        let (outbox, mut inbox) = outbox(8);
        outbox.push(clock(1)).unwrap();
        outbox.close(CloseCode::Normal);
        assert_eq!(drain(&mut inbox)[..2], [Next::Message(clock(1)), Next::Close(CloseCode::Normal)]);

        let (outbox, mut inbox) = super::outbox(8);
        outbox.push(clock(1)).unwrap();
        outbox.abort(CloseCode::Replaced);
        assert_eq!(inbox.try_next(), Some(Next::Close(CloseCode::Replaced)));

        let (outbox, mut inbox) = super::outbox(8);
        drop(outbox);
        assert_eq!(inbox.try_next(), Some(Next::Close(CloseCode::InternalError)));
    }

    #[test]
    fn an_emptied_queue_gives_its_buffer_back() {
        let (outbox, mut inbox) = outbox(1024);
        for i in 0..500 {
            outbox.push(clock(i)).unwrap();
        }
        assert_eq!(drain(&mut inbox).len(), 100);
        assert!(inbox.shared.lock().items.capacity() >= 400);
        while inbox.try_next().is_some() {}
        assert_eq!(inbox.shared.lock().items.capacity(), 0);
        // While a turn streams the buffer is kept.
        outbox.push(delta(1, 0, "a")).unwrap();
        inbox.try_next().unwrap();
        assert!(inbox.shared.lock().items.capacity() > 0);
    }

    #[tokio::test]
    async fn next_waits_for_a_push() {
        let (outbox, mut inbox) = outbox(8);
        let waiter = tokio::spawn(async move { inbox.next().await });
        tokio::task::yield_now().await;
        outbox.push(clock(7)).unwrap();
        assert_eq!(waiter.await.unwrap(), Next::Message(clock(7)));
    }
}
