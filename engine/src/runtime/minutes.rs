//! A live session's minutes (`--metering minutes`), beside its core: the session's task
//! reserves a slice of the user's balance when the session starts, settles what was used and
//! reserves the next slice every slice (or sooner, when the hold would run out), and settles
//! the end and gives the rest back when it ends. What is left — the hold plus the user's free
//! balance — is the core's budget input (`Session::handle_budget`), so the core closes the
//! interview when it runs out.
//!
//! What is billed is the session's live time (from `session.start` on, the interview's own
//! clock) less the time it was frozen waiting for the store, to the second, capped by what was
//! reserved: after an `out_of_minutes` cut the hold is spent, so the closing turn and the
//! report cost nothing. Settlement keys are positions
//! (`<session>:<seconds settled before>`), so two owners settling the same stretch (a node
//! that died mid-settlement and the one that took over) charge it once.

use std::sync::Arc;
use std::time::Duration;

use viva_protocol::rest::{CreditRequest, Credited, ExportedMinutes, LedgerItem, Usage};

use super::Engine;
use super::actor::Actor;
use crate::EngineError;
use crate::core::{Session, SessionId, Status, UserId};
use crate::meter::{AudioMs, LedgerEntry, MAX_PAGE, Meter, MeterError};
use crate::time::Timestamp;

/// How sessions are metered.
#[derive(Clone)]
pub struct Metering {
    /// Where the minutes are.
    pub meter: Arc<dyn Meter>,
    /// Seconds reserved at a time (and how often a session settles).
    pub slice_s: u64,
}

impl std::fmt::Debug for Metering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metering").field("slice_s", &self.slice_s).finish_non_exhaustive()
    }
}

impl Metering {
    /// Metering through `meter`, 30 s slices.
    pub fn new(meter: Arc<dyn Meter>) -> Self {
        Self { meter, slice_s: 30 }
    }

    /// A hold lives two slices unless renewed: its owner renews it every slice.
    fn hold_ttl(&self) -> Duration {
        Duration::from_secs(self.slice_s * 2)
    }
}

/// What a loaded session's minutes say of it.
pub(super) enum Resumed {
    /// It goes on (its next slice reserved, if it is live).
    Running,
    /// Woken by the sweep: nobody has run it since then; it goes on alone until abandoned.
    AloneSince(Timestamp),
    /// Woken by the sweep, alone for longer than it may be: its hold is settled and nothing
    /// more reserved; the task ends it as abandoned.
    AbandonNow,
}

/// One session's minutes, as its task knows them.
pub(super) struct SessionMinutes {
    metering: Metering,
    user_id: UserId,
    session_id: SessionId,
    /// Seconds settled for the session so far: where the next settlement starts.
    settled_s: u64,
    /// Seconds its hold has beyond `settled_s`.
    held_s: u64,
    /// The user's free balance when last seen.
    balance_s: u64,
    /// When to settle and reserve next (while live).
    next_at: Option<Timestamp>,
    /// The end was settled and the hold given back.
    closed: bool,
    /// A voice session's audio not yet recorded in a debit.
    audio: AudioMs,
    /// Live time not billed: the session was frozen, waiting for the store (known to this
    /// task only: a task that takes the session over bills from where settlements ended).
    excluded_ms: u64,
}

impl SessionMinutes {
    pub(super) fn new(metering: Metering, user_id: UserId, session_id: SessionId) -> Self {
        Self {
            metering,
            user_id,
            session_id,
            settled_s: 0,
            held_s: 0,
            balance_s: 0,
            next_at: None,
            closed: false,
            excluded_ms: 0,
            audio: AudioMs::default(),
        }
    }

    /// A voice session moved this audio since the last call: recorded with the next debit.
    pub(super) fn add_audio(&mut self, audio: AudioMs) {
        self.audio.input_ms += audio.input_ms;
        self.audio.output_ms += audio.output_ms;
    }

    /// The session was frozen for `ms` (the store was away): that time is not billed, and the
    /// core's budget is given it back at once (its clock ran meanwhile).
    pub(super) fn exclude(&mut self, ms: u64, session: &mut Session, now: Timestamp) {
        if session.state().status != Status::Live || self.closed {
            return;
        }
        self.excluded_ms += ms;
        let billed = self.billed_ms(session, now);
        self.feed(session, billed, now);
    }

