//! `espeak-ng` as a subprocess. It is GPL-3: Viva never links it, only runs the binary and
//! reads its WAV on stdout.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, timeout_at};

use super::resample::Resampler;
use super::{OUTPUT_RATE, Pcm16, TextToSpeech, TtsError, prepare, record_error};
use crate::core::UserId;

/// How to run `espeak-ng` and how long to wait for it.
#[derive(Debug, Clone)]
pub struct EspeakConfig {
    /// The binary (looked up in `PATH` without a slash).
    pub binary: PathBuf,
    /// `-v`, e.g. `en-us`.
    pub voice: String,
    /// `-s`: speed in words per minute.
    pub words_per_minute: u32,
    /// Longest text spoken at once, in characters (a sentence is far shorter).
    pub max_chars: usize,
    /// Subprocesses at once (each takes a core while it synthesizes); others wait.
    pub max_concurrency: usize,
    /// From the call to the first audio, the wait for a place included.
    pub first_audio_timeout: Duration,
    /// From the call to the last audio, including the consumer's waits: take chunks as they
    /// come, do not pace them to real time.
    pub sentence_timeout: Duration,
    /// Audio per chunk streamed.
    pub chunk: Duration,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("espeak-ng"),
            voice: "en-us".to_owned(),
            words_per_minute: 175,
            max_chars: 2_000,
            max_concurrency: 4,
            first_audio_timeout: Duration::from_secs(2),
            sentence_timeout: Duration::from_secs(30),
            chunk: Duration::from_millis(100),
        }
    }
}

/// Speaks with `espeak-ng`, resampled from its 22,050 Hz to 24 kHz.
#[derive(Debug, Clone)]
pub struct EspeakTts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EspeakConfig,
    places: Semaphore,
    /// Samples per chunk at 24 kHz.
    chunk_len: usize,
}

impl EspeakTts {
    /// Checks that the binary runs (`espeak-ng --version`): a missing binary is an error now,
    /// not at the first turn.
    pub fn new(config: EspeakConfig) -> Result<Self, TtsError> {
        let output = std::process::Command::new(&config.binary)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| TtsError::Unavailable(format!("cannot run `{}`: {e}", config.binary.display())))?;
        if !output.status.success() {
            return Err(TtsError::Unavailable(format!(
                "`{} --version` failed ({})",
                config.binary.display(),
                output.status
            )));
        }
        let chunk_len = (u128::from(OUTPUT_RATE) * config.chunk.as_millis() / 1_000).max(1) as usize;
        let places = Semaphore::new(config.max_concurrency.max(1));
        Ok(Self { inner: Arc::new(Inner { config, places, chunk_len }) })
    }
}

impl TextToSpeech for EspeakTts {
    fn name(&self) -> &str {
        "espeak-ng"
    }

    fn speak(&self, _user: &UserId, text: &str) -> BoxStream<'static, Result<Vec<i16>, TtsError>> {
        let text = match prepare(text, self.inner.config.max_chars) {
            Ok(text) if text.is_empty() => return stream::empty().boxed(),
            Ok(text) => text,
            Err(error) => {
                record_error("espeak-ng", &error);
                return stream::once(async move { Err(error) }).boxed();
            }
        };
        // A small channel: a consumer that does not take the audio stops the reading, and
        // then espeak-ng itself (its pipe fills up).
        let (tx, rx) = mpsc::channel(4);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            if let Err(error) = inner.run(&text, &tx).await {
                record_error("espeak-ng", &error);
                let _ = tx.send(Err(error)).await;
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }
}

type Sender = mpsc::Sender<Result<Vec<i16>, TtsError>>;

