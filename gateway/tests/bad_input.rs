//! Bad input over real sockets and HTTP: each gets a clear error, and the session (and every
//! other session) carries on.

mod common;

use common::{Connect, Event, Gateway};
use viva_protocol::{ClientMessage, ErrorCode, ServerMessage};

/// The code of the next `error` event.
async fn error_code(client: &mut common::Client) -> ErrorCode {
    match client.message().await {
        ServerMessage::Error(error) => {
            assert!(!error.fatal);
            error.code
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The session still answers.
async fn still_alive(client: &mut common::Client) {
    client.send(&ClientMessage::Ping { id: Some("alive".into()) }).await;
    assert!(matches!(client.message().await, ServerMessage::Pong(p) if p.id.as_deref() == Some("alive")));
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_session_carries_on() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    let cases = [
        (r#"{"type":"answer.submit","text":"#, ErrorCode::InvalidMessage),
        (r#"[1,2,3]"#, ErrorCode::InvalidMessage),
        (r#"{"type":"teleport"}"#, ErrorCode::UnknownType),
        (r#"{"text":"no type"}"#, ErrorCode::InvalidMessage),
        (r#"{"type":"answer.submit"}"#, ErrorCode::InvalidMessage),
        (r#"{"type":"ack","seq":"three"}"#, ErrorCode::InvalidMessage),
        (r#"{"type":"ping","id":""}"#, ErrorCode::InvalidId),
        (r#"{"type":"answer.submit","text":"before start"}"#, ErrorCode::NotStarted),
    ];
    for (frame, code) in cases {
        client.send_json(frame).await;
        assert_eq!(error_code(&mut client).await, code, "{frame}");
    }
    client.send_raw(vec![0x93, 0x01], true).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::WrongFrameType);
    still_alive(&mut client).await;
}

#[tokio::test]
async fn a_text_frame_on_a_msgpack_socket_is_refused_and_msgpack_garbage_too() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice").protocols("viva.v1.msgpack")).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
    client.send_json(r#"{"type":"ping"}"#).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::WrongFrameType);
    client.send_raw(vec![0xc1, 0xff, 0x00], true).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::InvalidMessage);
    let unknown = rmp_serde::to_vec_named(&serde_json::json!({ "type": "teleport" })).unwrap();
    client.send_raw(unknown, true).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::UnknownType);
    still_alive(&mut client).await;
}

#[tokio::test]
async fn answers_out_of_turn_or_too_large_are_refused_and_nothing_acknowledged_is_lost() {
    let gateway = Gateway::start().await;
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let huge = ClientMessage::AnswerSubmit { id: Some("huge".into()), text: "x".repeat(20 * 1024) };
    client.send(&huge).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::AnswerTooLarge);
    client.send(&common::answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
    assert!(matches!(client.message().await, ServerMessage::AnswerReceived(a) if a.id.as_deref() == Some("a1")));
    // The next turn is streaming or done: a second answer now is out of turn unless the
    // interviewer already waits again, so wait for the next question to be asked first.
    client.until(|m| matches!(m, ServerMessage::TurnStarted(_))).await;
    client.send(&ClientMessage::TurnInterrupt { id: Some("i1".into()) }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(_))).await;
    client.send(&ClientMessage::TurnInterrupt { id: Some("i2".into()) }).await;
    // Scores of the first answer may arrive in between.
    let error = client.until(|m| matches!(m, ServerMessage::Error(_))).await;
    assert!(matches!(error.last(), Some(ServerMessage::Error(e)) if e.code == ErrorCode::NothingToInterrupt));
    let (status, view) = gateway.get(Some("alice"), &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200);
    let answers: Vec<_> = view["transcript"].as_array().unwrap().iter().filter(|e| e["entry"] == "answer").collect();
    assert_eq!(answers.len(), 1, "the acknowledged answer is kept, the refused one is not");
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    let frame = format!(r#"{{"type":"answer.submit","text":"{}"}}"#, "x".repeat(200 * 1024));
    client.send_json(&frame).await;
    assert_eq!(client.closed().await, Some(1009));
    // The session is fine: a new socket gets it.
    let mut again = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    assert!(matches!(again.message().await, ServerMessage::SessionReady(_)));
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_and_others_carry_on() {
    let gateway = Gateway::start_with(Default::default(), |state| {
        let socket = std::sync::Arc::make_mut(&mut state.socket);
        socket.burst = 5.0;
        socket.rate_per_s = 0.001;
        socket.flood_close_after = 20;
    })
    .await;
    let session = gateway.create("alice", "senior-backend").await;
    let other = gateway.create("bob", "senior-backend").await;
    let mut flooder = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    let mut bystander = gateway.connect(&other, Connect::user("dev:bob")).await.unwrap();
    flooder.message().await;
    bystander.message().await;
    for i in 0..30 {
        flooder.send(&ClientMessage::Ping { id: Some(format!("p{i}")) }).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    let close = loop {
        match flooder.next().await {
            Event::Message(ServerMessage::Pong(_)) => pongs += 1,
            Event::Message(ServerMessage::Error(e)) if e.code == ErrorCode::RateLimited => {
                assert_eq!(e.reference, Some(format!("p{}", 5 + limited)), "names the refused message");
                limited += 1;
            }
            Event::Message(other) => panic!("unexpected {other:?}"),
            Event::Closed(code) => break code,
        }
    };
    // The burst is served (pongs still queued in the session when the socket closes are
    // dropped with it); then every message is refused until the flood closes the socket.
    assert!(pongs <= 5, "{pongs} pongs");
    assert_eq!(close, Some(4029));
    assert_eq!(limited, 19, "refused with an error until the socket is closed");
    still_alive(&mut bystander).await;
}

#[tokio::test]
async fn unknown_and_foreign_sessions_are_404_and_bad_tokens_401() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let paths = [format!("/v1/sessions/{session}"), format!("/v1/sessions/{session}/report")];
    for path in &paths {
        assert_eq!(gateway.get(Some("mallory"), path).await.0, 404, "{path}");
        assert_eq!(gateway.get(None, path).await.0, 401, "{path}");
    }
    let (status, body) = gateway.get(Some("alice"), "/v1/sessions/ses_nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(gateway.get(Some("alice"), "/v1/nothing/here").await.0, 404);
    assert_eq!(gateway.get(Some("alice"), &format!("/v1/sessions/{session}/report")).await.0, 409);

    let connect = |token| Connect::user(token);
    assert_eq!(gateway.connect(&session, connect("dev:mallory")).await.err(), Some(404));
    assert_eq!(gateway.connect("ses_nope", connect("dev:alice")).await.err(), Some(404));
    assert_eq!(gateway.connect(&session, connect("dev:")).await.err(), Some(401));
    assert_eq!(gateway.connect(&session, connect("alice")).await.err(), Some(401));
    let no_token = Connect::anonymous();
    assert_eq!(gateway.connect(&session, no_token).await.err(), Some(401));
    assert_eq!(gateway.connect(&session, connect("dev:alice").protocols("chat, mqtt")).await.err(), Some(400));
    let mut fine = gateway.connect(&session, connect("dev:alice").protocols("chat, viva.v1.msgpack")).await.unwrap();
    assert!(matches!(fine.message().await, ServerMessage::SessionReady(_)));
}

#[tokio::test]
async fn bad_rest_requests_get_json_errors() {
    let gateway = Gateway::start().await;
    let post = |body: &'static str| {
        common::http()
            .post(gateway.url("/v1/sessions"))
            .bearer_auth("dev:alice")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Arrays where objects belong: serde's derive alone would read `["senior-backend"]` as a
    // body and `[null]` as an empty candidate.
    let arrays = [r#"["senior-backend"]"#, r#"{"plan":"senior-backend","candidate":[null,"senior"]}"#];
    let shapes = [("{", 400), (r#"{"plan":"no-such-plan"}"#, 400), (r#"{"plan":7}"#, 400), ("{}", 400)];
    for (body, status) in shapes.into_iter().chain(arrays.map(|body| (body, 400))) {
        let response = post(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request", "{body}");
    }
    let resume = "x".repeat(40 * 1024);
    let response = common::http()
        .post(gateway.url("/v1/sessions"))
        .bearer_auth("dev:alice")
        .json(&serde_json::json!({ "plan": "senior-backend", "candidate": { "resume_text": resume } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let session = gateway.create("alice", "senior-backend").await;
    let (status, body) = gateway.get(Some("alice"), &format!("/v1/sessions/{session}/ws")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "a plain GET on the socket");
    let response = common::http().delete(gateway.url("/v1/plans")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "bad_request");
    assert_eq!(gateway.get(None, "/v1/plans").await.0, 200);
    assert_eq!(gateway.get(None, "/healthz").await.0, 200);
    assert_eq!(gateway.get(None, "/readyz").await.0, 200);
}

#[tokio::test]
async fn an_answer_while_the_interviewer_speaks_is_refused_and_barge_in_lets_it_through() {
    // 50 ms a word: every turn of the plan takes well over a second to say.
    let gateway = Gateway::start_paced(std::time::Duration::from_millis(50)).await;
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDelta(_))).await;
    client.send(&ClientMessage::AnswerSubmit { id: Some("early".into()), text: "Hello!".into() }).await;
    let refused = client.until(|m| matches!(m, ServerMessage::Error(_))).await;
    let ServerMessage::Error(error) = refused.last().unwrap() else { unreachable!() };
    assert_eq!((error.code, error.reference.as_deref()), (ErrorCode::NotAwaitingAnswer, Some("early")));

    // Barge in on the intro, then on the first question: the answer is taken.
    for kind in [viva_protocol::TurnKind::Intro, viva_protocol::TurnKind::Question] {
        client.send(&ClientMessage::TurnInterrupt { id: None }).await;
        let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(_))).await;
        let ServerMessage::TurnDone(done) = seen.last().unwrap() else { unreachable!() };
        assert_eq!(done.status, viva_protocol::TurnStatus::Interrupted, "{kind:?}");
        if kind == viva_protocol::TurnKind::Intro {
            client.until(|m| matches!(m, ServerMessage::TurnDelta(_))).await;
        }
    }
    client.send(&ClientMessage::AnswerSubmit { id: Some("a1".into()), text: "A token bucket per user.".into() }).await;
    let acked = client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    assert!(matches!(acked.last(), Some(ServerMessage::AnswerReceived(a)) if a.id.as_deref() == Some("a1")));
}

#[tokio::test]
async fn a_client_close_is_answered_and_an_invalid_message_is_named_by_its_id() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    client.message().await;
    client.send_json(r#"{"type":"answer.submit","id":"x1"}"#).await;
    match client.message().await {
        ServerMessage::Error(e) => {
            assert_eq!((e.code, e.reference.as_deref()), (ErrorCode::InvalidMessage, Some("x1")))
        }
        other => panic!("expected an error, got {other:?}"),
    }
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    futures::SinkExt::close(&mut client.socket).await.unwrap();
    // The server completes the closing handshake with a close frame of its own.
    let reply = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match futures::StreamExt::next(&mut client.socket).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return true,
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return false,
            }
        }
    });
    assert_eq!(reply.await.ok(), Some(true), "the server answered the close with a close frame");
}

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_is_a_json_404() {
    let gateway = Gateway::start().await;
    // `%FF` percent-decodes to a byte that is not UTF-8: no session, answer, user, node or
    // file has such a name (axum's own rejection would be a text 400).
    let paths = [
        "/v1/sessions/%FF",
        "/v1/sessions/%FF/report",
        "/v1/sessions/%FF/ws",
        "/v1/sessions/%FF/answers/1/audio",
        "/console/%FF",
    ];
    for path in paths {
        let (status, body) = gateway.get(Some("alice"), path).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{path}");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_and_profile_fields_are_bounded() {
    let gateway = Gateway::start().await;
    let post = |body: String| {
        common::http()
            .post(gateway.url("/v1/sessions"))
            .bearer_auth("dev:uma")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let huge = format!(r#"{{"plan":"senior-backend","candidate":{{"resume_text":"{}"}}}}"#, "a".repeat(70 * 1024));
    assert_eq!(post(huge).await.unwrap().status(), 413);
    let role = format!(r#"{{"plan":"senior-backend","candidate":{{"role":"{}"}}}}"#, "r".repeat(101));
    let refused = post(role).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("role of 101 characters"));
    let fine = format!(r#"{{"plan":"senior-backend","candidate":{{"role":"{}"}}}}"#, "r".repeat(100));
    assert_eq!(post(fine).await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_code_answers_language_counts_in_its_limit() {
    let gateway = Gateway::start().await;
    let session = gateway.create("vic", "coding-python").await;
    let mut client = gateway.connect(&session, Connect::user("dev:vic")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    // 60 KiB of "language" and 10 KiB of code: 70 KiB stored, over the 64 KiB of code.
    let code = ClientMessage::CodeSubmit {
        id: Some("big".into()),
        language: "p".repeat(60 * 1024),
        source: "def f():\n    return 1\n".repeat(450),
    };
    client.send(&code).await;
    assert_eq!(error_code(&mut client).await, ErrorCode::AnswerTooLarge);
    still_alive(&mut client).await;
}