    /// The meter could not be reached: try again in a second (the core keeps the budget it
    /// last had).
    pub(super) fn retry_at(&mut self, now: Timestamp) {
        self.next_at = Some(now.plus_ms(1_000));
    }

    /// When the task must call [`SessionMinutes::tick`].
    pub(super) fn next_at(&self) -> Option<Timestamp> {
        self.next_at
    }

    /// The session is about to start: reserves its first slice. `false` when the user has no
    /// minutes (the start is refused).
    pub(super) async fn open(&mut self, session: &mut Session, now: Timestamp) -> Result<bool, MeterError> {
        self.reserve(session, 0, now).await?;
        Ok(self.held_s > 0)
    }

    /// A start that was refused after all (the session is still `created`): the slice goes back.
    pub(super) async fn unopen(&mut self) -> Result<(), MeterError> {
        self.metering.meter.release(&self.user_id, &self.session_id).await?;
        self.held_s = 0;
        self.next_at = None;
        Ok(())
    }

    /// A session loaded by this task (after a restart, a crash, or on another node): picks up
    /// its hold. A live one settles what was used since its last settlement, capped by the hold
    /// (live time the hold did not cover is never billed: at most one slice is at risk), and
    /// goes on; an ended one whose hold is still there (its owner died before giving it back)
    /// is closed. `woken`: loaded by the sweep of expired holds, not for a client: then the
    /// session has been alone since its last renewal, and if that is `abandon_after` ago it
    /// reserves nothing more and the task ends it as abandoned.
    pub(super) async fn resume(
        &mut self,
        session: &mut Session,
        now: Timestamp,
        woken: bool,
        abandon_after: Option<u64>,
    ) -> Result<Resumed, MeterError> {
        let holds = self.metering.meter.holds(&self.user_id).await?;
        let Some(hold) = holds.into_iter().find(|h| h.session_id == self.session_id) else {
            // Never reserved (not started, or metering was off when it started): nothing owed
            // before now.
            self.settled_s = self.billed_ms(session, now) / 1000;
            if session.state().status == Status::Live {
                self.reserve(session, self.billed_ms(session, now), now).await?;
            }
            return Ok(Resumed::Running);
        };
        self.settled_s = hold.settled_s;
        self.held_s = hold.held_s;
        match session.state().status {
            Status::Live => {
                let billed = self.billed_ms(session, now);
                self.settle(billed / 1000, now).await?;
                // Live time the hold did not cover (nobody ran the session after it ran out)
                // is not billed, now or later: at most the hold is charged for a takeover.
                let covered = (self.settled_s + self.held_s) * 1000;
                self.excluded_ms += billed.saturating_sub(covered);
                if woken && hold.expires_at <= now {
                    let ttl = self.metering.hold_ttl().as_millis() as u64;
                    let since = Timestamp(hold.expires_at.0.saturating_sub(ttl));
                    if abandon_after.is_some_and(|after| now.ms_since(since) >= after) {
                        return Ok(Resumed::AbandonNow);
                    }
                    let billed = self.billed_ms(session, now);
                    self.reserve(session, billed, now).await?;
                    return Ok(Resumed::AloneSince(since));
                }
                let billed = self.billed_ms(session, now);
                self.reserve(session, billed, now).await?;
            }
            Status::Ended(_) | Status::Ending { .. } => self.close(session, now).await?,
            Status::Created => self.unopen().await?,
        }
        Ok(Resumed::Running)
    }

    /// A slice is over (or the hold runs out): settles the whole seconds used and reserves the
    /// next slice; the core learns what is left.
    pub(super) async fn tick(&mut self, session: &mut Session, now: Timestamp) -> Result<(), MeterError> {
        let billed = self.billed_ms(session, now);
        self.settle(billed / 1000, now).await?;
        self.reserve(session, billed, now).await
    }