impl Inner {
    async fn run(&self, text: &str, tx: &Sender) -> Result<(), TtsError> {
        let started = Instant::now();
        let first_deadline = started + self.config.first_audio_timeout;
        let deadline = started + self.config.sentence_timeout;
        let _place = tokio::select! {
            place = timeout_at(first_deadline, self.places.acquire()) => {
                place.map_err(|_| TtsError::Timeout("place"))?.expect("the semaphore is never closed")
            }
            () = tx.closed() => return Ok(()),
        };
        let mut child = Command::new(&self.config.binary)
            .arg("--stdout")
            .arg("-v")
            .arg(&self.config.voice)
            .arg("-s")
            .arg(self.config.words_per_minute.to_string())
            // The text is one argument after `--`: never an option, never through a shell.
            .arg("--")
            .arg(text)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TtsError::Unavailable(format!("cannot run `{}`: {e}", self.config.binary.display())))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let outcome = tokio::select! {
            outcome = self.pump(&mut stdout, tx, started, first_deadline, deadline) => outcome,
            () = tx.closed() => Ok(Pumped::Abandoned),
        };
        if let Err(TtsError::Malformed(_)) = &outcome {
            // Nothing usable came out: a failed run says why better than its output does (its
            // stdout is closed or garbage: it is exiting, or the deadline ends the wait).
            if let Ok(Ok(status)) = timeout_at(deadline, child.wait()).await {
                if !status.success() {
                    return Err(TtsError::Process(format!("espeak-ng {status}")));
                }
            }
        }
        if !matches!(outcome, Ok(Pumped::Done)) {
            // Barge-in or a failure: kill it now and reap it (no zombie).
            let _ = child.start_kill();
            let _ = child.wait().await;
            return outcome.map(|_| ());
        }
        let status = match timeout_at(deadline, child.wait()).await {
            Ok(status) => status.map_err(|e| TtsError::Process(e.to_string()))?,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(TtsError::Timeout("sentence"));
            }
        };
        if status.success() { Ok(()) } else { Err(TtsError::Process(format!("espeak-ng {status}"))) }
    }

    /// Reads the WAV until EOF (its data length is not to be trusted when streaming),
    /// resamples it and sends it in chunks.
    async fn pump(
        &self,
        stdout: &mut (impl AsyncRead + Unpin),
        tx: &Sender,
        started: Instant,
        first_deadline: Instant,
        deadline: Instant,
    ) -> Result<Pumped, TtsError> {
        let mut wav = Wav::default();
        let mut resampler = None;
        let mut buffer = vec![0; 16 * 1024];
        let mut raw = Vec::new();
        let mut chunk = Vec::with_capacity(self.chunk_len);
        let mut first = true;
        loop {
            let (limit, what) = if first { (first_deadline, "first audio") } else { (deadline, "sentence") };
            let read = match timeout_at(limit, stdout.read(&mut buffer)).await {
                Err(_) => return Err(TtsError::Timeout(what)),
                Ok(read) => read.map_err(|e| TtsError::Process(e.to_string()))?,
            };
            if read == 0 {
                break;
            }
            raw.clear();
            if let Some(rate) = wav.push(&buffer[..read], &mut raw)? {
                resampler.get_or_insert_with(|| Resampler::new(rate, OUTPUT_RATE)).push(&raw, &mut chunk);
            }
            if first && !chunk.is_empty() {
                first = false;
                metrics::histogram!("viva_tts_first_audio_seconds", "provider" => "espeak-ng")
                    .record(started.elapsed());
            }
            while chunk.len() >= self.chunk_len {
                let rest = chunk.split_off(self.chunk_len);
                if tx.send(Ok(std::mem::replace(&mut chunk, rest))).await.is_err() {
                    return Ok(Pumped::Abandoned);
                }
            }
        }
        let Some(resampler) = resampler else {
            return Err(TtsError::Malformed("espeak-ng's output ended before its audio".into()));
        };
        wav.pcm.finish()?;
        resampler.finish(&mut chunk);
        if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
            return Ok(Pumped::Abandoned);
        }
        Ok(Pumped::Done)
    }
}

/// How reading the output ended, when it did not fail.
enum Pumped {
    Done,
    /// Nobody listens any more.
    Abandoned,
}

/// A header longer than this is not espeak-ng's (it writes 44 bytes).
const MAX_HEADER: usize = 4 * 1024;

/// A streamed RIFF/WAVE of PCM16 mono: the header, then samples until EOF.
#[derive(Debug, Default)]
struct Wav {
    /// The header so far, until the `data` chunk begins.
    header: Vec<u8>,
    /// The sample rate, once the data began.
    rate: Option<u32>,
    pcm: Pcm16,
}

