//! Spoken answers for `replay --voice`: each distinct answer text spoken once by `espeak-ng`
//! (a subprocess: `espeak-ng -v en-us --stdout TEXT`, a WAV at 22,050 Hz), resampled to the
//! 16 kHz of `input_audio.append` by linear interpolation, and kept in memory for the run and
//! on disk (raw PCM16 LE, one file per text, named by a hash of the text) so later runs skip
//! the synthesis. Everything is synthesized before the first session starts: espeak-ng's CPU
//! does not count against the gateway being measured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The rate of the candidate's audio.
pub const RATE: u32 = 16_000;
/// Samples in one 20 ms frame at [`RATE`].
pub const FRAME_SAMPLES: usize = RATE as usize / 50;
/// One frame's duration.
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(20);
/// The program that speaks.
pub const ESPEAK: &str = "espeak-ng";

/// Why speech could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// espeak-ng is not installed or did not run.
    #[error("cannot run {ESPEAK} (apt-get install espeak-ng): {0}")]
    Spawn(std::io::Error),
    /// espeak-ng ran and failed.
    #[error("{ESPEAK} failed ({status}): {stderr}")]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// Its output is not the WAV expected.
    #[error("{ESPEAK} wrote no PCM16 mono WAV: {0}")]
    Wav(String),
    /// The synthesis task failed.
    #[error("speaking `{0}`: the task failed")]
    Task(String),
}

/// The speech of answer texts, 16 kHz PCM16 mono.
#[derive(Debug, Default, Clone)]
pub struct Voices {
    by_text: HashMap<String, Arc<Vec<i16>>>,
    /// Texts spoken by espeak-ng in this process (the others came from the disk cache).
    pub synthesized: usize,
}

impl Voices {
    /// Speaks every text of `texts` (each distinct one once), reading and filling the cache
    /// in `cache_dir` (made if missing; a cache that cannot be written is only not kept).
    pub async fn speak_all(texts: impl IntoIterator<Item = String>, cache_dir: &Path) -> Result<Self, VoiceError> {
        let mut voices = Self::default();
        let mut distinct: Vec<String> = texts.into_iter().collect();
        distinct.sort();
        distinct.dedup();
        let _ = std::fs::create_dir_all(cache_dir);
        for text in distinct {
            let path = cache_dir.join(format!("{:016x}.pcm16", cache_key(&text)));
            let speak = {
                let text = text.clone();
                tokio::task::spawn_blocking(move || cached_or_spoken(&text, &path))
            };
            let (samples, spoken) = speak.await.map_err(|_| VoiceError::Task(text.clone()))??;
            voices.synthesized += usize::from(spoken);
            voices.by_text.insert(text, Arc::new(samples));
        }
        Ok(voices)
    }

    /// The speech of `text`, if it was spoken.
    pub fn get(&self, text: &str) -> Option<Arc<Vec<i16>>> {
        self.by_text.get(text).cloned()
    }

    /// Distinct texts held.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }

    /// Seconds of speech held.
    pub fn seconds(&self) -> f64 {
        self.by_text.values().map(|s| s.len() as f64 / f64::from(RATE)).sum()
    }
}

/// How a replay speaks: the speech of every answer it may give, and its limits.
#[derive(Debug, Clone)]
pub struct VoiceReplay {
    /// The speech, by spoken text.
    pub voices: Arc<Voices>,
    /// Characters of an answer spoken at most ([`spoken_text`]; 0: all).
    pub max_chars: usize,
    /// A session fails when it gets more `stt_failed` and `tts_failed` errors than this.
    pub max_errors: u32,
}

impl VoiceReplay {
    /// Speaks every prose answer of `scripts` (see [`Voices::speak_all`]).
    pub async fn prepare(
        scripts: &[crate::Script],
        max_chars: usize,
        max_errors: u32,
        cache_dir: &Path,
    ) -> Result<Self, VoiceError> {
        let texts = scripts.iter().flat_map(|s| s.answers()).filter_map(|answer| match answer {
            viva_protocol::ClientMessage::AnswerSubmit { text, .. } => Some(spoken_text(text, max_chars)),
            _ => None,
        });
        let voices = Voices::speak_all(texts.collect::<Vec<_>>(), cache_dir).await?;
        Ok(Self { voices: Arc::new(voices), max_chars, max_errors })
    }

    /// The speech of the answer `text`, if it was prepared.
    pub fn speech(&self, text: &str) -> Option<Arc<Vec<i16>>> {
        self.voices.get(&spoken_text(text, self.max_chars))
    }
}

/// The default disk cache: `viva-load-voice` in the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("viva-load-voice")
}

