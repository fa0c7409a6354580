//! The session core: one interview as a deterministic state machine, free of I/O.
//!
//! Like quinn-proto's `Connection`, a [`Session`] takes inputs with the current time passed
//! in (`handle_client`, `handle_interviewer`, `handle_score`, `handle_budget`,
//! `handle_timeout`) and yields what to do through [`Session::poll_output`] and
//! [`Session::poll_timeout`]. It never reads a clock, spawns, or touches a socket or a store,
//! so every behaviour of an interview is tested without tokio, and a recorded input log
//! replays to the same outputs.
//!
//! Durable events are committed through one function (`commit`): it numbers the event, folds
//! it into the [`State`] and queues [`Output::Persist`]. The driver must store every
//! `Persist` before sending it or anything queued after it. The state is the fold of the log
//! and nothing else; what is not durable lives in the session's live part ([`Live`]).
//!
//! The core owns the types it takes in and gives out ([`TurnRequest`], [`InterviewerEvent`],
//! [`ScoreRequest`], [`Scoring`], [`Report`], [`Candidate`]): providers and stores depend on
//! this module, never the reverse.

mod ids;
mod record;
pub mod recording;
mod report;
mod scoring;
mod script;
mod state;
#[cfg(test)]
mod tests;
mod turn;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use viva_protocol::rest;
use viva_protocol::server::{AnswerReceived, ErrorEvent, Pong, TurnDelta};
use viva_protocol::{
    AnswerContent, ClientMessage, EndReason, ErrorCode, Expects, ServerMessage, SessionState, TurnKind, TurnStatus,
    Voice,
};

pub use ids::{AnswerId, SessionId, TurnId, UserId};
pub use record::{LogEntry, Record, Spoken};
pub use report::{AnswerEvidence, QuestionTiming, Report, Revisited};
pub use scoring::{ScoreError, ScoreRequest, Scoring, mean, round1};
pub use state::{Acknowledged, Entry, State, Status, Turn, best_per_question};
pub use turn::{Decision, FollowUpChoice, InterviewerEvent, TurnRequest};

use self::script::{Step, TurnSpec};
use crate::plan::{Expected, Plan};
use crate::time::Timestamp;

/// Tunables of the session core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// Largest prose answer, in bytes.
    pub max_answer_bytes: usize,
    /// Largest code submission, in bytes.
    pub max_code_bytes: usize,
    /// How often a `clock` event is sent while live.
    pub clock_interval_ms: u64,
    /// A turn with no word from the interviewer for this long fails.
    pub turn_idle_timeout_ms: u64,
    /// How long the end waits for outstanding scores before building the report anyway.
    pub score_wait_ms: u64,
    /// Who chooses between a follow-up and moving on after an answer.
    pub follow_ups: FollowUps,
    /// Consecutive failed turns after which the session ends (`interviewer_failed`).
    pub max_turn_failures: u32,
    /// Attempts to score one answer before giving up on it.
    pub max_score_attempts: u32,
    /// How many ids of control messages (start, interrupt, end) are remembered for dedup.
    pub control_ids_kept: usize,
    /// `usage.low` is sent when this much of the candidate's minutes is left.
    pub usage_low_ms: u64,
    /// How many of the transcript's latest entries a turn request carries: the interviewer's
    /// context. Copied for every turn; none for an interviewer that reads none
    /// (`Interviewer::reads_transcript`, applied by the engine).
    pub turn_context: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_answer_bytes: 16 * 1024,
            max_code_bytes: 64 * 1024,
            clock_interval_ms: 5_000,
            turn_idle_timeout_ms: 30_000,
            score_wait_ms: 30_000,
            follow_ups: FollowUps::Rubric,
            max_turn_failures: 3,
            max_score_attempts: 2,
            control_ids_kept: 256,
            usage_low_ms: 60_000,
            turn_context: 12,
        }
    }
}

/// Who chooses between a follow-up on what an answer missed and moving on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUps {
    /// The rubric's keyword coverage, at once.
    Rubric,
    /// The answer's score (an LLM scorer reads an answer better than keywords do), waited
    /// for up to `wait_ms`; the rubric when the score is later.
    Scorer {
        /// The longest wait, in milliseconds: silence for the candidate.
        wait_ms: u64,
    },
    /// The interviewer, in the turn it speaks next ([`FollowUpChoice`]): no wait. The
    /// default it is offered is the score's choice when the score is in, else the rubric's.
    Interviewer,
}

