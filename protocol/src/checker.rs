//! The protocol's invariants (docs/protocol.md, sections 4–6) as a pure state machine over
//! what a client sees of one session. The one checker of the project: the gateway's tests,
//! viva-load and the examples all use it (feature `checker`).
//!
//! Two ways to watch a session:
//! - [`Checker::new`]: one client connection, from its `session.ready` to the close. Feed it
//!   every server message ([`Checker::observe`]), every answer the client sends
//!   ([`Checker::sent`]), bad frames and the close. It is also the client's model of the
//!   interview: [`Checker::awaiting_answer`] says when the interviewer waits for an answer,
//!   derived from the events alone as the protocol defines it.
//! - [`Checker::observer`]: every server message of a session from its start, possibly over
//!   several connections (each later `session.ready` is a resume), without the client's sends
//!   (answers are known by their `answer.received`).
//!
//! Either keeps a list of [`Violation`]s. Checked: durable `seq`s contiguous (a re-sent
//! `answer.received` may repeat an old one); turns one at a time, numbered 1, 2, 3, …, each
//! `turn.started` closed by exactly one `turn.done` whose text is its deltas; delta indexes 0,
//! 1, 2, … within the turn; every answer sent acknowledged once (or refused with an `error`),
//! `answer_id`s in order, scores only for acknowledged answers, once each and before the
//! report; at most one `session.ending`, followed only by scores, the `out_of_minutes` closing
//! turn and the report, with the reason `session.ended` carries; `report.ready` immediately
//! followed by `session.ended`, nothing after it but the close, and that close 1000; no fatal
//! error. Opt in to [`Checker::every_answer_scored`] where no score may be missing (a report
//! may be built without a score that never came, so the protocol does not promise it).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::{ClientMessage, EndReason, ErrorCode, ServerMessage, SessionState, TurnKind, TurnStatus};

/// What rule a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// A message before `session.ready`, or a second `session.ready`.
    ReadyNotFirst,
    /// A durable `seq` skipped ahead.
    SeqGap,
    /// A durable `seq` came again (other than a re-sent `answer.received`).
    SeqRepeated,
    /// `turn.started` while another turn was open.
    TurnOverlap,
    /// A `turn_id` that is not the previous one plus one.
    TurnIdOrder,
    /// `turn.done` for a turn that is not open.
    TurnDoneUnmatched,
    /// A turn still open when the session ended.
    TurnNotDone,
    /// `turn.done.text` is not the concatenation of the turn's deltas.
    TurnTextMismatch,
    /// `turn.delta` for a turn that is not open.
    DeltaOutsideTurn,
    /// A delta `index` that is not the previous one plus one.
    DeltaIndexGap,
    /// A delta with empty text.
    DeltaEmpty,
    /// `turn.audio` for a turn not started, or for an earlier turn than audio already came for.
    AudioOutsideTurn,
    /// A `turn.audio` `index` that is not the previous one of its turn plus one.
    AudioIndexGap,
    /// `turn.truncated` for a turn that is not done.
    TruncatedUnknownTurn,
    /// An answer sent that got neither `answer.received` nor an `error` by the end.
    AnswerNotAcknowledged,
    /// A second `answer.received` with a new `seq` for the same answer: applied twice.
    AnswerAcknowledgedTwice,
    /// `answer.received` for an id the client never sent (an answer without an id is
    /// acknowledged without one).
    AnswerUnknown,
    /// An `answer_id` that is not the previous one plus one.
    AnswerIdOrder,
    /// `score.updated` for an answer not acknowledged.
    ScoreUnknownAnswer,
    /// A second `score.updated` for one answer.
    ScoredTwice,
    /// An acknowledged answer without a `score.updated` by the end (checked only when asked,
    /// see [`Checker::every_answer_scored`]).
    AnswerNotScored,
    /// `score.updated` after `report.ready`.
    ScoreAfterReport,
    /// `report.ready` not immediately followed by `session.ended`, or `session.ended` not
    /// immediately after `report.ready`.
    EndOrder,
    /// A second `session.ending`, or one after `report.ready`.
    EndingTwice,
    /// After `session.ending`: a durable event other than a score, the `out_of_minutes`
    /// closing turn and the report (an answer acknowledged, a new question).
    AfterEnding,
    /// `session.ended` with another reason than the `session.ending` before it.
    EndReasonMismatch,
    /// A message after `session.ended`.
    AfterEnd,
    /// The close after `session.ended` was not 1000, or 1000 came before it.
    CloseCode,
    /// An `error` with `fatal: true`.
    FatalError,
    /// A frame that is not a message of the socket's encoding.
    BadFrame,
}

impl ViolationKind {
    /// The name used in reports.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// One broken rule, with what showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// What was seen.
    pub detail: String,
}

/// What happened to an answer the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Audio of an utterance was sent: it becomes an answer if it held speech.
    Heard,
    Pending,
    Acknowledged {
        seq: u64,
    },
    Refused,
}

#[derive(Debug, Clone)]
struct Open {
    turn_id: u32,
    kind: TurnKind,
    next_index: u32,
    text: String,
    /// Deltas of this turn were missed while away: its `turn.done` text need only start with
    /// what was seen (or the turn failed: a server that crashed mid-turn closes it as failed).
    partial: bool,
}

/// The invariants of one session as a client sees it.
#[derive(Debug, Clone, Default)]
pub struct Checker {
    /// Watching every message of the session across connections, without the client's sends.
    observer: bool,
    /// The client connects again (after a drop, with `last_seq`): its next `session.ready`
    /// is a resume.
    reconnecting: bool,
    /// Check that every acknowledged answer was scored by the end.
    every_answer_scored: bool,
    ready: bool,
    /// A message came before `session.ready` (reported once).
    unready_seen: bool,
    next_seq: u64,
    open: Option<Open>,
    last_turn_id: u32,
    /// The turn whose `turn.audio` was seen last, and its next index.
    audio: Option<(u32, u32)>,
    /// The last turn that ended, and whether an answer was accepted since.
    last_done: Option<(TurnKind, TurnStatus)>,
    answered_since: bool,
    answers: HashMap<String, Fate>,
    last_answer_id: u32,
    scored: BTreeMap<u32, bool>,
    /// The open turn of a resumed connection's state whose `turn.started` is in the replay.
    resumed_open: Option<Open>,
    /// An observer's resume replays up to the head: turns started there lost their deltas.
    replay_head: u64,
    ending: Option<EndReason>,
    report_seq: Option<u64>,
    ended: Option<EndReason>,
    closed: Option<Option<u16>>,
    violations: Vec<Violation>,
    errors: BTreeMap<String, u32>,
}

