//! `GET /v1/sessions/{id}/recording`: what a candidate's client sent, rebuilt from the durable
//! log, as JSON lines. A recorded interview, sent again over a new session at the same points
//! of the interview, gives the same transcript.

mod common;

use common::{Connect, Event, Gateway, Remote, answer_for, assert_kept, play};
use serde_json::Value;
use viva_protocol::rest::Recording;
use viva_protocol::{ClientMessage, ServerMessage, TurnKind, TurnStatus};

/// `GET /v1/sessions/{id}/recording` as `user`: status, content type and the parsed lines.
async fn recording(remote: &Remote, user: Option<&str>, session: &str) -> (u16, String, Vec<Recording>) {
    let mut request = common::http().get(remote.url(&format!("/v1/sessions/{session}/recording")));
    if let Some(user) = user {
        request = request.bearer_auth(format!("dev:{user}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.text().await.unwrap();
    let lines = if status == 200 { body.lines().map(|l| serde_json::from_str(l).unwrap()).collect() } else { vec![] };
    (status, content_type, lines)
}

/// Where the interview is, as a client following the events sees it.
#[derive(Default)]
struct Position {
    open: Option<(u32, TurnKind)>,
    speaking: bool,
    awaiting: bool,
}

impl Position {
    fn follow(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::TurnStarted(t) => {
                (self.open, self.speaking, self.awaiting) = (Some((t.turn_id, t.kind)), false, false)
            }
            ServerMessage::TurnDelta(_) => self.speaking = true,
            ServerMessage::TurnDone(d) => {
                let kind = self.open.take().map(|(_, kind)| kind);
                self.awaiting = kind.is_some_and(TurnKind::awaits_answer) && d.status != TurnStatus::Failed;
            }
            ServerMessage::AnswerReceived(_) => self.awaiting = false,
            _ => {}
        }
    }
}

/// Sends a recording's messages over a new session of `user`, each at the point of the
/// interview where it was sent: an answer once the interviewer waits for one; a barge-in
/// while a question or follow-up is being spoken; the end while the turn after the previous
/// message is being spoken. Returns every message seen and the close code.
async fn replay(
    gateway: &Gateway,
    user: &str,
    plan: &str,
    lines: &[Recording],
) -> (String, Vec<ServerMessage>, Option<u16>) {
    // Clocks keep a live session talking: bound the whole replay, not just each read.
    let replayed = replay_unbounded(gateway, user, plan, lines);
    tokio::time::timeout(common::PATIENCE * 3, replayed).await.expect("the replayed session ended in time")
}

async fn replay_unbounded(
    gateway: &Gateway,
    user: &str,
    plan: &str,
    lines: &[Recording],
) -> (String, Vec<ServerMessage>, Option<u16>) {
    let session = gateway.create(user, plan).await;
    let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
    let mut seen = vec![client.message().await];
    let mut position = Position::default();
    for line in lines {
        let ready = |p: &Position| match &line.message {
            ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. } => p.awaiting,
            ClientMessage::TurnInterrupt { .. } => p.speaking && p.open.is_some_and(|(_, kind)| kind.awaits_answer()),
            ClientMessage::SessionEnd { .. } => p.speaking,
            _ => true,
        };
        while !ready(&position) {
            let message = client.message().await;
            position.follow(&message);
            seen.push(message);
        }
        client.send(&line.message).await;
        (position.speaking, position.awaiting) = (false, false);
    }
    let close = loop {
        match client.next().await {
            Event::Message(message) => seen.push(message),
            Event::Closed(code) => break code,
        }
    };
    (session, seen, close)
}

/// A transcript without the texts of interrupted turns (how much of a turn was spoken before
/// the candidate cut in depends on timing, not on what the candidate sent).
async fn transcript(remote: &Remote, user: &str, session: &str) -> Vec<Value> {
    let (status, view) = remote.get(Some(user), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    let mut entries = view["transcript"].as_array().unwrap().clone();
    for entry in &mut entries {
        if entry["status"] == "interrupted" {
            entry["text"] = Value::Null;
        }
        // When each entry happened is the replay's own time, not the recording's.
        let times: &[&str] = if entry["entry"] == "answer" { &["at"] } else { &["started_at", "ended_at"] };
        let entry = entry.as_object_mut().unwrap();
        for time in times {
            assert!(entry.remove(*time).is_some_and(|t| t.is_u64()), "every entry has its {time}: {entry:?}");
        }
    }
    entries
}

fn kinds(lines: &[Recording]) -> Vec<(&'static str, Option<&str>)> {
    lines.iter().map(|l| (l.message.type_name(), l.message.id())).collect()
}

#[tokio::test]
async fn a_recorded_interview_replays_to_the_same_transcript() {
    let gateway = Gateway::start().await;
    let plan = gateway.engine.plans().get("coding-python").unwrap().clone();
    let session = gateway.create("alice", "coding-python").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: Some("start".into()), voice: None }).await;
    let (_, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));

    let (status, content_type, lines) = recording(&gateway, Some("alice"), &session).await;
    assert_eq!((status, content_type.as_str()), (200, "application/x-ndjson"));
    // `session.start`, then every answer as it was sent (text or code, with its id); no
    // interrupt, no end.
    let (_, view) = gateway.get(Some("alice"), &format!("/v1/sessions/{session}")).await;
    let mut expected = vec![ClientMessage::SessionStart { id: None, voice: None }];
    for (n, entry) in view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").enumerate() {
        let id = Some(format!("answer-{}", n + 1));
        let answer = &entry["answer"];
        let text = |field: &str| answer[field].as_str().unwrap().to_owned();
        expected.push(match answer["format"].as_str().unwrap() {
            "text" => ClientMessage::AnswerSubmit { id, text: text("text") },
            _ => ClientMessage::CodeSubmit { id, language: text("language"), source: text("source") },
        });
    }
    assert!(expected.len() > plan.questions.len());
    assert_eq!(lines.iter().map(|l| l.message.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(lines[0].t_ms, 0);
    assert!(lines.windows(2).all(|w| w[0].t_ms <= w[1].t_ms), "in time order");

    let (replayed, messages, close) = replay(&gateway, "bob", "coding-python", &lines).await;
    assert_eq!(close, Some(1000));
    assert_kept(&messages[1..]);
    assert_eq!(transcript(&gateway, "bob", &replayed).await, transcript(&gateway, "alice", &session).await);
    let (_, _, again) = recording(&gateway, Some("bob"), &replayed).await;
    assert_eq!(kinds(&again), kinds(&lines));
}

#[tokio::test]
async fn barge_ins_and_an_early_end_are_recorded_and_replay_alike() {
    let gateway = Gateway::start_paced(std::time::Duration::from_millis(15)).await;
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("carol", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:carol")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    // Cut into the first question to answer it...
    client.until(|m| matches!(m, ServerMessage::TurnStarted(t) if t.kind == TurnKind::Question)).await;
    client.until(|m| matches!(m, ServerMessage::TurnDelta(_))).await;
    client.send(&ClientMessage::TurnInterrupt { id: Some("i1".into()) }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(_))).await;
    assert!(matches!(seen.last(), Some(ServerMessage::TurnDone(d)) if d.status == TurnStatus::Interrupted));
    client.send(&answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
    // ... and leave during the second: the end interrupts it, which is not a barge-in.
    client.until(|m| matches!(m, ServerMessage::TurnStarted(t) if t.kind == TurnKind::Question)).await;
    client.until(|m| matches!(m, ServerMessage::TurnDelta(_))).await;
    client.send(&ClientMessage::SessionEnd { id: Some("bye".into()) }).await;
    let end = client.until(|m| matches!(m, ServerMessage::SessionEnded(_))).await;
    assert!(end.iter().any(|m| matches!(m, ServerMessage::TurnDone(d) if d.status == TurnStatus::Interrupted)));
    assert_eq!(client.closed().await, Some(1000));

    let (_, _, lines) = recording(&gateway, Some("carol"), &session).await;
    let expected =
        [("session.start", None), ("turn.interrupt", None), ("answer.submit", Some("a1")), ("session.end", None)];
    assert_eq!(kinds(&lines), expected);
    assert_eq!(lines[0].t_ms, 0);
    assert!(lines.windows(2).all(|w| w[0].t_ms <= w[1].t_ms), "in time order");

    let (replayed, messages, close) = replay(&gateway, "dave", "senior-backend", &lines).await;
    assert_eq!(close, Some(1000));
    assert_kept(&messages[1..]);
    let original = transcript(&gateway, "carol", &session).await;
    assert_eq!(transcript(&gateway, "dave", &replayed).await, original);
    let statuses: Vec<&Value> = original.iter().filter(|e| e["entry"] == "turn").map(|e| &e["status"]).collect();
    assert_eq!(statuses, ["completed", "interrupted", "interrupted"]);
    let (_, view) = gateway.get(Some("dave"), &format!("/v1/sessions/{replayed}")).await;
    assert_eq!(view["ended_reason"], "ended_by_candidate");
    let (_, _, again) = recording(&gateway, Some("dave"), &replayed).await;
    assert_eq!(kinds(&again), kinds(&lines));
}

#[tokio::test]
async fn only_the_owner_gets_a_recording() {
    let gateway = Gateway::start().await;
    let session = gateway.create("erin", "frontend").await;
    let (status, content_type, lines) = recording(&gateway, Some("erin"), &session).await;
    assert_eq!((status, content_type.as_str(), lines.len()), (200, "application/x-ndjson", 0), "not started yet");
    assert_eq!(recording(&gateway, Some("mallory"), &session).await.0, 404);
    assert_eq!(recording(&gateway, Some("erin"), "ses_00000000000000000000000000000000").await.0, 404);
    assert_eq!(recording(&gateway, None, &session).await.0, 401);

    // Ended before it started: the end alone, at 0.
    let mut client = gateway.connect(&session, Connect::user("dev:erin")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionEnd { id: None }).await;
    assert_eq!(client.closed().await, Some(1000));
    let (_, _, lines) = recording(&gateway, Some("erin"), &session).await;
    assert_eq!(kinds(&lines), [("session.end", None)]);
    assert_eq!(lines[0].t_ms, 0);
}
