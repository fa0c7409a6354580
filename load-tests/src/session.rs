//! One replayed session: create it, connect, send the recording's messages on its schedule,
//! read and check every event until the close, and time what the candidate would feel.
//!
//! The schedule is the recording's `t_ms` divided by the speed, counted from `session.start`.
//! Answers additionally wait until the interviewer waits for one (the [`Checker`] says when),
//! and one at a time: each until its `answer.received` (or its refusal). A barge-in
//! (`turn.interrupt`) is sent only while a turn is open, since that is what it meant; a turn
//! that already ended has nothing left to interrupt. When the recording runs out of answers
//! before the interview runs out of questions, its last answer is given again (with a new id),
//! so that every session reaches its end.
//!
//! With voice ([`SessionJob::voice`]) the session starts with voice both ways and every
//! prose answer is spoken instead of typed (code answers stay `code.submit`): its speech (see
//! [`crate::voice`]) goes out as `input_audio.append` in 20 ms frames at real pace under the
//! answer's id, then silence frames until `input_audio.speech_stopped` (at most 5 s of them,
//! then `input_audio.commit`). The candidate speaks only once the interviewer's audio would
//! have finished playing (each `turn.audio` chunk plays after the one before it, from when it
//! arrives), never over it: that would be a barge-in. An answer refused or not transcribed
//! (`stt_failed`) is spoken again, as a typed one is re-sent. The latencies of a spoken answer
//! (`ack`, `first_delta`, `score`, `speech_end_to_*`) count from the end of its speech: when
//! the frame holding `speech_stopped`'s `audio_end_ms` was sent.
//!
//! Every wait is bounded: the handshake and REST calls by the connect timeout, silence from
//! the gateway by the event timeout, and the whole session by the session timeout.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;
use viva_protocol::state::SessionStatus;
use viva_protocol::{ClientMessage, CloseCode, Encoding, ErrorCode, ServerMessage};

use crate::client::{Api, ClientError, Incoming, Socket, Target};
use crate::recording::{Script, is_answer};
use crate::series::Timeline;
use crate::stats::{Metric, Samples};
use crate::voice::{FRAME, FRAME_SAMPLES, VoiceReplay};
use viva_protocol::checker::{Checker, Violation};
use viva_protocol::{Audio, Voice};

/// How one session is replayed.
#[derive(Debug, Clone)]
pub struct SessionJob {
    /// 0-based number of the session in the run.
    pub index: usize,
    /// The bearer token of its user.
    pub token: String,
    /// The encoding of its socket.
    pub encoding: Encoding,
    /// The recording's timing is divided by this.
    pub speed: f64,
    /// How long a REST call or the handshake may take.
    pub connect_timeout: Duration,
    /// How long the gateway may stay silent while the session waits for it.
    pub event_timeout: Duration,
    /// How long the whole session may take.
    pub session_timeout: Duration,
    /// When the run started: the origin of the session's [`Timeline`].
    pub run_start: Instant,
    /// Speak the answers and listen to the turns.
    pub voice: Option<std::sync::Arc<VoiceReplay>>,
    /// The gateways (or the one balancer): the session opens on the one its index falls on,
    /// and each reconnect goes to the next.
    pub targets: std::sync::Arc<[Target]>,
    /// Reconnects a session makes at most after its socket closed early with a code that says
    /// to ([`CloseCode::reconnects`]); then it fails.
    pub max_reconnects: u32,
}

/// Why a session did not reach its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// `POST /v1/sessions` failed.
    Create,
    /// The WebSocket handshake failed.
    Connect,
    /// The gateway stayed silent longer than the event timeout.
    EventTimeout,
    /// The session took longer than the session timeout.
    SessionTimeout,
    /// The socket closed before `session.ended`.
    Closed,
    /// Sending on the socket failed.
    Send,
    /// The session's task panicked (a bug in this tool).
    Panic,
    /// Voice: more `stt_failed` and `tts_failed` errors than allowed, or `voice_unavailable`.
    Voice,
}

impl FailureKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Connect => "connect",
            Self::EventTimeout => "event_timeout",
            Self::SessionTimeout => "session_timeout",
            Self::Closed => "closed_early",
            Self::Send => "send",
            Self::Panic => "panic",
            Self::Voice => "voice_errors",
        }
    }
}

