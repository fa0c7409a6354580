//! Whole interviews over real sockets, in JSON and MessagePack, checked against the
//! protocol's invariants; resume, replacement and shutdown.

mod common;

use common::{Connect, Gateway, assert_kept, play};
use viva_protocol::{ClientMessage, ServerMessage};

async fn whole_interview(protocols: Option<&str>, plan_id: &str) {
    let gateway = Gateway::start().await;
    let plan = gateway.engine.plans().get(plan_id).unwrap().clone();
    let session = gateway.create("alice", plan_id).await;
    let mut options = Connect::user("dev:alice");
    if let Some(protocols) = protocols {
        options = options.protocols(protocols);
    }
    let mut client = gateway.connect(&session, options).await.unwrap();
    let ServerMessage::SessionReady(ready) = client.message().await else { panic!("session.ready first") };
    assert_eq!((ready.seq, ready.resumed), (0, false));
    client.send(&ClientMessage::SessionStart { id: Some("start".into()), voice: None }).await;
    let (messages, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    assert_kept(&messages);
    let answers = messages.iter().filter(|m| matches!(m, ServerMessage::AnswerReceived(_))).count();
    assert!(answers >= plan.questions.len(), "every question answered: {answers}");

    let (status, report) = gateway.get(Some("alice"), &format!("/v1/sessions/{session}/report")).await;
    assert_eq!(status, 200);
    assert_eq!(report["ended_reason"], "completed");
    assert_eq!(report["answers"].as_array().unwrap().len(), answers);
    assert_eq!(gateway.get(Some("mallory"), &format!("/v1/sessions/{session}/report")).await.0, 404);

    let (status, view) = gateway.get(Some("alice"), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "ended");
    let transcript_answers = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").count();
    assert_eq!(transcript_answers, answers, "every answer's text is in the transcript");
}

#[tokio::test]
async fn a_whole_interview_in_json() {
    whole_interview(None, "senior-backend").await;
}

#[tokio::test]
async fn a_whole_interview_in_msgpack() {
    whole_interview(Some("viva.v1.msgpack"), "coding-python").await;
}

#[tokio::test]
async fn a_whole_interview_in_explicit_json_with_code_answers() {
    whole_interview(Some("viva.v1.json"), "frontend").await;
}

#[tokio::test]
async fn a_dropped_socket_resumes_with_nothing_lost() {
    let gateway = Gateway::start().await;
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("bob", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:bob")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    // Read up to the first question, answer it, then drop the socket without reading on.
    let mut seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    client.send(&common::answer_for(&plan, plan.questions[0].id.as_str(), "q1".into())).await;
    let acked = client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    seen.extend(acked);
    drop(client);

    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let mut client = gateway.connect(&session, Connect::user("dev:bob").last_seq(last)).await.unwrap();
    let ServerMessage::SessionReady(ready) = client.message().await else { panic!("session.ready first") };
    assert!(ready.resumed);
    // The checker learns of the resume from it: replayed turns lost their deltas.
    seen.push(ServerMessage::SessionReady(ready.clone()));
    assert!(ready.seq > last, "events happened while away");
    // The same answer re-sent after the reconnect is acknowledged again, not applied twice.
    client.send(&common::answer_for(&plan, plan.questions[0].id.as_str(), "q1".into())).await;
    let (rest, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    seen.extend(rest);
    assert_kept(&seen);
    let (_, view) = gateway.get(Some("bob"), &format!("/v1/sessions/{session}")).await;
    let first = view["transcript"].as_array().unwrap().iter().find(|e| e["entry"] == "answer").unwrap();
    assert_eq!(first["question_id"], plan.questions[0].id.as_str());
    let answers: Vec<_> = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").collect();
    let q1 = answers.iter().filter(|a| a["question_id"] == plan.questions[0].id.as_str()).count();
    assert!(q1 <= 2, "the re-sent answer was applied once (an answer and at most one follow-up answer)");
}

#[tokio::test]
async fn a_second_socket_replaces_the_first() {
    let gateway = Gateway::start().await;
    let session = gateway.create("carol", "senior-backend").await;
    let mut first = gateway.connect(&session, Connect::user("dev:carol")).await.unwrap();
    first.message().await;
    let mut second = gateway.connect(&session, Connect::user("dev:carol")).await.unwrap();
    assert!(matches!(second.message().await, ServerMessage::SessionReady(_)));
    assert_eq!(first.closed().await, Some(4009));
    second.send(&ClientMessage::Ping { id: Some("p".into()) }).await;
    assert!(matches!(second.message().await, ServerMessage::Pong(_)));
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_and_a_new_gateway_resumes() {
    let gateway = Gateway::start().await;
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("dave", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:dave")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let mut seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let engine = gateway.engine.clone();
    gateway.stop().await.unwrap();
    assert_eq!(client.closed().await, Some(4000));

    let next = Gateway::start_on(engine, |_| {}).await;
    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let mut client = next.connect(&session, Connect::user("dev:dave").last_seq(last)).await.unwrap();
    let ServerMessage::SessionReady(ready) = client.message().await else { panic!("session.ready first") };
    assert!(ready.resumed);
    // The checker learns of the resume from it: replayed turns lost their deltas.
    seen.push(ServerMessage::SessionReady(ready.clone()));
    let awaiting = ready.state.awaiting_answer.expect("still waiting for the first answer");
    client.send(&common::answer_for(&plan, &awaiting.question_id, "a1".into())).await;
    let (rest, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    seen.extend(rest);
    assert_kept(&seen);
}
