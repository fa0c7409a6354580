//! `replay --voice` against an in-process gateway whose engine listens and speaks through
//! `viva-load provider`'s `/audio/transcriptions` and `/audio/speech`, over HTTP, with the
//! engine's own OpenAI clients: the answers are espeak-ng speech sent in 20 ms frames at real
//! pace, heard by the gateway's VAD, transcribed by the provider; the turns come back as
//! audio. Skipped (saying so) when espeak-ng is missing, except in CI. Nothing here asserts a
//! timing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::voice::stt::{OpenAiStt, OpenAiSttConfig};
use viva_engine::voice::tts::{OpenAiTts, OpenAiTtsConfig};
use viva_engine::{Engine, Speech};
use viva_load::provider::{self, Pace, Provider};
use viva_load::voice::{VoiceReplay, Voices};
use viva_load::{ReplayConfig, Script, Target, Timeouts};
use viva_protocol::Encoding;
use viva_testkit::gateway::InProcessGateway;

mod common;

/// The provider on 127.0.0.1:0, fast, with short speech (2 ms a character); its base URL.
async fn provider() -> String {
    let pace = Pace {
        stt: Duration::from_millis(20),
        tts_first_audio: Duration::from_millis(20),
        speech_ms_per_char: 2,
        ..Pace::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(provider::serve(listener, Arc::new(Provider::new(pace)), std::future::pending()));
    format!("http://{addr}")
}

/// A gateway with the scripted interviewer at pace 0, listening and speaking through `base`.
fn gateway(base: &str) -> Target {
    let stt = OpenAiStt::new(OpenAiSttConfig::new(base, "whisper-1", None)).unwrap();
    let tts = OpenAiTts::new(OpenAiTtsConfig::new(base, None)).unwrap();
    let speech = Speech { stt: Some(Arc::new(stt)), tts: Some(Arc::new(tts)), ..Speech::new() };
    let engine =
        Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).speech(speech).build();
    let addr = InProcessGateway::start(engine, |_| {}).detach();
    Target::parse(&format!("ws://{addr}")).unwrap()
}

fn espeak_installed() -> bool {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(viva_load::voice::ESPEAK).is_file());
    if !found {
        viva_testkit::missing_program("espeak-ng");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_answers_replay_cleanly_and_time_the_end_of_speech() {
    if !espeak_installed() {
        return;
    }
    let target = gateway(&provider().await);
    // The short recording: two prose answers, then the candidate ends the interview.
    let recording = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/senior-backend.ends-early.jsonl");
    let scripts = vec![Script::read(&recording).unwrap()];
    let cache = std::env::temp_dir().join(format!("viva-load-voice-test-{}", std::process::id()));
    // A sentence or so of each answer: a few seconds of speech at real pace.
    let voice = VoiceReplay::prepare(&scripts, 60, 0, &cache).await.unwrap();
    assert_eq!(voice.voices.len(), 2);
    assert!(voice.voices.seconds() > 1.0, "{} s of speech", voice.voices.seconds());
    let config = ReplayConfig {
        targets: vec![target],
        max_reconnects: 0,
        scripts,
        sessions: 2,
        concurrency: 2,
        speed: 1e6,
        encoding: Encoding::Json,
        token_prefix: "dev:voice-".to_owned(),
        timeouts: Timeouts::default(),
        ramp_per_s: None,
        voice: Some(Arc::new(voice)),
    };
    let (summary, outcomes) = common::replay(config).await;
    common::assert_clean(&summary, 2);
    // A provider call may still fail on a loaded machine (the session allows none of them
    // here: max_errors 0 would fail it); other errors say what happened.
    eprintln!("errors: {:?}", summary.errors);
    for outcome in &outcomes {
        assert!(outcome.audio_chunks > 0 && outcome.audio_ms_out > 0, "session {}", outcome.index);
    }
    // Two spoken answers a session, each timed from the end of its speech.
    assert_eq!(summary.answers, 4);
    assert_eq!(summary.latency_ms["speech_end_to_answer"].count, 4, "{:#?}", summary.latency_ms);
    assert!(summary.latency_ms["speech_end_to_audio"].count >= 2, "{:#?}", summary.latency_ms);
    for metric in ["ack", "first_delta", "start_first_delta"] {
        assert!(summary.latency_ms[metric].count > 0, "{metric}");
    }
    assert!(summary.audio.turn_audio_chunks > 0 && summary.audio.turn_audio_s > 0.0, "{:?}", summary.audio);
    assert!(summary.audio.speech_sent_s > 2.0, "{:?}", summary.audio);
    assert_eq!(summary.audio.barge_ins, 0, "the answers wait for the interviewer's audio to end");
    eprintln!("{}", serde_json::to_string_pretty(&summary.latency_ms).unwrap());
    let _ = std::fs::remove_dir_all(&cache);
}

/// A gateway without speech refuses a voice session's start: each session fails at once,
/// saying why, instead of waiting for its timeout.
#[tokio::test]
async fn a_gateway_without_speech_fails_voice_sessions_at_once() {
    let target = Target::parse(&format!("ws://{}", common::gateway(viva_engine::EngineConfig::default()))).unwrap();
    let voice = VoiceReplay { voices: Arc::new(Voices::default()), max_chars: 0, max_errors: 0 };
    let config = ReplayConfig {
        targets: vec![target],
        max_reconnects: 0,
        scripts: common::shipped(),
        sessions: 2,
        concurrency: 2,
        speed: 1e6,
        encoding: Encoding::MsgPack,
        token_prefix: "dev:voiceless-".to_owned(),
        timeouts: Timeouts::default(),
        ramp_per_s: None,
        voice: Some(Arc::new(voice)),
    };
    let (summary, outcomes) = common::replay(config).await;
    assert_eq!(summary.sessions.failed, 2);
    assert_eq!(summary.sessions.failures.get("voice_errors"), Some(&2), "{:?}", summary.sessions.failures);
    assert_eq!(summary.errors.get("voice_unavailable"), Some(&2));
    for outcome in outcomes {
        let (_, detail) = outcome.failure.unwrap();
        assert!(detail.contains("voice_unavailable"), "{detail}");
    }
}