/// What one session did.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    /// Its number in the run.
    pub index: usize,
    /// The recording replayed.
    pub recording: String,
    /// The session, once created.
    pub session_id: Option<String>,
    /// `session.ended`, then close 1000.
    pub completed: bool,
    /// Why not, if not.
    pub failure: Option<(FailureKind, String)>,
    /// The protocol violations seen.
    pub violations: Vec<Violation>,
    /// The non-fatal errors received, by code.
    pub errors: BTreeMap<String, u32>,
    /// Latency samples.
    pub samples: Samples,
    /// Server messages received.
    pub events: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Answers sent (first sends, not re-sends).
    pub answers: u64,
    /// Answers beyond the recording's (its last answer again).
    pub extra_answers: u64,
    /// `turn.audio` messages received.
    pub audio_chunks: u64,
    /// Milliseconds of interviewer audio received.
    pub audio_ms_in: u64,
    /// Milliseconds of the candidate's audio sent.
    pub audio_ms_out: u64,
    /// Turns cut off (`interrupted`) while an answer was being spoken: the candidate spoke
    /// over the interviewer, which this client means never to do.
    pub barge_ins: u64,
    /// Its activity per second of the run.
    pub timeline: Timeline,
    /// Times its socket closed early and it connected again (resuming with `last_seq`).
    pub reconnects: u64,
    /// Of those closes, how many said the session moved to another node (4011).
    pub moved: u64,
    /// The node that took each of its sockets, in order (`x-viva-node`; `?` when not said).
    pub nodes: Vec<String>,
}

/// Most answers given beyond the recording's before the session is ended instead.
const MAX_EXTRA_ANSWERS: u64 = 50;
/// How often one answer is re-sent after a refusal.
const MAX_ANSWER_TRIES: u32 = 3;
/// Wait before re-sending a message refused for the rate limit.
const RATE_LIMITED_BACKOFF: Duration = Duration::from_secs(1);
/// Silence frames sent after a spoken answer before committing it (5 s).
const MAX_SILENCE_FRAMES: usize = 250;
/// After the interviewer's audio would have finished playing, wait this much more before
/// speaking (the next chunk may be on its way).
const PLAYBACK_MARGIN: Duration = Duration::from_millis(250);
/// When the awaited question's audio has not begun, speak after this much quiet (no
/// `turn.audio`, no turn ending): its speech failed or is very late.
const AUDIO_QUIET: Duration = Duration::from_millis(1700);

impl SessionOutcome {
    /// Nothing happened yet to session `index`, replaying `recording`.
    pub fn new(index: usize, recording: String) -> Self {
        Self {
            index,
            recording,
            session_id: None,
            completed: false,
            failure: None,
            violations: Vec::new(),
            errors: BTreeMap::new(),
            samples: Samples::default(),
            events: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
            answers: 0,
            extra_answers: 0,
            audio_chunks: 0,
            audio_ms_in: 0,
            audio_ms_out: 0,
            barge_ins: 0,
            timeline: Timeline::default(),
            reconnects: 0,
            moved: 0,
            nodes: Vec::new(),
        }
    }
}

/// After a reconnect, how long the replay has to show that a `session.end` sent before the
/// drop was had, before it is sent again.
const END_AGAIN_AFTER: Duration = Duration::from_millis(500);
/// Tries to open the socket again after one drop, before the reconnect fails.
const CONNECT_TRIES: u32 = 10;
/// The first wait between those tries; doubled each time (with jitter), at most 2 s.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Replays `script` as one new session.
pub async fn run(api: &Api, script: &Script, job: &SessionJob) -> SessionOutcome {
    let mut outcome = replay(api, script, job).await;
    outcome.timeline.finished(job.run_start.elapsed());
    outcome
}