impl Wav {
    /// Appends the samples in `bytes` to `out`; the sample rate once it is known.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<i16>) -> Result<Option<u32>, TtsError> {
        if self.rate.is_some() {
            self.pcm.push(bytes, out);
            return Ok(self.rate);
        }
        self.header.extend_from_slice(bytes);
        match parse_header(&self.header)? {
            None if self.header.len() > MAX_HEADER => Err(TtsError::Malformed("no data in the WAV header".into())),
            None => Ok(None),
            Some((rate, data)) => {
                let header = std::mem::take(&mut self.header);
                self.pcm.push(&header[data..], out);
                self.rate = Some(rate);
                Ok(self.rate)
            }
        }
    }
}

/// The sample rate and where the samples begin, once the header is complete. The `data`
/// chunk's length is ignored: when streaming espeak-ng cannot know it (0 or 0xFFFFFFFF).
fn parse_header(bytes: &[u8]) -> Result<Option<(u32, usize)>, TtsError> {
    let malformed = |what: &str| TtsError::Malformed(format!("WAV: {what}"));
    if bytes.len() < 12 {
        return Ok(None);
    }
    if &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(malformed("not RIFF/WAVE"));
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut rate = None;
    let mut at = 12;
    loop {
        if bytes.len() < at + 8 {
            return Ok(None);
        }
        let (id, size, body) = (&bytes[at..at + 4], u32_at(at + 4) as usize, at + 8);
        if id == b"data" {
            return rate.map(|rate| Some((rate, body))).ok_or_else(|| malformed("data before fmt"));
        }
        if size > MAX_HEADER {
            return Err(malformed("a header chunk too long"));
        }
        if bytes.len() < body + size {
            return Ok(None);
        }
        if id == b"fmt " {
            if size < 16 {
                return Err(malformed("fmt too short"));
            }
            let (format, channels, sample_rate, bits) =
                (u16_at(body), u16_at(body + 2), u32_at(body + 4), u16_at(body + 14));
            if format != 1 || channels != 1 || bits != 16 || sample_rate == 0 {
                return Err(malformed(&format!(
                    "format {format}, {channels} channels, {bits} bits at {sample_rate} Hz; expected PCM16 mono"
                )));
            }
            rate = Some(sample_rate);
        }
        // Chunks are padded to an even length.
        at = body + size + (size & 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rate: u32, data_len: u32, extra: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(extra);
        h.extend_from_slice(b"fmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h
    }

    #[test]
    fn a_streamed_wav_is_read_until_its_end_whatever_its_data_length_says() {
        let samples: Vec<i16> = (0..300).map(|i| (i * 97 - 10_000) as i16).collect();
        // A LIST chunk of odd length (padded) before fmt, as some writers do.
        let mut list = b"LIST".to_vec();
        list.extend_from_slice(&3u32.to_le_bytes());
        list.extend_from_slice(b"abc\0");
        for data_len in [0, u32::MAX, 10] {
            let mut bytes = header(22_050, data_len, &list);
            bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
            for size in [1, 3, 44, 1_000] {
                let mut wav = Wav::default();
                let mut out = Vec::new();
                let mut rate = None;
                for part in bytes.chunks(size) {
                    rate = wav.push(part, &mut out).unwrap().or(rate);
                }
                assert_eq!(rate, Some(22_050));
                assert_eq!(out, samples, "data length {data_len}, reads of {size}");
            }
        }
    }

    #[test]
    fn other_formats_and_garbage_are_malformed() {
        let mut stereo = header(22_050, 0, &[]);
        stereo[22] = 2;
        let kind = |bytes: &[u8]| Wav::default().push(bytes, &mut Vec::new()).map_err(|e| e.kind());
        assert_eq!(kind(&stereo), Err("malformed"));
        assert_eq!(kind(b"ID3\x04 this is an mp3"), Err("malformed"));
        assert_eq!(kind(&header(22_050, 0, &[])[..30]), Ok(None), "incomplete: wait for more");
        let mut endless = b"RIFF\0\0\0\0WAVEjunk".to_vec();
        endless.extend_from_slice(&(MAX_HEADER as u32 + 1).to_le_bytes());
        assert_eq!(kind(&endless), Err("malformed"));
    }
}