/// What is spoken of an answer `text`: its whole sentences up to `max_chars` characters (at
/// least its first sentence's first `max_chars` characters, cut at a word); all of it when
/// `max_chars` is 0.
pub fn spoken_text(text: &str, max_chars: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if max_chars == 0 || text.chars().count() <= max_chars {
        return text;
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + 1 + word.chars().count() > max_chars {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    // Back to the last sentence end, if there is one.
    match out.rfind(['.', '?', '!']) {
        Some(end) if end > 0 => out[..=end].to_owned(),
        _ if out.is_empty() => text.chars().take(max_chars).collect(),
        _ => out,
    }
}

/// The cache file's key: FNV-1a of the voice and the text.
fn cache_key(text: &str) -> u64 {
    format!("espeak-ng en-us 16k v1\n{text}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The samples from the cache file, or spoken now (and cached); whether they were spoken.
fn cached_or_spoken(text: &str, path: &Path) -> Result<(Vec<i16>, bool), VoiceError> {
    if let Ok(bytes) = std::fs::read(path) {
        if !bytes.is_empty() && bytes.len() % 2 == 0 {
            return Ok((bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect(), false));
        }
    }
    let samples = espeak(text)?;
    // Written whole under another name, then renamed: a reader never sees half a file.
    let partial = path.with_extension(format!("{}.part", std::process::id()));
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    if std::fs::write(&partial, bytes).is_ok() {
        let _ = std::fs::rename(&partial, path);
    }
    Ok((samples, true))
}

/// `text` spoken by espeak-ng, at [`RATE`].
pub fn espeak(text: &str) -> Result<Vec<i16>, VoiceError> {
    let output = std::process::Command::new(ESPEAK)
        .args(["-v", "en-us", "--stdout", "--", text])
        .output()
        .map_err(VoiceError::Spawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(VoiceError::Failed { status: output.status, stderr });
    }
    let (rate, samples) = parse_wav(&output.stdout)?;
    Ok(resample(&samples, rate, RATE))
}

/// The rate and samples of a PCM16 mono WAV. espeak-ng writing to a pipe cannot go back to
/// fill in its sizes, so the data is everything after the `data` chunk's header.
pub fn parse_wav(bytes: &[u8]) -> Result<(u32, Vec<i16>), VoiceError> {
    if bytes.len() < 44 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(VoiceError::Wav("no RIFF/WAVE header".to_owned()));
    }
    let field = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let (channels, bits) = (field(22), field(34));
    if channels != 1 || bits != 16 {
        return Err(VoiceError::Wav(format!("{channels} channels of {bits} bits")));
    }
    let rate = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    let data = bytes.windows(4).position(|w| w == b"data").ok_or_else(|| VoiceError::Wav("no data chunk".into()))?;
    let samples = bytes.get(data + 8..).unwrap_or_default();
    Ok((rate, samples.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()))
}

/// `samples` at `from` Hz resampled to `to` Hz by linear interpolation.
pub fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || samples.is_empty() || from == 0 {
        return samples.to_vec();
    }
    let count = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..count)
        .map(|i| {
            let x = i as f64 * step;
            let j = x as usize;
            let a = f64::from(samples[j.min(samples.len() - 1)]);
            let b = f64::from(samples[(j + 1).min(samples.len() - 1)]);
            (a + (b - a) * (x - j as f64)).round() as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_text_keeps_whole_sentences_within_the_limit() {
        let text = "I would shard by key.  Then   cache reads with a TTL. Finally, measure it all.";
        assert_eq!(spoken_text(text, 0), "I would shard by key. Then cache reads with a TTL. Finally, measure it all.");
        assert_eq!(spoken_text(text, 60), "I would shard by key. Then cache reads with a TTL.");
        assert_eq!(spoken_text(text, 25), "I would shard by key.");
        assert_eq!(spoken_text(text, 12), "I would");
        assert_eq!(spoken_text("Supercalifragilistic", 5), "Super");
    }

    #[test]
    fn resampling_keeps_the_duration_and_the_line() {
        let ramp: Vec<i16> = (0..22_050).map(|i| (i % 1000) as i16).collect();
        let out = resample(&ramp, 22_050, 16_000);
        assert_eq!(out.len(), 16_000);
        assert_eq!(out[0], 0);
        assert_eq!(out[100], (100.0f64 * 22_050.0 / 16_000.0).round() as i16);
        assert_eq!(resample(&ramp, 16_000, 16_000), ramp);
    }

    #[test]
    fn a_wav_without_sizes_reads_to_its_end() {
        let mut wav = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        wav.extend_from_slice(&22_050u32.to_le_bytes());
        wav.extend_from_slice(&44_100u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data\xff\xff\xff\xff");
        wav.extend_from_slice(&[1, 0, 0xff, 0xff, 3, 0]);
        assert_eq!(parse_wav(&wav).unwrap(), (22_050, vec![1, -1, 3]));
        assert!(parse_wav(b"not a wav file at all, not even close to one").is_err());
    }
}