async fn replay(api: &Api, script: &Script, job: &SessionJob) -> SessionOutcome {
    let mut outcome = SessionOutcome::new(job.index, script.name.clone());
    let deadline = Instant::now() + job.session_timeout;
    let created = match tokio::time::timeout_at(deadline, create(api, job, &script.plan)).await {
        Ok(Ok(created)) => created,
        Ok(Err(error)) => return outcome.failed(FailureKind::Create, error.to_string()),
        Err(_) => return outcome.failed(FailureKind::SessionTimeout, "creating the session".to_owned()),
    };
    outcome.session_id = Some(created.session_id.clone());
    let connecting = Instant::now();
    let mut socket = match open(job, &created.session_id, None, 0, deadline).await {
        Ok(socket) => socket,
        Err(detail) => return outcome.failed(FailureKind::Connect, detail),
    };
    outcome.samples.record(Metric::Connect, connecting.elapsed());
    outcome.nodes.push(socket.node.clone().unwrap_or_else(|| "?".to_owned()));
    let opened = job.run_start.elapsed();
    let mut driver = Driver::new(script, job, deadline);
    let result = loop {
        let result = driver.drive(&mut socket).await;
        let Some(code) = driver.closed_early.take().filter(|code| CloseCode::reconnects(*code)) else { break result };
        if outcome.reconnects >= u64::from(job.max_reconnects) {
            break result;
        }
        outcome.reconnects += 1;
        outcome.moved += u64::from(code == Some(CloseCode::Moved.code()));
        (outcome.bytes_in, outcome.bytes_out) =
            (outcome.bytes_in + socket.bytes_in, outcome.bytes_out + socket.bytes_out);
        outcome.messages_out += socket.messages_out;
        driver.checker.reconnecting();
        driver.reconnect_from = Some(Instant::now());
        let last_seq = Some(driver.checker.last_seq());
        match open(job, &created.session_id, last_seq, outcome.reconnects, deadline).await {
            Ok(again) => socket = again,
            Err(detail) => break Err((FailureKind::Connect, detail)),
        }
        outcome.nodes.push(socket.node.clone().unwrap_or_else(|| "?".to_owned()));
    };
    outcome.events = driver.events;
    outcome.answers = driver.answers;
    outcome.extra_answers = driver.extra_answers;
    if let Some(voice) = &driver.voice {
        outcome.audio_chunks = voice.chunks;
        outcome.audio_ms_in = voice.ms_in;
        outcome.audio_ms_out = voice.frames_out * FRAME.as_millis() as u64;
        outcome.barge_ins = voice.barge_ins;
    }
    outcome.samples = std::mem::take(&mut driver.samples).merged(outcome.samples);
    outcome.timeline = std::mem::take(&mut driver.timeline);
    outcome.timeline.opened(opened);
    outcome.bytes_in += socket.bytes_in;
    outcome.bytes_out += socket.bytes_out;
    outcome.messages_out += socket.messages_out;
    outcome.completed = driver.checker.completed();
    match result {
        Err(failure) => {
            outcome.failure = Some(failure);
            outcome.completed = false;
            socket.close(job.connect_timeout).await;
        }
        Ok(()) if !outcome.completed => {
            outcome.failure = Some((FailureKind::Closed, "the close after session.ended was not 1000".to_owned()));
        }
        Ok(()) => {}
    }
    let (violations, errors) = driver.checker.finish();
    outcome.violations = violations;
    outcome.errors = errors;
    outcome
}