/// Who the candidate is, as given at the session's creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidate {
    /// The role practised for.
    pub role: Option<String>,
    /// Seniority (`junior`, `mid`, `senior`, `staff`): questions for other levels are skipped.
    pub level: Option<String>,
    /// Résumé text, for personalised questions.
    pub resume_text: Option<String>,
    /// An adaptive session (`adapt: true`): the key points of this plan the candidate missed
    /// in earlier sessions, most pressing first. Chosen at creation and kept with the
    /// session's metadata, so a restart or takeover targets the same ones. The script asks
    /// their questions first and follows up on them first; the report says which were
    /// revisited and whether they improved.
    pub focus: Vec<Focus>,
}

/// A key point an adaptive session targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Focus {
    /// The plan question it belongs to.
    pub question_id: String,
    /// The key point's id.
    pub key_point: String,
}

impl From<rest::Candidate> for Candidate {
    fn from(c: rest::Candidate) -> Self {
        Self { role: c.role, level: c.level, resume_text: c.resume_text, focus: Vec::new() }
    }
}

impl Candidate {
    /// The key points targeted on `question_id`, most pressing first.
    pub fn focus_on<'a>(&'a self, question_id: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.focus.iter().filter(move |f| f.question_id == question_id).map(|f| f.key_point.as_str())
    }

    /// The profile as REST shows it.
    pub fn to_rest(&self) -> rest::Candidate {
        rest::Candidate { role: self.role.clone(), level: self.level.clone(), resume_text: self.resume_text.clone() }
    }
}

/// What a session is about; fixed at creation.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The session id.
    pub session_id: SessionId,
    /// Whose it is (providers bound their work per user).
    pub user_id: UserId,
    /// The interview plan.
    pub plan: Arc<Plan>,
    /// Who the candidate is.
    pub candidate: Candidate,
    /// The plan's time from `session.start`, in milliseconds. Minutes (a budget that can
    /// change) come in through [`Session::handle_budget`].
    pub time_limit_ms: u64,
    /// `name/version` of the configured scorer, stamped on the report.
    pub scorer: String,
    /// The ways this server can speak (a text-to-speech provider) and listen (speech-to-text):
    /// what `session.start {voice}` may ask for.
    pub voice: Voice,
    /// Tunables.
    pub config: CoreConfig,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Store this durable event, then send its wire form (`LogEntry::to_message`).
    Persist(LogEntry),
    /// Send this ephemeral message (after everything queued before it).
    Send(ServerMessage),
    /// Ask the interviewer for this turn; feed what it says to `handle_interviewer`.
    StartTurn(Box<TurnRequest>),
    /// Stop the interviewer's turn in flight.
    CancelTurn {
        /// The turn.
        turn_id: TurnId,
    },
    /// Score this answer; feed the result to `handle_score`.
    Score(Box<ScoreRequest>),
}

/// One interview, sans I/O.
#[derive(Debug, Clone)]
pub struct Session {
    params: SessionParams,
    /// The fold of the durable log.
    state: State,
    /// What is not durable.
    live: Live,
    outputs: VecDeque<Output>,
}

/// The part of a session that is not durable: lost on a restart, where `recover` re-decides
/// it (an open turn is closed as failed and asked again, lost scores are asked again, the
/// follow-up is decided from the rubric, the driver feeds the budget again).
#[derive(Debug, Clone, Default)]
struct Live {
    /// What the interviewer has said of the open turn so far.
    speaking: Option<Speaking>,
    /// When the next `clock` event is due.
    next_clock: Option<Timestamp>,
    /// Ids of control messages already applied, oldest first (bounded).
    control_ids: VecDeque<String>,
    /// Scoring attempts per answer.
    score_attempts: HashMap<AnswerId, u32>,
    /// An answer whose score the follow-up decision waits for.
    follow_up_wait: Option<FollowUpWait>,
    /// A turn offered a choice, asked of the interviewer and not started until it chooses.
    choosing: Option<Choosing>,
    /// The candidate's minutes, when metered.
    budget: Option<Budget>,
    /// The candidate cut the interviewer off by speaking and has the floor: no turn starts
    /// until their utterance is over (`handle_floor_released`) or until this time.
    floor_until: Option<Timestamp>,
}

/// The open turn as spoken so far.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Speaking {
    turn_id: TurnId,
    /// Text delivered so far.
    text: String,
    /// Index of the next delta.
    next_index: u32,
    /// Last time the interviewer sent something (for the idle timeout).
    last_activity: Timestamp,
}

/// The follow-up decision waits for this answer's score until `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FollowUpWait {
    answer_id: AnswerId,
    until: Timestamp,
}

/// A turn asked of the interviewer with a [`FollowUpChoice`]: started when the interviewer
/// chooses or begins to speak (the default), failed when it fails or stays silent first.
#[derive(Debug, Clone, PartialEq)]
struct Choosing {
    turn_id: TurnId,
    /// The default, with the choice offered.
    spec: TurnSpec,
    /// When the interviewer was asked (for the idle timeout).
    since: Timestamp,
}