impl Checker {
    /// A checker for one client connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// A checker for every server message of one session from its start, over any number of
    /// connections: a `session.ready` after the first is a resume, and a stream that does not
    /// begin with `session.ready` begins at a new session's head (seq 0).
    pub fn observer() -> Self {
        Self { observer: true, ready: true, next_seq: 1, ..Self::default() }
    }

    /// Also check, once the session has ended, that every acknowledged answer was scored.
    pub fn every_answer_scored(mut self) -> Self {
        self.every_answer_scored = true;
        self
    }

    /// The client sent `message`: answers must be acknowledged.
    pub fn sent(&mut self, message: &ClientMessage) {
        if let ClientMessage::AnswerSubmit { id: Some(id), .. } | ClientMessage::CodeSubmit { id: Some(id), .. } =
            message
        {
            // A re-send after a refusal is a new chance to be acknowledged.
            let fate = self.answers.entry(id.clone()).or_insert(Fate::Pending);
            if matches!(*fate, Fate::Refused | Fate::Heard) {
                *fate = Fate::Pending;
            }
        }
        match message {
            // An utterance's audio: an answer only if speech is found in it.
            ClientMessage::InputAudioAppend { id, .. } => {
                self.answers.entry(id.clone()).or_insert(Fate::Heard);
            }
            // Committed: it must be acknowledged or refused.
            ClientMessage::InputAudioCommit { id } => {
                let fate = self.answers.entry(id.clone()).or_insert(Fate::Pending);
                if matches!(*fate, Fate::Refused | Fate::Heard) {
                    *fate = Fate::Pending;
                }
            }
            ClientMessage::InputAudioClear { id }
                if self.answers.get(id).is_some_and(|fate| matches!(fate, Fate::Heard | Fate::Pending)) =>
            {
                self.answers.remove(id);
            }
            _ => {}
        }
    }

    /// A frame that did not decode.
    pub fn bad_frame(&mut self, detail: &str) {
        self.violate(ViolationKind::BadFrame, detail.to_owned());
    }

    /// The socket closed (`None`: without a close frame).
    pub fn closed(&mut self, code: Option<u16>) {
        let ok = match self.ended {
            Some(_) => code == Some(1000),
            None => code != Some(1000),
        };
        if !ok {
            let when = if self.ended.is_some() { "after" } else { "before" };
            self.violate(ViolationKind::CloseCode, format!("close {code:?} {when} session.ended"));
        }
        self.closed = Some(code);
    }