/// Creates the session; tried again (a few times, with backoff) when the gateway or the
/// balancer in front of it failed (502, 503, 504, or no answer): a node died or is draining.
/// A create that did happen but whose answer was lost leaves an unstarted session behind.
async fn create(api: &Api, job: &SessionJob, plan: &str) -> Result<viva_protocol::rest::SessionCreated, ClientError> {
    let mut backoff = FIRST_BACKOFF;
    for _ in 1..CONNECT_TRIES {
        match api.create_session(&job.token, plan).await {
            Err(ClientError::Status { status: 502..=504, .. } | ClientError::Http { .. }) => {}
            done => return done,
        }
        tokio::time::sleep(backoff + Duration::from_millis(u64::from(rand_below(100)))).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    api.create_session(&job.token, plan).await
}

/// Opens the session's socket (after its `n`th drop: resuming after `last_seq`) on the
/// session's target, or the next one after `n` drops; each failed try goes on to the next
/// target, after a growing, jittered backoff, within the session's deadline: a node that is
/// going away refuses (503) or is gone.
async fn open(
    job: &SessionJob,
    session_id: &str,
    last_seq: Option<u64>,
    n: u64,
    deadline: Instant,
) -> Result<Socket, String> {
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    for attempt in 0..u64::from(CONNECT_TRIES) {
        let target = &job.targets[(job.index + (n + attempt) as usize) % job.targets.len()];
        let (token, encoding, timeout) = (&job.token, job.encoding, job.connect_timeout);
        let opening = async {
            match last_seq {
                Some(seq) => Socket::resume(target, token, session_id, encoding, timeout, seq).await,
                None => Socket::connect(target, token, session_id, encoding, timeout).await,
            }
        };
        match tokio::time::timeout_at(deadline, opening).await {
            Err(_) => return Err("the session's time ran out while reconnecting".to_owned()),
            Ok(Ok(socket)) => return Ok(socket),
            Ok(Err(error)) => last_error = error.to_string(),
        }
        let jitter = Duration::from_millis(u64::from(rand_below(100)));
        tokio::time::sleep_until((Instant::now() + backoff + jitter).min(deadline)).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    let after = last_seq.map(|seq| format!(", resuming after seq {seq}")).unwrap_or_default();
    Err(format!("{last_error} ({CONNECT_TRIES} tries{after})"))
}

/// A number below `n` (jitter: nothing here needs a good random generator).
fn rand_below(n: u32) -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    nanos.wrapping_mul(2_654_435_761) % n.max(1)
}

impl SessionOutcome {
    fn failed(mut self, kind: FailureKind, detail: String) -> Self {
        self.failure = Some((kind, detail));
        self
    }
}

/// An answer sent and not yet acknowledged.
struct Pending {
    id: String,
    message: ClientMessage,
    sent_at: Instant,
    tries: u32,
    /// When to send it again after a rate-limit refusal.
    resend_at: Option<Instant>,
}

/// The state of one session's replay.
struct Driver<'a> {
    script: &'a Script,
    job: &'a SessionJob,
    deadline: Instant,
    /// The recording's messages not sent yet, with their scheduled offsets.
    steps: VecDeque<(Duration, ClientMessage)>,
    /// When `session.start` went out: the schedule's origin.
    zero: Option<Instant>,
    checker: Checker,
    pending: Option<Pending>,
    /// Tries of the answer at the front of `steps` (after refusals).
    tries: u32,
    ended_by_us: bool,
    /// The id of the last `session.end` sent (each goes out with one, so a refusal names it).
    end_id: Option<String>,
    /// Answer sends by answer id, for the score latency.
    sent_by_answer: HashMap<u32, Instant>,
    /// After an answer is acknowledged: the next turn's first delta is timed from this send.
    next_turn_from: Option<Instant>,
    first_delta_of: Option<(u32, Instant)>,
    start_sent: Option<Instant>,
    samples: Samples,
    /// Activity per second of the run.
    timeline: Timeline,
    events: u64,
    answers: u64,
    extra_answers: u64,
    /// With voice: what is spoken and heard.
    voice: Option<Listening>,
    /// The socket closed before `session.ended`, with this code (taken by the reconnect).
    closed_early: Option<Option<u16>>,
    /// Reconnecting since then: the next `session.ready` times the reconnect.
    reconnect_from: Option<Instant>,
    /// `session.start` went out (a reconnect finding the session not started sends it again).
    start_went_out: bool,
}

/// A voice session's audio, both ways.
struct Listening {
    replay: std::sync::Arc<VoiceReplay>,
    /// The answer being spoken.
    utterance: Option<Utterance>,
    /// When the interviewer's audio received so far has finished playing.
    played_until: Option<Instant>,
    /// The last turn whose audio came.
    audio_turn: u32,
    /// The last turn that ended, and when; or when the last audio came, if later.
    last_turn: u32,
    quiet_since: Option<Instant>,
    /// After a spoken answer's acknowledgement: the turn it answered and the end of its
    /// speech, for the first audio of a later turn.
    audio_from: Option<(u32, Instant)>,
    /// `stt_failed` and `tts_failed` errors.
    errors: u32,
    /// `voice_unavailable`: the gateway cannot speak or listen.
    unavailable: bool,
    chunks: u64,
    ms_in: u64,
    frames_out: u64,
    barge_ins: u64,
}

/// One spoken answer on its way out.
struct Utterance {
    id: String,
    speech: std::sync::Arc<Vec<i16>>,
    /// When frame 0 went out; frame k is due 20 ms · k later.
    started: Instant,
    /// When each frame went out.
    sent: Vec<Instant>,
    /// `input_audio.speech_stopped` came: when the frame holding the end of speech went out.
    speech_end: Option<Instant>,
    committed: bool,
}

impl Utterance {
    fn speech_frames(&self) -> usize {
        self.speech.len().div_ceil(FRAME_SAMPLES)
    }

    /// Whether anything more goes out: speech, then silence until the end is heard, then a
    /// commit.
    fn done(&self) -> bool {
        self.speech_end.is_some() || self.committed
    }

    fn next_due(&self) -> Option<Instant> {
        if self.done() {
            return None;
        }
        Some(self.started + FRAME * u32::try_from(self.sent.len()).unwrap_or(u32::MAX))
    }