    /// The session ended: settles its live time (to the nearest second, capped by the hold)
    /// and gives the rest back. Once.
    pub(super) async fn close(&mut self, session: &Session, now: Timestamp) -> Result<(), MeterError> {
        if self.closed {
            return Ok(());
        }
        let billed = self.billed_ms(session, now);
        self.settle((billed + 500) / 1000, now).await?;
        self.metering.meter.release(&self.user_id, &self.session_id).await?;
        self.held_s = 0;
        self.next_at = None;
        self.closed = true;
        Ok(())
    }

    /// Debits up to `to_s` seconds of live time in all, from where the last settlement ended.
    async fn settle(&mut self, to_s: u64, now: Timestamp) -> Result<(), MeterError> {
        let used = to_s.saturating_sub(self.settled_s);
        if used == 0 {
            return Ok(());
        }
        let key = format!("{}:{}", self.session_id, self.settled_s);
        let meter = &self.metering.meter;
        let settled = meter.settle(&self.user_id, &self.session_id, &key, used, self.audio, now).await?;
        self.audio = AudioMs::default();
        self.settled_s += settled.debited_s;
        self.held_s = self.held_s.saturating_sub(settled.debited_s);
        Ok(())
    }

    /// Reserves the next slice at `billed` ms of live time, renews the hold, feeds the core
    /// what is left, and sets the next tick.
    async fn reserve(&mut self, session: &mut Session, billed: u64, now: Timestamp) -> Result<(), MeterError> {
        let metering = &self.metering;
        let reserved =
            metering.meter.reserve(&self.user_id, &self.session_id, metering.slice_s, metering.hold_ttl(), now).await?;
        self.held_s = reserved.held_s;
        self.balance_s = reserved.balance_s;
        self.feed(session, billed, now);
        Ok(())
    }

    /// Tells the core what is left at `billed` ms of billed time, and sets the next
    /// settlement: a slice from now, or when the hold runs out if sooner (then the core ends
    /// the session if nothing more can be reserved).
    fn feed(&mut self, session: &mut Session, billed: u64, now: Timestamp) {
        let covered_ms = (self.settled_s + self.held_s) * 1000;
        session.handle_budget((covered_ms + self.balance_s * 1000).saturating_sub(billed), now);
        let until_empty = covered_ms.saturating_sub(billed);
        let next = (self.metering.slice_s * 1000).min(until_empty).max(1);
        self.next_at = Some(now.plus_ms(next));
    }

    /// Milliseconds to bill at `now`: live time less the time frozen.
    fn billed_ms(&self, session: &Session, now: Timestamp) -> u64 {
        live_ms(session, now).saturating_sub(self.excluded_ms)
    }
}

/// Milliseconds of live time at `now`: from the start to now while live, to the end once ended
/// (the hold caps what an `out_of_minutes` end costs: the closing turn is free).
fn live_ms(session: &Session, now: Timestamp) -> u64 {
    let state = session.state();
    let Some(started) = state.started_at else { return 0 };
    let until = state.ended_at.unwrap_or(now);
    until.ms_since(started)
}

impl From<MeterError> for EngineError {
    fn from(error: MeterError) -> Self {
        match error {
            MeterError::Unavailable(detail) => Self::StoreUnavailable(detail),
            MeterError::Invalid(message) => Self::BadRequest(message),
            MeterError::Corrupt(detail) => Self::Internal(detail),
        }
    }
}

/// A ledger entry as REST shows it.
fn ledger_item(entry: LedgerEntry) -> LedgerItem {
    LedgerItem {
        at: entry.at.0,
        kind: entry.kind.as_str().to_owned(),
        seconds: entry.seconds,
        session_id: entry.session_id.map(SessionId::into_string),
        key: entry.key,
        reason: entry.reason,
        audio_in_ms: (entry.audio != AudioMs::default()).then_some(entry.audio.input_ms),
        audio_out_ms: (entry.audio != AudioMs::default()).then_some(entry.audio.output_ms),
    }
}

impl Engine {
    /// The metering, or `NotFound` when minutes are not metered.
    fn metering(&self) -> Result<&Metering, EngineError> {
        self.ctx.metering.as_ref().ok_or(EngineError::NotFound)
    }

