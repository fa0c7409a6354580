//! Turn detection: when the candidate starts and stops speaking, and when they have spoken
//! long enough to interrupt the interviewer (barge-in).
//!
//! A pure state machine over PCM16 mono 16 kHz audio: no I/O, no clock. Time is the number of
//! samples seen (16 a millisecond), so the same audio always gives the same events.
//!
//! Frames are classified as speech or not by [`earshot`] (a small neural network compiled into
//! the binary: nothing is downloaded at run time). Chosen over `webrtc-vad` 0.4, which is
//! cheaper (≈0.09 ms of CPU per second of audio against ≈0.74 ms, measured on this machine;
//! both negligible per session) but wraps a C object behind a raw pointer: its detector is not
//! `Send`, so it could not live in a session's task, and it needs a C toolchain to build.
//! earshot is pure Rust, `Send`, and about 8 KiB a detector.

use earshot::Detector;

/// Samples a second of the audio this module takes.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples in one classified frame (16 ms at 16 kHz: what earshot takes).
pub const FRAME_SAMPLES: usize = 256;
/// Milliseconds of one frame.
const FRAME_MS: u64 = 16;

/// The tunables of turn detection.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnConfig {
    /// Silence after speech that ends the utterance. Generous: candidates pause to think.
    pub end_silence_ms: u32,
    /// Speech an utterance must have (speech frames, pauses not counted) before it may
    /// interrupt the interviewer: a short "mm-hmm" does not.
    pub min_speech_ms: u32,
    /// Consecutive speech that starts an utterance (a click is not speech).
    pub start_speech_ms: u32,
    /// Classifier score (0–1) at and above which a frame is speech.
    pub threshold: f32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self { end_silence_ms: 1200, min_speech_ms: 300, start_speech_ms: 48, threshold: 0.5 }
    }
}

/// What the detector noticed. Times are milliseconds of audio since the detector was created
/// (or last [`TurnDetector::reset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// An utterance began at `audio_start_ms` (the start of its first speech frame).
    SpeechStarted {
        /// Where its speech begins.
        audio_start_ms: u64,
    },
    /// The utterance that started at `audio_start_ms` has lasted `min_speech_ms`: the
    /// candidate is interrupting. Once an utterance.
    BargeIn {
        /// Where the utterance's speech begins.
        audio_start_ms: u64,
    },
    /// The utterance ended at `audio_end_ms` (the end of its last speech frame); reported once
    /// `end_silence_ms` of silence followed it, or at [`TurnDetector::finish`].
    SpeechStopped {
        /// Where its speech ends.
        audio_end_ms: u64,
    },
}

/// Where the detector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No utterance; `run` speech frames in a row so far, the first at `run_start`.
    Quiet { run: u64, run_start: u64 },
    /// In an utterance.
    Speaking {
        /// Its first speech frame (in frames).
        start: u64,
        /// The end of its last speech frame (in frames).
        end: u64,
        /// Its speech frames so far.
        voiced: u64,
        /// Whether `BargeIn` was reported.
        barged_in: bool,
    },
}

/// Turn detection over a stream of PCM16 mono 16 kHz samples. Memory is bounded: less than a
/// frame of samples is kept between calls.
pub struct TurnDetector {
    config: TurnConfig,
    detector: Box<Detector>,
    /// Samples of a frame not yet complete (< `FRAME_SAMPLES`).
    pending: Vec<i16>,
    /// Frames classified so far.
    frames: u64,
    state: State,
}

