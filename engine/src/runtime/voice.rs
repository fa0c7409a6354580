//! A voice session's audio path, driven by its task beside the core: inside the core turns
//! and answers stay text (docs/voice.md).
//!
//! - **Listening** (`voice.input`): `input_audio.append` → turn detection → at the end of an
//!   utterance (silence, or `input_audio.commit`) its audio goes to speech-to-text, and the text
//!   becomes an answer (`Session::handle_spoken_answer`, its id the utterance's). Speech while
//!   the interviewer talks long enough to be more than a backchannel is a barge-in
//!   (`Session::handle_barge_in`), and speaking stops at once.
//! - **Speaking** (`voice.output`): the turn's text, as it streams, is cut into sentences
//!   spoken one after the other (`voice::sentences`); the audio goes out as `turn.audio` in
//!   200 ms chunks, paced to at most `LEAD` ahead of real time so that a barge-in stops it
//!   within a chunk and the connection's queue stays short. What each sentence took in audio is
//!   kept for the last turn, so `turn.truncate {audio_end_ms}` knows the text the candidate
//!   heard.
//!
//! Nothing here is durable: a dropped connection drops the utterance in progress (the client
//! re-sends it whole with the same id, and the core stores it once) and stops speaking.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Either};
use futures::stream::{BoxStream, FuturesOrdered};
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use viva_protocol::server::{ErrorEvent, SpeechStarted, SpeechStopped, TimedWord, TurnAudio};
use viva_protocol::{Audio, ClientMessage, ErrorCode, ServerMessage, TurnStatus, Voice};

use super::answer_audio::{AudioKeeper, AudioRecordings};
use crate::core::{Output, Record, Session, Spoken, TurnId, UserId};
use crate::meter::AudioMs;
use crate::time::Timestamp;
use crate::voice::sentences::Sentences;
use crate::voice::stt::{INPUT_RATE, SpeechToText, SttError, Transcript};
use crate::voice::tts::{OUTPUT_RATE, TextToSpeech, TtsError};
use crate::voice::vad::{TurnConfig, TurnDetector, VadEvent};

/// The speech providers of an engine and how it listens; a direction without a provider is
/// not offered (`session.start {voice}` asking for it is refused).
#[derive(Clone, Default)]
pub struct Speech {
    /// Speech-to-text, for spoken answers.
    pub stt: Option<Arc<dyn SpeechToText>>,
    /// Text-to-speech, for spoken turns.
    pub tts: Option<Arc<dyn TextToSpeech>>,
    /// Turn detection.
    pub turns: TurnConfig,
    /// The longest utterance, in milliseconds: speech goes to speech-to-text when it reaches it.
    pub max_utterance_ms: u64,
    /// Keep spoken answers' audio with their sessions (off: `None`).
    pub recordings: Option<AudioRecordings>,
}

impl Speech {
    /// The ways sessions may be spoken.
    pub fn offered(&self) -> Voice {
        Voice { input: self.stt.is_some(), output: self.tts.is_some() }
    }

    /// The default turn detection and a 60 s utterance, no providers, no recordings.
    pub fn new() -> Self {
        Self { stt: None, tts: None, turns: TurnConfig::default(), max_utterance_ms: 60_000, recordings: None }
    }
}

impl std::fmt::Debug for Speech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speech")
            .field("stt", &self.stt.as_ref().map(|p| p.name().to_owned()))
            .field("tts", &self.tts.as_ref().map(|p| p.name().to_owned()))
            .field("turns", &self.turns)
            .field("max_utterance_ms", &self.max_utterance_ms)
            .field("recordings", &self.recordings)
            .finish()
    }
}

