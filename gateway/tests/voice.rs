//! Voice over a real WebSocket with the offline providers: answers spoken by espeak-ng are
//! streamed in 20 ms frames at real pace, detected by the VAD, recognized by pocketsphinx (with
//! a grammar of the answer's words: free-form recognition of synthetic speech is poor), stored
//! and scored; the interviewer's turns come back as `turn.audio` from espeak-ng.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, Connect, Event, Gateway};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::meter::{MemoryMeter, Meter};
use viva_engine::voice::stt::{PocketsphinxConfig, PocketsphinxStt};
use viva_engine::voice::tts::{EspeakConfig, EspeakTts, OUTPUT_RATE};
use viva_engine::{AudioRecordings, Engine, Metering, Speech};
use viva_protocol::checker::Checker;
use viva_protocol::server::AnswerSource;
use viva_protocol::{Audio, ClientMessage, ServerMessage, TurnKind, TurnStatus, Voice};
use viva_testkit::speech::{RATE, offline_speech_installed, silence, speech};

/// 20 ms of audio at 16 kHz.
const FRAME: usize = RATE as usize / 50;

const ANSWER: &str = "I would use a cache with a time to live";

/// A gateway whose engine listens with pocketsphinx (restricted to `grammar`) and speaks with
/// espeak-ng; the scripted interviewer says a word every `pace`.
async fn voice_gateway(pace: Duration, grammar: &[&str]) -> Gateway {
    recording_gateway(pace, grammar, None, None).await
}

/// [`voice_gateway`], keeping spoken answers' audio as `recordings` says, metering minutes
/// through `meter` when given.
async fn recording_gateway(
    pace: Duration,
    grammar: &[&str],
    recordings: Option<AudioRecordings>,
    meter: Option<Arc<MemoryMeter>>,
) -> Gateway {
    let stt = PocketsphinxStt::new(PocketsphinxConfig::default()).unwrap().with_grammar(grammar).unwrap();
    let tts = EspeakTts::new(EspeakConfig::default()).unwrap();
    let speech = Speech { stt: Some(Arc::new(stt)), tts: Some(Arc::new(tts)), recordings, ..Speech::new() };
    let mut builder = Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(pace))).speech(speech);
    if let Some(meter) = meter {
        builder = builder.metering(Metering::new(meter));
    }
    Gateway::start_on(builder.build(), |_| {}).await
}

/// A session started with voice both ways.
async fn start(gateway: &Gateway, user: &str) -> (Client, Checker, String) {
    let session = gateway.remote.create(user, "senior-backend").await;
    let token = format!("dev:{user}");
    let mut client = gateway.remote.connect(&session, Connect::user(&token)).await.unwrap();
    let mut checker = Checker::new();
    checker.observe(&client.message().await);
    let start =
        ClientMessage::SessionStart { id: Some("start".into()), voice: Some(Voice { input: true, output: true }) };
    checker.sent(&start);
    client.send(&start).await;
    (client, checker, session)
}

/// Sends `samples` as utterance `id` in 20 ms frames at real pace.
async fn say(client: &mut Client, checker: &mut Checker, id: &str, samples: &[i16]) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in samples.chunks(FRAME) {
        tick.tick().await;
        let append = ClientMessage::InputAudioAppend { id: id.into(), audio: Audio::from_samples(frame) };
        checker.sent(&append);
        client.send(&append).await;
    }
}

/// Messages until one matches `stop`, each checked.
async fn until(
    client: &mut Client,
    checker: &mut Checker,
    stop: impl Fn(&ServerMessage) -> bool,
) -> Vec<ServerMessage> {
    let seen = client.until(stop).await;
    for message in &seen {
        checker.observe(message);
    }
    seen
}

/// Messages until none has come for `quiet` (the audio of a turn whose text is done).
async fn drain(client: &mut Client, checker: &mut Checker, quiet: Duration) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    while let Ok(event) = tokio::time::timeout(quiet, client.next()).await {
        match event {
            Event::Message(message) => {
                checker.observe(&message);
                seen.push(message);
            }
            Event::Closed(code) => panic!("closed ({code:?})"),
        }
    }
    seen
}