    /// One server message.
    pub fn observe(&mut self, message: &ServerMessage) {
        if self.ended.is_some() {
            self.violate(ViolationKind::AfterEnd, format!("{} after session.ended", message.type_name()));
        }
        if let ServerMessage::SessionReady(ready) = message {
            // A client's reconnect is a resume once it has had a `session.ready` (else this is
            // its first), even if it saw nothing of the session yet.
            let resumed = std::mem::take(&mut self.reconnecting) && self.ready;
            if resumed || (self.observer && self.seen_any()) {
                // A resume: the replay of what was missed follows, then the live stream.
                self.resumed(ready.seq, &ready.state);
                return;
            }
            if self.ready && !self.observer {
                self.violate(ViolationKind::ReadyNotFirst, "a second session.ready".to_owned());
            }
            self.ready = true;
            self.next_seq = ready.seq + 1;
            self.resume_from(&ready.state);
            return;
        }
        if let ServerMessage::Error(e) = message {
            // A socket the server could not attach the session to (deleted a moment ago, the
            // store away, the node full): one fatal error instead of `session.ready`, then a
            // close whose code says whether to reconnect (docs/protocol.md, "Connecting"). A
            // refusal, which the close code answers; not a broken rule.
            let unattached = self.reconnecting || !self.ready;
            if e.fatal && unattached && refuses_attach(e.code) {
                *self.errors.entry(e.code.as_str().to_owned()).or_default() += 1;
                return;
            }
        }
        if !self.ready && !self.unready_seen {
            self.violate(ViolationKind::ReadyNotFirst, format!("{} before session.ready", message.type_name()));
            self.unready_seen = true;
        }
        if let Some(seq) = message.seq() {
            if seq < self.next_seq {
                match message {
                    // A duplicate answer is acknowledged again with its original event.
                    ServerMessage::AnswerReceived(a) if a.id.as_ref().is_some_and(|id| self.was_acked(id, seq)) => {}
                    _ => self.violate(ViolationKind::SeqRepeated, format!("{} with seq {seq}", message.type_name())),
                }
                return;
            }
            if seq > self.next_seq {
                let detail = format!("{} with seq {seq}, expected {}", message.type_name(), self.next_seq);
                self.violate(ViolationKind::SeqGap, detail);
            }
            self.next_seq = seq + 1;
            if self.report_seq.is_some() && !matches!(message, ServerMessage::SessionEnded(_)) {
                self.violate(ViolationKind::EndOrder, format!("{} after report.ready", message.type_name()));
            }
            if let Some(reason) = self.ending {
                let allowed = match message {
                    ServerMessage::ScoreUpdated(_) | ServerMessage::ReportReady(_) | ServerMessage::SessionEnded(_) => {
                        true
                    }
                    ServerMessage::TurnStarted(t) => reason == EndReason::OutOfMinutes && t.kind == TurnKind::Closing,
                    ServerMessage::TurnDone(_) | ServerMessage::TurnTruncated(_) => true, // of a turn allowed to start
                    ServerMessage::SessionEnding(_) => true, // a second one is `EndingTwice`
                    _ => false,
                };
                if !allowed {
                    let detail = format!("{} after session.ending ({reason:?})", message.type_name());
                    self.violate(ViolationKind::AfterEnding, detail);
                }
            }
        }
        match message {
            ServerMessage::SessionReady(_) => {}
            ServerMessage::TurnStarted(t) => {
                if let Some(open) = &self.open {
                    let detail = format!("turn {} started while turn {} is open", t.turn_id, open.turn_id);
                    self.violate(ViolationKind::TurnOverlap, detail);
                }
                if t.turn_id != self.last_turn_id + 1 {
                    self.violate(ViolationKind::TurnIdOrder, format!("turn {} after {}", t.turn_id, self.last_turn_id));
                }
                self.last_turn_id = self.last_turn_id.max(t.turn_id);
                let resumed = self.resumed_open.take_if(|o| o.turn_id == t.turn_id);
                self.open = Some(resumed.unwrap_or(Open {
                    turn_id: t.turn_id,
                    kind: t.kind,
                    next_index: 0,
                    text: String::new(),
                    partial: t.seq <= self.replay_head,
                }));
            }
            ServerMessage::TurnDelta(d) => {
                let Some(open) = self.open.as_mut().filter(|o| o.turn_id == d.turn_id) else {
                    return self.violate(ViolationKind::DeltaOutsideTurn, format!("delta of turn {}", d.turn_id));
                };
                let expected = open.next_index;
                open.next_index = d.index + 1;
                open.text.push_str(&d.text);
                if d.index != expected {
                    let detail = format!("turn {} delta {} after {expected} expected", d.turn_id, d.index);
                    self.violate(ViolationKind::DeltaIndexGap, detail);
                }
                if d.text.is_empty() {
                    self.violate(ViolationKind::DeltaEmpty, format!("turn {} delta {}", d.turn_id, d.index));
                }
            }
            ServerMessage::TurnDone(t) => {
                let Some(open) = self.open.take_if(|o| o.turn_id == t.turn_id) else {
                    return self.violate(ViolationKind::TurnDoneUnmatched, format!("turn.done of turn {}", t.turn_id));
                };
                let consistent = if open.partial {
                    t.text.starts_with(&open.text) || t.status == TurnStatus::Failed
                } else {
                    open.text == t.text
                };
                if !consistent {
                    let detail = format!("turn {}: done {:?}, deltas {:?}", t.turn_id, t.text, open.text);
                    self.violate(ViolationKind::TurnTextMismatch, detail);
                }
                self.last_done = Some((open.kind, t.status));
                self.answered_since = false;
            }
            ServerMessage::AnswerReceived(a) => {
                if self.observer {
                    // The sends are not seen: an answer is known by its acknowledgement.
                    if let Some(id) = &a.id {
                        self.answers.entry(id.clone()).or_insert(Fate::Pending);
                    }
                }
                match a.id.as_ref().map(|id| (id, self.answers.get(id).copied())) {
                    Some((id, Some(Fate::Pending | Fate::Refused | Fate::Heard))) => {
                        self.answers.insert(id.clone(), Fate::Acknowledged { seq: a.seq });
                    }
                    Some((id, Some(Fate::Acknowledged { seq }))) => {
                        let detail = format!("answer {id:?} acknowledged at seq {seq} and again at {}", a.seq);
                        self.violate(ViolationKind::AnswerAcknowledgedTwice, detail);
                    }
                    Some((id, None)) => {
                        self.violate(ViolationKind::AnswerUnknown, format!("answer.received for id {id:?}"));
                    }
                    // An answer sent without an id (allowed, but it cannot be re-sent safely).
                    None => {}
                }
                if a.answer_id != self.last_answer_id + 1 {
                    let detail = format!("answer {} after {}", a.answer_id, self.last_answer_id);
                    self.violate(ViolationKind::AnswerIdOrder, detail);
                }
                self.last_answer_id = self.last_answer_id.max(a.answer_id);
                self.scored.insert(a.answer_id, false);
                self.answered_since = true;
            }
            ServerMessage::ScoreUpdated(s) => {
                match self.scored.get_mut(&s.answer_id) {
                    None => {
                        self.violate(ViolationKind::ScoreUnknownAnswer, format!("score of answer {}", s.answer_id));
                    }
                    Some(true) => self.violate(ViolationKind::ScoredTwice, format!("answer {}", s.answer_id)),
                    Some(scored) => *scored = true,
                }
                if self.report_seq.is_some() {
                    self.violate(ViolationKind::ScoreAfterReport, format!("score of answer {}", s.answer_id));
                }
            }
            ServerMessage::ReportReady(r) => {
                if self.report_seq.is_some() {
                    self.violate(ViolationKind::EndOrder, "a second report.ready".to_owned());
                }
                self.report_seq = Some(r.seq);
            }
            // The end is decided; only scores, a closing turn and the report follow it.
            ServerMessage::SessionEnding(e) => {
                if self.ending.is_some() || self.report_seq.is_some() {
                    self.violate(ViolationKind::EndingTwice, format!("session.ending at seq {}", e.seq));
                }
                self.ending = Some(e.reason);
            }
            ServerMessage::SessionEnded(e) => {
                if let Some(reason) = self.ending.filter(|r| *r != e.reason) {
                    let detail = format!("session.ended {:?} after session.ending {reason:?}", e.reason);
                    self.violate(ViolationKind::EndReasonMismatch, detail);
                }
                if self.report_seq.is_none_or(|r| r + 1 != e.seq) {
                    let detail = format!("session.ended at seq {} after report.ready at {:?}", e.seq, self.report_seq);
                    self.violate(ViolationKind::EndOrder, detail);
                }
                if let Some(open) = &self.open {
                    self.violate(ViolationKind::TurnNotDone, format!("turn {} open at the end", open.turn_id));
                }
                self.ended = Some(e.reason);
            }
            ServerMessage::Error(e) => {
                *self.errors.entry(e.code.as_str().to_owned()).or_default() += 1;
                if e.fatal {
                    self.violate(ViolationKind::FatalError, format!("{}: {}", e.code, e.message));
                }
                if let Some(fate) = e.reference.as_ref().and_then(|id| self.answers.get_mut(id)) {
                    if *fate == Fate::Pending {
                        *fate = Fate::Refused;
                    }
                }
            }
            // Audio lags its text (a turn's audio may still come after later turns started),
            // but turns are spoken one after the other, each from index 0.
            ServerMessage::TurnAudio(a) => {
                let behind = self.audio.is_some_and(|(turn_id, _)| a.turn_id < turn_id);
                if a.turn_id == 0 || a.turn_id > self.last_turn_id || behind {
                    return self.violate(ViolationKind::AudioOutsideTurn, format!("audio of turn {}", a.turn_id));
                }
                let expected = match self.audio {
                    Some((turn_id, next)) if turn_id == a.turn_id => next,
                    _ => 0,
                };
                self.audio = Some((a.turn_id, a.index + 1));
                if a.index != expected {
                    let detail = format!("turn {} audio {} after {expected} expected", a.turn_id, a.index);
                    self.violate(ViolationKind::AudioIndexGap, detail);
                }
            }
            ServerMessage::TurnTruncated(t) => {
                if t.turn_id == 0
                    || t.turn_id > self.last_turn_id
                    || self.open.as_ref().is_some_and(|o| o.turn_id == t.turn_id)
                {
                    self.violate(ViolationKind::TruncatedUnknownTurn, format!("turn.truncated of turn {}", t.turn_id));
                }
            }
            ServerMessage::SpeechStarted(_)
            | ServerMessage::SpeechStopped(_)
            | ServerMessage::TranscriptDelta(_)
            | ServerMessage::UsageLow(_)
            | ServerMessage::Clock(_)
            | ServerMessage::Pong(_) => {}
        }
    }