/// Audio kept before speech starts, so speech-to-text hears its first syllable.
const PREROLL_SAMPLES: usize = INPUT_RATE as usize * 300 / 1000;
/// Audio kept after the end of speech (the detector ends it at its last voiced frame).
const TAIL_SAMPLES: usize = INPUT_RATE as usize * 200 / 1000;
/// Utterances transcribed at once for one session (one is normal; a second is a quick re-send).
const MAX_TRANSCRIBING: usize = 2;
/// Audio may arrive at most this many times faster than real time...
const AUDIO_RATE_FACTOR: u64 = 2;
/// ...after a burst of this much (a re-send after a reconnect).
const AUDIO_BURST_MS: u64 = 4_000;
/// Samples of one `turn.audio`.
const CHUNK_SAMPLES: usize = OUTPUT_RATE as usize / 5;
/// How far `turn.audio` may run ahead of real time.
const LEAD: Duration = Duration::from_millis(1_500);
/// Audio synthesized ahead of sending, at most, before the next piece is started (a piece
/// being made is read whole).
const MAX_READY_SAMPLES: usize = OUTPUT_RATE as usize * 6;

/// One voice session's audio path (boxed in its task: text sessions carry none of it).
pub(super) struct VoicePath {
    user: UserId,
    listening: Option<Listening>,
    speaking: Option<Speaking>,
    /// Audio moved since the last [`VoicePath::take_audio`], in samples: heard (16 kHz), spoken
    /// (24 kHz). For the minutes' ledger.
    heard: u64,
    spoken: u64,
}

/// What the audio path produced for the client: ephemeral messages, delivered at once.
pub(super) type Deliveries = Vec<ServerMessage>;

impl VoicePath {
    /// The path for a session spoken as `voice`, if the engine has a provider for any of it;
    /// `keeper` keeps the spoken answers' audio (with `Speech::recordings`).
    pub(super) fn new(speech: &Speech, user: &UserId, voice: Voice, keeper: Option<AudioKeeper>) -> Option<Self> {
        let listening = speech.stt.as_ref().filter(|_| voice.input).map(|stt| Listening {
            keeper,
            stt: Arc::clone(stt),
            detector: TurnDetector::new(speech.turns.clone()),
            utterance: None,
            transcribing: FuturesOrdered::new(),
            transcribing_ids: Vec::new(),
            bucket: AudioBucket::new(),
            max_samples: (speech.max_utterance_ms * u64::from(INPUT_RATE) / 1000) as usize,
        });
        let speaking = speech.tts.as_ref().filter(|_| voice.output).map(|tts| Speaking {
            tts: Arc::clone(tts),
            turns: VecDeque::new(),
            spoken: VecDeque::new(),
        });
        (listening.is_some() || speaking.is_some()).then(|| Self {
            user: user.clone(),
            listening,
            speaking,
            heard: 0,
            spoken: 0,
        })
    }

    /// Whether work is in flight that must not be dropped by unloading the session.
    pub(super) fn busy(&self) -> bool {
        self.listening.as_ref().is_some_and(|l| !l.transcribing.is_empty())
    }

    /// A voice message from the client. Those of a direction the session does not speak go to
    /// the core, which refuses them.
    pub(super) fn handle(&mut self, message: ClientMessage, session: &mut Session, now: Timestamp) -> Deliveries {
        let mut out = Vec::new();
        match message {
            ClientMessage::InputAudioAppend { id, audio } if self.listening.is_some() => {
                self.append(id, &audio, session, now, &mut out);
            }
            ClientMessage::InputAudioCommit { id } if self.listening.is_some() => {
                self.commit(id, session, now, &mut out);
            }
            ClientMessage::InputAudioClear { id } if self.listening.is_some() => {
                if let Some(listening) = self.listening.as_mut() {
                    if listening.utterance.as_ref().is_some_and(|u| u.id == id) {
                        listening.drop_utterance();
                    }
                }
            }
            ClientMessage::TurnTruncate { id, turn_id, audio_end_ms } if self.speaking.is_some() => {
                self.truncate(id, TurnId(turn_id), audio_end_ms, session, now, &mut out);
            }
            other => session.handle_client(other, now),
        }
        out
    }