impl std::fmt::Debug for TurnDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnDetector")
            .field("config", &self.config)
            .field("frames", &self.frames)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl TurnDetector {
    /// A detector with `config`, at time 0.
    pub fn new(config: TurnConfig) -> Self {
        Self {
            config,
            detector: Detector::default_boxed(),
            pending: Vec::with_capacity(FRAME_SAMPLES),
            frames: 0,
            state: State::Quiet { run: 0, run_start: 0 },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// Milliseconds of audio classified so far.
    pub fn audio_ms(&self) -> u64 {
        self.frames * FRAME_MS
    }

    /// Whether an utterance is under way.
    pub fn speaking(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Back to time 0, no utterance, nothing buffered.
    pub fn reset(&mut self) {
        self.detector.reset();
        self.pending.clear();
        self.frames = 0;
        self.state = State::Quiet { run: 0, run_start: 0 };
    }

    /// Takes the next `samples` (samples, not bytes: a caller decoding PCM16 LE bytes handles
    /// an odd byte itself), of any length, and returns what they made happen, in order.
    /// A partial frame waits for the next call.
    pub fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let mut rest = samples;
        if !self.pending.is_empty() {
            let take = (FRAME_SAMPLES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < FRAME_SAMPLES {
                return events;
            }
            let frame = std::mem::take(&mut self.pending);
            self.frame(&frame, &mut events);
            self.pending = frame;
            self.pending.clear();
        }
        let mut chunks = rest.chunks_exact(FRAME_SAMPLES);
        for frame in &mut chunks {
            self.frame(frame, &mut events);
        }
        self.pending.extend_from_slice(chunks.remainder());
        events
    }

    /// Ends the utterance under way now (the client committed it), if any: its
    /// `SpeechStopped`. The buffered partial frame is dropped.
    pub fn finish(&mut self) -> Option<VadEvent> {
        self.pending.clear();
        match std::mem::replace(&mut self.state, State::Quiet { run: 0, run_start: self.frames }) {
            State::Speaking { end, .. } => Some(VadEvent::SpeechStopped { audio_end_ms: end * FRAME_MS }),
            State::Quiet { .. } => None,
        }
    }

    /// Classifies one whole frame and moves the state.
    fn frame(&mut self, frame: &[i16], events: &mut Vec<VadEvent>) {
        let speech = self.detector.predict_i16(frame) >= self.config.threshold;
        let index = self.frames;
        self.frames += 1;
        let frames_of = |ms: u32| u64::from(ms).div_ceil(FRAME_MS).max(1);
        match &mut self.state {
            State::Quiet { run, run_start } => {
                if !speech {
                    *run = 0;
                    return;
                }
                if *run == 0 {
                    *run_start = index;
                }
                *run += 1;
                if *run >= frames_of(self.config.start_speech_ms) {
                    let start = *run_start;
                    events.push(VadEvent::SpeechStarted { audio_start_ms: start * FRAME_MS });
                    self.state = State::Speaking { start, end: self.frames, voiced: *run, barged_in: false };
                    self.check_barge_in(events);
                }
            }
            State::Speaking { end, voiced, .. } => {
                if speech {
                    *end = self.frames;
                    *voiced += 1;
                    self.check_barge_in(events);
                } else if self.frames - *end >= frames_of(self.config.end_silence_ms) {
                    events.push(VadEvent::SpeechStopped { audio_end_ms: *end * FRAME_MS });
                    self.state = State::Quiet { run: 0, run_start: self.frames };
                }
            }
        }
    }

    fn check_barge_in(&mut self, events: &mut Vec<VadEvent>) {
        let min = u64::from(self.config.min_speech_ms);
        if let State::Speaking { start, voiced, barged_in, .. } = &mut self.state {
            if !*barged_in && *voiced * FRAME_MS >= min {
                *barged_in = true;
                events.push(VadEvent::BargeIn { audio_start_ms: *start * FRAME_MS });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` spoken by espeak-ng, resampled to 16 kHz, without its leading and trailing
    /// silence; `None` (the test is skipped) when espeak-ng is not installed.
    fn speech(text: &str) -> Option<Vec<i16>> {
        let output = match std::process::Command::new("espeak-ng").args(["--stdout", text]).output() {
            Ok(output) if output.status.success() => output,
            _ => {
                viva_testkit::missing_program("espeak-ng");
                return None;
            }
        };
        let (rate, samples) = parse_wav(&output.stdout);
        let samples = resample(&samples, rate, SAMPLE_RATE);
        let loud = |s: &i16| s.unsigned_abs() > 300;
        let first = samples.iter().position(loud)?;
        let last = samples.iter().rposition(loud)?;
        Some(samples[first..=last].to_vec())
    }

    /// The sample rate and samples of a PCM16 mono WAV (espeak-ng's `--stdout` leaves the
    /// sizes unset, so the data runs to the end).
    fn parse_wav(bytes: &[u8]) -> (u32, Vec<i16>) {
        let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
        let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
        let samples = bytes[data..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        (rate, samples)
    }

    /// Linear interpolation: good enough for a classifier.
    fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
        let count = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
        (0..count)
            .map(|i| {
                let x = i as f64 * f64::from(from) / f64::from(to);
                let j = x as usize;
                let a = f64::from(samples[j]);
                let b = f64::from(*samples.get(j + 1).unwrap_or(&samples[j]));
                (a + (b - a) * (x - j as f64)) as i16
            })
            .collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 16]
    }

    /// Feeds `audio` in messages of `chunk` samples (not a multiple of a frame on purpose).
    fn run(detector: &mut TurnDetector, audio: &[i16], chunk: usize) -> Vec<VadEvent> {
        audio.chunks(chunk).flat_map(|c| detector.push(c)).collect()
    }

    fn count(events: &[VadEvent], f: fn(&VadEvent) -> bool) -> usize {
        events.iter().filter(|e| f(e)).count()
    }

    #[test]
    fn silence_makes_no_events() {
        let mut detector = TurnDetector::new(TurnConfig::default());
        assert_eq!(run(&mut detector, &silence(5000), 1000), vec![]);
        // Quiet noise is not speech either.
        let hiss: Vec<i16> = (0..16_000 * 3).map(|i| ((i * 7919 % 61) as i16) - 30).collect();
        assert_eq!(run(&mut detector, &hiss, 3200), vec![]);
        assert_eq!(detector.audio_ms(), 8000);
        assert!(detector.pending.len() < FRAME_SAMPLES);
    }

    #[test]
    fn speech_then_silence_is_one_utterance_with_plausible_times() {
        let Some(speech) = speech("I would use a cache with a time to live") else { return };
        let speech_ms = speech.len() as u64 / 16;
        let audio = [silence(500), speech, silence(1500)].concat();
        let mut detector = TurnDetector::new(TurnConfig::default());
        let events = run(&mut detector, &audio, 333);
        eprintln!("{events:?}, speech from 500 to {} ms", 500 + speech_ms);
        let [
            VadEvent::SpeechStarted { audio_start_ms },
            VadEvent::BargeIn { .. },
            VadEvent::SpeechStopped { audio_end_ms },
        ] = events[..]
        else {
            panic!("{events:?}");
        };
        assert!((400..=700).contains(&audio_start_ms), "{events:?}");
        let end = 500 + speech_ms;
        assert!(audio_end_ms > end - 200 && audio_end_ms < end + 300, "{events:?}, speech ends at {end}");
        assert!(!detector.speaking());
    }

    #[test]
    fn a_pause_to_think_does_not_end_the_answer() {
        let Some(first) = speech("I would use a cache") else { return };
        let Some(second) = speech("with a time to live") else { return };
        let audio = [silence(300), first, silence(600), second, silence(1500)].concat();
        let mut detector = TurnDetector::new(TurnConfig::default());
        let events = run(&mut detector, &audio, 3200);
        assert_eq!(count(&events, |e| matches!(e, VadEvent::SpeechStarted { .. })), 1, "{events:?}");
        assert_eq!(count(&events, |e| matches!(e, VadEvent::SpeechStopped { .. })), 1, "{events:?}");
        assert_eq!(count(&events, |e| matches!(e, VadEvent::BargeIn { .. })), 1, "{events:?}");
    }

    #[test]
    fn a_backchannel_does_not_barge_in_a_longer_utterance_does_once() {
        let Some(speech) = speech("well, I would use a cache with a time to live") else { return };
        let mut detector = TurnDetector::new(TurnConfig::default());
        let short = [silence(300), speech[..150 * 16].to_vec(), silence(1500)].concat();
        let events = run(&mut detector, &short, 320);
        assert_eq!(count(&events, |e| matches!(e, VadEvent::BargeIn { .. })), 0, "{events:?}");

        let mut detector = TurnDetector::new(TurnConfig::default());
        let long = [silence(300), speech[..1000 * 16].to_vec(), silence(300)].concat();
        let events = run(&mut detector, &long, 320);
        let barge_ins: Vec<_> = events.iter().filter(|e| matches!(e, VadEvent::BargeIn { .. })).collect();
        assert_eq!(barge_ins.len(), 1, "{events:?}");
        // Still speaking (300 ms of silence is a pause); commit ends it at once.
        assert!(detector.speaking());
        assert!(matches!(detector.finish(), Some(VadEvent::SpeechStopped { .. })));
        assert_eq!(detector.finish(), None);
    }

    #[test]
    fn messages_of_any_length_give_the_same_events() {
        let Some(speech) = speech("a time to live") else { return };
        let audio = [silence(200), speech, silence(1500)].concat();
        let whole = run(&mut TurnDetector::new(TurnConfig::default()), &audio, audio.len());
        for chunk in [1, 255, 256, 257, 320, 3200] {
            assert_eq!(run(&mut TurnDetector::new(TurnConfig::default()), &audio, chunk), whole, "chunk {chunk}");
        }
    }
}
