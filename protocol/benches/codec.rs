//! The codecs' speed: encoding and decoding each kind of message in `viva.v1.json` and
//! `viva.v1.msgpack`, as the gateway (server messages out, client messages in) and clients
//! (the other way round) do. Run with: cargo bench -p viva-protocol --bench codec

// `criterion_group!` defines undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use viva_protocol::server::{
    AnswerReceived, AnswerScore, Pong, ReportReady, ScoreUpdated, SessionEnded, SessionReady, TurnDelta, TurnDone,
    TurnStarted,
};
use viva_protocol::state::{OpenTurn, Scores, SessionStatus, TranscriptEntry};
use viva_protocol::{
    AnswerContent, ClientMessage, Clock, DimensionScore, Encoding, EndReason, ErrorCode, ErrorEvent, Expects, Limits,
    ServerMessage, SessionState, TurnKind, TurnStatus,
};

const QUESTION: &str = "Let's start with a design problem. How would you design a rate limiter for a public API that \
    runs on a fleet of servers? Walk me through how it decides, where its data lives, and what happens when parts of \
    it fail.";
const ANSWER: &str = "A token bucket per API key, kept in Redis and updated atomically by a Lua script with a TTL, \
    so every server enforces the same limit. If Redis is down the limiter fails open with a local fallback, and \
    limited clients get a 429 with a Retry-After header.";

fn dimensions() -> Vec<DimensionScore> {
    ["system_design", "technical_depth", "communication", "ownership"]
        .iter()
        .zip([7.4, 6.8, 8.1, 5.9])
        .map(|(name, score)| DimensionScore { name: (*name).to_owned(), score })
        .collect()
}

/// A session in the middle of an interview: two questions answered, the third being spoken.
fn state() -> SessionState {
    let turn = |turn_id, kind, question_id: Option<&str>, text: &str| TranscriptEntry::Turn {
        turn_id,
        kind,
        question_id: question_id.map(str::to_owned),
        text: text.to_owned(),
        status: TurnStatus::Completed,
        started_at: Some(1_795_406_279_883),
        ended_at: Some(1_795_406_288_120),
    };
    let answer = |answer_id, question_id: &str| TranscriptEntry::Answer {
        answer_id,
        question_id: question_id.to_owned(),
        answer: AnswerContent::Text { text: ANSWER.to_owned() },
        score: Some(AnswerScore { dimensions: dimensions(), overall: Some(7.1) }),
        spoken: None,
        at: Some(1_795_406_301_450),
    };
    SessionState {
        status: SessionStatus::Live,
        plan_id: "senior-backend".to_owned(),
        transcript: vec![
            turn(1, TurnKind::Intro, None, QUESTION),
            turn(2, TurnKind::Question, Some("rate-limiter"), QUESTION),
            answer(1, "rate-limiter"),
            turn(3, TurnKind::Question, Some("event-pipeline"), QUESTION),
            answer(2, "event-pipeline"),
        ],
        open_turn: Some(OpenTurn {
            turn_id: 4,
            kind: TurnKind::Question,
            question_id: Some("consistency".to_owned()),
            expects: Some(Expects::Text),
            text: "Let's talk about data. ".to_owned(),
            next_index: 4,
        }),
        awaiting_answer: None,
        scores: Scores { dimensions: dimensions(), overall: Some(7.1) },
        clock: Clock { elapsed_s: 412, remaining_s: 2288 },
        ended_reason: None,
        report_ready: false,
        voice: None,
    }
}

fn server_messages() -> Vec<ServerMessage> {
    vec![
        ServerMessage::SessionReady(Box::new(SessionReady {
            session_id: "ses_9e13baf086394e3ca7297d0c6ee72629".to_owned(),
            epoch: 1,
            resumed: true,
            seq: 9,
            last_seq: 9,
            state: state(),
        })),
        ServerMessage::TurnStarted(TurnStarted {
            seq: 10,
            turn_id: 4,
            kind: TurnKind::Question,
            question_id: Some("consistency".to_owned()),
            expects: Some(Expects::Text),
        }),
        ServerMessage::TurnDelta(TurnDelta { turn_id: 4, index: 7, text: "replicated ".to_owned() }),
        ServerMessage::TurnDone(TurnDone {
            seq: 11,
            turn_id: 4,
            text: QUESTION.to_owned(),
            status: TurnStatus::Completed,
        }),
        ServerMessage::AnswerReceived(AnswerReceived::typed(12, Some("a3".to_owned()), 3)),
        ServerMessage::ScoreUpdated(ScoreUpdated {
            seq: 13,
            answer_id: 3,
            dimensions: dimensions(),
            overall: Some(7.1),
            answer: AnswerScore { dimensions: dimensions()[..2].to_vec(), overall: Some(7.1) },
        }),
        ServerMessage::ReportReady(ReportReady {
            seq: 14,
            session_id: "ses_9e13baf086394e3ca7297d0c6ee72629".to_owned(),
        }),
        ServerMessage::SessionEnded(SessionEnded { seq: 15, reason: EndReason::Completed }),
        ServerMessage::Clock(Clock { elapsed_s: 415, remaining_s: 2285 }),
        ServerMessage::Error(ErrorEvent {
            code: ErrorCode::NotAwaitingAnswer,
            message: "the interviewer is not waiting for an answer; wait for a question".to_owned(),
            fatal: false,
            reference: Some("a4".to_owned()),
        }),
        ServerMessage::Pong(Pong { id: Some("p1".to_owned()) }),
    ]
}

fn client_messages() -> Vec<ClientMessage> {
    vec![
        ClientMessage::SessionStart { id: Some("c1".to_owned()), voice: None },
        ClientMessage::AnswerSubmit { id: Some("a1".to_owned()), text: ANSWER.to_owned() },
        ClientMessage::CodeSubmit {
            id: Some("a2".to_owned()),
            language: "python".to_owned(),
            source:
                "from collections import OrderedDict\n\n\nclass LRUCache:\n    def __init__(self, capacity):\n        \
                     self.capacity = capacity\n        self.entries = OrderedDict()\n"
                    .repeat(4),
        },
        ClientMessage::TurnInterrupt { id: Some("i1".to_owned()) },
        ClientMessage::Ack { id: None, seq: 12 },
    ]
}

const ENCODINGS: [(&str, Encoding); 2] = [("json", Encoding::Json), ("msgpack", Encoding::MsgPack)];

/// Server messages: encoded by the gateway, decoded by clients.
fn server(c: &mut Criterion) {
    for (name, encoding) in ENCODINGS {
        let mut group = c.benchmark_group(format!("server/{name}"));
        for message in server_messages() {
            let bytes = encoding.encode(&message).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::new("encode", message.type_name()), &message, |b, m| {
                b.iter(|| encoding.encode(black_box(m)).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("decode", message.type_name()), &bytes, |b, bytes| {
                b.iter(|| encoding.decode::<ServerMessage>(black_box(bytes)).unwrap())
            });
        }
        group.finish();
    }
}

/// Client messages: decoded (with the limits' checks) by the gateway, encoded by clients.
fn client(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, encoding) in ENCODINGS {
        let mut group = c.benchmark_group(format!("client/{name}"));
        for message in client_messages() {
            let bytes = encoding.encode(&message).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::new("encode", message.type_name()), &message, |b, m| {
                b.iter(|| encoding.encode(black_box(m)).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("decode", message.type_name()), &bytes, |b, bytes| {
                b.iter(|| encoding.decode_client(black_box(bytes), &limits).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    targets = server, client
}
criterion_main!(benches);