    /// Whether the interviewer waits for an answer: the last turn was a `question` or
    /// `follow_up` that did not fail, no turn is open, no answer was accepted since, and the
    /// session has not ended.
    pub fn awaiting_answer(&self) -> bool {
        self.open.is_none()
            && !self.answered_since
            && self.ending.is_none()
            && self.report_seq.is_none()
            && self.last_done.is_some_and(|(kind, status)| kind.awaits_answer() && status != TurnStatus::Failed)
    }

    /// The turn in flight, if any.
    pub fn open_turn(&self) -> Option<(u32, TurnKind)> {
        self.open.as_ref().map(|o| (o.turn_id, o.kind))
    }

    /// Why the session ends, once `session.ending` (or `session.ended`) came.
    pub fn ending(&self) -> Option<EndReason> {
        self.ending.or(self.ended)
    }

    /// Why the session ended, once `session.ended` came.
    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    /// Whether the answer with this id was refused (an `error` named it) and not accepted since.
    pub fn refused(&self, id: &str) -> bool {
        self.answers.get(id) == Some(&Fate::Refused)
    }

    /// The client connects again after its socket closed before the end (with `last_seq`:
    /// [`Checker::last_seq`]): the next `session.ready` is a resume, followed by the replay of
    /// what it missed. Answers not acknowledged yet are still owed an acknowledgement (the
    /// client sends them again with the same ids).
    pub fn reconnecting(&mut self) {
        self.reconnecting = true;
        self.closed = None;
    }

    /// The last durable `seq` seen (0 before any): what a reconnect asks to resume after.
    pub fn last_seq(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    /// Whether the session went the whole way: `session.ended`, then close 1000.
    pub fn completed(&self) -> bool {
        self.ended.is_some() && self.closed == Some(Some(1000))
    }

    /// Every violation, with the checks that can only be made at the end: when the session
    /// ended, every answer sent was acknowledged or refused. Also the non-fatal errors
    /// received, by code.
    pub fn finish(mut self) -> (Vec<Violation>, BTreeMap<String, u32>) {
        if self.ended.is_some() {
            let mut pending: Vec<&String> =
                self.answers.iter().filter(|(_, fate)| **fate == Fate::Pending).map(|(id, _)| id).collect();
            pending.sort();
            let details: Vec<String> = pending.iter().map(|id| format!("answer {id:?}")).collect();
            for detail in details {
                self.violate(ViolationKind::AnswerNotAcknowledged, detail);
            }
            if self.every_answer_scored {
                let unscored: Vec<u32> =
                    self.scored.iter().filter(|(_, scored)| !**scored).map(|(id, _)| *id).collect();
                for answer_id in unscored {
                    self.violate(ViolationKind::AnswerNotScored, format!("answer {answer_id}"));
                }
            }
        }
        (self.violations, self.errors)
    }

    /// The violations so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    fn was_acked(&self, id: &str, seq: u64) -> bool {
        self.answers.get(id) == Some(&Fate::Acknowledged { seq })
    }

    /// Whether any message of the session was seen yet.
    fn seen_any(&self) -> bool {
        self.next_seq > 1 || self.open.is_some() || self.last_turn_id > 0
    }

    /// An observer's resume: the state is at the head; durable events after what was seen are
    /// replayed, and checked as they come. Only the open turn needs the state: deltas sent while
    /// away are not replayed.
    fn resumed(&mut self, head: u64, state: &SessionState) {
        self.replay_head = head;
        let now = state.open_turn.as_ref().map(|o| Open {
            turn_id: o.turn_id,
            kind: o.kind,
            next_index: o.next_index,
            text: o.text.clone(),
            partial: false,
        });
        match (&mut self.open, now) {
            // Started before the drop: its deltas go on from the state's text.
            (Some(seen), Some(now)) if seen.turn_id == now.turn_id => *seen = now,
            (seen, now) => {
                // A turn open before the drop ended while away: its `turn.done` is replayed.
                if let Some(seen) = seen {
                    seen.partial = true;
                }
                // The open turn's `turn.started` is in the replay.
                self.resumed_open = now;
            }
        }
    }

    /// Takes the state a (re)connect starts from.
    fn resume_from(&mut self, state: &SessionState) {
        use crate::state::TranscriptEntry;
        for entry in &state.transcript {
            match entry {
                TranscriptEntry::Turn { turn_id, kind, status, .. } => {
                    self.last_turn_id = self.last_turn_id.max(*turn_id);
                    self.last_done = Some((*kind, *status));
                    self.answered_since = false;
                }
                TranscriptEntry::Answer { answer_id, score, .. } => {
                    self.last_answer_id = self.last_answer_id.max(*answer_id);
                    self.scored.insert(*answer_id, score.is_some());
                    self.answered_since = true;
                }
            }
        }
        self.open = state.open_turn.as_ref().map(|o| {
            self.last_turn_id = self.last_turn_id.max(o.turn_id);
            Open { turn_id: o.turn_id, kind: o.kind, next_index: o.next_index, text: o.text.clone(), partial: false }
        });
    }

    fn violate(&mut self, kind: ViolationKind, detail: String) {
        self.violations.push(Violation { kind, detail });
    }
}

