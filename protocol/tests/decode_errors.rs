//! Tests as data for the wire contract: what `decode_client` makes of valid, malformed,
//! mistyped, oversized and wrongly encoded client frames (message or error code and text),
//! subprotocol negotiation, and the exact JSON shapes of server messages.

use expect_test::{Expect, expect};
use serde_json::json;
use viva_protocol::server::{AnswerScore, Pong, ScoreUpdated, SessionEnded, TurnDone, TurnStarted};
use viva_protocol::state::{AwaitingAnswer, OpenTurn, Scores, SessionStatus, TranscriptEntry};
use viva_protocol::{
    AnswerContent, ClientMessage, Clock, DimensionScore, Encoding, EndReason, ErrorCode, ErrorEvent, Expects, Limits,
    ServerMessage, SessionState, TurnKind, TurnStatus,
};

/// The limits of every case: small frames, so "too large" is cheap to build; default ids.
const LIMITS: Limits = Limits { max_frame_bytes: 1024, max_id_len: 64 };

/// Decodes `input` as one client frame and compares `Ok(<Debug>)` or `Err(<code>: <Display>)`.
fn check(encoding: Encoding, input: &[u8], expect: Expect) {
    let actual = match encoding.decode_client(input, &LIMITS) {
        Ok(message) => format!("Ok({message:?})"),
        Err(error) => format!("Err({}: {error})", error.code()),
    };
    expect.assert_eq(&actual);
}

/// The MessagePack encoding of a JSON value (objects become maps with field names).
fn msgpack(value: serde_json::Value) -> Vec<u8> {
    Encoding::MsgPack.encode(&value).unwrap()
}

// ---- valid frames -------------------------------------------------------------------------