    /// The core's output, on its way to the store and the client: speaking follows the turns.
    pub(super) fn observe(&mut self, output: &Output) {
        let Some(speaking) = self.speaking.as_mut() else { return };
        match output {
            Output::Persist(entry) => match &entry.record {
                Record::TurnStarted { turn_id, .. } => speaking.start(*turn_id),
                Record::TurnDone { turn_id, status, .. } => {
                    if let Some(turn) = speaking.turn(*turn_id) {
                        match status {
                            TurnStatus::Completed => turn.text_done(),
                            TurnStatus::Interrupted | TurnStatus::Failed => turn.stop(),
                        }
                    }
                }
                _ => {}
            },
            Output::Send(ServerMessage::TurnDelta(delta)) => {
                if let Some(turn) = speaking.turn(TurnId(delta.turn_id)) {
                    turn.text(&delta.text);
                }
            }
            _ => {}
        }
    }

    /// The client went away (or was replaced): the utterance in progress is dropped (the
    /// client re-sends it whole), speaking stops. Transcriptions in flight go on: their
    /// answers are stored, and a re-send is acknowledged again.
    pub(super) fn disconnected(&mut self) {
        if let Some(listening) = self.listening.as_mut() {
            listening.drop_utterance();
        }
        if let Some(speaking) = self.speaking.as_mut() {
            speaking.stop(None);
        }
    }