/// The errors a socket's attach can be refused with (fatal, before `session.ready`).
fn refuses_attach(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NotFound | ErrorCode::StoreUnavailable | ErrorCode::Unavailable | ErrorCode::AtCapacity)
}

#[cfg(test)]
mod tests {
    use crate::server::{
        AnswerReceived, AnswerScore, ErrorEvent, ReportReady, ScoreUpdated, SessionEnded, SessionEnding, SessionReady,
        TurnDelta, TurnDone, TurnStarted,
    };
    use crate::state::{OpenTurn, Scores, SessionStatus, TranscriptEntry};
    use crate::{Audio, Clock, ErrorCode, Expects, SessionState};

    use super::*;

    fn ready() -> ServerMessage {
        ServerMessage::SessionReady(Box::new(SessionReady {
            session_id: "ses_1".into(),
            epoch: 1,
            resumed: false,
            seq: 0,
            last_seq: 0,
            state: SessionState {
                status: SessionStatus::Created,
                plan_id: "test".into(),
                transcript: Vec::new(),
                open_turn: None,
                awaiting_answer: None,
                scores: Scores { dimensions: Vec::new(), overall: None },
                clock: Clock { elapsed_s: 0, remaining_s: 600 },
                ended_reason: None,
                report_ready: false,
                voice: None,
            },
        }))
    }

    fn started(seq: u64, turn_id: u32, kind: TurnKind) -> ServerMessage {
        let expects = kind.awaits_answer().then_some(Expects::Text);
        let question_id = kind.awaits_answer().then(|| "q".to_owned());
        ServerMessage::TurnStarted(TurnStarted { seq, turn_id, kind, question_id, expects })
    }

    fn delta(turn_id: u32, index: u32, text: &str) -> ServerMessage {
        ServerMessage::TurnDelta(TurnDelta { turn_id, index, text: text.into() })
    }

    fn done(seq: u64, turn_id: u32, text: &str, status: TurnStatus) -> ServerMessage {
        ServerMessage::TurnDone(TurnDone { seq, turn_id, text: text.into(), status })
    }

    fn received(seq: u64, id: &str, answer_id: u32) -> ServerMessage {
        ServerMessage::AnswerReceived(AnswerReceived::typed(seq, Some(id.into()), answer_id))
    }

    fn scored(seq: u64, answer_id: u32) -> ServerMessage {
        let answer = AnswerScore { dimensions: Vec::new(), overall: None };
        ServerMessage::ScoreUpdated(ScoreUpdated { seq, answer_id, dimensions: Vec::new(), overall: None, answer })
    }

    fn answer(id: &str) -> ClientMessage {
        ClientMessage::AnswerSubmit { id: Some(id.into()), text: "An answer.".into() }
    }

    fn end(seq: u64) -> [ServerMessage; 2] {
        [
            ServerMessage::ReportReady(ReportReady { seq, session_id: "ses_1".into() }),
            ServerMessage::SessionEnded(SessionEnded { seq: seq + 1, reason: EndReason::Completed }),
        ]
    }

    /// The interview of docs/protocol.md's overview, shortened: intro, a question, its
    /// answer (scored during the next turn), the closing, the end.
    fn good_session() -> Vec<ServerMessage> {
        let mut messages = vec![
            ready(),
            started(1, 1, TurnKind::Intro),
            delta(1, 0, "Hello "),
            delta(1, 1, "there."),
            done(2, 1, "Hello there.", TurnStatus::Completed),
            started(3, 2, TurnKind::Question),
            delta(2, 0, "Design a cache."),
            done(4, 2, "Design a cache.", TurnStatus::Completed),
            received(5, "a1", 1),
            started(6, 3, TurnKind::Closing),
            scored(7, 1),
            delta(3, 0, "Bye."),
            ServerMessage::Clock(tick()),
            done(8, 3, "Bye.", TurnStatus::Completed),
        ];
        messages.extend(end(9));
        messages
    }

    /// Runs `messages` through a checker, sending answer `a1` when asked; the violations by
    /// kind, and whether the session completed.
    fn check(messages: &[ServerMessage], close: Option<u16>) -> (Vec<ViolationKind>, bool) {
        let mut checker = Checker::new();
        for message in messages {
            checker.observe(message);
            if checker.awaiting_answer() {
                checker.sent(&answer("a1"));
            }
        }
        checker.closed(close);
        let completed = checker.completed();
        (checker.finish().0.into_iter().map(|v| v.kind).collect(), completed)
    }

    #[test]
    fn a_good_session_has_no_violation() {
        assert_eq!(check(&good_session(), Some(1000)), (vec![], true));
    }

    #[test]
    fn awaits_an_answer_only_after_a_question_that_did_not_fail() {
        let mut checker = Checker::new();
        let mut awaiting = Vec::new();
        for message in &good_session()[..9] {
            checker.observe(message);
            awaiting.push(checker.awaiting_answer());
        }
        assert_eq!(awaiting, [false, false, false, false, false, false, false, true, false]);
        let mut failed = Checker::new();
        for message in [ready(), started(1, 1, TurnKind::Question), done(2, 1, "", TurnStatus::Failed)] {
            failed.observe(&message);
        }
        assert!(!failed.awaiting_answer());
        failed.observe(&started(3, 2, TurnKind::Question));
        failed.observe(&done(4, 2, "", TurnStatus::Interrupted));
        assert!(failed.awaiting_answer(), "a barge-in leaves the interviewer waiting");
    }

    /// A case: what to change in `good_session`, how the socket closes, what is expected.
    struct Case {
        name: &'static str,
        messages: Vec<ServerMessage>,
        close: Option<u16>,
        expected: Vec<ViolationKind>,
    }

    fn case(name: &'static str, messages: Vec<ServerMessage>, expected: &[ViolationKind]) -> Case {
        Case { name, messages, close: Some(1000), expected: expected.to_vec() }
    }