/// The samples of every `turn.audio` of `turn_id`, in order, with their indexes contiguous.
fn audio_of(messages: &[ServerMessage], turn_id: u32) -> Vec<i16> {
    let mut samples = Vec::new();
    let mut next = 0;
    for message in messages {
        if let ServerMessage::TurnAudio(audio) = message {
            if audio.turn_id == turn_id {
                assert_eq!(audio.index, next, "turn {turn_id}'s audio indexes are contiguous");
                next += 1;
                samples.extend(audio.audio.samples().expect("whole PCM16 samples"));
            }
        }
    }
    samples
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The text of the `turn.done` of `turn_id`.
fn done_of(messages: &[ServerMessage], turn_id: u32) -> Option<(String, TurnStatus)> {
    messages.iter().find_map(|m| match m {
        ServerMessage::TurnDone(done) if done.turn_id == turn_id => Some((done.text.clone(), done.status)),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_answer_is_heard_stored_and_scored_and_the_next_turn_is_spoken() {
    if !offline_speech_installed() {
        return;
    }
    let grammar: Vec<&str> = ANSWER.split(' ').chain(["so", "entries", "expire"]).collect();
    let gateway = voice_gateway(Duration::ZERO, &grammar).await;
    let (mut client, mut checker, session) = start(&gateway, "alice").await;

    // The intro and the first question, spoken; their text at once (pace 0), their audio paced.
    let mut seen = until(
        &mut client,
        &mut checker,
        |m| matches!(m, ServerMessage::TurnStarted(t) if t.kind == TurnKind::Question),
    )
    .await;
    let question = seen.iter().rev().find_map(|m| match m {
        ServerMessage::TurnStarted(t) => Some(t.turn_id),
        _ => None,
    });
    let question = question.unwrap();
    seen.extend(drain(&mut client, &mut checker, Duration::from_millis(2_500)).await);
    for turn_id in [1, question] {
        let (text, status) = done_of(&seen, turn_id).expect("the turn is done");
        assert_eq!(status, TurnStatus::Completed);
        let audio = audio_of(&seen, turn_id);
        // espeak-ng at 175 words a minute: about 0.34 s a word; each sentence spoken whole.
        let words = text.split_whitespace().count() as f64;
        let seconds = audio.len() as f64 / f64::from(OUTPUT_RATE);
        assert!(seconds > words * 0.15 && seconds < words * 0.8 + 2.0, "turn {turn_id}: {seconds} s for {words} words");
        assert!(rms(&audio) > 500.0, "turn {turn_id}'s audio is speech, not silence: rms {}", rms(&audio));
    }

    // The answer, with a thinking pause in the middle shorter than the end-of-answer silence.
    let (first, second) = ANSWER.split_at(ANSWER.find(" with").unwrap());
    let utterance = [silence(300), speech(first), silence(700), speech(second.trim()), silence(1_600)].concat();
    say(&mut client, &mut checker, "utterance-1", &utterance).await;
    let heard = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let stopped = heard.iter().filter(|m| matches!(m, ServerMessage::SpeechStopped(_))).count();
    assert_eq!(stopped, 1, "one answer, the pause inside it did not end it: {heard:?}");
    let Some(ServerMessage::AnswerReceived(received)) = heard.last() else { unreachable!() };
    assert_eq!((received.id.as_deref(), received.source), (Some("utterance-1"), Some(AnswerSource::Voice)));
    let transcript = received.transcript.clone().unwrap();
    eprintln!("heard: {transcript:?}");
    // Both sides of the pause are in it.
    assert!(transcript.contains("cache") && transcript.contains("with"), "{transcript:?}");
    let words = received.words.clone().unwrap();
    assert!(!words.is_empty() && words.windows(2).all(|w| w[0].end_ms <= w[1].start_ms), "{words:?}");
    let audio_ms = received.audio_ms.unwrap();
    assert!(words.last().unwrap().end_ms as u64 <= audio_ms + 500 && audio_ms > 2_000, "{audio_ms} ms, {words:?}");

    // Scored like a typed answer; the next turn is spoken.
    let after =
        until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnAudio(a) if a.turn_id > question)).await;
    assert!(after.iter().any(|m| matches!(m, ServerMessage::ScoreUpdated(s) if s.answer_id == received.answer_id)));
    let Some(ServerMessage::TurnAudio(next)) = after.last() else { unreachable!() };
    assert_eq!(next.index, 0);
    // REST has the answer's words and the audio the candidate spoke.
    let (status, view) = gateway.remote.get(Some("alice"), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["voice"], serde_json::json!({"input": true, "output": true, "answers_audio_ms": audio_ms}));
    let spoken = view["transcript"].as_array().unwrap().iter().find(|e| e["entry"] == "answer").unwrap();
    assert_eq!(spoken["spoken"]["words"].as_array().unwrap().len(), words.len(), "{spoken}");
    let (violations, errors) = checker.finish();
    assert!(violations.is_empty(), "{violations:?}");
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaking_over_the_interviewer_cuts_its_turn_and_truncate_keeps_what_was_heard() {
    if !offline_speech_installed() {
        return;
    }
    // A word every 150 ms: the intro is still being written when the candidate cuts in.
    let gateway = voice_gateway(Duration::from_millis(150), &ANSWER.split(' ').collect::<Vec<_>>()).await;
    let (mut client, mut checker, _) = start(&gateway, "bob").await;
    let mut seen = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnAudio(_))).await;

    say(&mut client, &mut checker, "cut-in", &[silence(100), speech(ANSWER)].concat()).await;
    seen.extend(until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 1)).await);
    let (text, status) = done_of(&seen, 1).unwrap();
    assert_eq!(status, TurnStatus::Interrupted, "{seen:?}");
    // Speaking stopped with the turn: no audio of it comes after its `turn.done`.
    let later = drain(&mut client, &mut checker, Duration::from_millis(1_000)).await;
    assert!(!later.iter().any(|m| matches!(m, ServerMessage::TurnAudio(a) if a.turn_id == 1)), "{later:?}");

    // The client played what it got, then stopped: the transcript keeps what that said.
    let played = audio_of(&seen, 1).len() as u64 * 1000 / u64::from(OUTPUT_RATE);
    let truncate = ClientMessage::TurnTruncate { id: Some("truncate".into()), turn_id: 1, audio_end_ms: played };
    checker.sent(&truncate);
    client.send(&truncate).await;
    let truncated = until(&mut client, &mut checker, |m| {
        matches!(m, ServerMessage::TurnTruncated(_))
            || matches!(m, ServerMessage::Error(e) if e.reference.as_deref() == Some("truncate"))
    })
    .await;
    match truncated.last() {
        Some(ServerMessage::TurnTruncated(t)) => {
            assert_eq!((t.turn_id, t.audio_end_ms), (1, played));
            assert!(text.starts_with(&t.text) && t.text.len() < text.len(), "{:?} of {text:?}", t.text);
        }
        other => panic!("no turn.truncated: {other:?} (turn text {text:?}, {played} ms played)"),
    }
    assert!(
        !later.iter().chain(&truncated).any(|m| matches!(m, ServerMessage::TurnStarted(_))),
        "the candidate has the floor: no turn starts while they speak"
    );
    // Their utterance ends (it was no answer: no question was asked yet); the interview goes on.
    say(&mut client, &mut checker, "cut-in", &silence(1_600)).await;
    let rest = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnStarted(_))).await;
    let stopped = rest.iter().position(|m| matches!(m, ServerMessage::SpeechStopped(_)));
    assert!(stopped.is_some_and(|at| at < rest.len() - 1), "{rest:?}");
    let (violations, _) = checker.finish();
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_backchannel_neither_interrupts_nor_answers() {
    if !offline_speech_installed() {
        return;
    }
    let gateway = voice_gateway(Duration::from_millis(150), &["yes", "yeah"]).await;
    let (mut client, mut checker, _) = start(&gateway, "carol").await;
    until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnAudio(_))).await;
    // About 100 ms of voice: less than the 300 ms that make a barge-in, even with the
    // classifier's hangover after speech.
    let voice = speech("yeah");
    let first = voice.iter().position(|s| s.unsigned_abs() > 1_000).unwrap();
    let backchannel = &voice[first..(first + RATE as usize / 10).min(voice.len())];
    say(&mut client, &mut checker, "mm-hmm", &[silence(200), backchannel.to_vec(), silence(1_600)].concat()).await;
    let seen = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 1)).await;
    assert!(seen.iter().any(|m| matches!(m, ServerMessage::SpeechStopped(_))), "the VAD heard it: {seen:?}");
    assert_eq!(done_of(&seen, 1).unwrap().1, TurnStatus::Completed, "{seen:?}");
    assert!(!seen.iter().any(|m| matches!(m, ServerMessage::AnswerReceived(_) | ServerMessage::Error(_))), "{seen:?}");
    let (violations, _) = checker.finish();
    assert!(violations.is_empty(), "{violations:?}");
}