#[test]
fn valid_json_of_each_client_type() {
    use Encoding::Json;
    check(
        Json,
        br#"{"type":"session.start","id":"c1"}"#,
        expect![[r#"Ok(SessionStart { id: Some("c1"), voice: None })"#]],
    );
    check(
        Json,
        r#"{"type":"answer.submit","id":"c2","text":"Use a B-tree ✓"}"#.as_bytes(),
        expect![[r#"Ok(AnswerSubmit { id: Some("c2"), text: "Use a B-tree ✓" })"#]],
    );
    check(
        Json,
        br#"{"type":"code.submit","language":"python","source":"def f():\n    return 1\n"}"#,
        expect![[r#"Ok(CodeSubmit { id: None, language: "python", source: "def f():\n    return 1\n" })"#]],
    );
    check(Json, br#"{"type":"turn.interrupt"}"#, expect![["Ok(TurnInterrupt { id: None })"]]);
    check(
        Json,
        br#"{"type":"ack","seq":18446744073709551615}"#,
        expect![["Ok(Ack { id: None, seq: 18446744073709551615 })"]],
    );
    check(Json, br#"{"type":"session.end","id":"bye"}"#, expect![[r#"Ok(SessionEnd { id: Some("bye") })"#]]);
    check(Json, br#"{"type":"ping"}"#, expect![["Ok(Ping { id: None })"]]);
}

#[test]
fn valid_json_variations() {
    use Encoding::Json;
    // Field order does not matter; unknown fields are ignored; `"id": null` is no id.
    check(
        Json,
        br#"{"text":"x","extra":[1,{"a":2}],"type":"answer.submit","id":null}"#,
        expect![[r#"Ok(AnswerSubmit { id: None, text: "x" })"#]],
    );
    // Whitespace around the object.
    check(Json, b" \n{ \"type\" : \"ping\" }\n", expect![["Ok(Ping { id: None })"]]);
    // Ids are counted in characters, not bytes: 64 two-byte characters are fine.
    let id = "é".repeat(64);
    check(
        Json,
        format!(r#"{{"type":"ping","id":"{id}"}}"#).as_bytes(),
        expect![[r#"Ok(Ping { id: Some("éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé") })"#]],
    );
}

#[test]
fn valid_msgpack_frames() {
    use Encoding::MsgPack;
    check(
        MsgPack,
        &msgpack(json!({"type": "ack", "id": "a1", "seq": 7})),
        expect![[r#"Ok(Ack { id: Some("a1"), seq: 7 })"#]],
    );
    check(
        MsgPack,
        &msgpack(json!({"type": "code.submit", "language": "rust", "source": "fn main() {}"})),
        expect![[r#"Ok(CodeSubmit { id: None, language: "rust", source: "fn main() {}" })"#]],
    );
}

// ---- malformed and non-object frames ------------------------------------------------------

#[test]
fn malformed_json() {
    use Encoding::Json;
    check(Json, b"", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(
        Json,
        br#"{"type":"ping""#,
        expect![["Err(invalid_message: malformed message: EOF while parsing an object at line 1 column 14)"]],
    );
    check(
        Json,
        br#"{"type":"ping",}"#,
        expect![["Err(invalid_message: malformed message: trailing comma at line 1 column 16)"]],
    );
    check(
        Json,
        br#"{'type':'ping'}"#,
        expect![["Err(invalid_message: malformed message: key must be a string at line 1 column 2)"]],
    );
    check(
        Json,
        br#"{"type":"ping"} {"type":"ping"}"#,
        expect![["Err(invalid_message: malformed message: trailing characters at line 1 column 17)"]],
    );
    check(
        Json,
        b"{\"type\":\"ping\",\"id\":\"\xff\"}",
        expect![["Err(invalid_message: invalid `ping`: invalid unicode code point at line 1 column 22)"]],
    );
}

#[test]
fn non_object_json() {
    use Encoding::Json;
    check(Json, b"[1,2]", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(Json, b"42", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(Json, br#""ping""#, expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(Json, b"null", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(Json, b"true", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
}

#[test]
fn missing_or_mistyped_type() {
    use Encoding::Json;
    check(Json, b"{}", expect![["Err(invalid_message: message has no `type`)"]]);
    check(Json, br#"{"id":"c1","text":"hi"}"#, expect![["Err(invalid_message: message has no `type`)"]]);
    check(Json, br#"{"type":null}"#, expect![["Err(invalid_message: message has no `type`)"]]);
    check(
        Json,
        br#"{"type":5}"#,
        expect![[
            "Err(invalid_message: malformed message: invalid type: integer `5`, expected a string at line 1 column 9)"
        ]],
    );
    check(
        Json,
        br#"{"type":"ping","type":"ack"}"#,
        expect![["Err(invalid_message: malformed message: duplicate field `type` at line 1 column 21)"]],
    );
}

#[test]
fn unknown_type() {
    use Encoding::Json;
    check(Json, br#"{"type":"session.resume"}"#, expect![["Err(unknown_type: unknown message type `session.resume`)"]]);
    // A server type is not one a client may send.
    check(Json, br#"{"type":"pong"}"#, expect![["Err(unknown_type: unknown message type `pong`)"]]);
    // Types are case-sensitive.
    check(Json, br#"{"type":"PING"}"#, expect![["Err(unknown_type: unknown message type `PING`)"]]);
    check(Json, br#"{"type":""}"#, expect![["Err(unknown_type: unknown message type ``)"]]);
}

#[test]
fn an_error_never_echoes_a_whole_frame() {
    // Up to the frame limit of the gateway: the reply quotes at most MAX_ERROR_CHARS of it.
    let limits = Limits { max_frame_bytes: 64 * 1024, max_id_len: 64 };
    let long = "é".repeat(30_000);
    let frames = [
        format!(r#"{{"type":"{long}"}}"#),
        format!(r#"{{"type":"answer.submit","text":true,"id":"{long}"}}"#),
        format!(r#"{{"type":"ack","seq":"{long}"}}"#),
        format!(r#"{{"{long}"#),
    ];
    for frame in frames {
        let error = Encoding::Json.decode_client(frame.as_bytes(), &limits).unwrap_err().to_string();
        assert!(error.chars().count() < viva_protocol::codec::MAX_ERROR_CHARS + 80, "{} chars", error.len());
    }
}

#[test]
fn known_type_with_missing_field() {
    use Encoding::Json;
    check(
        Json,
        br#"{"type":"answer.submit","id":"c1"}"#,
        expect![["Err(invalid_message: invalid `answer.submit`: missing field `text`)"]],
    );
    check(
        Json,
        br#"{"type":"code.submit","language":"python"}"#,
        expect![["Err(invalid_message: invalid `code.submit`: missing field `source`)"]],
    );
    check(Json, br#"{"type":"ack"}"#, expect![["Err(invalid_message: invalid `ack`: missing field `seq`)"]]);
}

#[test]
fn known_type_with_wrong_field_type() {
    use Encoding::Json;
    check(
        Json,
        br#"{"type":"ack","seq":"5"}"#,
        expect![[r#"Err(invalid_message: invalid `ack`: invalid type: string "5", expected u64)"#]],
    );
    check(
        Json,
        br#"{"type":"ack","seq":-1}"#,
        expect![["Err(invalid_message: invalid `ack`: invalid value: integer `-1`, expected u64)"]],
    );
    check(
        Json,
        br#"{"type":"ack","seq":1.5}"#,
        expect![["Err(invalid_message: invalid `ack`: invalid type: floating point `1.5`, expected u64)"]],
    );
    check(
        Json,
        br#"{"type":"answer.submit","text":42}"#,
        expect![["Err(invalid_message: invalid `answer.submit`: invalid type: integer `42`, expected a string)"]],
    );
    check(
        Json,
        br#"{"type":"ping","id":7}"#,
        expect![["Err(invalid_message: invalid `ping`: invalid type: integer `7`, expected a string)"]],
    );
    // A struct from an array of its fields in order: what serde's derive would take.
    check(
        Json,
        br#"{"type":"session.start","voice":[true,false]}"#,
        expect!["Err(invalid_message: invalid `session.start`: invalid type: sequence, expected an object)"],
    );
    check(
        Encoding::MsgPack,
        &msgpack(json!({"type": "session.start", "voice": [true, false]})),
        expect!["Err(invalid_message: invalid `session.start`: invalid type: sequence, expected an object)"],
    );
}

// ---- ids and sizes ------------------------------------------------------------------------

#[test]
fn id_length() {
    use Encoding::Json;
    let id = "a".repeat(65);
    check(
        Json,
        format!(r#"{{"type":"ping","id":"{id}"}}"#).as_bytes(),
        expect![["Err(invalid_id: message id of 65 characters; ids have 1 to 64)"]],
    );
    check(
        Json,
        br#"{"type":"ping","id":""}"#,
        expect![["Err(invalid_id: message id of 0 characters; ids have 1 to 64)"]],
    );
    check(
        Encoding::MsgPack,
        &msgpack(json!({"type": "answer.submit", "id": "", "text": "x"})),
        expect![["Err(invalid_id: message id of 0 characters; ids have 1 to 64)"]],
    );
}

#[test]
fn frame_size_limit() {
    use Encoding::Json;
    // A valid frame of exactly `max_frame_bytes` passes; one byte more does not.
    let frame = |len: usize| {
        let mut frame = br#"{"type":"ping"}"#.to_vec();
        frame.resize(len, b' ');
        frame
    };
    check(Json, &frame(1024), expect![["Ok(Ping { id: None })"]]);
    check(Json, &frame(1025), expect![["Err(invalid_message: frame of 1025 bytes is over the limit of 1024 bytes)"]]);
    // The size is checked before anything else: garbage over the limit is "too large".
    check(
        Encoding::MsgPack,
        &[0xc1; 2000],
        expect![["Err(invalid_message: frame of 2000 bytes is over the limit of 1024 bytes)"]],
    );
}

// ---- MessagePack --------------------------------------------------------------------------

#[test]
fn msgpack_errors() {
    use Encoding::MsgPack;
    check(
        MsgPack,
        &msgpack(json!({"type": "session.resume"})),
        expect![["Err(unknown_type: unknown message type `session.resume`)"]],
    );
    check(MsgPack, &msgpack(json!({"id": "c1"})), expect![["Err(invalid_message: message has no `type`)"]]);
    check(
        MsgPack,
        &msgpack(json!({"type": "answer.submit", "text": 42})),
        expect![["Err(invalid_message: invalid `answer.submit`: invalid type: integer `42`, expected a string)"]],
    );
    check(
        MsgPack,
        &msgpack(json!([1, 2])),
        expect!["Err(invalid_message: malformed message: a message must be an object)"],
    );
    check(MsgPack, b"", expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    // 0xc1 is the one byte MessagePack never uses.
    check(MsgPack, &[0xc1], expect!["Err(invalid_message: malformed message: a message must be an object)"]);
    check(
        MsgPack,
        &[0xff, 0x00, 0x13, 0x37],
        expect!["Err(invalid_message: malformed message: a message must be an object)"],
    );
    // A map of two entries that ends after one key.
    check(
        MsgPack,
        &[0x82, 0xa4, b't', b'y', b'p', b'e'],
        expect![[
            "Err(invalid_message: malformed message: IO error while reading marker: failed to fill whole buffer)"
        ]],
    );
    // A string claiming 4 GiB.
    check(
        MsgPack,
        &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        expect!["Err(invalid_message: malformed message: a message must be an object)"],
    );
}

#[test]
fn json_payload_to_msgpack_decoder_and_back() {
    check(
        Encoding::MsgPack,
        br#"{"type":"ping"}"#,
        expect!["Err(invalid_message: malformed message: a message must be an object)"],
    );
    check(
        Encoding::Json,
        &msgpack(json!({"type": "ping"})),
        expect!["Err(invalid_message: malformed message: a message must be an object)"],
    );
}

/// Deeply nested frames are refused, not a stack overflow (which aborts the process).
#[test]
fn deep_nesting() {
    // {"type": "ping", "x": [[[[ ... nil ... ]]]]}: 1000 levels in 1014 bytes. Before the depth
    // cap this overflowed a 2 MiB test-thread stack in debug builds.
    let mut frame = vec![0x82, 0xa4, b't', b'y', b'p', b'e', 0xa4, b'p', b'i', b'n', b'g'];
    frame.extend([0xa1, b'x']);
    frame.extend([0x91; 1000]);
    frame.push(0xc0);
    check(Encoding::MsgPack, &frame, expect![["Err(invalid_message: malformed message: depth limit exceeded)"]]);

    let json = format!(r#"{{"type":"ping","x":{}0{}}}"#, "[".repeat(200), "]".repeat(200));
    check(
        Encoding::Json,
        json.as_bytes(),
        expect![["Err(invalid_message: invalid `ping`: recursion limit exceeded at line 1 column 146)"]],
    );
}

// ---- negotiation --------------------------------------------------------------------------

#[test]
fn negotiate() {
    let check = |offered: &[&str], expect: Expect| {
        expect.assert_eq(&format!("{:?}", Encoding::negotiate(offered.iter().copied())));
    };
    check(&[], expect![["Ok(None)"]]);
    check(&["viva.v1.json"], expect![["Ok(Some(Json))"]]);
    check(&["viva.v1.msgpack"], expect![["Ok(Some(MsgPack))"]]);
    check(&["graphql-ws"], expect![["Err(UnknownSubprotocols)"]]);
    check(&["graphql-ws", "viva.v2.json"], expect![["Err(UnknownSubprotocols)"]]);
    check(&["graphql-ws", "viva.v1.msgpack"], expect![["Ok(Some(MsgPack))"]]);
    check(&["viva.v1.msgpack", "viva.v1.json"], expect![["Ok(Some(MsgPack))"]]);
    check(&[" viva.v1.json "], expect![["Ok(Some(Json))"]]);
}

#[test]
fn subprotocol_names() {
    for encoding in [Encoding::Json, Encoding::MsgPack] {
        assert_eq!(Encoding::from_subprotocol(encoding.subprotocol()), Some(encoding));
    }
    assert!(Encoding::MsgPack.is_binary());
    assert!(!Encoding::Json.is_binary());
}

// ---- exact JSON shapes --------------------------------------------------------------------

fn check_json<T: serde::Serialize>(value: &T, expect: Expect) {
    expect.assert_eq(&serde_json::to_string(value).unwrap());
}

#[test]
fn client_message_shapes() {
    check_json(
        &ClientMessage::AnswerSubmit { id: None, text: "hi".into() },
        expect![[r#"{"type":"answer.submit","text":"hi"}"#]],
    );
    check_json(&ClientMessage::Ack { id: Some("a".into()), seq: 3 }, expect![[r#"{"type":"ack","id":"a","seq":3}"#]]);
}

#[test]
fn server_message_shapes() {
    check_json(
        &ServerMessage::TurnStarted(TurnStarted {
            seq: 4,
            turn_id: 2,
            kind: TurnKind::Question,
            question_id: Some("q1".into()),
            expects: Some(Expects::Code { language: "python".into() }),
        }),
        expect![[
            r#"{"type":"turn.started","seq":4,"turn_id":2,"kind":"question","question_id":"q1","expects":{"format":"code","language":"python"}}"#
        ]],
    );
    check_json(
        &ServerMessage::TurnStarted(TurnStarted {
            seq: 1,
            turn_id: 1,
            kind: TurnKind::Intro,
            question_id: None,
            expects: None,
        }),
        expect![[r#"{"type":"turn.started","seq":1,"turn_id":1,"kind":"intro","question_id":null,"expects":null}"#]],
    );
    check_json(
        &ServerMessage::TurnDone(TurnDone { seq: 5, turn_id: 2, text: "Why?".into(), status: TurnStatus::Interrupted }),
        expect![[r#"{"type":"turn.done","seq":5,"turn_id":2,"text":"Why?","status":"interrupted"}"#]],
    );
    check_json(
        &ServerMessage::Error(ErrorEvent {
            code: ErrorCode::NotAwaitingAnswer,
            message: "no question is open".into(),
            fatal: false,
            reference: Some("c7".into()),
        }),
        expect![[
            r#"{"type":"error","code":"not_awaiting_answer","message":"no question is open","fatal":false,"ref":"c7"}"#
        ]],
    );
    check_json(
        &ServerMessage::Error(ErrorEvent {
            code: ErrorCode::InvalidMessage,
            message: "bad".into(),
            fatal: true,
            reference: None,
        }),
        expect![[r#"{"type":"error","code":"invalid_message","message":"bad","fatal":true,"ref":null}"#]],
    );
    check_json(&ServerMessage::Pong(Pong { id: None }), expect![[r#"{"type":"pong"}"#]]);
    check_json(&ServerMessage::Pong(Pong { id: Some("p1".into()) }), expect![[r#"{"type":"pong","id":"p1"}"#]]);
    check_json(
        &ServerMessage::ScoreUpdated(ScoreUpdated {
            seq: 9,
            answer_id: 1,
            dimensions: vec![DimensionScore { name: "system_design".into(), score: 7.5 }],
            overall: Some(7.5),
            answer: AnswerScore {
                dimensions: vec![DimensionScore { name: "system_design".into(), score: 0.1 }],
                overall: Some(0.1),
            },
        }),
        expect![[
            r#"{"type":"score.updated","seq":9,"answer_id":1,"dimensions":[{"name":"system_design","score":7.5}],"overall":7.5,"answer":{"dimensions":[{"name":"system_design","score":0.1}],"overall":0.1}}"#
        ]],
    );
    check_json(
        &ServerMessage::SessionEnded(SessionEnded { seq: 12, reason: EndReason::EndedByCandidate }),
        expect![[r#"{"type":"session.ended","seq":12,"reason":"ended_by_candidate"}"#]],
    );
    check_json(
        &ServerMessage::Clock(Clock { elapsed_s: 60, remaining_s: 1740 }),
        expect![[r#"{"type":"clock","elapsed_s":60,"remaining_s":1740}"#]],
    );
}

#[test]
fn session_state_shape() {
    let state = SessionState {
        status: SessionStatus::Live,
        plan_id: "backend-senior".into(),
        transcript: vec![
            TranscriptEntry::Turn {
                turn_id: 1,
                kind: TurnKind::Question,
                question_id: Some("q1".into()),
                text: "Design a cache.".into(),
                status: TurnStatus::Completed,
                started_at: Some(1_795_406_279_883),
                ended_at: Some(1_795_406_280_120),
            },
            TranscriptEntry::Answer {
                answer_id: 1,
                question_id: "q1".into(),
                answer: AnswerContent::Code { language: "python".into(), source: "pass".into() },
                score: None,
                spoken: None,
                at: Some(1_795_406_301_450),
            },
        ],
        open_turn: Some(OpenTurn {
            turn_id: 2,
            kind: TurnKind::FollowUp,
            question_id: Some("q1".into()),
            expects: Some(Expects::Text),
            text: "And eviction".into(),
            next_index: 3,
        }),
        awaiting_answer: Some(AwaitingAnswer { question_id: "q1".into(), expects: Expects::Text }),
        scores: Scores::default(),
        clock: Clock { elapsed_s: 0, remaining_s: 1800 },
        ended_reason: None,
        report_ready: false,
        voice: None,
    };
    check_json(
        &state,
        expect![[
            r#"{"status":"live","plan_id":"backend-senior","transcript":[{"entry":"turn","turn_id":1,"kind":"question","question_id":"q1","text":"Design a cache.","status":"completed","started_at":1795406279883,"ended_at":1795406280120},{"entry":"answer","answer_id":1,"question_id":"q1","answer":{"format":"code","language":"python","source":"pass"},"score":null,"at":1795406301450}],"open_turn":{"turn_id":2,"kind":"follow_up","question_id":"q1","expects":{"format":"text"},"text":"And eviction","next_index":3},"awaiting_answer":{"question_id":"q1","expects":{"format":"text"}},"scores":{"dimensions":[],"overall":null},"clock":{"elapsed_s":0,"remaining_s":1800},"ended_reason":null,"report_ready":false}"#
        ]],
    );
}

/// `ErrorCode::as_str` is exactly what serde puts on the wire.
#[test]
fn error_codes_on_the_wire() {
    for &code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()), "{code:?}");
    }
}

#[test]
fn create_session_adapts_only_when_asked() {
    use viva_protocol::rest::CreateSession;
    let plain: CreateSession = serde_json::from_str(r#"{"plan":"senior-backend"}"#).unwrap();
    assert!(!plain.adapt);
    // Written as little as read: no candidate and no `adapt` when there is none.
    assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"plan":"senior-backend"}"#);
    let adaptive: CreateSession = serde_json::from_str(r#"{"plan":"senior-backend","adapt":true}"#).unwrap();
    assert!(adaptive.adapt);
    assert_eq!(serde_json::from_str::<CreateSession>(&serde_json::to_string(&adaptive).unwrap()).unwrap(), adaptive);
    assert!(serde_json::from_str::<CreateSession>(r#"{"plan":"senior-backend","adapt":"yes"}"#).is_err());
}