    #[test]
    fn each_broken_rule_is_named() {
        use ViolationKind::*;
        let cases = [
            case("seq gap", raw(|m| drop(m.remove(10))), &[SeqGap]),
            case("seq repeated", raw(|m| m.insert(11, scored(7, 1))), &[SeqRepeated]),
            case("ready not first", raw(|m| m.insert(0, ServerMessage::Clock(tick()))), &[ReadyNotFirst]),
            case("delta index gap", raw(|m| drop(m.remove(2))), &[DeltaIndexGap, TurnTextMismatch]),
            case("empty delta", raw(|m| m.insert(4, delta(1, 2, ""))), &[DeltaEmpty]),
            case("delta after its turn", raw(|m| m.insert(5, delta(1, 2, "!"))), &[DeltaOutsideTurn]),
            case("turns overlap", renumbered(|m| drop(m.remove(4))), &[TurnOverlap]),
            case(
                "turn done twice",
                renumbered(|m| m.insert(5, done(0, 1, "Hello there.", TurnStatus::Completed))),
                &[TurnDoneUnmatched],
            ),
            case(
                "turn ids skip",
                raw(|m| {
                    m[9] = started(6, 4, TurnKind::Closing);
                    m[11] = delta(4, 0, "Bye.");
                    m[13] = done(8, 4, "Bye.", TurnStatus::Completed);
                }),
                &[TurnIdOrder],
            ),
            case("answer applied twice", renumbered(|m| m.insert(9, received(0, "a1", 2))), &[AnswerAcknowledgedTwice]),
            case("unknown answer", raw(|m| m[8] = received(5, "zz", 1)), &[AnswerUnknown, AnswerNotAcknowledged]),
            case("score of no answer", raw(|m| m[10] = scored(7, 2)), &[ScoreUnknownAnswer]),
            case("scored twice", renumbered(|m| m.insert(11, scored(0, 1))), &[ScoredTwice]),
            case(
                "score after the report",
                renumbered(|m| {
                    m.remove(10);
                    m.insert(14, scored(0, 1));
                }),
                &[EndOrder, ScoreAfterReport, EndOrder],
            ),
            case("end without report", renumbered(|m| drop(m.remove(14))), &[EndOrder]),
            case("message after the end", raw(|m| m.push(ServerMessage::Clock(tick()))), &[AfterEnd]),
            case("fatal error", raw(|m| m.insert(1, fatal(ErrorCode::Unavailable))), &[FatalError]),
            Case {
                name: "close 4013 after the end",
                messages: good_session(),
                close: Some(4013),
                expected: vec![CloseCode],
            },
            Case {
                name: "no close frame after the end",
                messages: good_session(),
                close: None,
                expected: vec![CloseCode],
            },
        ];
        for Case { name, messages, close, expected } in cases {
            assert_eq!(check(&messages, close).0, expected, "{name}");
        }
        let mut checker = Checker::new();
        checker.bad_frame("binary frame on a viva.v1.json socket");
        assert_eq!(checker.violations()[0].kind, BadFrame);
    }

    /// `good_session` changed by `change`, seqs as they are.
    fn raw<R>(change: impl FnOnce(&mut Vec<ServerMessage>) -> R) -> Vec<ServerMessage> {
        let mut messages = good_session();
        change(&mut messages);
        messages
    }

    /// `good_session` changed by `change`, durable seqs then numbered 1, 2, 3, …
    fn renumbered<R>(change: impl FnOnce(&mut Vec<ServerMessage>) -> R) -> Vec<ServerMessage> {
        renumber(raw(change))
    }

    /// `messages` with durable seqs numbered 1, 2, 3, …
    fn renumber(mut messages: Vec<ServerMessage>) -> Vec<ServerMessage> {
        let mut next = 0;
        for message in &mut messages {
            let seq = match message {
                ServerMessage::TurnStarted(e) => &mut e.seq,
                ServerMessage::TurnDone(e) => &mut e.seq,
                ServerMessage::AnswerReceived(e) => &mut e.seq,
                ServerMessage::ScoreUpdated(e) => &mut e.seq,
                ServerMessage::ReportReady(e) => &mut e.seq,
                ServerMessage::SessionEnding(e) => &mut e.seq,
                ServerMessage::SessionEnded(e) => &mut e.seq,
                _ => continue,
            };
            next += 1;
            *seq = next;
        }
        messages
    }

    fn tick() -> Clock {
        Clock { elapsed_s: 5, remaining_s: 595 }
    }

    #[test]
    fn an_answer_must_be_acknowledged_or_refused() {
        let unacknowledged = renumbered(|m| drop(m.remove(8)));
        let kinds = check(&unacknowledged, Some(1000)).0;
        assert!(kinds.contains(&ViolationKind::AnswerNotAcknowledged), "{kinds:?}");
        let mut refused = good_session();
        refused[8] = ServerMessage::Error(ErrorEvent {
            code: ErrorCode::SessionEnded,
            message: "the session has ended".into(),
            fatal: false,
            reference: Some("a1".into()),
        });
        let mut checker = Checker::new();
        for message in &refused {
            checker.observe(message);
            if checker.awaiting_answer() && !checker.answers.contains_key("a1") {
                checker.sent(&answer("a1"));
            }
        }
        assert!(checker.refused("a1"));
        let (violations, errors) = checker.finish();
        let kinds: Vec<ViolationKind> = violations.iter().map(|v| v.kind).collect();
        assert!(!kinds.contains(&ViolationKind::AnswerNotAcknowledged), "{kinds:?}");
        assert_eq!(errors.get("session_ended"), Some(&1));
    }