/// The samples of a PCM16 mono WAV at 16 kHz (the header checked).
fn wav_samples(bytes: &[u8]) -> Vec<i16> {
    assert_eq!((&bytes[..4], &bytes[8..16]), (&b"RIFF"[..], &b"WAVEfmt "[..]));
    let field = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let rate = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    assert_eq!((field(20), field(22), rate, field(34)), (1, 1, RATE, 16), "PCM16 mono 16 kHz");
    assert_eq!(&bytes[36..40], b"data");
    bytes[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_answers_audio_is_served_to_its_owner_exported_and_deleted() {
    if !offline_speech_installed() {
        return;
    }
    let grammar: Vec<&str> = ANSWER.split(' ').collect();
    // Metered too: the ledger records the audio of the session's stretches.
    let meter = Arc::new(MemoryMeter::new());
    meter.credit(&"fran".into(), 600, "grant", None, viva_engine::time::Timestamp(0)).await.unwrap();
    let gateway =
        recording_gateway(Duration::ZERO, &grammar, Some(AudioRecordings::default()), Some(meter.clone())).await;
    let (mut client, mut checker, session) = start(&gateway, "fran").await;
    until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnStarted(t) if t.kind == TurnKind::Question))
        .await;
    // The question's audio plays out first: speaking over it would be a barge-in.
    drain(&mut client, &mut checker, Duration::from_millis(2_500)).await;
    // Push-to-talk: the answer ends when the client commits it, not after a silence.
    let sent = [silence(200), speech(ANSWER)].concat();
    say(&mut client, &mut checker, "spoken-1", &sent).await;
    let commit = ClientMessage::InputAudioCommit { id: "spoken-1".into() };
    checker.sent(&commit);
    client.send(&commit).await;
    let seen = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let Some(ServerMessage::AnswerReceived(received)) = seen.last() else { unreachable!() };
    assert_eq!(received.id.as_deref(), Some("spoken-1"));
    let audio_ms = received.audio_ms.expect("a spoken answer's length");

    // Its owner gets exactly the audio that was transcribed: a stretch of what was sent, as
    // long as `audio_ms` says (FLAC is lossless; under 1 ms of silence may end it).
    let path = format!("/v1/sessions/{session}/answers/{}/audio", received.answer_id);
    let response = common::http().get(gateway.remote.url(&path)).bearer_auth("dev:fran").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    let kept = wav_samples(&response.bytes().await.unwrap());
    let length = (audio_ms * u64::from(RATE) / 1000) as usize;
    assert!((length..length + 32).contains(&kept.len()), "{} samples for {audio_ms} ms", kept.len());
    let spoken = &kept[..length];
    assert!(kept[length..].iter().all(|&s| s == 0), "only silence after the utterance");
    assert!(spoken.iter().any(|&s| s != 0), "speech, not silence");
    assert!(sent.windows(length).any(|w| w == spoken), "the kept audio is a stretch of what was sent");

    // Nobody else gets it; what does not exist is a JSON 404.
    assert_eq!(gateway.remote.get(Some("mallory"), &path).await.0, 404);
    for missing in ["99", "x"] {
        let (status, body) =
            gateway.remote.get(Some("fran"), &format!("/v1/sessions/{session}/answers/{missing}/audio")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{missing}");
    }

    // Ended, its debits carry the audio moved: at least the answer heard, and the turns spoken.
    let end = ClientMessage::SessionEnd { id: None };
    checker.sent(&end);
    client.send(&end).await;
    until(&mut client, &mut checker, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let ledger = meter.usage(&"fran".into(), None, 200).await.unwrap().entries;
    let heard: u64 = ledger.iter().map(|e| e.audio.input_ms).sum();
    let spoken: u64 = ledger.iter().map(|e| e.audio.output_ms).sum();
    assert!(heard >= audio_ms && spoken > 0, "{heard} ms heard, {spoken} ms spoken in {ledger:?}");

    // The export lists it; deleting the user deletes it.
    let (status, export) = gateway.remote.get(Some("fran"), "/v1/me/export").await;
    assert_eq!(status, 200);
    let recordings = &export["sessions"][0]["recordings"];
    assert_eq!(recordings[0]["answer_id"], received.answer_id);
    assert_eq!(recordings[0]["audio_path"], path.as_str());
    assert!(recordings[0]["stored_bytes"].as_u64().unwrap() > 0);
    assert_eq!(recordings.as_array().unwrap().len(), 1, "{recordings}");
    drop(client);
    let response = common::http().delete(gateway.remote.url("/v1/me")).bearer_auth("dev:fran").send().await.unwrap();
    assert!(response.status().is_success());
    assert_eq!(gateway.remote.get(Some("fran"), &path).await.0, 404);
    assert!(gateway.engine.store().audio_ids(&session.as_str().into()).await.unwrap().is_empty());
    let (violations, _) = checker.finish();
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test]
async fn voice_is_refused_where_no_speech_provider_is_configured() {
    let gateway = Gateway::start().await;
    let session = gateway.remote.create("dave", "senior-backend").await;
    let mut client = gateway.remote.connect(&session, Connect::user("dev:dave")).await.unwrap();
    client.message().await;
    let start = ClientMessage::SessionStart { id: Some("s".into()), voice: Some(Voice { input: true, output: false }) };
    client.send(&start).await;
    let Event::Message(ServerMessage::Error(error)) = client.next().await else { panic!("an error") };
    assert_eq!((error.code.as_str(), error.reference.as_deref(), error.fatal), ("voice_unavailable", Some("s"), false));
    // 20 ms frames at 50 a second do not spend the message rate: each is refused for voice,
    // none for the rate, and the socket stays open.
    for n in 0..60 {
        let append = ClientMessage::InputAudioAppend { id: format!("u{n}"), audio: Audio::from_samples(&[0; FRAME]) };
        client.send(&append).await;
    }
    for _ in 0..60 {
        let Event::Message(ServerMessage::Error(error)) = client.next().await else { panic!("an error") };
        assert_eq!(error.code.as_str(), "voice_unavailable");
    }
}

/// The README's voice command: the binary with the offline providers speaks and listens.
#[tokio::test]
async fn the_binary_with_the_offline_providers_serves_voice() {
    if !offline_speech_installed() {
        return;
    }
    let gateway = common::Process::spawn(&[
        "--stt",
        "pocketsphinx",
        "--tts",
        "espeak-ng",
        "--scripted-pace-ms",
        "0",
        "--audio-recordings",
        "on",
    ]);
    let (mut client, mut checker, _) = {
        let session = gateway.create("erin", "senior-backend").await;
        let mut client = gateway.connect(&session, Connect::user("dev:erin")).await.unwrap();
        let mut checker = Checker::new();
        checker.observe(&client.message().await);
        let start = ClientMessage::SessionStart { id: None, voice: Some(Voice { input: true, output: true }) };
        checker.sent(&start);
        client.send(&start).await;
        (client, checker, session)
    };
    let seen = until(&mut client, &mut checker, |m| matches!(m, ServerMessage::TurnAudio(_))).await;
    assert!(matches!(seen.first(), Some(ServerMessage::TurnStarted(_))), "{seen:?}");
    assert!(checker.violations().is_empty(), "{:?}", checker.violations());
    gateway.signal("TERM");
    assert_eq!(gateway.wait().await.0, Some(0));
}

/// Bad audio gets its documented answer and the session carries on: odd bytes, audio far
/// faster than real time, audio that is not base64, a frame over the limit (1009).
#[tokio::test]
async fn bad_audio_is_refused_and_the_session_carries_on() {
    if !offline_speech_installed() {
        return;
    }
    let stt = PocketsphinxStt::new(PocketsphinxConfig::default()).unwrap();
    let engine = Engine::builder()
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .speech(Speech { stt: Some(Arc::new(stt)), ..Speech::new() })
        .build();
    let gateway = Gateway::start_on(engine, |_| {}).await;
    let session = gateway.remote.create("fay", "senior-backend").await;
    let mut client = gateway.remote.connect(&session, Connect::user("dev:fay")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: Some(Voice { input: true, output: false }) }).await;
    let refused = |m: &ServerMessage, code: &str, id: &str| matches!(m, ServerMessage::Error(e) if e.code.as_str() == code && e.reference.as_deref() == Some(id) && !e.fatal);

    client.send(&ClientMessage::InputAudioAppend { id: "odd".into(), audio: Audio(vec![1, 2, 3]) }).await;
    client.until(|m| refused(m, "invalid_message", "odd")).await;
    client.send_json(r#"{"type":"input_audio.append","id":"b64","audio":"not base64!"}"#).await;
    client.until(|m| refused(m, "invalid_message", "b64")).await;

    // 7 s of audio at once: 4 s of burst pass, the rest is refused (and the utterance dropped).
    for _ in 0..350 {
        let append = ClientMessage::InputAudioAppend { id: "fast".into(), audio: Audio::from_samples(&[0; FRAME]) };
        client.send(&append).await;
    }
    client.until(|m| refused(m, "rate_limited", "fast")).await;
    client.send(&ClientMessage::Ping { id: Some("still-here".into()) }).await;
    client.until(|m| matches!(m, ServerMessage::Pong(p) if p.id.as_deref() == Some("still-here"))).await;

    // A frame over the limit closes with 1009, as any frame.
    // (The server closes while the 10 MB are still being written: the write may fail.)
    let huge = ClientMessage::InputAudioAppend { id: "huge".into(), audio: Audio(vec![0; 10 * 1024 * 1024]) };
    let frame = String::from_utf8(client.encoding.encode(&huge).unwrap()).unwrap();
    let _ = futures::SinkExt::send(&mut client.socket, tokio_tungstenite::tungstenite::Message::text(frame)).await;
    assert_eq!(client.closed().await, Some(1009));
}
