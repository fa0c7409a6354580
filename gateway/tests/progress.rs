//! Progress and adaptive practice over HTTP and WebSocket, end to end: `GET /v1/me/progress`,
//! `POST /v1/sessions {adapt: true}`, the progress in the export, and its deletion.

mod common;

use common::{Connect, Gateway, http};
use viva_protocol::rest::{Export, Progress, Report, SessionCreated};
use viva_protocol::{ClientMessage, ServerMessage, TurnKind};

/// The rate limiter answered with its algorithm only, then the follow-up not answered, then
/// `session.end`. Returns the follow-up's text.
async fn weak_interview(gateway: &Gateway, user: &str, session: &str) -> String {
    let mut client = gateway.connect(session, Connect::user(&format!("dev:{user}"))).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let text = "I would use a token bucket for each API key.".to_owned();
    client.send(&ClientMessage::AnswerSubmit { id: Some("a1".into()), text }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 3)).await;
    let follow_up = seen
        .iter()
        .find_map(|m| match m {
            ServerMessage::TurnStarted(t) if t.turn_id == 3 => Some(t.kind),
            _ => None,
        })
        .unwrap();
    assert_eq!(follow_up, TurnKind::FollowUp);
    let ServerMessage::TurnDone(done) = seen.last().unwrap() else { unreachable!() };
    client.send(&ClientMessage::AnswerSubmit { id: Some("a2".into()), text: "I am not sure.".into() }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 4)).await;
    client.send(&ClientMessage::SessionEnd { id: None }).await;
    assert_eq!(client.closed().await, Some(1000));
    done.text.clone()
}

async fn create(gateway: &Gateway, user: &str, adapt: bool) -> String {
    let response = http()
        .post(gateway.url("/v1/sessions"))
        .bearer_auth(format!("dev:{user}"))
        .json(&serde_json::json!({ "plan": "senior-backend", "adapt": adapt }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<SessionCreated>().await.unwrap().session_id
}

#[tokio::test]
async fn progress_shows_recurring_weaknesses_and_an_adaptive_session_targets_them() {
    let gateway = Gateway::start().await;
    assert_eq!(gateway.get(None, "/v1/me/progress").await.0, 401);
    let (status, empty) = gateway.get(Some("uma"), "/v1/me/progress").await;
    assert_eq!((status, empty["sessions"].as_u64()), (200, Some(0)));

    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let rate_limiter = plan.question("rate-limiter").unwrap();
    let follow_up = |point: &str| rate_limiter.key_points.iter().find(|k| k.id == point).unwrap().follow_up.clone();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let session = create(&gateway, "uma", false).await;
        // The plan's order: the first key point missed, the shared state.
        assert_eq!(weak_interview(&gateway, "uma", &session).await, follow_up("shared_state"));
        sessions.push(session);
    }

    let (status, body) = gateway.get(Some("uma"), "/v1/me/progress").await;
    assert_eq!(status, 200);
    let progress: Progress = serde_json::from_value(body).unwrap();
    assert_eq!(progress.sessions, 2);
    let points: Vec<&str> = progress.overall.points.iter().map(|p| p.session_id.as_str()).collect();
    assert_eq!(points, [sessions[0].as_str(), sessions[1].as_str()]);
    let weak: Vec<String> = progress
        .weaknesses
        .iter()
        .map(|w| format!("{}/{} x{}", w.question_id, w.key_point, w.missed_in.len()))
        .collect();
    assert_eq!(
        weak,
        [
            "rate-limiter/atomicity x2",
            "rate-limiter/client_feedback x2",
            "rate-limiter/failure_mode x2",
            "rate-limiter/shared_state x2",
        ]
    );
    assert_eq!(progress.weaknesses[0].missed_in, sessions);
    assert_eq!(progress.strengths.iter().map(|s| s.key_point.as_str()).collect::<Vec<_>>(), ["algorithm"]);
    assert_eq!(
        (progress.practise[0].plan_id.as_str(), progress.practise[0].question_id.as_str()),
        ("senior-backend", "rate-limiter")
    );
    assert_eq!(progress.timing.len(), 2);
    assert!(progress.dimensions.iter().all(|d| d.points.len() == 2 && d.trend.is_some()));
    // Another user sees none of it.
    assert_eq!(gateway.get(Some("vic"), "/v1/me/progress").await.1["sessions"].as_u64(), Some(0));

    // Adaptive: the follow-up probes the most pressing weakness, not the plan's first.
    let adaptive = create(&gateway, "uma", true).await;
    assert_eq!(weak_interview(&gateway, "uma", &adaptive).await, follow_up("atomicity"));
    let (status, report) = gateway.get(Some("uma"), &format!("/v1/sessions/{adaptive}/report")).await;
    assert_eq!(status, 200);
    let report: Report = serde_json::from_value(report).unwrap();
    let revisited: Vec<(&str, bool, bool)> =
        report.revisited.iter().map(|r| (r.key_point.as_str(), r.answered, r.improved)).collect();
    assert_eq!(
        revisited,
        [
            ("atomicity", true, false),
            ("client_feedback", true, false),
            ("failure_mode", true, false),
            ("shared_state", true, false),
        ]
    );

    // The export carries it; deleting the user removes it.
    let (_, export) = gateway.get(Some("uma"), "/v1/me/export").await;
    let export: Export = serde_json::from_value(export).unwrap();
    assert_eq!(export.progress.map(|p| p.sessions), Some(3));
    let response = http().delete(gateway.url("/v1/me")).bearer_auth("dev:uma").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(gateway.get(Some("uma"), "/v1/me/progress").await.1["sessions"].as_u64(), Some(0));
    assert!(gateway.engine.store().progress(&"uma".into()).await.unwrap().is_empty());
}
