//! The session core driven by any sequence of client messages, interviewer output, scores,
//! failures, budgets, waits and restarts, as a driver would feed it. After every step the
//! protocol's invariants hold for everything it said (the one protocol checker, watching as a
//! client that reconnects after each restart: seqs contiguous, one turn at a time, exactly
//! one `turn.done` per `turn.started` with the text of its deltas, every answer acknowledged
//! once, scores once, the end in order); at the end, snapshot + tail equals the live state
//! for every split of the log, through the stored forms.
#![no_main]

use std::sync::{Arc, LazyLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use viva_engine::core::{
    CoreConfig, Decision, Entry, FollowUps, InterviewerEvent, LogEntry, Output, ScoreError, ScoreRequest, Session,
    SessionId, SessionParams, Spoken, State, TurnId, TurnRequest,
};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::plan::{Plan, PlanCatalog};
use viva_engine::scorer::HeuristicScorer;
use viva_engine::time::Timestamp;
use viva_protocol::checker::Checker;
use viva_protocol::server::SessionReady;
use viva_protocol::{ClientMessage, Encoding, Limits, ServerMessage, Voice};

/// Answers that hit the shipped plan's key points, and ones that do not.
const ANSWERS: [&str; 4] = [
    "I would shard by key with consistent hashing, replicate, and use an LRU cache with a TTL.",
    "Use a queue, idempotency keys and retries with backoff; measure p99 latency.",
    "I am not sure.",
    "",
];

#[derive(Debug, Arbitrary)]
enum Op {
    Start,
    /// An answer with one of a few ids (so re-sends happen), canned or arbitrary text.
    Answer {
        id: Option<u8>,
        canned: u8,
        text: Option<String>,
    },
    Code {
        id: Option<u8>,
        language: String,
        source: String,
    },
    Interrupt,
    /// A spoken answer, already transcribed (a voice session's driver does that).
    SpokenAnswer {
        id: u8,
        canned: u8,
        audio_ms: u16,
    },
    /// The candidate speaks over the open turn; then has the floor until released.
    BargeIn,
    FloorReleased,
    /// Playback stopped at `audio_end_ms` in the open turn (or a stale one), having heard
    /// `heard_chars` of it.
    Truncate {
        stale: bool,
        heard_chars: u8,
        audio_end_ms: u16,
    },
    End,
    Ping,
    Ack(u64),
    /// Any frame, through the gateway's decoder.
    Frame(Vec<u8>),
    /// The interviewer says the whole scripted text of the open turn, then is done.
    Speak,
    /// Part of the open turn (or of a turn that is not open: stale output must be ignored).
    Delta {
        text: String,
        stale: bool,
    },
    Done {
        stale: bool,
    },
    Fail,
    /// The interviewer chooses the turn offered a choice: 0 moves on, k follows up on the
    /// question's k-th key point (past the last: one the question does not have).
    Choose {
        key_point: u8,
        stale: bool,
    },
    Scores,
    ScoresFail,
    /// Time moves on (in seconds); timeouts due by then fire.
    Wait(u16),
    /// The candidate's minutes left, in seconds.
    Budget(u16),
    Suspend,
    /// A crash: a new driver loads the session from its log and recovers it.
    Restart,
}

impl Op {
    /// Whether it comes from the candidate's audio.
    fn is_voice(&self) -> bool {
        matches!(self, Self::SpokenAnswer { .. } | Self::BargeIn | Self::FloorReleased | Self::Truncate { .. })
    }
}

static PLAN: LazyLock<Arc<Plan>> =
    LazyLock::new(|| PlanCatalog::shipped().get("senior-backend").expect("the shipped plan").clone());

/// Who chooses follow-ups, from the input's first byte.
fn follow_ups(mode: u8) -> FollowUps {
    match mode % 3 {
        0 => FollowUps::Rubric,
        1 => FollowUps::Scorer { wait_ms: 3_000 },
        _ => FollowUps::Interviewer,
    }
}

fn params(follow_ups: FollowUps) -> SessionParams {
    SessionParams {
        session_id: SessionId::from("s1"),
        user_id: "u1".into(),
        plan: PLAN.clone(),
        candidate: Default::default(),
        time_limit_ms: PLAN.duration_s * 1000,
        scorer: "heuristic/1".into(),
        config: CoreConfig { follow_ups, ..CoreConfig::default() },
        voice: Voice { input: true, output: true },
    }
}

/// A driver with a simulated clock and a log that is stored at once.
struct Driver {
    params: SessionParams,
    session: Session,
    now: Timestamp,
    turn: Option<TurnRequest>,
    scores: Vec<ScoreRequest>,
    log: Vec<LogEntry>,
    checker: Checker,
}

impl Driver {
    fn new(params: SessionParams) -> Self {
        Self {
            session: Session::new(params.clone()),
            params,
            now: Timestamp(1_000_000),
            turn: None,
            scores: Vec::new(),
            log: Vec::new(),
            checker: Checker::observer(),
        }
    }

    fn client(&mut self, message: ClientMessage) {
        // Once ended, the runtime closes the socket (1000) and every later one at once.
        if !self.session.is_ended() {
            self.session.handle_client(message, self.now);
        }
    }

    fn interviewer(&mut self, stale: bool, event: InterviewerEvent) {
        let Some(turn_id) = self.turn.as_ref().map(|t| t.turn_id) else { return };
        let turn_id = if stale { TurnId(turn_id.0.wrapping_add(1)) } else { turn_id };
        self.session.handle_interviewer(turn_id, event, self.now);
    }

    fn step(&mut self, op: Op) {
        let id = |n: Option<u8>| n.map(|n| format!("a{}", n % 8));
        match op {
            Op::Start => {
                self.client(ClientMessage::SessionStart { id: None, voice: Some(Voice { input: true, output: true }) })
            }
            Op::Answer { id: n, canned, text } => {
                let text = text.unwrap_or_else(|| ANSWERS[canned as usize % ANSWERS.len()].to_owned());
                self.client(ClientMessage::AnswerSubmit { id: id(n), text });
            }
            Op::Code { id: n, language, source } => {
                self.client(ClientMessage::CodeSubmit { id: id(n), language, source })
            }
            Op::Interrupt => self.client(ClientMessage::TurnInterrupt { id: None }),
            // Voice comes from the client's audio: like its messages, none once the session ended
            // (the runtime has closed the socket).
            _ if self.session.is_ended() && op.is_voice() => {}
            Op::SpokenAnswer { id: n, canned, audio_ms } => {
                let text = ANSWERS[canned as usize % ANSWERS.len()].to_owned();
                let spoken = Spoken { words: Vec::new(), audio_ms: u64::from(audio_ms) };
                self.session.handle_spoken_answer(format!("a{}", n % 8), text, spoken, self.now);
            }
            Op::BargeIn => self.session.handle_barge_in(self.now),
            Op::FloorReleased => self.session.handle_floor_released(self.now),
            Op::Truncate { stale, heard_chars, audio_end_ms } => {
                // The last turn said (finished or open); stale: the one before it.
                let turns: Vec<(TurnId, String)> = self
                    .session
                    .state()
                    .transcript
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Turn(t) => Some((t.turn_id, t.text.clone())),
                        Entry::Answer { .. } => None,
                    })
                    .collect();
                let Some((turn, text)) = turns.iter().rev().nth(usize::from(stale)).cloned() else { return };
                let heard: String = text.chars().take(heard_chars.into()).collect();
                self.session.handle_truncate(None, turn, heard, u64::from(audio_end_ms), self.now);
            }
            Op::End => self.client(ClientMessage::SessionEnd { id: None }),
            Op::Ping => self.client(ClientMessage::Ping { id: None }),
            Op::Ack(seq) => self.client(ClientMessage::Ack { id: None, seq }),
            Op::Frame(bytes) => {
                if let Ok(message) = Encoding::Json.decode_client(&bytes, &Limits::default()) {
                    self.client(message);
                }
            }
            Op::Speak => {
                let Some(request) = self.turn.clone() else { return };
                let text = ScriptedInterviewer::text(&request);
                self.session.handle_interviewer(request.turn_id, InterviewerEvent::Delta(text), self.now);
                self.session.handle_interviewer(request.turn_id, InterviewerEvent::Done, self.now);
            }
            Op::Delta { text, stale } => self.interviewer(stale, InterviewerEvent::Delta(text)),
            Op::Done { stale } => self.interviewer(stale, InterviewerEvent::Done),
            Op::Fail => self.interviewer(false, InterviewerEvent::Failed("fuzz".into())),
            Op::Choose { key_point, stale } => {
                let question =
                    self.turn.as_ref().and_then(|t| t.choice.as_ref()).and_then(|c| PLAN.question(&c.question_id));
                let decision = match (key_point, question) {
                    (0, _) => Decision::MoveOn,
                    (k, Some(q)) if usize::from(k) <= q.key_points.len() => {
                        Decision::FollowUp { key_point: q.key_points[usize::from(k) - 1].id.clone() }
                    }
                    _ => Decision::FollowUp { key_point: format!("unknown-{key_point}") },
                };
                self.interviewer(stale, InterviewerEvent::Chose(decision));
            }
            Op::Scores => {
                for request in std::mem::take(&mut self.scores) {
                    let result = HeuristicScorer.score_now(&request.plan, &request.question_id, &request.answer);
                    self.session.handle_score(request.answer_id, result, self.now);
                }
            }
            Op::ScoresFail => {
                for request in std::mem::take(&mut self.scores) {
                    self.session.handle_score(request.answer_id, Err(ScoreError::Provider("down".into())), self.now);
                }
            }
            Op::Wait(s) => {
                let until = self.now.plus_ms(u64::from(s) * 1000);
                while let Some(at) = self.session.poll_timeout().filter(|at| *at <= until) {
                    self.now = at.max(self.now);
                    self.session.handle_timeout(self.now);
                    self.drain();
                }
                self.now = until;
            }
            Op::Budget(s) => self.session.handle_budget(u64::from(s) * 1000, self.now),
            Op::Suspend => self.session.suspend(self.now),
            Op::Restart => {
                self.session = Session::restore(self.params.clone(), State::new(), self.log.clone());
                self.turn = None;
                self.scores.clear();
                self.session.recover(self.now);
                // The client reconnects: the state at the head, then the events it missed
                // (those the recovery just wrote). The checker's story ends at `session.ended`:
                // after it, a restart must say nothing at all.
                if self.checker.ended().is_some() {
                    return self.drain();
                }
                let ready = SessionReady {
                    session_id: "s1".into(),
                    epoch: 1,
                    resumed: true,
                    seq: self.session.head(),
                    last_seq: self.session.head(),
                    state: self.session.wire_state(self.now),
                };
                self.checker.observe(&ServerMessage::SessionReady(Box::new(ready)));
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Persist(entry) => {
                    self.checker.observe(&entry.to_message(&SessionId::from("s1")));
                    self.log.push(entry);
                }
                Output::Send(message) => self.checker.observe(&message),
                Output::StartTurn(request) => self.turn = Some(*request),
                Output::CancelTurn { .. } => {}
                Output::Score(request) => self.scores.push(*request),
            }
        }
    }
}

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (mode, ops) = input;
    let mut driver = Driver::new(params(follow_ups(mode)));
    for op in ops.into_iter().take(64) {
        driver.step(op);
        assert!(driver.checker.violations().is_empty(), "{:#?}", driver.checker.violations());
    }
    let (violations, _) = driver.checker.finish();
    assert!(violations.is_empty(), "{violations:#?}");
    viva_engine::fuzzing::assert_restores(&driver.params, &driver.log, driver.session.state());
});
