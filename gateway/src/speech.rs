//! Voice configuration: which speech-to-text and text-to-speech providers the engine gets
//! (`--stt`, `--tts`, each `none` by default: the default run is text only and needs nothing
//! installed), checked like every flag, and the providers built from it at start.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use viva_engine::voice::stt::{OpenAiStt, OpenAiSttConfig, PocketsphinxConfig, PocketsphinxStt, SpeechToText};
use viva_engine::voice::tts::{EspeakConfig, EspeakTts, OpenAiTts, OpenAiTtsConfig, TextToSpeech};
use viva_engine::{AudioRecordings, Speech};

/// The voice flags and their `VIVA_*` variables, as given.
#[derive(Debug, Clone, Args)]
pub struct SpeechArgs {
    /// Speech-to-text for spoken answers: `none`, `pocketsphinx` (offline; Debian's
    /// `pocketsphinx` and `pocketsphinx-en-us`), or `openai` (`/audio/transcriptions`).
    #[arg(long, env = "VIVA_STT", default_value = "none")]
    pub stt: String,
    /// With `--stt openai`: base URL, e.g. `https://api.openai.com/v1`.
    #[arg(long, env = "VIVA_STT_BASE_URL")]
    pub stt_base_url: Option<String>,
    /// With `--stt openai`: API key (sent as a bearer token; never logged).
    #[arg(long, env = "VIVA_STT_API_KEY", hide_env_values = true)]
    pub stt_api_key: Option<String>,
    /// With `--stt openai`: the model.
    #[arg(long, env = "VIVA_STT_MODEL", default_value = "whisper-1")]
    pub stt_model: String,
    /// With `--stt pocketsphinx`: recognize only these words (space-separated), for demos and
    /// tests; free-form recognition of synthetic speech is poor.
    #[arg(long, env = "VIVA_STT_GRAMMAR")]
    pub stt_grammar: Option<String>,
    /// Text-to-speech for the interviewer's turns: `none`, `espeak-ng` (offline; Debian's
    /// `espeak-ng`, run as a subprocess), or `openai` (`/audio/speech`).
    #[arg(long, env = "VIVA_TTS", default_value = "none")]
    pub tts: String,
    /// With `--tts openai`: base URL.
    #[arg(long, env = "VIVA_TTS_BASE_URL")]
    pub tts_base_url: Option<String>,
    /// With `--tts openai`: API key (never logged).
    #[arg(long, env = "VIVA_TTS_API_KEY", hide_env_values = true)]
    pub tts_api_key: Option<String>,
    /// With `--tts openai`: the model.
    #[arg(long, env = "VIVA_TTS_MODEL", default_value = "gpt-4o-mini-tts")]
    pub tts_model: String,
    /// The voice: an espeak-ng voice (`en-us`) or the provider's (`alloy`).
    #[arg(long, env = "VIVA_TTS_VOICE")]
    pub tts_voice: Option<String>,
    /// Silence that ends a spoken answer, in milliseconds (generous: candidates pause to think).
    #[arg(long, env = "VIVA_VAD_END_SILENCE_MS", default_value = "1200")]
    pub vad_end_silence_ms: String,
    /// Speech that cuts the interviewer off, in milliseconds (shorter is a backchannel).
    #[arg(long, env = "VIVA_VAD_MIN_SPEECH_MS", default_value = "300")]
    pub vad_min_speech_ms: String,
    /// Keep each spoken answer's audio with its session (`on`/`off`): compressed (FLAC),
    /// served to its owner as WAV, exported, deleted and expired with the session.
    #[arg(long, env = "VIVA_AUDIO_RECORDINGS", default_value = "off")]
    pub audio_recordings: String,
    /// With `--audio-recordings on`: the most audio one session keeps, in MiB (compressed).
    #[arg(long, env = "VIVA_AUDIO_RECORDINGS_MAX_MB", default_value = "16")]
    pub audio_recordings_max_mb: String,
}

/// Which speech-to-text, checked.
#[derive(Clone, PartialEq, Eq)]
pub enum SttSettings {
    /// No spoken answers.
    None,
    /// Offline, with an optional word list.
    Pocketsphinx {
        /// Words to recognize only (empty: the model's whole vocabulary).
        grammar: Vec<String>,
    },
    /// An OpenAI-compatible API.
    OpenAi {
        /// Base URL.
        base_url: String,
        /// Model.
        model: String,
        /// Bearer token.
        api_key: Option<String>,
    },
}

/// Which text-to-speech, checked.
#[derive(Clone, PartialEq, Eq)]
pub enum TtsSettings {
    /// No spoken turns.
    None,
    /// Offline espeak-ng with this voice.
    Espeak {
        /// e.g. `en-us`.
        voice: String,
    },
    /// An OpenAI-compatible API.
    OpenAi {
        /// Base URL.
        base_url: String,
        /// Model.
        model: String,
        /// Voice.
        voice: String,
        /// Bearer token.
        api_key: Option<String>,
    },
}

/// Voice, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechSettings {
    /// Speech-to-text.
    pub stt: SttSettings,
    /// Text-to-speech.
    pub tts: TtsSettings,
    /// Silence that ends an answer.
    pub end_silence_ms: u32,
    /// Speech that is a barge-in.
    pub min_speech_ms: u32,
    /// Spoken answers' audio kept (`None`: off).
    pub recordings: Option<AudioRecordings>,
}

