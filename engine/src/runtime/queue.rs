//! A session's command queue: bounded, many senders, one receiver, and nothing allocated while
//! it is empty.
//!
//! Every session has one for its whole life, and a session is idle (waiting for its candidate)
//! most of it. tokio's `mpsc` channel keeps 1.3 KiB per queue whatever it holds (its shared
//! state padded to 128-byte cache lines, and a first block of 32 slots allocated up front);
//! this one keeps its items in a `VecDeque` that is freed whenever it empties, and bounds them
//! with a semaphore (fair: senders waiting for room are served in order). The item count is
//! small (a few commands per answer), so a short lock per item costs nothing measurable.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::sync::{Semaphore, TryAcquireError};

/// A queue holding at most `bound` items.
pub(crate) fn channel<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        room: Semaphore::new(bound),
        receiver: AtomicWaker::new(),
        senders: AtomicUsize::new(1),
    });
    (Sender { shared: Arc::clone(&shared) }, Receiver { shared })
}

struct Shared<T> {
    items: Mutex<VecDeque<T>>,
    /// One permit per free place; closed when the receiver is.
    room: Semaphore,
    receiver: AtomicWaker,
    senders: AtomicUsize,
}

impl<T> Shared<T> {
    fn items(&self) -> MutexGuard<'_, VecDeque<T>> {
        // A panic while the lock was held left the queue consistent (each operation is one
        // push or pop).
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The receiver is gone (or closed): the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed<T>(pub(crate) T);

/// Why [`Sender::try_send`] did not queue its item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    Full(T),
    Closed(T),
}

/// A sending end; clones send to the same queue.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item`, waiting for room.
    pub(crate) async fn send(&self, item: T) -> Result<(), Closed<T>> {
        match self.shared.room.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(Closed(item)),
        }
        self.push(item);
        Ok(())
    }

    /// Queues `item` if there is room now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        match self.shared.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(item)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(item)),
        }
        self.push(item);
        Ok(())
    }

    fn push(&self, item: T) {
        self.shared.items().push_back(item);
        self.shared.receiver.wake();
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the receiver learns that nothing more will come.
            self.shared.receiver.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving end.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and the queue is empty. Cancel-safe.
    pub(crate) fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.pop() {
            return Poll::Ready(Some(item));
        }
        self.shared.receiver.register(cx.waker());
        // Again: an item (or the last sender's drop) may have come before the registration.
        if let Some(item) = self.pop() {
            return Poll::Ready(Some(item));
        }
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(self.pop());
        }
        Poll::Pending
    }

    /// An item already queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        self.pop()
    }

    /// Refuses every send from now on; what is queued can still be received.
    pub(crate) fn close(&mut self) {
        self.shared.room.close();
    }

    fn pop(&self) -> Option<T> {
        let mut items = self.shared.items();
        let item = items.pop_front()?;
        if items.is_empty() {
            // An idle session keeps no buffer.
            *items = VecDeque::new();
        }
        drop(items);
        self.shared.room.add_permits(1);
        Some(item)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // What nobody will receive goes now, not when the last sender does: a reply channel in
        // it tells its waiting caller at once.
        let items = std::mem::take(&mut *self.shared.items());
        drop(items);
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn items_come_out_in_order_and_the_bound_holds() {
        let (tx, mut rx) = channel(2);
        tx.send(1).await.unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        // A send waits for room, and gets it when an item is taken.
        let mut waiting = Box::pin(tx.send(3));
        assert!(waiting.as_mut().now_or_never().is_none());
        assert_eq!(rx.recv().await, Some(1));
        waiting.await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn an_empty_queue_holds_no_buffer() {
        let (tx, mut rx) = channel(8);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        assert!(tx.shared.items().capacity() >= 5);
        while rx.try_recv().is_some() {}
        assert_eq!(tx.shared.items().capacity(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_receiver_wakes_for_an_item_and_for_the_last_sender() {
        let (tx, mut rx) = channel(1);
        let tx2 = tx.clone();
        let receiving = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        // On the paused clock: only lets the receiver register first.
        tokio::time::sleep(Duration::from_millis(1)).await;
        tx.send("a").await.unwrap();
        drop(tx);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!receiving.is_finished(), "a sender is left");
        drop(tx2);
        assert_eq!(receiving.await.unwrap(), (Some("a"), None));
    }

    #[tokio::test]
    async fn closing_refuses_sends_but_keeps_what_was_queued() {
        let (tx, mut rx) = channel(1);
        tx.send(1).await.unwrap();
        let blocked = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        tokio::task::yield_now().await;
        rx.close();
        assert_eq!(blocked.await.unwrap(), Err(Closed(2)), "a send waiting for room fails");
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
        assert_eq!(tx.send(4).await, Err(Closed(4)));
        assert_eq!(rx.try_recv(), Some(1));
    }

    #[tokio::test]
    async fn a_dropped_receiver_drops_what_it_did_not_take() {
        let (tx, rx) = channel(2);
        let (reply, answer) = tokio::sync::oneshot::channel::<()>();
        tx.send(reply).await.unwrap();
        drop(rx);
        // The sender is still here, the reply's caller hears at once.
        assert!(answer.await.is_err());
        assert!(matches!(tx.send(tokio::sync::oneshot::channel().0).await, Err(Closed(_))));
    }
}