    /// What the audio path has next for the task: a transcription done, or a piece of the
    /// interviewer's audio to send (only when `sending`: someone is connected). Pending while
    /// there is neither, and always for a text session. Boxed for a voice session: the session
    /// task's idle state holds this future, and a text session should not pay for its room.
    pub(super) fn next(voice: &mut Option<Box<Self>>, sending: bool) -> impl Future<Output = VoiceEvent> + Send + '_ {
        match voice.as_deref_mut() {
            Some(path) => Either::Left(path.next_event(sending).boxed()),
            None => Either::Right(std::future::pending()),
        }
    }

    async fn next_event(&mut self, sending: bool) -> VoiceEvent {
        let VoicePath { user, listening, speaking, spoken, .. } = self;
        let transcribed = async {
            match listening.as_mut().filter(|l| !l.transcribing.is_empty()) {
                Some(listening) => match listening.transcribing.next().await {
                    Some(done) => done,
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let audio = async {
            match speaking.as_mut().filter(|_| sending) {
                Some(speaking) => speaking.next(user).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = transcribed => VoiceEvent::Transcribed(done),
            audio = audio => {
                if let ServerMessage::TurnAudio(chunk) = &audio {
                    *spoken += chunk.audio.0.len() as u64 / 2;
                }
                VoiceEvent::Send(audio)
            }
        }
    }

    /// Milliseconds of audio heard and spoken since the last call.
    pub(super) fn take_audio(&mut self) -> AudioMs {
        let audio = AudioMs {
            input_ms: self.heard * 1000 / u64::from(INPUT_RATE),
            output_ms: self.spoken * 1000 / u64::from(OUTPUT_RATE),
        };
        (self.heard, self.spoken) = (0, 0);
        audio
    }

    /// A transcription finished: the answer, or why there is none.
    pub(super) fn answer(&mut self, done: Transcribed, session: &mut Session, now: Timestamp) -> Deliveries {
        let Transcribed { id, result, audio_ms, offset_ms } = done;
        if let Some(listening) = self.listening.as_mut() {
            if let Some(at) = listening.transcribing_ids.iter().position(|t| *t == id) {
                listening.transcribing_ids.remove(at);
            }
        }
        let error = match result {
            Ok(Transcript { text, words }) if !text.trim().is_empty() => {
                let words = words
                    .into_iter()
                    .map(|w| TimedWord {
                        text: w.text,
                        start_ms: w.start_ms.saturating_add(offset_ms),
                        end_ms: w.end_ms.saturating_add(offset_ms),
                    })
                    .collect();
                session.handle_spoken_answer(id.clone(), text, Spoken { words, audio_ms }, now);
                None
            }
            Ok(_) => Some("no words were recognised in the utterance: say it again".to_owned()),
            Err(error) => {
                tracing::warn!(session = %session.params().session_id, %error, "speech-to-text failed");
                Some(format!("the utterance could not be transcribed ({}): re-send it with the same id", error.kind()))
            }
        };
        // Whatever came of it, the candidate's utterance is over (an accepted answer already
        // gave the floor back).
        session.handle_floor_released(now);
        error.map(|error| error_event(ErrorCode::SttFailed, error, Some(id))).into_iter().collect()
    }

    fn append(&mut self, id: String, audio: &Audio, session: &mut Session, now: Timestamp, out: &mut Deliveries) {
        let Some(listening) = self.listening.as_mut() else { return };
        let Some(samples) = audio.samples() else {
            let message = "audio must be PCM16: an even number of bytes".to_owned();
            return out.push(error_event(ErrorCode::InvalidMessage, message, Some(id)));
        };
        if !listening.bucket.take(samples.len() as u64, Instant::now()) {
            // A gap would corrupt the utterance: it is dropped, and the client sends it again.
            listening.drop_utterance();
            let message = format!(
                "audio faster than {AUDIO_RATE_FACTOR}x real time: the utterance was dropped; send it again in real time"
            );
            return out.push(error_event(ErrorCode::RateLimited, message, Some(id)));
        }
        metrics::counter!("viva_voice_input_audio_ms_total")
            .increment(samples.len() as u64 * 1000 / u64::from(INPUT_RATE));
        self.heard += samples.len() as u64;
        if listening.utterance.as_ref().is_none_or(|u| u.id != id) {
            // A new utterance (or the same one again, after it ended: a re-send).
            listening.detector.reset();
            listening.utterance = Some(Utterance { id, samples: Vec::new(), dropped: 0, long_enough: false });
        }
        let Some(utterance) = listening.utterance.as_mut() else { return };
        utterance.samples.extend_from_slice(&samples);
        let events = listening.detector.push(&samples);
        for event in events {
            match event {
                VadEvent::SpeechStarted { audio_start_ms } => {
                    out.push(ServerMessage::SpeechStarted(SpeechStarted { audio_start_ms }));
                }
                VadEvent::BargeIn { .. } => {
                    if let Some(utterance) = listening.utterance.as_mut() {
                        utterance.long_enough = true;
                    }
                    if let Some(speaking) = self.speaking.as_mut() {
                        speaking.stop(None);
                    }
                    session.handle_barge_in(now);
                }
                VadEvent::SpeechStopped { audio_end_ms } => {
                    out.push(ServerMessage::SpeechStopped(SpeechStopped { audio_end_ms }));
                    if listening.utterance.as_ref().is_some_and(|u| u.long_enough) {
                        self.end_utterance(audio_end_ms, session, now, out);
                    } else {
                        // A backchannel ("mm-hmm") or a noise: not an answer.
                        listening.drop_utterance();
                    }
                    return;
                }
            }
        }
        let Some(listening) = self.listening.as_mut() else { return };
        if listening.detector.speaking() {
            if listening.utterance.as_ref().is_some_and(|u| u.samples.len() >= listening.max_samples) {
                // As long as an utterance may be: it is the answer so far.
                if let Some(VadEvent::SpeechStopped { audio_end_ms }) = listening.detector.finish() {
                    out.push(ServerMessage::SpeechStopped(SpeechStopped { audio_end_ms }));
                    self.end_utterance(audio_end_ms, session, now, out);
                }
            }
        } else if let Some(utterance) = listening.utterance.as_mut() {
            utterance.keep_last(PREROLL_SAMPLES);
        }
    }

    fn commit(&mut self, id: String, session: &mut Session, now: Timestamp, out: &mut Deliveries) {
        let Some(listening) = self.listening.as_mut() else { return };
        if listening.utterance.as_ref().is_some_and(|u| u.id == id) {
            match listening.detector.finish() {
                Some(VadEvent::SpeechStopped { audio_end_ms }) => {
                    out.push(ServerMessage::SpeechStopped(SpeechStopped { audio_end_ms }));
                    self.end_utterance(audio_end_ms, session, now, out);
                }
                _ => {
                    listening.drop_utterance();
                    let message = "no speech was heard in the utterance: nothing to answer with".to_owned();
                    out.push(error_event(ErrorCode::InvalidMessage, message, Some(id)));
                }
            }
        } else if session.state().answer_ids.contains_key(&id) {
            // Committed again after it was stored: acknowledged again.
            session.handle_spoken_answer(id, String::new(), Spoken { words: Vec::new(), audio_ms: 0 }, now);
        } else if !listening.transcribing_ids.contains(&id) {
            let message = "no audio of this utterance is here: send it (again) before committing".to_owned();
            out.push(error_event(ErrorCode::InvalidMessage, message, Some(id)));
        }
        // Otherwise it is being transcribed already (it ended by silence): its answer follows.
    }

    /// The utterance ended at `audio_end_ms`: transcribed, unless it is stored already (a
    /// re-send), which is acknowledged again at once.
    fn end_utterance(&mut self, audio_end_ms: u64, session: &mut Session, now: Timestamp, out: &mut Deliveries) {
        let Some(listening) = self.listening.as_mut() else { return };
        let Some(utterance) = listening.utterance.take() else { return };
        listening.detector.reset();
        if session.state().answer_ids.contains_key(&utterance.id) {
            let spoken = Spoken { words: Vec::new(), audio_ms: 0 };
            return session.handle_spoken_answer(utterance.id, String::new(), spoken, now);
        }
        if listening.transcribing.len() >= MAX_TRANSCRIBING {
            let message = "utterances are arriving faster than they can be transcribed: send it again".to_owned();
            return out.push(error_event(ErrorCode::RateLimited, message, Some(utterance.id)));
        }
        let end = (audio_end_ms * u64::from(INPUT_RATE) / 1000) as usize + TAIL_SAMPLES;
        let Utterance { id, mut samples, dropped, .. } = utterance;
        samples.truncate(end.saturating_sub(dropped));
        let offset_ms = (dropped as u64 * 1000 / u64::from(INPUT_RATE)) as u32;
        let audio_ms = samples.len() as u64 * 1000 / u64::from(INPUT_RATE);
        let stt = Arc::clone(&listening.stt);
        let keeper = listening.keeper.clone();
        let user = self.user.clone();
        listening.transcribing_ids.push(id.clone());
        listening.transcribing.push_back(
            async move {
                let result = stt.transcribe(&user, &samples).await;
                // Kept before the answer is acknowledged (a transcript with no words makes
                // no answer, so nothing to keep).
                if let Some(keeper) = keeper.filter(|_| result.as_ref().is_ok_and(|t| !t.text.trim().is_empty())) {
                    keeper.keep(&id, samples).await;
                }
                Transcribed { id, result, audio_ms, offset_ms }
            }
            .boxed(),
        );
    }

    fn truncate(
        &mut self,
        id: Option<String>,
        turn_id: TurnId,
        audio_end_ms: u64,
        session: &mut Session,
        now: Timestamp,
        out: &mut Deliveries,
    ) {
        let Some(speaking) = self.speaking.as_mut() else { return };
        // Playback of this turn stopped: nothing more of it (or of an earlier one) is spoken.
        speaking.stop(Some(turn_id));
        let Some(turn) = speaking.turn(turn_id) else {
            let message = format!(
                "turn {turn_id}'s audio is not known here: only a turn being spoken or one of the last {} can be \
                 truncated",
                Speaking::KEPT
            );
            return out.push(error_event(ErrorCode::InvalidMessage, message, id));
        };
        let heard = turn.heard(audio_end_ms).to_owned();
        session.handle_truncate(id, turn_id, heard, audio_end_ms, now);
    }
}

/// What the audio path has for the task.
pub(super) enum VoiceEvent {
    /// Feed it to [`VoicePath::answer`].
    Transcribed(Transcribed),
    /// Deliver it.
    Send(ServerMessage),
}

/// A finished transcription.
pub(super) struct Transcribed {
    /// The utterance.
    id: String,
    result: Result<Transcript, SttError>,
    /// Milliseconds of audio transcribed.
    audio_ms: u64,
    /// Where the transcribed audio starts in the utterance (silence before it was not kept).
    offset_ms: u32,
}

struct Listening {
    stt: Arc<dyn SpeechToText>,
    keeper: Option<AudioKeeper>,
    detector: TurnDetector,
    utterance: Option<Utterance>,
    transcribing: FuturesOrdered<BoxFuture<'static, Transcribed>>,
    /// The ids being transcribed, oldest first.
    transcribing_ids: Vec<String>,
    bucket: AudioBucket,
    max_samples: usize,
}

impl Listening {
    fn drop_utterance(&mut self) {
        self.utterance = None;
        self.detector.reset();
    }
}

/// The audio of one utterance received so far (silence before speech only its last
/// `PREROLL_SAMPLES`).
struct Utterance {
    id: String,
    samples: Vec<i16>,
    /// Samples of the utterance dropped before `samples[0]`.
    dropped: usize,
    /// It has had the minimum speech of an answer (shorter is a backchannel, unless committed).
    long_enough: bool,
}

impl Utterance {
    /// Keeps the last `keep` samples (amortised: trims when twice that is held).
    fn keep_last(&mut self, keep: usize) {
        if self.samples.len() >= 2 * keep {
            let cut = self.samples.len() - keep;
            self.samples.drain(..cut);
            self.dropped += cut;
        }
    }
}

/// Audio allowed in: refilled at `AUDIO_RATE_FACTOR` times real time, up to a burst.
struct AudioBucket {
    samples: u64,
    at: Instant,
}

impl AudioBucket {
    const CAPACITY: u64 = AUDIO_BURST_MS * INPUT_RATE as u64 / 1000;

    fn new() -> Self {
        Self { samples: Self::CAPACITY, at: Instant::now() }
    }

    fn take(&mut self, samples: u64, now: Instant) -> bool {
        let refill =
            now.saturating_duration_since(self.at).as_millis() as u64 * u64::from(INPUT_RATE) * AUDIO_RATE_FACTOR
                / 1000;
        if refill > 0 {
            self.samples = (self.samples + refill).min(Self::CAPACITY);
            self.at = now;
        }
        if samples > self.samples {
            return false;
        }
        self.samples -= samples;
        true
    }
}

struct Speaking {
    tts: Arc<dyn TextToSpeech>,
    /// Turns to speak, in order: the front one is speaking (an intro is followed by the first
    /// question at once, and the question waits for the intro's audio).
    turns: VecDeque<SpokenTurn>,
    /// The last turns spoken (their text and timeline only), for `turn.truncate`.
    spoken: VecDeque<SpokenTurn>,
}

impl Speaking {
    /// Turns queued at most; an older one is dropped (it would not be heard in time anyway).
    const MAX_TURNS: usize = 4;
    /// Turns spoken kept for `turn.truncate`.
    const KEPT: usize = 3;

    fn start(&mut self, turn_id: TurnId) {
        if self.turns.len() == Self::MAX_TURNS {
            self.pop();
        }
        self.turns.push_back(SpokenTurn::new(turn_id));
    }

    /// The front turn is spoken (or stopped): kept for a while, without its buffers.
    fn pop(&mut self) {
        if let Some(mut turn) = self.turns.pop_front() {
            turn.stop();
            turn.ready = VecDeque::new();
            if self.spoken.len() == Self::KEPT {
                self.spoken.pop_front();
            }
            self.spoken.push_back(turn);
        }
    }

    fn turn(&mut self, turn_id: TurnId) -> Option<&mut SpokenTurn> {
        self.turns.iter_mut().chain(self.spoken.iter_mut()).find(|t| t.turn_id == turn_id)
    }

    /// Stops speaking every turn up to `last` (barge-in, disconnect: every turn).
    fn stop(&mut self, last: Option<TurnId>) {
        for turn in self.turns.iter_mut().filter(|t| last.is_none_or(|last| t.turn_id <= last)) {
            turn.stop();
        }
    }

    /// The next `turn.audio` (or `error tts_failed`); pending while there is nothing to send.
    /// Synthesis runs ahead of the paced sending, so that a synthesizer (a subprocess, a
    /// provider's connection) is held for as long as it takes to make a piece, not to play it.
    async fn next(&mut self, user: &UserId) -> ServerMessage {
        loop {
            let Some(turn) = self.turns.front_mut() else { return std::future::pending().await };
            if turn.finished() {
                self.pop();
                continue;
            }
            if turn.stream.is_none() && turn.ready.len() < MAX_READY_SAMPLES {
                if let Some((end, piece)) = turn.queue.pop_front() {
                    turn.stream = Some((end, self.tts.speak(user, &piece)));
                }
            }
            let flushing = turn.stream.is_none() && turn.queue.is_empty() && turn.text_done;
            let can_send = turn.ready.len() >= CHUNK_SAMPLES || (flushing && !turn.ready.is_empty());
            let send_at = turn.send_at();
            if can_send && send_at.is_none() {
                return turn.chunk();
            }
            // Wait for the time to send (if there is something to send) and for the synthesis
            // (if a piece is being made), whichever comes first.
            let Some((_, stream)) = turn.stream.as_mut() else {
                if let (true, Some(at)) = (can_send, send_at) {
                    tokio::time::sleep_until(at).await;
                    return turn.chunk();
                }
                // Waiting for more text (the task polls again once some arrives).
                return std::future::pending().await;
            };
            let due = async {
                match send_at.filter(|_| can_send) {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let item = tokio::select! {
                () = due => None,
                item = stream.next() => Some(item),
            };
            match item {
                None => return turn.chunk(),
                Some(Some(Ok(samples))) => {
                    turn.synthesized += samples.len() as u64;
                    turn.ready.extend(samples);
                }
                Some(Some(Err(error))) => {
                    turn.stop();
                    return tts_failed(&error, turn.turn_id);
                }
                Some(None) => {
                    if let Some((end, _)) = turn.stream.take() {
                        turn.timeline.push((end, turn.synthesized));
                    }
                }
            }
        }
    }
}

/// One piece of text being spoken; dropped, it stops.
type Synthesis = BoxStream<'static, Result<Vec<i16>, TtsError>>;

/// A turn as spoken.
struct SpokenTurn {
    turn_id: TurnId,
    /// Its text so far.
    text: String,
    sentences: Sentences,
    /// Where the last piece cut from `text` ends (bytes).
    cut: usize,
    /// Pieces to speak: where each ends in `text` (bytes), and its text.
    queue: VecDeque<(usize, String)>,
    /// The piece being synthesized.
    stream: Option<(usize, Synthesis)>,
    /// Samples synthesized and not sent yet.
    ready: VecDeque<i16>,
    /// Samples synthesized so far.
    synthesized: u64,
    /// For each piece synthesized whole: where it ends in `text`, and in samples.
    timeline: Vec<(usize, u64)>,
    next_index: u32,
    /// Samples sent, and when the first was.
    sent: u64,
    started: Option<Instant>,
    text_done: bool,
    stopped: bool,
}

impl SpokenTurn {
    fn new(turn_id: TurnId) -> Self {
        Self {
            turn_id,
            text: String::new(),
            sentences: Sentences::default(),
            cut: 0,
            queue: VecDeque::new(),
            stream: None,
            ready: VecDeque::new(),
            synthesized: 0,
            timeline: Vec::new(),
            next_index: 0,
            sent: 0,
            started: None,
            text_done: false,
            stopped: false,
        }
    }

    fn text(&mut self, text: &str) {
        if self.stopped {
            return;
        }
        self.text.push_str(text);
        for piece in self.sentences.push(text) {
            self.enqueue(piece);
        }
    }

    fn text_done(&mut self) {
        if let Some(piece) = self.sentences.finish() {
            self.enqueue(piece);
        }
        self.text_done = true;
    }

    /// The next piece of `text` to speak (pieces are consecutive slices of it).
    fn enqueue(&mut self, piece: String) {
        self.cut += piece.len();
        self.queue.push_back((self.cut, piece));
    }

    /// Whether nothing is left to send: stopped, or the whole text spoken and sent.
    fn finished(&self) -> bool {
        self.stopped || (self.text_done && self.stream.is_none() && self.queue.is_empty() && self.ready.is_empty())
    }

    /// Stops speaking at once: the synthesis is dropped (its subprocess killed).
    fn stop(&mut self) {
        self.stopped = true;
        self.stream = None;
        self.queue.clear();
        self.ready.clear();
    }

    /// When the next chunk may go: at most `LEAD` ahead of real time.
    fn send_at(&self) -> Option<Instant> {
        let started = self.started?;
        let ahead = Duration::from_millis(self.sent * 1000 / u64::from(OUTPUT_RATE));
        let at = (started + ahead).checked_sub(LEAD)?;
        (at > Instant::now()).then_some(at)
    }

    fn chunk(&mut self) -> ServerMessage {
        let take = self.ready.len().min(CHUNK_SAMPLES);
        let samples: Vec<i16> = self.ready.drain(..take).collect();
        self.started.get_or_insert_with(Instant::now);
        self.sent += take as u64;
        metrics::counter!("viva_voice_output_audio_ms_total").increment(take as u64 * 1000 / u64::from(OUTPUT_RATE));
        let index = self.next_index;
        self.next_index += 1;
        ServerMessage::TurnAudio(TurnAudio { turn_id: self.turn_id.0, index, audio: Audio::from_samples(&samples) })
    }

    /// The text the candidate heard when playback stopped at `audio_end_ms`: the pieces
    /// played whole, and of the piece playing, its words in proportion to the audio played.
    fn heard(&self, audio_end_ms: u64) -> &str {
        let played = audio_end_ms * u64::from(OUTPUT_RATE) / 1000;
        let (mut text_start, mut audio_start) = (0, 0);
        for &(text_end, audio_end) in &self.timeline {
            if played < audio_end {
                let piece = &self.text[text_start..text_end];
                let share = (played - audio_start) as f64 / (audio_end - audio_start).max(1) as f64;
                let mut cut = ((piece.len() as f64) * share) as usize;
                while !piece.is_char_boundary(cut) {
                    cut -= 1;
                }
                // Back to the end of the last whole word.
                let cut = piece[..cut].rfind(char::is_whitespace).unwrap_or(0);
                return self.text[..text_start + cut].trim_end();
            }
            (text_start, audio_start) = (text_end, audio_end);
        }
        // Past every piece synthesized whole (a piece cut by the stop was not heard whole).
        self.text[..text_start].trim_end()
    }
}

fn error_event(code: ErrorCode, message: String, reference: Option<String>) -> ServerMessage {
    ServerMessage::Error(ErrorEvent { code, message, fatal: false, reference })
}

fn tts_failed(error: &TtsError, turn_id: TurnId) -> ServerMessage {
    tracing::warn!(%error, %turn_id, "text-to-speech failed; the turn goes on as text");
    let message = format!("turn {turn_id} could not be spoken ({}): it comes as text only", error.kind());
    error_event(ErrorCode::TtsFailed, message, None)
}