// Keys stay out of logs and panics.
impl std::fmt::Debug for SttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Pocketsphinx { grammar } => f.debug_struct("Pocketsphinx").field("grammar", grammar).finish(),
            Self::OpenAi { base_url, model, .. } => {
                f.debug_struct("OpenAi").field("base_url", base_url).field("model", model).finish_non_exhaustive()
            }
        }
    }
}

impl std::fmt::Debug for TtsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Espeak { voice } => f.debug_struct("Espeak").field("voice", voice).finish(),
            Self::OpenAi { base_url, model, voice, .. } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("model", model)
                .field("voice", voice)
                .finish_non_exhaustive(),
        }
    }
}

impl SpeechArgs {
    /// Checks every value; problems go to `errors`.
    pub fn validate(&self, errors: &mut Vec<String>) -> SpeechSettings {
        let url = |flag: &str, value: &Option<String>, errors: &mut Vec<String>| match value {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => {
                errors.push(format!("--{flag} `{url}` is not an http:// or https:// URL"));
                String::new()
            }
            None => {
                errors.push(format!("--{flag} is needed with the openai provider"));
                String::new()
            }
        };
        let stt = match self.stt.as_str() {
            "none" => SttSettings::None,
            "pocketsphinx" => SttSettings::Pocketsphinx {
                grammar: self.stt_grammar.iter().flat_map(|g| g.split_whitespace()).map(str::to_owned).collect(),
            },
            "openai" => SttSettings::OpenAi {
                base_url: url("stt-base-url", &self.stt_base_url, errors),
                model: self.stt_model.clone(),
                api_key: self.stt_api_key.clone(),
            },
            other => {
                errors.push(format!("--stt `{other}` is not `none`, `pocketsphinx` or `openai`"));
                SttSettings::None
            }
        };
        if self.stt_grammar.is_some() && self.stt != "pocketsphinx" {
            errors.push("--stt-grammar is only used with --stt pocketsphinx".to_owned());
        }
        let tts = match self.tts.as_str() {
            "none" => TtsSettings::None,
            "espeak-ng" => TtsSettings::Espeak { voice: self.tts_voice.clone().unwrap_or_else(|| "en-us".to_owned()) },
            "openai" => TtsSettings::OpenAi {
                base_url: url("tts-base-url", &self.tts_base_url, errors),
                model: self.tts_model.clone(),
                voice: self.tts_voice.clone().unwrap_or_else(|| "alloy".to_owned()),
                api_key: self.tts_api_key.clone(),
            },
            other => {
                errors.push(format!("--tts `{other}` is not `none`, `espeak-ng` or `openai`"));
                TtsSettings::None
            }
        };
        let mut number = |name: &str, value: &str, min: u32, max: u32| match value.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                errors.push(format!("--{name} `{value}` is not a whole number from {min} to {max}"));
                min
            }
        };
        let end_silence_ms = number("vad-end-silence-ms", &self.vad_end_silence_ms, 200, 10_000);
        let min_speech_ms = number("vad-min-speech-ms", &self.vad_min_speech_ms, 50, 5_000);
        let max_mb = number("audio-recordings-max-mb", &self.audio_recordings_max_mb, 1, 1024);
        let recordings = match self.audio_recordings.as_str() {
            "off" => None,
            "on" if stt == SttSettings::None => {
                errors.push("--audio-recordings on keeps spoken answers: it needs an --stt provider".to_owned());
                None
            }
            "on" => Some(AudioRecordings { max_bytes_per_session: u64::from(max_mb) << 20 }),
            other => {
                errors.push(format!("--audio-recordings `{other}` is not `on` or `off`"));
                None
            }
        };
        SpeechSettings { stt, tts, end_silence_ms, min_speech_ms, recordings }
    }
}

impl SpeechSettings {
    /// The engine's speech providers. A provider that cannot work at all (a missing program
    /// or model) stops the start with a clear error.
    pub fn build(&self) -> anyhow::Result<Speech> {
        let stt: Option<Arc<dyn SpeechToText>> = match &self.stt {
            SttSettings::None => None,
            SttSettings::Pocketsphinx { grammar } => {
                let stt = PocketsphinxStt::new(PocketsphinxConfig::default())
                    .context("--stt pocketsphinx: install Debian's pocketsphinx and pocketsphinx-en-us")?;
                let stt = if grammar.is_empty() { stt } else { stt.with_grammar(grammar).context("--stt-grammar")? };
                Some(Arc::new(stt))
            }
            SttSettings::OpenAi { base_url, model, api_key } => {
                let config = OpenAiSttConfig::new(base_url, model, api_key.clone());
                Some(Arc::new(OpenAiStt::new(config).context("--stt openai")?))
            }
        };
        let tts: Option<Arc<dyn TextToSpeech>> = match &self.tts {
            TtsSettings::None => None,
            TtsSettings::Espeak { voice } => {
                let config = EspeakConfig { voice: voice.clone(), ..EspeakConfig::default() };
                Some(Arc::new(EspeakTts::new(config).context("--tts espeak-ng: install Debian's espeak-ng")?))
            }
            TtsSettings::OpenAi { base_url, model, voice, api_key } => {
                let config = OpenAiTtsConfig {
                    model: model.clone(),
                    voice: voice.clone(),
                    ..OpenAiTtsConfig::new(base_url, api_key.clone())
                };
                Some(Arc::new(OpenAiTts::new(config).context("--tts openai")?))
            }
        };
        let mut speech = Speech { stt, tts, recordings: self.recordings, ..Speech::new() };
        speech.turns.end_silence_ms = self.end_silence_ms;
        speech.turns.min_speech_ms = self.min_speech_ms;
        Ok(speech)
    }
}
