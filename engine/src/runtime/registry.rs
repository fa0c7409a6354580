//! The live sessions of an engine: one entry per session whose task runs in this process.
//!
//! A task holds a [`Registration`] for as long as it runs; dropping it removes the task's own
//! entry (never a successor's: entries carry the generation of the task that made them). An
//! entry also says whether its session needs a lease in the store (it is running: its clock
//! must run out even if this process dies), which the engine renews for all of them at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::queue;
use dashmap::DashMap;

use super::command::Command;
use crate::core::SessionId;

/// Session id → the handle of its task.
pub(crate) struct Registry {
    sessions: DashMap<SessionId, Entry>,
    /// Source of task generations.
    generations: AtomicU64,
    /// Bound of each task's command queue.
    command_queue: usize,
    /// Tasks at most (`None`: no limit).
    max: Option<usize>,
    /// Running tasks (kept beside the map: the map cannot be counted while an entry of it is
    /// held).
    running: AtomicUsize,
    /// Set when the engine shuts down: its sweeps start no task after it.
    closed: AtomicBool,
}

/// How to reach a session's task.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) commands: queue::Sender<Command>,
    /// Tells this task's entry from a successor's.
    generation: u64,
}

/// A task's entry.
struct Entry {
    handle: SessionHandle,
    /// Its session runs (live or ending): its lease is renewed ([`Registry::leased`]).
    leased: bool,
}

/// A running task's place in the registry; dropping it deregisters the task.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    session_id: SessionId,
    generation: u64,
}

/// What a new task is given: its registration and both ends of its command queue (the
/// sender, to hand to the connections it attaches).
pub(crate) struct Spawn {
    pub(crate) registration: Registration,
    pub(crate) commands: queue::Receiver<Command>,
    pub(crate) commands_tx: queue::Sender<Command>,
}

impl Registry {
    pub(crate) fn new(command_queue: usize, max: Option<usize>) -> Self {
        Self {
            sessions: DashMap::new(),
            generations: AtomicU64::new(0),
            command_queue,
            max,
            running: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Whether no task may start now.
    pub(crate) fn full(&self) -> bool {
        self.max.is_some_and(|max| self.running.load(Ordering::Acquire) >= max)
    }

    /// The engine shut down: its sweeps start no session after this (the other nodes' sweeps
    /// take the expired leases and holds). A client may still attach: an engine can be served
    /// again after a stop, and a draining gateway refuses sockets before they get here.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether [`Registry::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The handle of a session's task, starting one with `spawn` when there is none; `None`
    /// when there is none and no more may start.
    pub(crate) fn get_or_spawn(
        self: &Arc<Self>,
        session_id: &SessionId,
        spawn: impl FnOnce(Spawn),
    ) -> Option<SessionHandle> {
        if let Some(handle) = self.get(session_id) {
            return Some(handle);
        }
        // A place first, so that concurrent starts never exceed the bound.
        let max = self.max.unwrap_or(usize::MAX);
        self.running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        let mut spawned = false;
        let handle = self
            .sessions
            .entry(session_id.clone())
            .or_insert_with(|| {
                spawned = true;
                let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                let (commands_tx, commands) = queue::channel(self.command_queue);
                let registration =
                    Registration { registry: Arc::clone(self), session_id: session_id.clone(), generation };
                metrics::gauge!("viva_live_sessions").increment(1.0);
                spawn(Spawn { registration, commands, commands_tx: commands_tx.clone() });
                Entry { handle: SessionHandle { commands: commands_tx, generation }, leased: false }
            })
            .handle
            .clone();
        if !spawned {
            // Another caller started it meanwhile: the place goes back.
            self.running.fetch_sub(1, Ordering::AcqRel);
        }
        Some(handle)
    }

    /// The handle of a session's task, if one runs.
    pub(crate) fn get(&self, session_id: &SessionId) -> Option<SessionHandle> {
        self.sessions.get(session_id).map(|e| e.handle.clone())
    }

    /// Forgets `handle`, whose task refused a command (it is stopping), so that the next
    /// call starts a fresh task.
    pub(crate) fn forget(&self, session_id: &SessionId, handle: &SessionHandle) {
        self.remove(session_id, handle.generation);
    }

    /// Every running task's handle.
    pub(crate) fn handles(&self) -> Vec<SessionHandle> {
        self.sessions.iter().map(|e| e.handle.clone()).collect()
    }

    /// The sessions whose leases this engine renews.
    pub(crate) fn leased(&self) -> Vec<SessionId> {
        self.sessions.iter().filter(|e| e.leased).map(|e| e.key().clone()).collect()
    }

    /// Number of running tasks.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    fn remove(&self, session_id: &SessionId, generation: u64) {
        self.sessions.remove_if(session_id, |_, entry| entry.handle.generation == generation);
    }
}

impl Registration {
    /// The session this task drives.
    pub(crate) fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Says whether this task's session needs its lease renewed from now on.
    pub(crate) fn set_leased(&self, leased: bool) {
        if let Some(mut entry) = self.registry.sessions.get_mut(&self.session_id) {
            if entry.handle.generation == self.generation {
                entry.leased = leased;
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(&self.session_id, self.generation);
        self.registry.running.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("viva_live_sessions").decrement(1.0);
    }
}