    /// Voice: audio lags its text but comes turn after turn, each from index 0; `turn.truncated`
    /// names a finished turn; an utterance's audio becomes an answer only if it is committed
    /// (or acknowledged), and a cleared one is forgotten.
    #[test]
    fn voice_audio_truncation_and_utterances() {
        use crate::server::{TurnAudio, TurnTruncated};
        let audio = |turn_id, index| ServerMessage::TurnAudio(TurnAudio { turn_id, index, audio: Audio(vec![0, 0]) });
        let truncated = |seq, turn_id| {
            ServerMessage::TurnTruncated(TurnTruncated { seq, turn_id, text: "Hello".into(), audio_end_ms: 500 })
        };
        let run = |messages: &[ServerMessage]| {
            let mut checker = Checker::new();
            for message in messages {
                checker.observe(message);
            }
            checker.finish().0.into_iter().map(|v| v.kind).collect::<Vec<_>>()
        };
        let intro = [ready(), started(1, 1, TurnKind::Intro), delta(1, 0, "Hello there."), audio(1, 0)];
        let lagging = [
            &intro[..],
            &[
                done(2, 1, "Hello there.", TurnStatus::Completed),
                started(3, 2, TurnKind::Question),
                audio(1, 1),
                audio(2, 0),
                truncated(4, 1),
            ],
        ]
        .concat();
        assert_eq!(run(&lagging), []);
        use ViolationKind::*;
        assert_eq!(run(&[&intro[..], &[audio(1, 2)]].concat()), [AudioIndexGap]);
        assert_eq!(run(&[&intro[..], &[audio(2, 0)]].concat()), [AudioOutsideTurn], "turn 2 has not started");
        let back = [&lagging[..5], &[audio(2, 0), audio(1, 1)]].concat();
        assert_eq!(run(&back), [AudioOutsideTurn], "turn 1's audio after turn 2's");
        assert_eq!(run(&[&intro[..], &[truncated(2, 1)]].concat()), [TruncatedUnknownTurn], "turn 1 is still open");

        let utterance = |id: &str| ClientMessage::InputAudioAppend { id: id.into(), audio: Audio(vec![0, 0]) };
        let mut checker = Checker::new();
        checker.observe(&ready());
        checker.sent(&utterance("noise"));
        checker.sent(&utterance("spoken"));
        checker.sent(&ClientMessage::InputAudioCommit { id: "spoken".into() });
        checker.sent(&utterance("cleared"));
        checker.sent(&ClientMessage::InputAudioCommit { id: "cleared".into() });
        checker.sent(&ClientMessage::InputAudioClear { id: "cleared".into() });
        for message in [
            started(1, 1, TurnKind::Question),
            delta(1, 0, "Q?"),
            done(2, 1, "Q?", TurnStatus::Completed),
            received(3, "spoken", 1),
        ] {
            checker.observe(&message);
        }
        checker.observe(&end(4)[0]);
        checker.observe(&end(4)[1]);
        assert_eq!(checker.finish().0, [], "noise and a cleared utterance need no answer");
        let mut checker = Checker::new();
        checker.observe(&ready());
        checker.sent(&ClientMessage::InputAudioCommit { id: "lost".into() });
        checker.observe(&end(1)[0]);
        checker.observe(&end(1)[1]);
        let kinds: Vec<_> = checker.finish().0.into_iter().map(|v| v.kind).collect();
        assert_eq!(kinds, [AnswerNotAcknowledged], "a committed utterance must be answered");
    }

    #[test]
    fn a_session_that_stops_early_is_not_complete_but_not_wrong_either() {
        let messages = &good_session()[..8];
        assert_eq!(check(messages, Some(4013)), (vec![], false));
        assert_eq!(check(messages, None), (vec![], false));
        assert_eq!(check(messages, Some(1000)), (vec![ViolationKind::CloseCode], false));
    }

    fn fatal(code: ErrorCode) -> ServerMessage {
        ServerMessage::Error(ErrorEvent { code, message: "refused".into(), fatal: true, reference: None })
    }

    /// A socket refused at attach (a failover: the store cannot load the session) is closed
    /// with a code to reconnect after; the next socket resumes. Not a violation, whether it is
    /// the first socket or a reconnect; a fatal error on an attached socket still is.
    #[test]
    fn a_refused_attach_then_a_resume_is_no_violation() {
        let session = good_session();
        let mut checker = Checker::new();
        checker.observe(&fatal(ErrorCode::StoreUnavailable));
        checker.closed(Some(4013));
        checker.reconnecting();
        for message in &session[..8] {
            checker.observe(message);
        }
        checker.closed(Some(4011));
        checker.reconnecting();
        checker.observe(&fatal(ErrorCode::AtCapacity));
        checker.closed(Some(4503));
        checker.reconnecting();
        let ServerMessage::SessionReady(mut ready) = ready() else { unreachable!() };
        (ready.resumed, ready.seq) = (true, 4);
        checker.observe(&ServerMessage::SessionReady(ready));
        checker.sent(&answer("a1"));
        for message in &session[8..] {
            checker.observe(message);
        }
        checker.closed(Some(1000));
        assert!(checker.completed());
        let (violations, errors) = checker.finish();
        assert_eq!(violations, []);
        assert_eq!(errors.values().sum::<u32>(), 2, "{errors:?}");

        let mut attached = good_session()[..8].to_vec();
        attached.push(fatal(ErrorCode::StoreUnavailable));
        assert_eq!(check(&attached, Some(4013)).0, [ViolationKind::FatalError]);
    }

    fn ending(seq: u64, reason: EndReason) -> ServerMessage {
        ServerMessage::SessionEnding(SessionEnding { seq, reason })
    }

    /// `good_session` whose end is decided after the answer (seq 6), the closing turn after it
    /// when `closing`; the report and `session.ended` carry `reason`.
    fn ending_session(reason: EndReason, closing: bool) -> Vec<ServerMessage> {
        let mut messages = good_session()[..9].to_vec();
        messages.push(ending(6, reason));
        messages.push(scored(7, 1));
        let mut seq = 8;
        if closing {
            messages.extend([
                started(8, 3, TurnKind::Closing),
                delta(3, 0, "Time is up."),
                done(9, 3, "Time is up.", TurnStatus::Completed),
            ]);
            seq = 10;
        }
        messages.push(ServerMessage::ReportReady(ReportReady { seq, session_id: "ses_1".into() }));
        messages.push(ServerMessage::SessionEnded(SessionEnded { seq: seq + 1, reason }));
        messages
    }

    #[test]
    fn after_session_ending_only_scores_a_closing_turn_and_the_report_follow() {
        use ViolationKind::*;
        assert_eq!(check(&ending_session(EndReason::EndedByCandidate, false), Some(1000)), (vec![], true));
        assert_eq!(check(&ending_session(EndReason::OutOfMinutes, true), Some(1000)), (vec![], true));
        // Only the out-of-minutes cut has a closing turn after the end is decided.
        let closing = ending_session(EndReason::EndedByCandidate, true);
        assert_eq!(check(&closing, Some(1000)).0, [AfterEnding]);
        let mut twice = ending_session(EndReason::EndedByCandidate, false);
        twice.insert(10, ending(7, EndReason::EndedByCandidate));
        let twice = renumber(twice);
        assert_eq!(check(&twice, Some(1000)).0, [EndingTwice]);
        let mut mismatch = ending_session(EndReason::EndedByCandidate, false);
        let last = mismatch.len() - 1;
        mismatch[last] = ServerMessage::SessionEnded(SessionEnded { seq: 9, reason: EndReason::Completed });
        assert_eq!(check(&mismatch, Some(1000)).0, [EndReasonMismatch]);
        let mut question = ending_session(EndReason::TimeUp, false);
        question.insert(10, started(0, 3, TurnKind::Question));
        question.insert(11, done(0, 3, "", TurnStatus::Failed));
        assert_eq!(check(&renumber(question), Some(1000)).0, [AfterEnding]);
    }

