//! Durability with a real `redis-server` and real gateway processes: a gateway killed with
//! SIGKILL mid-interview and started again loses nothing the candidate was told was stored.

mod common;

use common::{Connect, Process, assert_kept, play};
use viva_protocol::{ClientMessage, ServerMessage, TurnStatus};
use viva_testkit::RedisServer;

#[tokio::test]
async fn a_gateway_killed_mid_interview_resumes_and_finishes_with_nothing_lost() {
    let redis = RedisServer::start();
    let plan = viva_engine::plan::PlanCatalog::shipped().get("senior-backend").cloned().unwrap();
    // 20 ms a word: the turn after the answer is still being spoken when the process dies.
    let first = Process::spawn(&["--store", &redis.url(), "--scripted-pace-ms", "20"]);
    let session = first.create("gina", "senior-backend").await;
    let mut client = first.connect(&session, Connect::user("dev:gina")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let mut seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    client.send(&common::answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
    seen.extend(client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await);
    seen.extend(client.until(|m| matches!(m, ServerMessage::TurnDelta(_))).await);
    let in_flight = seen
        .iter()
        .rev()
        .find_map(|m| if let ServerMessage::TurnStarted(t) = m { Some(t.turn_id) } else { None })
        .unwrap();
    first.signal("KILL");
    let _ = first.wait().await;
    assert_eq!(client.closed().await, None, "the socket just drops");

    let second = Process::spawn(&["--store", &redis.url(), "--scripted-pace-ms", "0"]);
    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let mut client = second.connect(&session, Connect::user("dev:gina").last_seq(last)).await.unwrap();
    let ready = client.message().await;
    let ServerMessage::SessionReady(state) = &ready else { panic!("session.ready first") };
    assert!(state.resumed);
    assert!(state.epoch >= 2, "a new load, a new epoch");
    seen.push(ready);
    // The same answer re-sent after the crash is acknowledged again, never applied twice.
    client.send(&common::answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
    let (rest, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    seen.extend(rest);
    assert_kept(&seen);
    let closed = seen.iter().find_map(|m| match m {
        ServerMessage::TurnDone(d) if d.turn_id == in_flight => Some(d.status),
        _ => None,
    });
    assert_eq!(closed, Some(TurnStatus::Failed), "the turn in flight at the crash is closed, then asked again");

    let (status, view) = second.get(Some("gina"), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    let answers: Vec<_> = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").collect();
    assert_eq!(answers[0]["answer"]["text"], serde_json::to_value(seen_answer(&plan)).unwrap());
    let acked: std::collections::BTreeSet<u32> = seen
        .iter()
        .filter_map(|m| if let ServerMessage::AnswerReceived(a) = m { Some(a.answer_id) } else { None })
        .collect();
    assert_eq!(acked.len(), answers.len(), "every acknowledged answer is in the transcript, once");
    second.signal("TERM");
    assert_eq!(second.wait().await.0, Some(0));
}

fn seen_answer(plan: &viva_engine::plan::Plan) -> String {
    match common::answer_for(plan, &plan.questions[0].id, "a1".into()) {
        ClientMessage::AnswerSubmit { text, .. } => text,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn redis_going_away_mid_interview_freezes_the_session_and_loses_nothing() {
    let mut redis = RedisServer::start();
    let store = viva_engine::store::RedisStore::connect(&redis.url(), std::time::Duration::from_secs(1)).await.unwrap();
    let engine = viva_engine::Engine::builder()
        .store(std::sync::Arc::new(store))
        .interviewer(std::sync::Arc::new(viva_engine::interviewer::ScriptedInterviewer::new(std::time::Duration::ZERO)))
        .build();
    let gateway = common::Gateway::start_on(engine, |_| {}).await;
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("hana", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:hana")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let mut seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    redis.kill();
    assert_eq!(gateway.get(None, "/readyz").await.0, 503);
    let answer = common::answer_for(&plan, &plan.questions[0].id, "a1".into());
    client.send(&answer).await;
    match client.message().await {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, viva_protocol::ErrorCode::StoreUnavailable);
            assert!(!e.fatal);
        }
        other => panic!("expected store_unavailable, got {other:?}"),
    }
    // Frozen: a re-send is refused too (named by its id), pings still answered.
    client.send(&answer).await;
    client.send(&ClientMessage::Ping { id: Some("p".into()) }).await;
    let refused = client.until(|m| matches!(m, ServerMessage::Pong(_))).await;
    assert!(refused.iter().all(|m| !matches!(m, ServerMessage::AnswerReceived(_))), "nothing acknowledged");
    assert!(refused.iter().any(|m| matches!(m, ServerMessage::Error(e) if e.reference.as_deref() == Some("a1"))));

    redis.restart();
    // The batch held back lands: the first submission is acknowledged once the store has it.
    seen.extend(client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await);
    assert_eq!(gateway.get(None, "/readyz").await.0, 200);
    client.send(&answer).await;
    let (rest, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    seen.extend(rest);
    assert_kept(&seen);
    let (_, view) = gateway.get(Some("hana"), &format!("/v1/sessions/{session}")).await;
    let stored = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").count();
    let acked: std::collections::BTreeSet<u32> = seen
        .iter()
        .filter_map(|m| if let ServerMessage::AnswerReceived(a) = m { Some(a.answer_id) } else { None })
        .collect();
    assert_eq!(stored, acked.len(), "every acknowledged answer stored once, the refused ones not at all");
}

#[tokio::test]
async fn sigterm_persists_every_session_and_a_new_gateway_resumes_them_all() {
    let redis = RedisServer::start();
    let plan = viva_engine::plan::PlanCatalog::shipped().get("senior-backend").cloned().unwrap();
    let first = Process::spawn(&["--store", &redis.url(), "--scripted-pace-ms", "0"]);
    let mut live = Vec::new();
    for user in ["pia", "quinn", "rui"] {
        let session = first.create(user, "senior-backend").await;
        let mut client = first.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
        client.message().await;
        client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
        let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
        live.push((user, session, client, seen));
    }
    first.signal("TERM");
    for (_, _, client, _) in &mut live {
        assert_eq!(client.closed().await, Some(4000), "told to reconnect");
    }
    assert_eq!(first.wait().await.0, Some(0));

    let second = Process::spawn(&["--store", &redis.url(), "--scripted-pace-ms", "0"]);
    for (user, session, _, mut seen) in live {
        let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
        let token = format!("dev:{user}");
        let mut client = second.connect(&session, Connect::user(&token).last_seq(last)).await.unwrap();
        let ready = client.message().await;
        assert!(
            matches!(&ready, ServerMessage::SessionReady(r) if r.resumed && r.seq == last),
            "resumed where it was (after {last}): {ready:?}"
        );
        seen.push(ready);
        client.send(&common::answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
        let (rest, close) = play(&mut client, &plan).await;
        assert_eq!(close, Some(1000));
        seen.extend(rest);
        assert_kept(&seen);
    }
    second.signal("TERM");
    assert_eq!(second.wait().await.0, Some(0));
}

/// Voice: a gateway killed in the middle of an utterance on Redis. The partly received
/// utterance is dropped with the process; the client sends it again whole, with the same id,
/// to the new gateway, and the answer is stored once (a second re-send is acknowledged again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_utterance_stores_the_re_sent_utterance_once() {
    use viva_protocol::{Audio, Voice};
    use viva_testkit::speech::{RATE, offline_speech_installed, silence, speech};
    if !offline_speech_installed() {
        return;
    }
    let sentence = "I would use a cache with a time to live";
    let redis = RedisServer::start();
    let url = redis.url();
    let args = ["--store", &url, "--scripted-pace-ms", "0", "--stt", "pocketsphinx", "--stt-grammar", sentence];
    let first = Process::spawn(&args);
    let session = first.create("hana", "senior-backend").await;
    let mut client = first.connect(&session, Connect::user("dev:hana")).await.unwrap();
    client.message().await;
    let voice = Some(Voice { input: true, output: false });
    client.send(&ClientMessage::SessionStart { id: None, voice }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();

    let utterance = [silence(300), speech(sentence), silence(1_600)].concat();
    let frames: Vec<&[i16]> = utterance.chunks(RATE as usize / 50).collect();
    let append = |frame: &[i16]| ClientMessage::InputAudioAppend { id: "u1".into(), audio: Audio::from_samples(frame) };
    // Half of it, at real pace, then the process dies.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    for frame in &frames[..frames.len() / 2] {
        tick.tick().await;
        client.send(&append(frame)).await;
    }
    first.signal("KILL");
    let _ = first.wait().await;
    assert_eq!(client.closed().await, None, "the socket just drops");

    let second = Process::spawn(&args);
    let mut client = second.connect(&session, Connect::user("dev:hana").last_seq(last)).await.unwrap();
    let ServerMessage::SessionReady(ready) = client.message().await else { panic!("session.ready first") };
    assert_eq!(ready.state.voice, voice, "the session is still spoken");
    for send in 0..2 {
        for frame in &frames {
            tick.tick().await;
            client.send(&append(frame)).await;
        }
        let acked = client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
        let Some(ServerMessage::AnswerReceived(received)) = acked.last() else { unreachable!() };
        assert_eq!((received.id.as_deref(), received.answer_id), (Some("u1"), 1), "send {send}");
    }
    let (status, view) = second.get(Some("hana"), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    let answers = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").count();
    assert_eq!(answers, 1, "stored once: {view}");
    second.signal("TERM");
    assert_eq!(second.wait().await.0, Some(0));
}
