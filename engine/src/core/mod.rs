//! The session core: one interview as a deterministic state machine, free of I/O.
//!
//! Like quinn-proto's `Connection`, a [`Session`] takes inputs with the current time passed
//! in (`handle_client`, `handle_interviewer`, `handle_score`, `handle_timeout`) and yields what
//! to do through [`Session::poll_output`] and [`Session::poll_timeout`]. It never reads a
//! clock, spawns, or touches a socket or a store, so every behaviour of an interview is tested
//! without tokio, and a recorded input log replays to the same outputs.
//!
//! Durable events are committed through one function (`commit`): it numbers the event, folds
//! it into the [`State`] and queues [`Output::Persist`]. The driver must store every
//! `Persist` before sending it or anything queued after it.

mod record;
mod report;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use viva_protocol::rest::Candidate;
use viva_protocol::server::{AnswerReceived, ErrorEvent, Pong, TurnDelta};
use viva_protocol::{
    AnswerContent, ClientMessage, EndReason, ErrorCode, Expects, ServerMessage, SessionState, TurnKind, TurnStatus,
};

pub use record::{LogEntry, Record};
pub use state::{Entry, OpenTurn, State, Status, Turn};

use crate::interviewer::{InterviewerEvent, TurnRequest};
use crate::plan::{Expected, Plan};
use crate::rubric;
use crate::scorer::{ScoreError, ScoreRequest, Scoring};
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
    /// How long the choice between a follow-up and the next question waits for the answer's
    /// score, so that the scorer's missing key points decide it (an LLM scorer reads an answer
    /// better than keywords do). 0 decides at once from the rubric's keyword coverage.
    pub follow_up_wait_ms: u64,
    /// Consecutive failed turns after which the session ends (`interviewer_failed`).
    pub max_turn_failures: u32,
    /// Attempts to score one answer before giving up on it.
    pub max_score_attempts: u32,
    /// How many ids of control messages (start, interrupt, end) are remembered for dedup.
    pub control_ids_kept: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_answer_bytes: 16 * 1024,
            max_code_bytes: 64 * 1024,
            clock_interval_ms: 5_000,
            turn_idle_timeout_ms: 30_000,
            score_wait_ms: 30_000,
            follow_up_wait_ms: 0,
            max_turn_failures: 3,
            max_score_attempts: 2,
            control_ids_kept: 256,
        }
    }
}

/// What a session is about; fixed at creation.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The session id.
    pub session_id: String,
    /// The interview plan.
    pub plan: Arc<Plan>,
    /// Who the candidate is.
    pub candidate: Candidate,
    /// Time budget from `session.start`, in milliseconds (the plan's duration unless metered).
    pub time_limit_ms: u64,
    /// `name/version` of the configured scorer, stamped on the report.
    pub scorer: String,
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
        turn_id: u32,
    },
    /// Score this answer; feed the result to `handle_score`.
    Score(Box<ScoreRequest>),
}

/// What the interviewer does next, derived from the state.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Start a turn.
    Turn(TurnSpec),
    /// Wait for the candidate (or for a turn in flight).
    Wait,
    /// End the session.
    Finish(EndReason),
}

/// A turn to start.
#[derive(Debug, Clone, PartialEq)]
struct TurnSpec {
    kind: TurnKind,
    question_id: Option<String>,
    key_point: Option<String>,
    /// For feedback: the answer reviewed.
    answer: Option<AnswerContent>,
    attempt: u32,
}