/// Minutes left to the candidate, as last told: `remaining_ms` at `at`. Live interview time
/// spends it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    remaining_ms: u64,
    at: Timestamp,
}

impl Session {
    /// A new session, not started.
    pub fn new(params: SessionParams) -> Self {
        Self::restore(params, State::new(), [])
    }

    /// A session rebuilt from a snapshot of its state and the log entries after it. Produces
    /// no output; call [`Session::recover`] before driving it live.
    pub fn restore(params: SessionParams, snapshot: State, tail: impl IntoIterator<Item = LogEntry>) -> Self {
        let mut state = snapshot;
        for entry in tail {
            if entry.seq > state.head {
                state.apply(&entry);
            }
        }
        Self { params, state, live: Live::default(), outputs: VecDeque::new() }
    }

    /// Picks a restored session up where it stopped: a turn that was in flight is closed as
    /// failed (so it is asked again), answers that lost their score are scored, and the
    /// interview goes on (or ends, if its time ran out meanwhile; an ending goes on ending).
    pub fn recover(&mut self, now: Timestamp) {
        if let Some(turn_id) = self.state.open_turn.as_ref().map(|t| t.turn_id) {
            self.end_turn(turn_id, TurnStatus::Failed, now);
        }
        let unscored: Vec<AnswerId> = self.state.unscored().map(|(id, ..)| id).collect();
        for answer_id in unscored {
            self.request_score(answer_id);
        }
        if self.state.status == Status::Live {
            self.live.next_clock = Some(now);
        }
        self.handle_timeout(now);
        self.advance(now);
    }

    /// The driver stops driving this session (shutdown): the turn in flight is closed as
    /// failed with what was said of it, durably, so that whoever loads the session next asks
    /// it again and the client's transcript keeps what it heard.
    pub fn suspend(&mut self, now: Timestamp) {
        self.cancel_choosing();
        if let Some(turn_id) = self.state.open_turn.as_ref().map(|t| t.turn_id) {
            self.close_open_turn(turn_id, TurnStatus::Failed, now);
        }
    }

    /// The durable state, for snapshots.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What the session is about.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// Seq of the last durable event.
    pub fn head(&self) -> u64 {
        self.state.head
    }

    /// Whether `session.ended` was committed.
    pub fn is_ended(&self) -> bool {
        matches!(self.state.status, Status::Ended(_))
    }

    /// The whole state as clients see it at `now`.
    pub fn wire_state(&self, now: Timestamp) -> SessionState {
        wire::session_state(&self.state, &self.params.plan, self.live.speaking.as_ref(), self.clock(now))
    }

    /// The next thing the driver must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Gives back the output queue's buffer; a driver calls it when the session goes quiet,
    /// so that thousands of idle sessions do not each keep the buffer of their last burst.
    pub fn shrink_to_fit(&mut self) {
        if self.outputs.is_empty() {
            self.outputs.shrink_to_fit();
        }
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let config = &self.params.config;
        let idle = self.live.speaking.as_ref().map(|s| s.last_activity.plus_ms(config.turn_idle_timeout_ms));
        let mut deadlines = Vec::with_capacity(5);
        match self.state.status {
            Status::Live => {
                deadlines.extend(self.live.next_clock);
                deadlines.extend(self.time_up_at());
                deadlines.extend(self.out_of_minutes_at());
                deadlines.extend(self.usage_low_at());
                deadlines.extend(self.live.follow_up_wait.map(|w| w.until));
                deadlines.extend(self.live.floor_until);
                deadlines.extend(self.live.choosing.as_ref().map(|c| c.since.plus_ms(config.turn_idle_timeout_ms)));
                deadlines.extend(idle);
            }
            Status::Ending { since, .. } => {
                // The wait for scores is over at its deadline, but a closing turn still open
                // is waited for (bounded by its idle timeout): its end finishes the session.
                if self.state.open_turn.is_none() {
                    deadlines.push(since.plus_ms(config.score_wait_ms));
                }
                deadlines.extend(idle);
            }
            Status::Created | Status::Ended(_) => {}
        }
        deadlines.into_iter().min()
    }