    /// One step of the sweep of expired holds (`cursor` 0 to begin; the next one is returned,
    /// 0 when the sweep is over): each live session whose owner stopped renewing its hold and
    /// that does not run here is started here, without a client, to settle its hold and end
    /// as abandoned; a hold whose session is gone is given back.
    pub async fn sweep_holds(&self, cursor: u64) -> Result<u64, EngineError> {
        let meter = &self.metering()?.meter;
        if self.registry.is_closed() {
            return Ok(0); // Shutting down: the other nodes' sweeps take them.
        }
        let (expired, next) = meter.expired_holds(cursor, SWEEP_STEP, self.ctx.clock.now()).await?;
        for (user_id, hold) in expired {
            if self.registry.get(&hold.session_id).is_some() {
                continue; // Its task runs here and renews it.
            }
            match self.ctx.store.meta(&hold.session_id).await? {
                None => {
                    let returned = meter.release(&user_id, &hold.session_id).await?;
                    tracing::info!(session = %hold.session_id, returned, "hold of a session that is gone given back");
                }
                Some(_) => {
                    let ctx = Arc::clone(&self.ctx);
                    let woken = self.registry.get_or_spawn(&hold.session_id, |spawn| {
                        tokio::spawn(Actor::new(ctx, spawn).woken().run());
                    });
                    if woken.is_none() {
                        // At capacity: the next sweep tries again.
                        tracing::info!(session = %hold.session_id, "expired hold left for the next sweep: at capacity");
                    }
                }
            }
        }
        Ok(next)
    }

    /// A user's minutes: balance, holds, one page of the ledger (newest first).
    pub async fn usage(&self, user_id: &UserId, cursor: Option<&str>, limit: usize) -> Result<Usage, EngineError> {
        let usage = self.metering()?.meter.usage(user_id, cursor, limit).await?;
        Ok(Usage {
            balance_s: usage.balance_s,
            held_s: usage.held_s,
            items: usage.entries.into_iter().map(ledger_item).collect(),
            next_cursor: usage.next_cursor,
        })
    }

    /// Adds minutes to a user's balance, once per key (the user's balance is made if they
    /// have none).
    pub async fn credit(&self, user_id: &UserId, credit: &CreditRequest) -> Result<Credited, EngineError> {
        let now = self.ctx.clock.now();
        let meter = &self.metering()?.meter;
        let reason = credit.reason.as_deref().filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.len() > MAX_REASON_BYTES) {
            return Err(EngineError::BadRequest(format!("a reason is at most {MAX_REASON_BYTES} bytes")));
        }
        let credited = meter.credit(user_id, credit.seconds, &credit.idempotency_key, reason, now).await?;
        Ok(Credited { balance_s: credited.balance_s, duplicate: credited.duplicate })
    }

    /// A user's minutes and whole ledger, for an export (`None` when minutes are not metered).
    pub(crate) async fn exported_minutes(&self, user_id: &UserId) -> Result<Option<ExportedMinutes>, EngineError> {
        let Some(metering) = &self.ctx.metering else { return Ok(None) };
        let first = metering.meter.usage(user_id, None, MAX_PAGE).await?;
        let (balance_s, held_s) = (first.balance_s, first.held_s);
        let mut ledger: Vec<LedgerItem> = first.entries.into_iter().map(ledger_item).collect();
        let mut cursor = first.next_cursor;
        while let Some(after) = cursor {
            let page = metering.meter.usage(user_id, Some(&after), MAX_PAGE).await?;
            ledger.extend(page.entries.into_iter().map(ledger_item));
            cursor = page.next_cursor;
        }
        Ok(Some(ExportedMinutes { balance_s, held_s, ledger }))
    }

    /// Forgets a user's minutes (their deletion).
    pub(crate) async fn delete_minutes(&self, user_id: &UserId) -> Result<(), EngineError> {
        match &self.ctx.metering {
            Some(metering) => Ok(metering.meter.delete_user(user_id).await?),
            None => Ok(()),
        }
    }
}

/// Users' holds looked at in one step of the sweep.
const SWEEP_STEP: usize = 200;

/// How often the sweep of expired holds runs.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The longest reason a credit keeps.
const MAX_REASON_BYTES: usize = 500;