    #[test]
    fn nothing_is_awaited_once_the_end_is_decided() {
        let mut checker = Checker::new();
        for message in &good_session()[..8] {
            checker.observe(message);
        }
        assert!(checker.awaiting_answer());
        checker.observe(&ending(5, EndReason::TimeUp));
        assert!(!checker.awaiting_answer());
    }

    #[test]
    fn every_answer_scored_is_checked_only_when_asked_for() {
        let unscored = renumbered(|m| drop(m.remove(10)));
        assert_eq!(check(&unscored, Some(1000)).0, []);
        let mut checker = Checker::new().every_answer_scored();
        for message in &unscored {
            checker.observe(message);
            if checker.awaiting_answer() {
                checker.sent(&answer("a1"));
            }
        }
        checker.closed(Some(1000));
        let kinds: Vec<ViolationKind> = checker.finish().0.into_iter().map(|v| v.kind).collect();
        assert_eq!(kinds, [ViolationKind::AnswerNotScored]);
    }

    /// A `session.ready` of a resume at `head`, with turn 1 done and `open` in flight.
    fn resumed_ready(head: u64, open: Option<OpenTurn>) -> ServerMessage {
        let ServerMessage::SessionReady(mut ready) = ready() else { unreachable!() };
        ready.resumed = true;
        ready.seq = head;
        ready.last_seq = head;
        ready.state.status = SessionStatus::Live;
        ready.state.transcript.push(TranscriptEntry::Turn {
            turn_id: 1,
            kind: TurnKind::Intro,
            question_id: None,
            text: "Hello there.".into(),
            status: TurnStatus::Completed,
            started_at: None,
            ended_at: None,
        });
        ready.state.open_turn = open;
        ServerMessage::SessionReady(ready)
    }

    fn observe_all(messages: &[ServerMessage]) -> Vec<ViolationKind> {
        let mut checker = Checker::observer().every_answer_scored();
        for message in messages {
            checker.observe(message);
        }
        checker.closed(Some(1000));
        checker.finish().0.into_iter().map(|v| v.kind).collect()
    }

    #[test]
    fn an_observer_follows_a_session_across_reconnects() {
        let session = good_session();
        // From the head, without session.ready; the answer's id is learnt from its receipt.
        assert_eq!(observe_all(&session[1..]), []);
        // An answer sent without an id is acknowledged without one (found by the fuzzer).
        let mut no_id = session[1..].to_vec();
        no_id[7] = ServerMessage::AnswerReceived(AnswerReceived::typed(5, None, 1));
        assert_eq!(observe_all(&no_id), []);
        // Dropped mid-intro; the intro ended while away and is replayed without its deltas;
        // the question is open at the resume and goes on from the state's text.
        let open = OpenTurn {
            turn_id: 2,
            kind: TurnKind::Question,
            question_id: Some("q".into()),
            expects: Some(Expects::Text),
            text: "Design ".into(),
            next_index: 1,
        };
        let mut across = session[..3].to_vec();
        across.push(resumed_ready(3, Some(open.clone())));
        across.extend([done(2, 1, "Hello there.", TurnStatus::Completed), started(3, 2, TurnKind::Question)]);
        across.extend([delta(2, 1, "a cache."), done(4, 2, "Design a cache.", TurnStatus::Completed)]);
        across.extend(session[8..].iter().cloned());
        assert_eq!(observe_all(&across), []);
        // What was seen of a turn must begin what it ended with.
        let mut wrong = across.clone();
        wrong[4] = done(2, 1, "Goodbye.", TurnStatus::Completed);
        assert_eq!(observe_all(&wrong), [ViolationKind::TurnTextMismatch]);
        // A resumed open turn's text is the state's: deltas go on from its index.
        let mut gap = across;
        gap[6] = delta(2, 2, "a cache.");
        assert_eq!(observe_all(&gap), [ViolationKind::DeltaIndexGap]);
    }

    #[test]
    fn a_client_reconnecting_resumes_where_it_was() {
        // The same drop as the observer's above, seen by the client: its socket closes with
        // 4011 mid-intro, it reconnects after seq 2; nothing is a violation.
        let session = good_session();
        let open = OpenTurn {
            turn_id: 2,
            kind: TurnKind::Question,
            question_id: Some("q".into()),
            expects: Some(Expects::Text),
            text: "Design ".into(),
            next_index: 1,
        };
        let mut checker = Checker::new().every_answer_scored();
        for message in &session[..3] {
            checker.observe(message);
        }
        checker.closed(Some(4011));
        assert_eq!(checker.last_seq(), 1);
        checker.reconnecting();
        let mut after = vec![resumed_ready(3, Some(open))];
        after.extend([done(2, 1, "Hello there.", TurnStatus::Completed), started(3, 2, TurnKind::Question)]);
        after.extend([delta(2, 1, "a cache."), done(4, 2, "Design a cache.", TurnStatus::Completed)]);
        after.extend(session[8..].iter().cloned());
        let mut again = checker.clone();
        for message in &after {
            if again.awaiting_answer() {
                again.sent(&answer("a1"));
            }
            again.observe(message);
        }
        again.closed(Some(1000));
        assert!(again.completed());
        assert_eq!(again.finish().0, []);
        // Without saying it reconnects, a second session.ready is a violation.
        let mut unsaid = Checker::new();
        for message in session[..3].iter().chain(&after[..1]) {
            unsaid.observe(message);
        }
        let kinds: Vec<ViolationKind> = unsaid.finish().0.into_iter().map(|v| v.kind).collect();
        assert!(kinds.contains(&ViolationKind::ReadyNotFirst), "{kinds:?}");
    }

    #[test]
    fn violation_names_are_snake_case() {
        assert_eq!(ViolationKind::SeqGap.name(), "seq_gap");
        assert_eq!(ViolationKind::AnswerNotAcknowledged.name(), "answer_not_acknowledged");
    }
}