    /// A message from the candidate's client.
    pub fn handle_client(&mut self, message: ClientMessage, now: Timestamp) {
        match message {
            ClientMessage::Ping { id } => self.send(ServerMessage::Pong(Pong { id })),
            // Acks let a driver trim what it would replay; the core keeps nothing per ack.
            ClientMessage::Ack { .. } => {}
            ClientMessage::SessionStart { id, voice } => {
                if self.already_applied(&id) {
                    return;
                }
                let voice = voice.unwrap_or_default();
                let offered = self.params.voice;
                if (voice.input && !offered.input) || (voice.output && !offered.output) {
                    // Not started: the client may start again without voice.
                    return self.error(ErrorCode::VoiceUnavailable, VOICE_NOT_OFFERED, id);
                }
                if self.state.status == Status::Created {
                    // Starting a started session is a no-op, not an error.
                    self.live.next_clock = Some(now);
                    let mut intro = TurnSpec::new(TurnKind::Intro, None);
                    intro.voice = (voice.input || voice.output).then_some(voice);
                    self.start_turn(intro, now);
                    self.handle_timeout(now);
                }
                self.remember(id);
            }
            ClientMessage::AnswerSubmit { id, text } => self.submit(id, AnswerContent::Text { text }, None, now),
            ClientMessage::CodeSubmit { id, language, source } => {
                self.submit(id, AnswerContent::Code { language, source }, None, now);
            }
            ClientMessage::TurnInterrupt { id } => {
                if self.already_applied(&id) {
                    return;
                }
                let Some(turn_id) = self.state.open_turn.as_ref().map(|t| t.turn_id) else {
                    return self.error(ErrorCode::NothingToInterrupt, "no interviewer turn is in flight", id);
                };
                self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
                self.remember(id);
                self.advance(now);
            }
            // A driver with a voice path takes these for a session that opted in (and gives the
            // core what they come to: `handle_spoken_answer`, `handle_barge_in`,
            // `handle_truncate`); the rest land here.
            message @ (ClientMessage::InputAudioAppend { .. }
            | ClientMessage::InputAudioCommit { .. }
            | ClientMessage::InputAudioClear { .. }
            | ClientMessage::TurnTruncate { .. }) => {
                let id = message.id().map(str::to_owned);
                self.error(ErrorCode::VoiceUnavailable, VOICE_NOT_CHOSEN, id);
            }
            ClientMessage::SessionEnd { id } => {
                if self.already_applied(&id) {
                    return;
                }
                if matches!(self.state.status, Status::Created | Status::Live) {
                    self.begin_end(EndReason::EndedByCandidate, now);
                }
                self.remember(id);
            }
        }
    }

    /// A spoken answer, transcribed: stored and scored like a typed one. `id` is its
    /// utterance's id (`input_audio.append`), so a re-sent utterance is stored once.
    pub fn handle_spoken_answer(&mut self, id: String, text: String, spoken: Spoken, now: Timestamp) {
        self.submit(Some(id), AnswerContent::Text { text }, Some(spoken), now);
    }

    /// The candidate began to speak over the interviewer (voice): the turn in flight, if any,
    /// is cut off as `interrupted`, as by `turn.interrupt`, and the candidate has the floor:
    /// the next turn waits until their utterance is over ([`Session::handle_floor_released`],
    /// or an answer) — at most `turn_idle_timeout_ms`, should the driver never say.
    pub fn handle_barge_in(&mut self, now: Timestamp) {
        if let Some(turn_id) = self.state.open_turn.as_ref().map(|t| t.turn_id) {
            self.live.floor_until = Some(now.plus_ms(self.params.config.turn_idle_timeout_ms));
            self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
        }
    }

    /// The candidate's utterance after a barge-in is over (it was not an answer, or its
    /// answer was refused or could not be transcribed): the interview goes on.
    pub fn handle_floor_released(&mut self, now: Timestamp) {
        if self.live.floor_until.take().is_some() {
            self.advance(now);
        }
    }

    /// `turn.truncate`: the candidate heard `turn_id` up to `audio_end_ms`, which said `heard`
    /// (the driver knows what its audio said; `heard` is a prefix of the turn's text). A turn
    /// still open is cut off first. The transcript keeps the text as heard; truncating a turn
    /// again, or with its whole text, changes nothing.
    pub fn handle_truncate(
        &mut self,
        id: Option<String>,
        turn_id: TurnId,
        heard: String,
        audio_end_ms: u64,
        now: Timestamp,
    ) {
        if self.is_ended() {
            return self.error(ErrorCode::SessionEnded, "the session has ended", id);
        }
        if self.state.open_turn.as_ref().is_some_and(|t| t.turn_id == turn_id) {
            self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
            self.advance(now);
        }
        let Some(turn) = self.state.finished_turn(turn_id) else {
            return self.error(ErrorCode::InvalidMessage, "no such turn to truncate", id);
        };
        if turn.text.starts_with(&heard) && turn.text != heard {
            self.commit(Record::TurnTruncated { turn_id, text: heard, audio_end_ms }, now);
        }
    }