    /// The next message of the utterance if due at `now`.
    fn next(&mut self, now: Instant) -> Option<ClientMessage> {
        if self.next_due().is_none_or(|due| now < due) {
            return None;
        }
        let frame = self.sent.len();
        if frame >= self.speech_frames() + MAX_SILENCE_FRAMES {
            self.committed = true;
            return Some(ClientMessage::InputAudioCommit { id: self.id.clone() });
        }
        // Whole 20 ms frames: the speech's last one is filled up with silence.
        let mut samples = [0i16; FRAME_SAMPLES];
        let from = (frame * FRAME_SAMPLES).min(self.speech.len());
        let speech = &self.speech[from..(from + FRAME_SAMPLES).min(self.speech.len())];
        samples[..speech.len()].copy_from_slice(speech);
        let audio = Audio::from_samples(&samples);
        self.sent.push(now);
        Some(ClientMessage::InputAudioAppend { id: self.id.clone(), audio })
    }
}

impl Listening {
    fn new(replay: std::sync::Arc<VoiceReplay>) -> Self {
        Self {
            replay,
            utterance: None,
            played_until: None,
            audio_turn: 0,
            last_turn: 0,
            quiet_since: None,
            audio_from: None,
            errors: 0,
            unavailable: false,
            chunks: 0,
            ms_in: 0,
            frames_out: 0,
            barge_ins: 0,
        }
    }

    /// When the candidate may start speaking: once the awaited turn's audio has played (or,
    /// when none of it came, after a quiet spell); `None`: at once.
    fn may_speak_at(&self) -> Option<Instant> {
        let played = self.played_until.map(|at| at + PLAYBACK_MARGIN);
        let quiet = self.quiet_since.map(|at| at + AUDIO_QUIET);
        if self.audio_turn >= self.last_turn { played } else { played.max(quiet) }
    }
}

impl<'a> Driver<'a> {
    fn new(script: &'a Script, job: &'a SessionJob, deadline: Instant) -> Self {
        let steps = script
            .lines
            .iter()
            .map(|line| (Duration::from_secs_f64(line.t_ms as f64 / 1000.0 / job.speed), line.message.clone()))
            .collect();
        Self {
            script,
            job,
            deadline,
            steps,
            zero: None,
            checker: Checker::new(),
            pending: None,
            tries: 0,
            ended_by_us: false,
            end_id: None,
            sent_by_answer: HashMap::new(),
            next_turn_from: None,
            first_delta_of: None,
            start_sent: None,
            samples: Samples::default(),
            timeline: Timeline::default(),
            events: 0,
            answers: 0,
            extra_answers: 0,
            voice: job.voice.clone().map(Listening::new),
            closed_early: None,
            reconnect_from: None,
            start_went_out: false,
        }
    }

    /// Runs the session to its close; `Err` when it did not get there.
    async fn drive(&mut self, socket: &mut Socket) -> Result<(), (FailureKind, String)> {
        let mut last_activity = Instant::now();
        let mut ready = false;
        loop {
            // Everything that may go out now goes out before the next read.
            if ready {
                while let Some(message) = self.next_to_send(Instant::now()) {
                    self.checker.sent(&message);
                    socket.send(&message).await.map_err(|e| (FailureKind::Send, e.to_string()))?;
                    last_activity = Instant::now();
                }
            }
            let wake = if ready { self.next_wake() } else { None };
            let silence = last_activity + self.job.event_timeout;
            let bytes_before = socket.bytes_in;
            let incoming = tokio::select! {
                incoming = socket.next() => incoming,
                () = sleep_until(wake), if wake.is_some() => continue,
                () = tokio::time::sleep_until(silence.min(self.deadline)) => {
                    return Err(if silence < self.deadline {
                        let waiting = if self.checker.ended().is_some() { "the close" } else { "an event" };
                        (FailureKind::EventTimeout, format!("no {waiting} for {:?}", self.job.event_timeout))
                    } else {
                        (FailureKind::SessionTimeout, format!("not finished after {:?}", self.job.session_timeout))
                    });
                }
            };
            last_activity = Instant::now();
            let at = last_activity.saturating_duration_since(self.job.run_start);
            let events = u32::from(matches!(incoming, Incoming::Message(_)));
            self.timeline.received(at, events, socket.bytes_in - bytes_before);
            match incoming {
                Incoming::Message(message) => {
                    self.events += 1;
                    if let ServerMessage::SessionReady(session) = &message {
                        // The schedule starts now: `session.start` (t = 0) goes out at once.
                        ready = true;
                        self.zero.get_or_insert(last_activity);
                        if let Some(from) = self.reconnect_from.take() {
                            self.samples.record(Metric::Reconnect, last_activity - from);
                            self.resumed(session.state.status, last_activity);
                        }
                    }
                    self.checker.observe(&message);
                    self.on_message(&message, last_activity);
                    if let Some(voice) = &self.voice {
                        if voice.unavailable {
                            let detail = "voice_unavailable: the gateway has no --stt or no --tts".to_owned();
                            return Err((FailureKind::Voice, detail));
                        }
                        if voice.errors > voice.replay.max_errors {
                            let detail = format!("{} stt_failed/tts_failed errors", voice.errors);
                            return Err((FailureKind::Voice, detail));
                        }
                    }
                }
                Incoming::BadFrame(detail) => self.checker.bad_frame(&detail),
                Incoming::Closed(code) => {
                    self.checker.closed(code);
                    return match self.checker.ended() {
                        Some(_) => Ok(()),
                        None => {
                            self.closed_early = Some(code);
                            Err((FailureKind::Closed, format!("closed with {code:?} before session.ended")))
                        }
                    };
                }
            }
        }
    }

