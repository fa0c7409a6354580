//! Offline speech-to-text: Debian's `pocketsphinx` (5prealpha in bookworm), its
//! `pocketsphinx_continuous` run once per utterance.
//!
//! The utterance goes as raw PCM16 16 kHz on the child's stdin (`-infile /dev/stdin`); with
//! `-time yes` it prints the hypothesis, then one line per segment: `word start_s end_s prob`
//! (fillers such as `<s>`, `<sil>`, `(NULL)`, `[NOISE]` are dropped, alternative pronunciations
//! `word(2)` named as the word). A subprocess rather than FFI: the crate forbids `unsafe`, and a
//! crash or a hang of the recognizer stays in the child, which is killed on timeout or when the
//! call is dropped.
//!
//! Free-form recognition uses the model's language model and is poor on synthetic speech;
//! [`PocketsphinxStt::with_grammar`] restricts it to a list of words (a JSGF grammar: any of
//! them, in any order), which is what the tests use.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::{SpeechToText, SttError, Transcript, Word, check_length, count_error, pcm_bytes};
use crate::core::UserId;

/// Where pocketsphinx is and how much of the machine it may take.
#[derive(Debug, Clone)]
pub struct PocketsphinxConfig {
    /// The recognizer: a path, or a name looked up in `PATH`.
    pub binary: PathBuf,
    /// The model directory: holds `en-us/` (the acoustic model), `en-us.lm.bin` and
    /// `cmudict-en-us.dict`, as `pocketsphinx-en-us` installs them.
    pub model_dir: PathBuf,
    /// The longest utterance taken.
    pub max_audio: Duration,
    /// How long one recognition may take, waiting for a place included.
    pub timeout: Duration,
    /// Recognizers running at once (each takes a core while it runs, ≈0.1–0.8 × real time).
    pub max_concurrency: usize,
}

impl Default for PocketsphinxConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("pocketsphinx_continuous"),
            model_dir: PathBuf::from("/usr/share/pocketsphinx/model/en-us"),
            max_audio: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_concurrency: 2,
        }
    }
}

/// A private directory removed when the last recognizer using it is dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("viva-stt-{}", uuid::Uuid::new_v4()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the recognizer is told to recognize.
#[derive(Debug, Clone)]
enum Language {
    /// The model's language model: anything.
    Free,
    /// Only these words; the grammar file lives in the directory.
    Grammar { file: PathBuf, _dir: Arc<TempDir> },
}

/// Offline speech-to-text with pocketsphinx (see the module's documentation).
#[derive(Debug, Clone)]
pub struct PocketsphinxStt {
    config: PocketsphinxConfig,
    binary: PathBuf,
    language: Language,
    places: Arc<Semaphore>,
}

impl PocketsphinxStt {
    /// A recognizer for `config`; a missing binary or model file is an
    /// [`SttError::Unavailable`] now rather than on every utterance.
    pub fn new(config: PocketsphinxConfig) -> Result<Self, SttError> {
        let binary = find_binary(&config.binary).ok_or_else(|| {
            SttError::Unavailable(format!(
                "`{}` not found (install the Debian package `pocketsphinx`)",
                config.binary.display()
            ))
        })?;
        for file in [config.model_dir.join("en-us/mdef"), config.model_dir.join("en-us.lm.bin"), dictionary(&config)] {
            if !file.is_file() {
                return Err(SttError::Unavailable(format!(
                    "model file `{}` missing (install the Debian package `pocketsphinx-en-us`)",
                    file.display()
                )));
            }
        }
        if config.max_concurrency == 0 {
            return Err(SttError::Unavailable("max_concurrency must be at least 1".into()));
        }
        let places = Arc::new(Semaphore::new(config.max_concurrency));
        Ok(Self { config, binary, language: Language::Free, places })
    }

    /// Recognizes only `words` (any of them, in any order): far better than free-form when
    /// the expected vocabulary is known (and on synthetic speech). Words are lowercased; those
    /// not in the model's dictionary are left out (with a warning); none left is an error.
    pub fn with_grammar<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Result<Self, SttError> {
        let mut wanted: Vec<String> = Vec::new();
        for word in words {
            let word = word.as_ref().trim().to_lowercase();
            if !word.is_empty()
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '\'' || c == '-')
                && !wanted.contains(&word)
            {
                wanted.push(word);
            }
        }
        let known = known_words(&dictionary(&self.config), &wanted)?;
        let (kept, unknown): (Vec<String>, Vec<String>) = wanted.into_iter().partition(|w| known.contains(w));
        if !unknown.is_empty() {
            tracing::warn!(?unknown, "words not in the pocketsphinx dictionary are left out of the grammar");
        }
        if kept.is_empty() {
            return Err(SttError::Unavailable("no word of the grammar is in the dictionary".into()));
        }
        let dir = TempDir::new().map_err(|e| SttError::Unavailable(format!("cannot create a temp dir: {e}")))?;
        let file = dir.0.join("words.gram");
        let grammar = format!("#JSGF V1.0;\ngrammar viva;\npublic <utterance> = ( {} )* ;\n", kept.join(" | "));
        std::fs::write(&file, grammar).map_err(|e| SttError::Unavailable(format!("cannot write the grammar: {e}")))?;
        self.language = Language::Grammar { file, _dir: Arc::new(dir) };
        Ok(self)
    }

    async fn run(&self, audio: &[i16]) -> Result<Transcript, SttError> {
        let _place = tokio::time::timeout(self.config.timeout, self.places.acquire())
            .await
            .map_err(|_| SttError::Timeout("queue"))?
            .map_err(|_| SttError::Unavailable("closed".into()))?;
        let model = &self.config.model_dir;
        let mut command = Command::new(&self.binary);
        command
            .arg("-infile")
            .arg("/dev/stdin")
            .args(["-samprate", "16000", "-time", "yes", "-logfn", "/dev/null"])
            .arg("-hmm")
            .arg(model.join("en-us"))
            .arg("-dict")
            .arg(dictionary(&self.config));
        match &self.language {
            Language::Free => command.arg("-lm").arg(model.join("en-us.lm.bin")),
            Language::Grammar { file, .. } => command.arg("-jsgf").arg(file),
        };
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child =
            command.spawn().map_err(|e| SttError::Unavailable(format!("cannot start pocketsphinx: {e}")))?;
        let mut stdin = child.stdin.take().ok_or_else(|| SttError::Failed("no stdin".into()))?;
        let bytes = pcm_bytes(audio);
        // Written while the output is read, so that neither side waits on a full pipe.
        let write = async move {
            let result = stdin.write_all(&bytes).await;
            drop(stdin);
            result
        };
        let work = async { tokio::join!(write, child.wait_with_output()) };
        let (written, output) =
            tokio::time::timeout(self.config.timeout, work).await.map_err(|_| SttError::Timeout("recognizer"))?;
        let output = output.map_err(|e| SttError::Failed(e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr: String = stderr.chars().take(300).collect();
            return Err(SttError::Failed(format!("pocketsphinx exited with {}: {stderr}", output.status)));
        }
        written.map_err(|e| SttError::Failed(format!("writing the audio: {e}")))?;
        Ok(parse_output(&String::from_utf8_lossy(&output.stdout)))
    }
}