    /// What the interviewer said for `turn_id`. Events for a turn no longer open are ignored
    /// (a stream cancelled by barge-in may still have had chunks in flight).
    pub fn handle_interviewer(&mut self, turn_id: TurnId, event: InterviewerEvent, now: Timestamp) {
        if let Some(choosing) = self.live.choosing.take_if(|c| c.turn_id == turn_id) {
            // The turn starts now: as chosen, or as the default when the interviewer speaks
            // (or fails) without choosing.
            let spec = match &event {
                InterviewerEvent::Chose(decision) => self.chosen(choosing.spec, decision),
                _ => choosing.spec,
            };
            self.open_turn(turn_id, &spec, now);
        }
        let Some(speaking) = self.live.speaking.as_mut().filter(|s| s.turn_id == turn_id) else {
            return;
        };
        speaking.last_activity = now;
        let status = match event {
            // Once, before the turn started; later ones are ignored.
            InterviewerEvent::Chose(_) => return,
            InterviewerEvent::Delta(text) => {
                if text.is_empty() {
                    return;
                }
                let index = speaking.next_index;
                speaking.next_index += 1;
                speaking.text.push_str(&text);
                return self.send(ServerMessage::TurnDelta(TurnDelta { turn_id: turn_id.0, index, text }));
            }
            InterviewerEvent::Done => TurnStatus::Completed,
            InterviewerEvent::Failed(reason) => {
                tracing::warn!(session = %self.params.session_id, %turn_id, %reason, "interviewer turn failed");
                TurnStatus::Failed
            }
        };
        self.end_turn(turn_id, status, now);
        self.advance(now);
    }

    /// The scorer's result for an answer.
    pub fn handle_score(&mut self, answer_id: AnswerId, result: Result<Scoring, ScoreError>, now: Timestamp) {
        if self.state.scores.contains_key(&answer_id) || self.is_ended() {
            return;
        }
        let scoring = match result {
            Ok(scoring) => scoring,
            Err(error) => {
                let attempts = self.live.score_attempts.get(&answer_id).copied().unwrap_or(0);
                if attempts < self.params.config.max_score_attempts {
                    tracing::warn!(session = %self.params.session_id, %answer_id, %error, "scoring failed, retrying");
                    self.request_score(answer_id);
                    return;
                }
                tracing::warn!(session = %self.params.session_id, %answer_id, %error, "scoring failed, giving up");
                Scoring::unscored(&error)
            }
        };
        self.live.score_attempts.remove(&answer_id);
        let (running, overall) = state::running_scores_by(&self.params.plan, &self.state.transcript, |id| {
            if id == answer_id { Some(&scoring) } else { self.state.scores.get(&id) }
        });
        self.commit(Record::ScoreUpdated { answer_id, scoring, running, overall }, now);
        if self.live.follow_up_wait.is_some_and(|w| w.answer_id == answer_id) {
            self.live.follow_up_wait = None;
            self.advance(now);
        }
        self.try_finish(now);
    }

    /// The candidate's minutes changed (metering): `remaining_ms` are left as of `now`, and
    /// live interview time spends them from here on. `clock.remaining_s` becomes the lesser of
    /// the plan's time and the minutes; when the minutes run out the interviewer closes in a
    /// short turn, the report is built and the session ends with `out_of_minutes`.
    pub fn handle_budget(&mut self, remaining_ms: u64, now: Timestamp) {
        self.live.budget = Some(Budget { remaining_ms, at: now });
        if self.state.status == Status::Live {
            self.send(ServerMessage::Clock(self.clock(now)));
            self.handle_timeout(now);
        }
    }

    /// Nobody has been connected to the live session for too long (the driver's
    /// `--abandon-after-s`): it ends `abandoned`, its report built, so it neither holds
    /// minutes nor counts as live any more.
    pub fn handle_abandoned(&mut self, now: Timestamp) {
        if self.state.status == Status::Live {
            self.begin_end(EndReason::Abandoned, now);
        }
    }