    /// The next message due, if any, taking it off the schedule.
    fn next_to_send(&mut self, now: Instant) -> Option<ClientMessage> {
        if self.checker.ended().is_some() {
            return None;
        }
        if let Some(pending) = self.pending.as_mut() {
            let utterance = self.voice.as_mut().and_then(|v| v.utterance.as_mut());
            // Only a re-send after a rate-limit refusal; everything else waits for the ack.
            if pending.resend_at.is_some_and(|at| now >= at) {
                pending.resend_at = None;
                pending.sent_at = now;
                let Some(utterance) = utterance else { return Some(pending.message.clone()) };
                // A spoken answer is spoken again from its start.
                utterance.started = now;
                utterance.sent.clear();
                utterance.speech_end = None;
                utterance.committed = false;
            }
            let voice = self.voice.as_mut().filter(|_| pending.resend_at.is_none())?;
            let message = voice.utterance.as_mut()?.next(now)?;
            voice.frames_out += u64::from(matches!(message, ClientMessage::InputAudioAppend { .. }));
            return Some(message);
        }
        let Some((at, message)) = self.steps.front() else {
            return self.extra_answer(now);
        };
        if self.zero.is_none_or(|zero| now < zero + *at) {
            return None;
        }
        if is_answer(message) && !self.checker.awaiting_answer() {
            return None;
        }
        if self.spoken(message) && self.may_speak_at().is_some_and(|at| now < at) {
            return None;
        }
        let (_, message) = self.steps.pop_front()?;
        match message {
            ClientMessage::SessionStart { id, voice } => {
                self.start_sent = Some(now);
                self.start_went_out = true;
                let voice = if self.voice.is_some() { Some(Voice { input: true, output: true }) } else { voice };
                Some(ClientMessage::SessionStart { id, voice })
            }
            ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. } => {
                let id = message.id().map_or_else(|| format!("a{}", self.answers + 1), str::to_owned);
                Some(self.send_answer(with_id(message, id), now))
            }
            ClientMessage::TurnInterrupt { .. } if self.checker.open_turn().is_none() => self.next_to_send(now),
            // The end is on its way already (a `session.end` sent again after a reconnect).
            ClientMessage::SessionEnd { .. } if self.checker.ending().is_some() => self.next_to_send(now),
            ClientMessage::SessionEnd { id } => {
                self.ended_by_us = true;
                let id = id.unwrap_or_else(|| "load-end".to_owned());
                self.end_id = Some(id.clone());
                Some(ClientMessage::SessionEnd { id: Some(id) })
            }
            other => Some(other),
        }
    }

    /// Connected again: the answer in flight is sent again with its id (the gateway
    /// acknowledges it once, or again with its original event), and a `session.start` the
    /// gateway never stored goes out again, as does a `session.end` it may not have had (once
    /// the replay has had time to say whether the end is on its way: then it is not sent).
    fn resumed(&mut self, status: SessionStatus, now: Instant) {
        if let Some(pending) = self.pending.as_mut() {
            pending.resend_at = Some(now);
        }
        if status == SessionStatus::Created && self.start_went_out {
            let voice = self.voice.as_ref().map(|_| Voice { input: true, output: true });
            self.steps.push_front((Duration::ZERO, ClientMessage::SessionStart { id: None, voice }));
        }
        if status == SessionStatus::Live && self.ended_by_us {
            let at = self.zero.map_or(Duration::ZERO, |zero| now.saturating_duration_since(zero)) + END_AGAIN_AFTER;
            self.steps.push_front((at, ClientMessage::SessionEnd { id: Some("load-end-again".to_owned()) }));
        }
    }

    /// Whether `message` is an answer this session speaks.
    fn spoken(&self, message: &ClientMessage) -> bool {
        self.voice.is_some() && matches!(message, ClientMessage::AnswerSubmit { .. })
    }

    /// When a spoken answer may start (`None`: at once).
    fn may_speak_at(&self) -> Option<Instant> {
        self.voice.as_ref().and_then(Listening::may_speak_at)
    }

    /// The recording's last answer again, when the interviewer still asks after its answers.
    fn extra_answer(&mut self, now: Instant) -> Option<ClientMessage> {
        if self.ended_by_us || !self.checker.awaiting_answer() {
            return None;
        }
        let last = self.script.answers().last().cloned();
        if last.as_ref().is_some_and(|last| self.spoken(last)) && self.may_speak_at().is_some_and(|at| now < at) {
            return None;
        }
        self.extra_answers += 1;
        if self.extra_answers > MAX_EXTRA_ANSWERS || last.is_none() {
            // Cannot happen with the shipped plans; end rather than wait for the time limit.
            self.ended_by_us = true;
            self.end_id = Some("load-end".to_owned());
            return Some(ClientMessage::SessionEnd { id: Some("load-end".to_owned()) });
        }
        let id = format!("extra-{}", self.extra_answers);
        last.map(|answer| self.send_answer(with_id(answer, id), now))
    }

    /// Sends an answer: typed, or the first frame of it spoken.
    fn send_answer(&mut self, message: ClientMessage, now: Instant) -> ClientMessage {
        let id = message.id().unwrap_or_default().to_owned();
        self.answers += 1;
        self.tries += 1;
        self.timeline.answer(now.saturating_duration_since(self.job.run_start));
        self.pending = Some(Pending {
            id: id.clone(),
            message: message.clone(),
            sent_at: now,
            tries: self.tries,
            resend_at: None,
        });
        if let (Some(voice), ClientMessage::AnswerSubmit { text, .. }) = (self.voice.as_mut(), &message) {
            // Every answer of the recordings was spoken before the run; typed if not.
            if let Some(speech) = voice.replay.speech(text) {
                let mut utterance =
                    Utterance { id, speech, started: now, sent: Vec::new(), speech_end: None, committed: false };
                let first = utterance.next(now);
                voice.utterance = Some(utterance);
                if let Some(first) = first {
                    voice.frames_out += 1;
                    return first;
                }
            }
        }
        message
    }

    /// When the next scheduled message is due, if waiting for the clock is all that holds it.
    fn next_wake(&self) -> Option<Instant> {
        if let Some(pending) = &self.pending {
            if pending.resend_at.is_some() {
                return pending.resend_at;
            }
            return self.voice.as_ref()?.utterance.as_ref()?.next_due();
        }
        let Some((at, message)) = self.steps.front() else {
            // An extra answer spoken waits for the interviewer's audio.
            let extra = self.voice.is_some() && !self.ended_by_us && self.checker.awaiting_answer();
            return self.may_speak_at().filter(|_| extra);
        };
        if is_answer(message) && !self.checker.awaiting_answer() {
            return None;
        }
        let due = self.zero? + *at;
        let speak = self.may_speak_at().filter(|_| self.spoken(message));
        Some(speak.map_or(due, |at| due.max(at)))
    }

    fn on_message(&mut self, message: &ServerMessage, now: Instant) {
        if self.voice.is_some() {
            self.on_voice(message, now);
        }
        match message {
            ServerMessage::TurnStarted(t) => {
                if let Some(from) = self.next_turn_from.take() {
                    self.first_delta_of = Some((t.turn_id, from));
                }
            }
            ServerMessage::TurnDelta(d) => {
                if let Some(start) = self.start_sent.take() {
                    self.samples.record(Metric::StartFirstDelta, now - start);
                }
                if let Some((_, from)) = self.first_delta_of.take_if(|(turn, _)| *turn == d.turn_id) {
                    self.samples.record(Metric::FirstDelta, now - from);
                }
            }
            ServerMessage::AnswerReceived(a) => {
                let Some(pending) = self.pending.take_if(|p| a.id.as_deref() == Some(p.id.as_str())) else {
                    return;
                };
                if let Some(voice) = self.voice.as_mut() {
                    let spoken = voice.utterance.take_if(|u| u.id == pending.id);
                    if let Some(end) = spoken.and_then(|u| u.speech_end) {
                        self.samples.record(Metric::SpeechEndToAnswer, now - end);
                        voice.audio_from = Some((voice.last_turn, end));
                    }
                }
                self.tries = 0;
                self.samples.record(Metric::Ack, now - pending.sent_at);
                self.sent_by_answer.insert(a.answer_id, pending.sent_at);
                self.next_turn_from = Some(pending.sent_at);
            }
            ServerMessage::ScoreUpdated(s) => {
                if let Some(sent) = self.sent_by_answer.remove(&s.answer_id) {
                    self.samples.record(Metric::Score, now - sent);
                }
            }
            // Our `session.end` refused (the store away, the rate limit): it goes out again a
            // moment later, unless the end turns out to be on its way.
            ServerMessage::Error(e)
                if e.reference.is_some()
                    && e.reference == self.end_id
                    && self.checker.ending().is_none()
                    && e.code != ErrorCode::SessionEnded =>
            {
                let at = self.zero.map_or(Duration::ZERO, |zero| now.saturating_duration_since(zero));
                self.steps.push_front((at + END_AGAIN_AFTER, ClientMessage::SessionEnd { id: self.end_id.clone() }));
            }
            ServerMessage::Error(e) => {
                let Some(pending) = self.pending.as_mut().filter(|p| e.reference.as_deref() == Some(p.id.as_str()))
                else {
                    return;
                };
                if e.code == ErrorCode::RateLimited {
                    pending.resend_at = Some(now + RATE_LIMITED_BACKOFF);
                    return;
                }
                // Refused (e.g. time up, or not transcribed): try it again when asked, a few
                // times, then move on. A spoken answer is spoken again from its start.
                let Some(pending) = self.pending.take() else { return };
                if let Some(voice) = self.voice.as_mut() {
                    voice.utterance = None;
                }
                if pending.tries < MAX_ANSWER_TRIES && e.code != ErrorCode::SessionEnded {
                    self.answers -= 1;
                    self.steps.push_front((Duration::ZERO, pending.message));
                } else {
                    self.tries = 0;
                }
            }
            _ => {}
        }
    }
}