#[async_trait]
impl SpeechToText for PocketsphinxStt {
    fn name(&self) -> &str {
        "pocketsphinx"
    }

    async fn transcribe(&self, _user: &UserId, audio: &[i16]) -> Result<Transcript, SttError> {
        check_length(audio, self.config.max_audio)?;
        if audio.is_empty() {
            return Ok(Transcript::default());
        }
        let result = self.run(audio).await;
        if let Err(error) = &result {
            count_error("pocketsphinx", error);
        }
        result
    }
}

fn dictionary(config: &PocketsphinxConfig) -> PathBuf {
    config.model_dir.join("cmudict-en-us.dict")
}

/// `binary` if it is a path to a file, or the first file of that name in `PATH`.
fn find_binary(binary: &Path) -> Option<PathBuf> {
    if binary.components().count() > 1 {
        return binary.is_file().then(|| binary.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(binary)).find(|path| path.is_file())
}

/// Which of `words` the dictionary has (its lines start with the word, then its phones).
fn known_words(dictionary: &Path, words: &[String]) -> Result<HashSet<String>, SttError> {
    let file = std::fs::File::open(dictionary)
        .map_err(|e| SttError::Unavailable(format!("cannot read `{}`: {e}", dictionary.display())))?;
    let mut known = HashSet::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| SttError::Unavailable(format!("cannot read the dictionary: {e}")))?;
        if let Some(head) = line.split_whitespace().next() {
            if let Some(word) = words.iter().find(|w| w.as_str() == head) {
                known.insert(word.clone());
            }
        }
    }
    Ok(known)
}

/// The words of `pocketsphinx_continuous -time yes` output, in order.
fn parse_output(output: &str) -> Transcript {
    let mut words = Vec::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [word, start, end, probability] = fields[..] else { continue };
        let (Ok(start), Ok(end), Ok(_)) = (start.parse::<f64>(), end.parse::<f64>(), probability.parse::<f64>()) else {
            continue;
        };
        if word.starts_with(['<', '[', '(', '+']) {
            continue;
        }
        let text = match word.find('(') {
            Some(at) => &word[..at],
            None => word,
        };
        let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u32;
        words.push(Word { text: text.to_owned(), start_ms: ms(start), end_ms: ms(end) });
    }
    let text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    Transcript { text, words }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_segments_and_drops_fillers() {
        let output = "i would use a cache\n<s> 0.380 0.480 0.999\ni 0.490 0.580 1.000000\n(NULL) 0.580 0.580 1.0\n\
                      use(2) 0.790 1.000 1.000000\n<sil> 1.0 1.2 1.0\n[NOISE] 1.2 1.3 1.0\ncache 1.310 1.600 0.5\n</s> 1.6 1.9 1.0\n";
        let transcript = parse_output(output);
        assert_eq!(transcript.text, "i use cache");
        assert_eq!(
            transcript.words,
            vec![
                Word { text: "i".into(), start_ms: 490, end_ms: 580 },
                Word { text: "use".into(), start_ms: 790, end_ms: 1000 },
                Word { text: "cache".into(), start_ms: 1310, end_ms: 1600 },
            ]
        );
        assert_eq!(parse_output(""), Transcript::default());
    }

    #[test]
    fn a_missing_binary_or_model_is_an_error_at_construction() {
        let config = PocketsphinxConfig { binary: "/nonexistent/pocketsphinx".into(), ..Default::default() };
        assert!(matches!(PocketsphinxStt::new(config), Err(SttError::Unavailable(_))));
        let config = PocketsphinxConfig { binary: "sh".into(), model_dir: "/nonexistent".into(), ..Default::default() };
        let Err(SttError::Unavailable(message)) = PocketsphinxStt::new(config) else { panic!() };
        assert!(message.contains("pocketsphinx-en-us"), "{message}");
    }
}