    /// Time passed: clock ticks, the time limit, the minutes, stalled turns, the waits for
    /// scores.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.live.floor_until.is_some_and(|until| now >= until) {
            self.handle_floor_released(now);
        }
        if self.live.follow_up_wait.is_some_and(|w| now >= w.until) {
            // The score is late: decide from the rubric.
            self.live.follow_up_wait = None;
            self.advance(now);
        }
        let idle = self.params.config.turn_idle_timeout_ms;
        if let Some(choosing) = self.live.choosing.take_if(|c| now >= c.since.plus_ms(idle)) {
            // Silent before choosing: the default turn fails like any silent turn.
            tracing::warn!(session = %self.params.session_id, turn_id = %choosing.turn_id, "interviewer went silent");
            self.open_turn(choosing.turn_id, &choosing.spec, now);
            self.close_open_turn(choosing.turn_id, TurnStatus::Failed, now);
            self.advance(now);
        }
        if self.state.status == Status::Live {
            if self.time_up_at().is_some_and(|at| now >= at) {
                self.begin_end(EndReason::TimeUp, now);
            } else if self.out_of_minutes_at().is_some_and(|at| now >= at) {
                self.begin_end(EndReason::OutOfMinutes, now);
            } else if self.usage_low_at().is_some_and(|at| now >= at) {
                let left = self.out_of_minutes_at().map_or(0, |at| at.ms_since(now));
                self.commit(Record::UsageLow { remaining_s: left.div_ceil(1000) }, now);
            }
        }
        if matches!(self.state.status, Status::Live | Status::Ending { .. }) {
            let idle = self.params.config.turn_idle_timeout_ms;
            if let Some(speaking) = self.live.speaking.as_ref().filter(|s| now >= s.last_activity.plus_ms(idle)) {
                let turn_id = speaking.turn_id;
                tracing::warn!(session = %self.params.session_id, %turn_id, "interviewer went silent");
                self.close_open_turn(turn_id, TurnStatus::Failed, now);
                self.advance(now);
            }
        }
        if let Status::Ending { since, .. } = self.state.status {
            if now >= since.plus_ms(self.params.config.score_wait_ms) {
                self.try_finish(now);
            }
        }
        if self.state.status == Status::Live && self.live.next_clock.is_some_and(|at| now >= at) {
            self.send(ServerMessage::Clock(self.clock(now)));
            self.live.next_clock = Some(now.plus_ms(self.params.config.clock_interval_ms));
        }
    }

    fn submit(&mut self, id: Option<String>, answer: AnswerContent, spoken: Option<Spoken>, now: Timestamp) {
        // A re-sent answer is acknowledged again with its original event, never applied twice.
        if let Some(acked) = id.as_ref().and_then(|id| self.state.answer_ids.get(id)) {
            let ack = AnswerReceived::typed(acked.seq, id.clone(), acked.answer_id.0);
            return self.send(ServerMessage::AnswerReceived(ack));
        }
        let rejection = match self.state.status {
            Status::Created => Some((ErrorCode::NotStarted, "send session.start first")),
            Status::Ending { .. } | Status::Ended(_) => Some((ErrorCode::SessionEnded, "the session has ended")),
            Status::Live => None,
        };
        if let Some((code, message)) = rejection {
            return self.error(code, message, id);
        }
        let (size, limit, what) = match &answer {
            AnswerContent::Text { text } => (text.len(), self.params.config.max_answer_bytes, "answer"),
            // The language is stored with the code: it counts.
            AnswerContent::Code { language, source } => {
                (language.len() + source.len(), self.params.config.max_code_bytes, "code")
            }
        };
        if size > limit {
            let message = format!("{what} of {size} bytes is over the limit of {limit} bytes");
            return self.error(ErrorCode::AnswerTooLarge, &message, id);
        }
        let empty = match &answer {
            AnswerContent::Text { text } => text.trim().is_empty(),
            AnswerContent::Code { source, .. } => source.trim().is_empty(),
        };
        if empty {
            return self.error(ErrorCode::InvalidMessage, "the answer is empty", id);
        }
        let Some(question_id) = self.state.awaiting().and_then(|t| t.question_id.clone()) else {
            let message = "the interviewer is not waiting for an answer; wait for a question";
            return self.error(ErrorCode::NotAwaitingAnswer, message, id);
        };
        let answer_id = self.state.last_answer.next();
        self.live.floor_until = None;
        self.commit(Record::AnswerReceived { answer_id, client_id: id, question_id, answer, spoken }, now);
        self.request_score(answer_id);
        if let FollowUps::Scorer { wait_ms } = self.params.config.follow_ups {
            self.live.follow_up_wait = Some(FollowUpWait { answer_id, until: now.plus_ms(wait_ms) });
        }
        self.advance(now);
    }

    /// Starts whatever comes next, if anything: the script's next step while live, the
    /// report once an ending has all it waits for.
    fn advance(&mut self, now: Timestamp) {
        match self.state.status {
            Status::Live
                if self.state.open_turn.is_none()
                    && self.live.choosing.is_none()
                    && self.live.floor_until.is_none() =>
            {
                let deciding = self.live.follow_up_wait.map(|w| w.answer_id);
                match script::next_step(&self.params, &self.state, deciding) {
                    Step::Wait => {}
                    Step::Finish(reason) => self.begin_end(reason, now),
                    Step::Turn(spec) => self.start_turn(spec, now),
                }
            }
            Status::Ending { .. } => self.try_finish(now),
            Status::Created | Status::Live | Status::Ended(_) => {}
        }
    }

    /// Asks the interviewer for a turn; it starts at once, or, when the interviewer is
    /// offered a choice, once it has chosen.
    fn start_turn(&mut self, spec: TurnSpec, now: Timestamp) {
        let turn_id = self.state.last_turn.next();
        let request = TurnRequest {
            session_id: self.params.session_id.clone(),
            user_id: self.params.user_id.clone(),
            turn_id,
            kind: spec.kind,
            plan: Arc::clone(&self.params.plan),
            question_id: spec.question_id.clone(),
            key_point: spec.key_point.clone(),
            answer: spec.answer.clone(),
            ending: spec.ending,
            candidate: self.params.candidate.clone(),
            transcript: {
                let transcript = &self.state.transcript;
                let recent = &transcript[transcript.len().saturating_sub(self.params.config.turn_context)..];
                recent.iter().map(|e| wire::entry(&self.state, e)).collect()
            },
            attempt: spec.attempt,
            choice: spec.choice.clone(),
        };
        if spec.choice.is_some() {
            self.live.choosing = Some(Choosing { turn_id, spec, since: now });
        } else {
            self.open_turn(turn_id, &spec, now);
        }
        self.outputs.push_back(Output::StartTurn(Box::new(request)));
    }

    /// The turn begins: durable, and spoken from here on.
    fn open_turn(&mut self, turn_id: TurnId, spec: &TurnSpec, now: Timestamp) {
        let plan = &self.params.plan;
        let expects = match spec.kind {
            TurnKind::Question | TurnKind::FollowUp => {
                spec.question_id.as_deref().and_then(|q| plan.question(q)).map(|q| wire_expects(&q.expects))
            }
            _ => None,
        };
        let record = Record::TurnStarted {
            turn_id,
            kind: spec.kind,
            question_id: spec.question_id.clone(),
            key_point: spec.key_point.clone(),
            expects,
            voice: spec.voice,
        };
        self.commit(record, now);
        self.live.speaking = Some(Speaking { turn_id, text: String::new(), next_index: 0, last_activity: now });
    }

    /// The turn the interviewer chose, of those `offered` allows; the default for a choice it
    /// does not allow (a key point the question does not have).
    fn chosen(&self, offered: TurnSpec, decision: &Decision) -> TurnSpec {
        let Some(choice) = &offered.choice else { return offered };
        match decision {
            Decision::MoveOn => TurnSpec::new(choice.move_on.0, choice.move_on.1.clone()),
            Decision::FollowUp { key_point } => {
                let question = self.params.plan.question(&choice.question_id);
                if !question.is_some_and(|q| q.key_points.iter().any(|k| &k.id == key_point)) {
                    tracing::warn!(session = %self.params.session_id, %key_point, "the interviewer chose an unknown key point");
                    return offered;
                }
                script::follow_up(&choice.question_id, key_point.clone())
            }
        }
    }

    /// Stops asking for a turn that has not started: nothing of it is durable.
    fn cancel_choosing(&mut self) {
        if let Some(choosing) = self.live.choosing.take() {
            self.outputs.push_back(Output::CancelTurn { turn_id: choosing.turn_id });
        }
    }

    /// The end is decided. A turn in flight is cut off. If nothing is left to wait for, the
    /// report and the end follow at once; otherwise `session.ending` makes the decision
    /// durable, and the report waits for outstanding scores (bounded) and, when the minutes
    /// ran out, for a short closing turn.
    fn begin_end(&mut self, reason: EndReason, now: Timestamp) {
        self.cancel_choosing();
        if let Some(turn_id) = self.state.open_turn.as_ref().map(|t| t.turn_id) {
            self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
        }
        let closing = reason == EndReason::OutOfMinutes;
        if !closing && self.state.unscored().next().is_none() {
            return self.finish(reason, now);
        }
        self.commit(Record::SessionEnding { reason }, now);
        if closing {
            let mut spec = TurnSpec::new(TurnKind::Closing, None);
            spec.ending = Some(reason);
            self.start_turn(spec, now);
        }
        self.try_finish(now);
    }

    /// Builds the report and ends, once no turn is open and every score is in (or the wait
    /// for them is over).
    fn try_finish(&mut self, now: Timestamp) {
        let Status::Ending { reason, since } = self.state.status else {
            return;
        };
        let waited_enough = now >= since.plus_ms(self.params.config.score_wait_ms);
        if self.state.open_turn.is_some() || (self.state.unscored().next().is_some() && !waited_enough) {
            return;
        }
        self.finish(reason, now);
    }

    fn finish(&mut self, reason: EndReason, now: Timestamp) {
        let report = report::build(&self.params, &self.state, reason, now);
        self.commit(Record::ReportReady { report: Box::new(report) }, now);
        self.commit(Record::SessionEnded { reason }, now);
    }

    /// Cuts the open turn off: the interviewer stops, the turn ends with what was said of it.
    fn close_open_turn(&mut self, turn_id: TurnId, status: TurnStatus, now: Timestamp) {
        self.outputs.push_back(Output::CancelTurn { turn_id });
        self.end_turn(turn_id, status, now);
    }

    /// Ends the open turn with what was said of it (nothing, for a turn restored from the
    /// store: what was said of it then is not durable).
    fn end_turn(&mut self, turn_id: TurnId, status: TurnStatus, now: Timestamp) {
        let said = self.live.speaking.take_if(|s| s.turn_id == turn_id);
        let text = said.map(|s| s.text).unwrap_or_default();
        self.commit(Record::TurnDone { turn_id, text, status }, now);
    }

    fn request_score(&mut self, answer_id: AnswerId) {
        let Some(question_id) = self.state.unscored().find(|(id, ..)| *id == answer_id).map(|(_, q, _)| q.to_owned())
        else {
            return;
        };
        // A follow-up answer is scored together with the answer it follows up.
        let Some(answer) = self.state.answer_so_far(&question_id, answer_id) else {
            return;
        };
        let request = ScoreRequest {
            session_id: self.params.session_id.clone(),
            user_id: self.params.user_id.clone(),
            answer_id,
            plan: Arc::clone(&self.params.plan),
            question_id,
            answer,
            candidate: self.params.candidate.clone(),
        };
        *self.live.score_attempts.entry(answer_id).or_default() += 1;
        self.outputs.push_back(Output::Score(Box::new(request)));
    }

    /// The one way a durable event comes to be.
    fn commit(&mut self, record: Record, now: Timestamp) {
        let entry = LogEntry { seq: self.state.head + 1, at: now, record };
        self.state.apply(&entry);
        self.outputs.push_back(Output::Persist(entry));
    }

    fn send(&mut self, message: ServerMessage) {
        self.outputs.push_back(Output::Send(message));
    }

    fn error(&mut self, code: ErrorCode, message: &str, reference: Option<String>) {
        let event = ErrorEvent { code, message: message.to_owned(), fatal: false, reference };
        self.send(ServerMessage::Error(event));
    }

    fn already_applied(&self, id: &Option<String>) -> bool {
        id.as_ref().is_some_and(|id| self.live.control_ids.contains(id))
    }

    fn remember(&mut self, id: Option<String>) {
        let Some(id) = id else { return };
        if self.live.control_ids.len() == self.params.config.control_ids_kept {
            self.live.control_ids.pop_front();
        }
        self.live.control_ids.push_back(id);
    }

    /// When the plan's time runs out.
    fn time_up_at(&self) -> Option<Timestamp> {
        self.state.started_at.map(|start| start.plus_ms(self.params.time_limit_ms))
    }

    /// When the candidate's minutes run out (never, unless metered). Minutes are spent only
    /// while the interview runs: from the start, or from when they were last told.
    fn out_of_minutes_at(&self) -> Option<Timestamp> {
        let budget = self.live.budget?;
        let start = self.state.started_at?;
        Some(budget.at.max(start).plus_ms(budget.remaining_ms))
    }

    /// When to say the minutes are running low (once).
    fn usage_low_at(&self) -> Option<Timestamp> {
        let out = self.out_of_minutes_at().filter(|_| !self.state.usage_low)?;
        Some(Timestamp(out.0.saturating_sub(self.params.config.usage_low_ms)))
    }

    /// Time spent and left at `now`: what is left is the lesser of the plan's time and the
    /// minutes.
    fn clock(&self, now: Timestamp) -> viva_protocol::Clock {
        let elapsed_ms = self.state.elapsed_ms(now);
        let mut remaining_ms = self.params.time_limit_ms.saturating_sub(elapsed_ms);
        if let Some(budget) = self.live.budget {
            let spent = match self.state.started_at {
                Some(start) if matches!(self.state.status, Status::Live | Status::Ending { .. }) => {
                    now.ms_since(budget.at.max(start))
                }
                _ => 0,
            };
            remaining_ms = remaining_ms.min(budget.remaining_ms.saturating_sub(spent));
        }
        viva_protocol::Clock { elapsed_s: elapsed_ms / 1000, remaining_s: remaining_ms.div_ceil(1000) }
    }
}

/// Why `session.start {voice}` is refused.
const VOICE_NOT_OFFERED: &str = "this server does not speak or listen as asked: no speech-to-text (for input) or \
                                 text-to-speech (for output) provider is configured";
/// Why a voice message is refused.
const VOICE_NOT_CHOSEN: &str = "voice is not on for this session: start it with session.start {voice} on a server \
                                that speaks and listens";

/// A plan's expected format as the wire says it.
fn wire_expects(expected: &Expected) -> Expects {
    match expected {
        Expected::Text => Expects::Text,
        Expected::Code { language } => Expects::Code { language: language.clone() },
    }
}