impl Driver<'_> {
    /// What a voice session hears: the interviewer's audio (played in order, each chunk from
    /// when it arrived or the one before it ended), the end of the candidate's speech, and
    /// the speech errors.
    fn on_voice(&mut self, message: &ServerMessage, now: Instant) {
        let Some(voice) = self.voice.as_mut() else { return };
        match message {
            ServerMessage::TurnDone(done) => {
                voice.last_turn = voice.last_turn.max(done.turn_id);
                voice.quiet_since = Some(now);
                if done.status == viva_protocol::TurnStatus::Interrupted && voice.utterance.is_some() {
                    voice.barge_ins += 1;
                }
            }
            ServerMessage::TurnAudio(audio) => {
                voice.chunks += 1;
                let samples = audio.audio.0.len() as u64 / 2;
                voice.ms_in += samples * 1000 / u64::from(viva_protocol::audio::OUTPUT_RATE);
                let length = Duration::from_micros(samples * 1_000_000 / u64::from(viva_protocol::audio::OUTPUT_RATE));
                voice.played_until = Some(voice.played_until.map_or(now, |until| until.max(now)) + length);
                voice.audio_turn = voice.audio_turn.max(audio.turn_id);
                voice.quiet_since = Some(now);
                if let Some((_, from)) = voice.audio_from.take_if(|(answered, _)| audio.turn_id > *answered) {
                    self.samples.record(Metric::SpeechEndToAudio, now - from);
                }
            }
            ServerMessage::SpeechStopped(stopped) => {
                let Some(utterance) = voice.utterance.as_mut().filter(|u| u.speech_end.is_none()) else { return };
                let frame = usize::try_from(stopped.audio_end_ms.saturating_sub(1) / FRAME.as_millis() as u64);
                let end = frame.ok().and_then(|f| utterance.sent.get(f)).or(utterance.sent.last()).copied();
                utterance.speech_end = Some(end.unwrap_or(now));
                if let Some(pending) = self.pending.as_mut().filter(|p| p.id == utterance.id) {
                    pending.sent_at = end.unwrap_or(now);
                }
            }
            ServerMessage::Error(e) if matches!(e.code, ErrorCode::SttFailed | ErrorCode::TtsFailed) => {
                voice.errors += 1;
            }
            ServerMessage::Error(e) if e.code == ErrorCode::VoiceUnavailable => voice.unavailable = true,
            _ => {}
        }
    }
}

fn with_id(message: ClientMessage, id: String) -> ClientMessage {
    match message {
        ClientMessage::AnswerSubmit { text, .. } => ClientMessage::AnswerSubmit { id: Some(id), text },
        ClientMessage::CodeSubmit { language, source, .. } => {
            ClientMessage::CodeSubmit { id: Some(id), language, source }
        }
        other => other,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