/// One interview, sans I/O.
#[derive(Debug, Clone)]
pub struct Session {
    params: SessionParams,
    state: State,
    outputs: VecDeque<Output>,
    /// When the next `clock` event is due (not durable).
    next_clock: Option<Timestamp>,
    /// Ids of control messages already applied, oldest first (bounded).
    control_ids: VecDeque<String>,
    /// Scoring attempts per answer (not durable: a restart retries afresh).
    score_attempts: HashMap<u32, u32>,
    /// An answer whose score the follow-up decision waits for, and until when (not durable:
    /// a restored session decides from the rubric at once).
    deciding: Option<(u32, Timestamp)>,
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
        Self {
            params,
            state,
            outputs: VecDeque::new(),
            next_clock: None,
            control_ids: VecDeque::new(),
            score_attempts: HashMap::new(),
            deciding: None,
        }
    }

    /// Picks a restored session up where it stopped: a turn that was in flight is closed as
    /// failed (so it is asked again), answers that lost their score are scored, and the
    /// interview goes on (or ends, if its time ran out meanwhile).
    pub fn recover(&mut self, now: Timestamp) {
        if let Some(open) = &self.state.open_turn {
            let (turn_id, text) = (open.turn.turn_id, open.turn.text.clone());
            self.commit(Record::TurnDone { turn_id, text, status: TurnStatus::Failed }, now);
        }
        let unscored: Vec<u32> = self.state.unscored().map(|(id, ..)| id).collect();
        for answer_id in unscored {
            self.request_score(answer_id);
        }
        if self.state.status == Status::Live {
            self.next_clock = Some(now);
        }
        self.handle_timeout(now);
        self.advance(now);
    }

    /// The state, for snapshots.
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
        self.state.to_wire(&self.params.plan, self.params.time_limit_ms, now)
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
        let mut deadlines = Vec::with_capacity(4);
        match self.state.status {
            Status::Live => {
                deadlines.extend(self.next_clock);
                deadlines.extend(self.time_up_at());
                deadlines.extend(self.deciding.map(|(_, until)| until));
                if let Some(open) = &self.state.open_turn {
                    deadlines.push(open.last_activity.plus_ms(config.turn_idle_timeout_ms));
                }
            }
            Status::Ending { since, .. } => deadlines.push(since.plus_ms(config.score_wait_ms)),
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
            ClientMessage::SessionStart { id } => {
                if self.already_applied(&id) {
                    return;
                }
                match self.state.status {
                    Status::Created => {
                        self.next_clock = Some(now);
                        self.start_turn(TurnSpec::new(TurnKind::Intro, None), now);
                        self.handle_timeout(now);
                    }
                    // Starting a started session is a no-op, not an error.
                    Status::Live | Status::Ending { .. } | Status::Ended(_) => {}
                }
                self.remember(id);
            }
            ClientMessage::AnswerSubmit { id, text } => self.submit(id, AnswerContent::Text { text }, now),
            ClientMessage::CodeSubmit { id, language, source } => {
                self.submit(id, AnswerContent::Code { language, source }, now);
            }
            ClientMessage::TurnInterrupt { id } => {
                if self.already_applied(&id) {
                    return;
                }
                let Some(turn_id) = self.state.open_turn.as_ref().map(|open| open.turn.turn_id) else {
                    return self.error(ErrorCode::NothingToInterrupt, "no interviewer turn is in flight", id);
                };
                self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
                self.remember(id);
                self.advance(now);
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

    /// What the interviewer said for `turn_id`. Events for a turn no longer open are ignored
    /// (a stream cancelled by barge-in may still have had chunks in flight).
    pub fn handle_interviewer(&mut self, turn_id: u32, event: InterviewerEvent, now: Timestamp) {
        let Some(open) = self.state.open_turn.as_mut().filter(|open| open.turn.turn_id == turn_id) else {
            return;
        };
        open.last_activity = now;
        match event {
            InterviewerEvent::Delta(text) => {
                if text.is_empty() {
                    return;
                }
                let index = open.next_index;
                open.next_index += 1;
                open.turn.text.push_str(&text);
                self.send(ServerMessage::TurnDelta(TurnDelta { turn_id, index, text }));
            }
            InterviewerEvent::Done => {
                let text = std::mem::take(&mut open.turn.text);
                self.commit(Record::TurnDone { turn_id, text, status: TurnStatus::Completed }, now);
                self.advance(now);
            }
            InterviewerEvent::Failed(reason) => {
                tracing::warn!(session = %self.params.session_id, turn_id, %reason, "interviewer turn failed");
                let text = std::mem::take(&mut open.turn.text);
                self.commit(Record::TurnDone { turn_id, text, status: TurnStatus::Failed }, now);
                self.advance(now);
            }
        }
    }

    /// The scorer's result for an answer.
    pub fn handle_score(&mut self, answer_id: u32, result: Result<Scoring, ScoreError>, now: Timestamp) {
        if self.state.scores.contains_key(&answer_id) || self.is_ended() {
            return;
        }
        let scoring = match result {
            Ok(scoring) => scoring,
            Err(error) => {
                let attempts = self.score_attempts.get(&answer_id).copied().unwrap_or(0);
                if attempts < self.params.config.max_score_attempts {
                    tracing::warn!(session = %self.params.session_id, answer_id, %error, "scoring failed, retrying");
                    self.request_score(answer_id);
                    return;
                }
                tracing::warn!(session = %self.params.session_id, answer_id, %error, "scoring failed, giving up");
                Scoring {
                    dimensions: Vec::new(),
                    key_points_hit: Vec::new(),
                    key_points_missed: Vec::new(),
                    notes: vec![format!("Could not be scored: {error}")],
                    scored_by: "unscored".to_owned(),
                }
            }
        };
        let mut scores = self.state.scores.clone();
        scores.insert(answer_id, scoring.clone());
        let (running, overall) = state::running_scores(&self.params.plan, &self.state.transcript, &scores);
        self.commit(Record::ScoreUpdated { answer_id, scoring, running, overall }, now);
        if self.deciding.is_some_and(|(id, _)| id == answer_id) {
            self.deciding = None;
            self.advance(now);
        }
        self.try_finish(now);
    }

    /// Time passed: clock ticks, the time limit, stalled turns, the wait for scores.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.deciding.is_some_and(|(_, until)| now >= until) {
            // The score is late: decide from the rubric.
            self.deciding = None;
            self.advance(now);
        }
        if self.state.status == Status::Live {
            if self.time_up_at().is_some_and(|at| now >= at) {
                self.begin_end(EndReason::TimeUp, now);
            } else if let Some(open) = &self.state.open_turn {
                if now >= open.last_activity.plus_ms(self.params.config.turn_idle_timeout_ms) {
                    let turn_id = open.turn.turn_id;
                    tracing::warn!(session = %self.params.session_id, turn_id, "interviewer went silent");
                    self.close_open_turn(turn_id, TurnStatus::Failed, now);
                    self.advance(now);
                }
            }
        }
        if let Status::Ending { since, .. } = self.state.status {
            if now >= since.plus_ms(self.params.config.score_wait_ms) {
                self.try_finish(now);
            }
        }
        if self.state.status == Status::Live && self.next_clock.is_some_and(|at| now >= at) {
            let clock = self.state.clock(self.params.time_limit_ms, now);
            self.send(ServerMessage::Clock(clock));
            self.next_clock = Some(now.plus_ms(self.params.config.clock_interval_ms));
        }
    }

    fn submit(&mut self, id: Option<String>, answer: AnswerContent, now: Timestamp) {
        // A re-sent answer is acknowledged again with its original event, never applied twice.
        if let Some((seq, answer_id)) = id.as_ref().and_then(|id| self.state.answer_ids.get(id)) {
            let ack = AnswerReceived { seq: *seq, id: id.clone(), answer_id: *answer_id };
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
            AnswerContent::Code { source, .. } => (source.len(), self.params.config.max_code_bytes, "code"),
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
        let answer_id = self.state.answers + 1;
        self.commit(Record::AnswerReceived { answer_id, client_id: id, question_id, answer }, now);
        self.request_score(answer_id);
        if self.params.config.follow_up_wait_ms > 0 {
            self.deciding = Some((answer_id, now.plus_ms(self.params.config.follow_up_wait_ms)));
        }
        self.advance(now);
    }

    /// Starts whatever comes next, if anything.
    fn advance(&mut self, now: Timestamp) {
        if self.state.status != Status::Live || self.state.open_turn.is_some() {
            return;
        }
        match self.next_step() {
            Step::Wait => {}
            Step::Finish(reason) => self.begin_end(reason, now),
            Step::Turn(spec) => self.start_turn(spec, now),
        }
    }

    fn start_turn(&mut self, spec: TurnSpec, now: Timestamp) {
        let turn_id = self.state.turns + 1;
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
        };
        self.commit(record, now);
        let request = TurnRequest {
            session_id: self.params.session_id.clone(),
            turn_id,
            kind: spec.kind,
            plan: Arc::clone(&self.params.plan),
            question_id: spec.question_id,
            key_point: spec.key_point,
            answer: spec.answer,
            candidate: self.params.candidate.clone(),
            transcript: self.state.transcript.iter().map(|e| self.state.wire_entry(e)).collect(),
            attempt: spec.attempt,
        };
        self.outputs.push_back(Output::StartTurn(Box::new(request)));
    }

    /// The interview's script, derived from the transcript alone.
    fn next_step(&self) -> Step {
        let plan = &self.params.plan;
        // Questions that do not suit the candidate's level are skipped.
        let level = self.params.candidate.level.as_deref();
        let transcript = &self.state.transcript;
        let Some(last) = transcript.last() else {
            return Step::Turn(TurnSpec::new(TurnKind::Intro, None));
        };
        let after_answer = |answer_at: usize| -> Step {
            let Some(Entry::Answer { answer_id, question_id, answer }) = transcript.get(answer_at) else {
                return Step::Wait;
            };
            let reviewed =
                transcript[answer_at + 1..].iter().any(|e| matches!(e, Entry::Turn(t) if t.kind == TurnKind::Feedback));
            if matches!(answer, AnswerContent::Code { .. }) && !reviewed {
                let mut spec = TurnSpec::new(TurnKind::Feedback, Some(question_id.clone()));
                spec.answer = Some(answer.clone());
                return Step::Turn(spec);
            }
            let Some(index) = plan.questions.iter().position(|q| &q.id == question_id) else {
                return Step::Finish(EndReason::Completed);
            };
            let question = &plan.questions[index];
            let followed_up = transcript.iter().any(
                |e| matches!(e, Entry::Turn(t) if t.kind == TurnKind::FollowUp && t.question_id.as_deref() == Some(&question.id)),
            );
            if !followed_up {
                // What the answer lacks: the scorer's word when its score is in, else the rubric's.
                let scored = self.state.scores.get(answer_id).filter(|s| !s.dimensions.is_empty());
                let missing = match scored {
                    Some(scoring) => scoring.key_points_missed.first().cloned(),
                    None if self.deciding.is_some_and(|(id, _)| id == *answer_id) => return Step::Wait,
                    None => rubric::coverage(question, answer).missed.first().map(|k| k.id.clone()),
                };
                if let Some(point) = missing {
                    let mut spec = TurnSpec::new(TurnKind::FollowUp, Some(question.id.clone()));
                    spec.key_point = Some(point);
                    return Step::Turn(spec);
                }
            }
            match plan.next_question(Some(index), level) {
                Some(next) => Step::Turn(TurnSpec::new(TurnKind::Question, Some(next.id.clone()))),
                None => Step::Turn(TurnSpec::new(TurnKind::Closing, None)),
            }
        };
        match last {
            Entry::Answer { .. } => after_answer(transcript.len() - 1),
            Entry::Turn(turn) if turn.status == Some(TurnStatus::Failed) => {
                let failures = transcript
                    .iter()
                    .rev()
                    .take_while(|e| matches!(e, Entry::Turn(t) if t.status == Some(TurnStatus::Failed)))
                    .count() as u32;
                if failures >= self.params.config.max_turn_failures {
                    return Step::Finish(EndReason::InterviewerFailed);
                }
                // Ask again: the same turn, in a new turn.
                let answer = (turn.kind == TurnKind::Feedback)
                    .then(|| {
                        transcript.iter().rev().find_map(|e| match e {
                            Entry::Answer { answer, .. } => Some(answer.clone()),
                            Entry::Turn(_) => None,
                        })
                    })
                    .flatten();
                Step::Turn(TurnSpec {
                    kind: turn.kind,
                    question_id: turn.question_id.clone(),
                    key_point: turn.key_point.clone(),
                    answer,
                    attempt: failures + 1,
                })
            }
            Entry::Turn(turn) => match turn.kind {
                TurnKind::Intro => match plan.next_question(None, level) {
                    Some(q) => Step::Turn(TurnSpec::new(TurnKind::Question, Some(q.id.clone()))),
                    None => Step::Turn(TurnSpec::new(TurnKind::Closing, None)),
                },
                TurnKind::Question | TurnKind::FollowUp => Step::Wait,
                TurnKind::Feedback => {
                    let answer_at = transcript.iter().rposition(|e| matches!(e, Entry::Answer { .. }));
                    answer_at.map_or(Step::Finish(EndReason::Completed), after_answer)
                }
                TurnKind::Closing => Step::Finish(EndReason::Completed),
            },
        }
    }

    fn begin_end(&mut self, reason: EndReason, now: Timestamp) {
        if let Some(turn_id) = self.state.open_turn.as_ref().map(|open| open.turn.turn_id) {
            self.close_open_turn(turn_id, TurnStatus::Interrupted, now);
        }
        self.state.status = Status::Ending { reason, since: now };
        self.try_finish(now);
    }

    /// Builds the report and ends, once every score is in or the wait for them is over.
    fn try_finish(&mut self, now: Timestamp) {
        let Status::Ending { reason, since } = self.state.status else {
            return;
        };
        let waited_enough = now >= since.plus_ms(self.params.config.score_wait_ms);
        if self.state.unscored().next().is_some() && !waited_enough {
            return;
        }
        let report = report::build(&self.params, &self.state, reason, now);
        self.commit(Record::ReportReady { report: Box::new(report) }, now);
        self.commit(Record::SessionEnded { reason }, now);
    }

    fn close_open_turn(&mut self, turn_id: u32, status: TurnStatus, now: Timestamp) {
        self.outputs.push_back(Output::CancelTurn { turn_id });
        let text = self.state.open_turn.as_mut().map(|open| std::mem::take(&mut open.turn.text)).unwrap_or_default();
        self.commit(Record::TurnDone { turn_id, text, status }, now);
    }

    fn request_score(&mut self, answer_id: u32) {
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
            answer_id,
            plan: Arc::clone(&self.params.plan),
            question_id,
            answer,
            candidate: self.params.candidate.clone(),
        };
        *self.score_attempts.entry(answer_id).or_default() += 1;
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
        id.as_ref().is_some_and(|id| self.control_ids.contains(id))
    }

    fn remember(&mut self, id: Option<String>) {
        let Some(id) = id else { return };
        if self.control_ids.len() == self.params.config.control_ids_kept {
            self.control_ids.pop_front();
        }
        self.control_ids.push_back(id);
    }

    fn time_up_at(&self) -> Option<Timestamp> {
        self.state.started_at.map(|start| start.plus_ms(self.params.time_limit_ms))
    }
}

impl TurnSpec {
    fn new(kind: TurnKind, question_id: Option<String>) -> Self {
        Self { kind, question_id, key_point: None, answer: None, attempt: 1 }
    }
}

/// A plan's expected format as the wire says it.
fn wire_expects(expected: &Expected) -> Expects {
    match expected {
        Expected::Text => Expects::Text,
        Expected::Code { language } => Expects::Code { language: language.clone() },
    }
}
