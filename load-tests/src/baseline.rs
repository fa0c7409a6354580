//! `viva-load baseline-server`: a bare tokio-tungstenite server that speaks just enough of
//! Viva's protocol for `viva-load replay` and `hold`, with no engine behind it, so that the
//! engine's cost is a ratio measured in one run: replay the same load against Viva and against
//! this, and compare events/s and latencies.
//!
//! What it sends is Viva's own output, canned: for each shipped plan, the durable event log
//! (`GET /v1/sessions/{id}/events`) of the plan's `strong` recording replayed against
//! `viva-gateway --scripted-pace-ms 0`, kept in `load-tests/baseline/` and compiled in. Each
//! `turn.done` is preceded by its text as `turn.delta`s ([`Deltas`]: one per turn, as Viva's
//! outbox merges a turn's deltas queued at once at pace 0, or one per word, as the scripted
//! interviewer produces them). A session then plays the log back in step with its client:
//! `session.start` sends everything up to the first question (and a `clock`), each answer
//! gets its `answer.received` (with the client's id) and the events that followed that answer
//! in the log, up to the next question; after the last answer come the closing turn,
//! `report.ready`, `session.ended` and close 1000. `session.end` ends at once (`report.ready`,
//! `session.ended` with `ended_by_candidate`). `seq`s are renumbered as sent, so they stay
//! contiguous whatever the client does. A `clock` goes out every 5 s while a session is live,
//! as Viva's does. Frames are written as Viva writes them: encoded per message (JSON text or
//! MessagePack binary), fed in a batch and flushed once, on sockets with the gateway's buffer
//! sizes and Nagle off.
//!
//! REST is hand-rolled HTTP/1.1 (keep-alive) over the same listener: `GET /v1/plans`,
//! `POST /v1/sessions`, the socket's `GET /v1/sessions/{id}/ws` (bearer token required,
//! subprotocol negotiated as Viva does), `GET /healthz`, and `GET /metrics` with
//! `process_resident_memory_bytes` (so `hold` can measure it too).
//!
//! Not done: what the answers say does not matter (no scoring, no follow-up decisions: the
//! log's are replayed); no resume (`last_seq` is ignored, a session is gone once its socket
//! closes), no rate limit, no time limit, no persistence, no other REST endpoint.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use viva_protocol::rest::{CreateSession, PlanSummary, Plans, SessionCreated};
use viva_protocol::server::{AnswerReceived, Pong, ReportReady, SessionEnded, SessionReady, TurnDelta};
use viva_protocol::state::{Scores, SessionStatus};
use viva_protocol::{
    ClientMessage, Clock, CloseCode, Encoding, EndReason, ErrorCode, ErrorEvent, Limits, ServerMessage, SessionState,
};

/// The canned plans (`GET /v1/plans` of the gateway).
const PLANS: &str = include_str!("../baseline/plans.json");
/// The canned event logs, one per shipped plan.
const LOGS: [(&str, &str); 3] = [
    ("coding-python", include_str!("../baseline/coding-python.jsonl")),
    ("frontend", include_str!("../baseline/frontend.jsonl")),
    ("senior-backend", include_str!("../baseline/senior-backend.jsonl")),
];

/// Time between `clock`s while a session is live (Viva's `clock_interval_ms`).
pub const CLOCK_EVERY: Duration = Duration::from_secs(5);
/// Largest request head or REST body read.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// How a turn's text goes out as `turn.delta`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deltas {
    /// One delta with the whole text: what Viva sends at pace 0, where a turn's deltas are all
    /// queued at once and its outbox merges deltas queued behind each other.
    #[default]
    PerTurn,
    /// One delta per word, as the scripted interviewer produces them (what Viva sends a
    /// client that keeps up with a paced interviewer).
    PerWord,
}

/// One plan's interview as Viva ran it, cut where the client acts.
#[derive(Debug, Clone)]
pub struct PlanScript {
    /// The plan.
    pub summary: PlanSummary,
    /// `segments[0]`: what `session.start` brings (up to the first question); `segments[k]`:
    /// what follows answer `k` (after its `answer.received`) up to the next question, or the
    /// end. Deltas included; `seq`s as in the log (renumbered when sent).
    segments: Vec<Vec<ServerMessage>>,
}

impl PlanScript {
    /// Cuts a durable event log (as `GET /v1/sessions/{id}/events` lists it) at its answers,
    /// with each turn's text as `deltas` before its `turn.done`.
    pub fn from_log(summary: PlanSummary, events: &[ServerMessage], deltas: Deltas) -> Result<Self, String> {
        let mut segments = vec![Vec::new()];
        for event in events {
            match event {
                ServerMessage::AnswerReceived(_) => segments.push(Vec::new()),
                ServerMessage::TurnDone(done) => {
                    let segment = segments.last_mut().ok_or("no segment")?;
                    let texts = match deltas {
                        Deltas::PerTurn if done.text.is_empty() => Vec::new(),
                        Deltas::PerTurn => vec![done.text.clone()],
                        Deltas::PerWord => words(&done.text),
                    };
                    for (index, text) in texts.into_iter().enumerate() {
                        let index = u32::try_from(index).map_err(|e| e.to_string())?;
                        segment.push(ServerMessage::TurnDelta(TurnDelta { turn_id: done.turn_id, index, text }));
                    }
                    segment.push(event.clone());
                }
                other if other.seq().is_some() => segments.last_mut().ok_or("no segment")?.push(other.clone()),
                other => return Err(format!("{} is not a durable event", other.type_name())),
            }
        }
        let ends = segments.last().and_then(|s| s.last()).is_some_and(|m| matches!(m, ServerMessage::SessionEnded(_)));
        if !ends || segments.len() < 2 {
            return Err(format!("the log of {} does not run from an answer to session.ended", summary.id));
        }
        Ok(Self { summary, segments })
    }

    /// Answers the log has (its client gave).
    pub fn answers(&self) -> usize {
        self.segments.len() - 1
    }

    /// Every message one session sends when answered exactly as in the log (without the
    /// `session.ready`, `answer.received`s and `clock`s).
    pub fn messages(&self) -> impl Iterator<Item = &ServerMessage> {
        self.segments.iter().flatten()
    }
}

/// Splits text into words, each keeping the whitespace after it (the scripted interviewer's
/// deltas: they join back to exactly the text).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut start, mut in_space) = (0, false);
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(text[start..i].to_owned());
            (start, in_space) = (i, false);
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

/// Parses JSON lines of server messages.
pub fn parse_log(text: &str) -> Result<Vec<ServerMessage>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// The server: its canned plans and the sessions created and not yet over.
pub struct Baseline {
    /// Time between `clock`s while a session is live ([`CLOCK_EVERY`]).
    pub clock_every: Duration,
    plans_body: String,
    scripts: HashMap<String, Arc<PlanScript>>,
    /// Session id → (owner's token, plan).
    sessions: Mutex<HashMap<String, (String, Arc<PlanScript>)>>,
    next_id: AtomicU64,
    /// Makes this run's session ids differ from another run's.
    salt: u64,
}

impl Baseline {
    /// The server with Viva's shipped plans, as compiled in, sending `deltas`.
    pub fn shipped(deltas: Deltas) -> Result<Self, String> {
        let plans: Plans = serde_json::from_str(PLANS).map_err(|e| format!("baseline/plans.json: {e}"))?;
        let mut scripts = HashMap::new();
        for (plan, log) in LOGS {
            let summary = plans.plans.iter().find(|p| p.id == plan).cloned();
            let summary = summary.ok_or_else(|| format!("baseline/plans.json has no plan {plan}"))?;
            let log = parse_log(log).map_err(|e| format!("baseline/{plan}.jsonl: {e}"))?;
            scripts.insert(plan.to_owned(), Arc::new(PlanScript::from_log(summary, &log, deltas)?));
        }
        Ok(Self::new(plans, scripts))
    }

    /// The server with these plans and scripts.
    pub fn new(plans: Plans, scripts: HashMap<String, Arc<PlanScript>>) -> Self {
        let salt = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Self {
            clock_every: CLOCK_EVERY,
            plans_body: serde_json::to_string(&plans).unwrap_or_default(),
            scripts,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            salt,
        }
    }

    /// The script of `plan`.
    pub fn script(&self, plan: &str) -> Option<&Arc<PlanScript>> {
        self.scripts.get(plan)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<PlanScript>)>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Binds `addr` with the gateway's accept backlog (4096).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves connections until `shutdown` completes (sockets open then are dropped).
pub async fn serve(
    listener: TcpListener,
    baseline: Arc<Baseline>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return Ok(()),
        };
        match accepted {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(connection(tcp, Arc::clone(&baseline)));
            }
            // Out of files, most likely: let some sockets close, then accept again.
            Err(error) => {
                eprintln!("baseline-server: accept: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One request head, owned.
struct Request {
    method: String,
    path: String,
    /// Header names lowercased; repeated headers kept in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn token(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty())
    }
}

/// One HTTP connection: REST requests (keep-alive) until one upgrades to a WebSocket.
async fn connection(mut tcp: TcpStream, baseline: Arc<Baseline>) {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let Some(request) = read_request(&mut tcp, &mut buf).await else { return };
        let path = request.path.split('?').next().unwrap_or_default().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let response = match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "sessions", id, "ws"]) => match upgrade(&baseline, &request, id) {
                Ok((head, script, encoding)) => {
                    if tcp.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let id = (*id).to_owned();
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4 * 1024)
                        .write_buffer_size(8 * 1024)
                        .max_write_buffer_size(512 * 1024)
                        .max_message_size(Some(Limits::default().max_frame_bytes))
                        .max_frame_size(Some(Limits::default().max_frame_bytes));
                    // Only what the client sent after the head (nothing, usually), not the buffer.
                    let part = buf.to_vec();
                    drop(buf);
                    let ws = WebSocketStream::from_partially_read(tcp, part, Role::Server, Some(config)).await;
                    Live::new(id.clone(), script, encoding).run(ws, baseline.clock_every).await;
                    baseline.sessions().remove(&id);
                    return;
                }
                Err(response) => response,
            },
            ("GET", ["v1", "plans"]) => (200, baseline.plans_body.clone()),
            ("POST", ["v1", "sessions"]) => create(&baseline, &request),
            ("GET", ["healthz"]) => (200, r#"{"status":"ok"}"#.to_owned()),
            ("GET", ["metrics"]) => {
                let text = metrics(&baseline);
                if respond(&mut tcp, 200, "text/plain; version=0.0.4", &text).await.is_err() {
                    return;
                }
                continue;
            }
            _ => error(404, ErrorCode::NotFound, "no such route on the baseline server"),
        };
        if respond(&mut tcp, response.0, "application/json", &response.1).await.is_err() {
            return;
        }
    }
}

/// Reads one request (head and `Content-Length` body) off `buf` and the socket; `None` when
/// the connection ends or sends something that is not HTTP/1.1.
async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head)) => {
                let request = Request {
                    method: parsed.method?.to_owned(),
                    path: parsed.path?.to_owned(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                    body: Vec::new(),
                };
                let length: usize = request.header("content-length").map_or(Ok(0), str::parse).ok()?;
                if length > MAX_REQUEST_BYTES {
                    return None;
                }
                while buf.len() < head + length {
                    if tcp.read_buf(buf).await.ok()? == 0 {
                        return None;
                    }
                }
                let body = buf[head..head + length].to_vec();
                buf.drain(..head + length);
                return Some(Request { body, ..request });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_BYTES => {
                if tcp.read_buf(buf).await.ok()? == 0 {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

async fn respond(tcp: &mut TcpStream, status: u16, content_type: &str, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let head =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n", body.len());
    tcp.write_all(&[head.as_bytes(), body.as_bytes()].concat()).await
}

fn error(status: u16, code: ErrorCode, message: &str) -> (u16, String) {
    let body = serde_json::json!({"error": {"code": code.as_str(), "message": message}});
    (status, body.to_string())
}

/// `POST /v1/sessions`.
fn create(baseline: &Baseline, request: &Request) -> (u16, String) {
    let Some(token) = request.token() else {
        return error(401, ErrorCode::Unauthorized, "missing bearer token");
    };
    let body: CreateSession = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => return error(400, ErrorCode::BadRequest, &format!("bad body: {e}")),
    };
    let Some(script) = baseline.script(&body.plan).cloned() else {
        return error(400, ErrorCode::BadRequest, &format!("unknown plan `{}`", body.plan));
    };
    let n = baseline.next_id.fetch_add(1, Ordering::Relaxed);
    // Viva's shape: `ses_` and 32 hex digits.
    let session_id = format!("ses_{:016x}{n:016x}", baseline.salt);
    let created_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let created = SessionCreated {
        session_id: session_id.clone(),
        plan: script.summary.clone(),
        ws_path: format!("/v1/sessions/{session_id}/ws"),
        created_at,
    };
    baseline.sessions().insert(session_id, (token.to_owned(), script));
    (201, serde_json::to_string(&created).unwrap_or_default())
}

/// The checks of `GET /v1/sessions/{id}/ws` and its `101` head, or the refusal.
fn upgrade(
    baseline: &Baseline,
    request: &Request,
    id: &str,
) -> Result<(String, Arc<PlanScript>, Encoding), (u16, String)> {
    let key = request
        .header("sec-websocket-key")
        .filter(|_| request.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")));
    let Some(key) = key else {
        return Err(error(400, ErrorCode::BadRequest, "expected a WebSocket upgrade"));
    };
    let Some(token) = request.token() else {
        return Err(error(401, ErrorCode::Unauthorized, "missing bearer token"));
    };
    let script = match baseline.sessions().get(id) {
        Some((owner, script)) if owner == token => Arc::clone(script),
        _ => return Err(error(404, ErrorCode::NotFound, "no such session")),
    };
    let offered = request
        .headers
        .iter()
        .filter(|(name, _)| name == "sec-websocket-protocol")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let chosen = Encoding::negotiate(offered).map_err(|e| error(400, ErrorCode::BadRequest, &e.to_string()))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let protocol = chosen.map(|e| format!("sec-websocket-protocol: {}\r\n", e.subprotocol())).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n{protocol}\r\n"
    );
    Ok((head, script, chosen.unwrap_or(Encoding::Json)))
}

/// `GET /metrics`: this process's resident memory and live sessions, Prometheus text.
fn metrics(baseline: &Baseline) -> String {
    let rss = crate::hold::rss_of(std::process::id()).unwrap_or(0);
    let sessions = baseline.sessions().len();
    format!(
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n\
         # TYPE baseline_sessions gauge\nbaseline_sessions {sessions}\n"
    )
}

/// One live session: where it is in its plan's log.
struct Live {
    session_id: String,
    script: Arc<PlanScript>,
    encoding: Encoding,
    started: Option<Instant>,
    /// The next durable `seq`.
    seq: u64,
    /// Answers acknowledged, and by client id (a re-sent answer gets its original ack).
    answers: u32,
    acked: HashMap<String, (u64, u32)>,
    /// The interviewer waits for an answer.
    awaiting: bool,
    ended: bool,
    out: Vec<ServerMessage>,
}

impl Live {
    fn new(session_id: String, script: Arc<PlanScript>, encoding: Encoding) -> Self {
        Self {
            session_id,
            script,
            encoding,
            started: None,
            seq: 1,
            answers: 0,
            acked: HashMap::new(),
            awaiting: false,
            ended: false,
            out: Vec::new(),
        }
    }

    async fn run(mut self, mut ws: WebSocketStream<TcpStream>, clock_every: Duration) {
        let ready = self.ready();
        if ws.send(frame(self.encoding, &ready)).await.is_err() {
            return;
        }
        let mut next_clock = None;
        loop {
            let incoming = tokio::select! {
                incoming = ws.next() => incoming,
                () = sleep_until(next_clock), if next_clock.is_some() => {
                    next_clock = next_clock.map(|at| at + clock_every);
                    let clock = self.clock();
                    if ws.send(frame(self.encoding, &clock)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let (bytes, binary) = match &incoming {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Close(_))) => {
                    let _ = ws.close(None).await;
                    return;
                }
                Some(Ok(Message::Text(text))) => (text.as_bytes(), false),
                Some(Ok(Message::Binary(bytes))) => (&bytes[..], true),
                Some(Ok(_)) => continue,
            };
            self.receive(bytes, binary);
            if self.started.is_some() && next_clock.is_none() && !self.ended {
                next_clock = self.started.map(|at| at + clock_every);
            }
            // Taken, not drained: an idle session keeps no room for the last burst.
            for message in std::mem::take(&mut self.out) {
                if ws.feed(frame(self.encoding, &message)).await.is_err() {
                    return;
                }
            }
            if ws.flush().await.is_err() {
                return;
            }
            if self.ended {
                let close = CloseFrame {
                    code: WsCloseCode::from(CloseCode::Normal.code()),
                    reason: CloseCode::Normal.reason().into(),
                };
                let _ = ws.send(Message::Close(Some(close))).await;
                return;
            }
        }
    }

    fn ready(&self) -> ServerMessage {
        let summary = &self.script.summary;
        ServerMessage::SessionReady(Box::new(SessionReady {
            session_id: self.session_id.clone(),
            epoch: 1,
            resumed: false,
            seq: 0,
            last_seq: 0,
            state: SessionState {
                status: SessionStatus::Created,
                plan_id: summary.id.clone(),
                transcript: Vec::new(),
                open_turn: None,
                awaiting_answer: None,
                scores: Scores::default(),
                clock: Clock { elapsed_s: 0, remaining_s: summary.duration_s },
                ended_reason: None,
                report_ready: false,
                voice: None,
            },
        }))
    }

    fn clock(&self) -> ServerMessage {
        let elapsed_s = self.started.map_or(0, |at| at.elapsed().as_secs());
        ServerMessage::Clock(Clock { elapsed_s, remaining_s: self.script.summary.duration_s.saturating_sub(elapsed_s) })
    }

    /// Handles one client frame, queueing the replies in `out`.
    fn receive(&mut self, bytes: &[u8], binary: bool) {
        if binary != self.encoding.is_binary() {
            let message = format!("this socket speaks {}", self.encoding.subprotocol());
            return self.error(ErrorCode::WrongFrameType, &message, None);
        }
        let message = match self.encoding.decode_client(bytes, &Limits::default()) {
            Ok(message) => message,
            Err(error) => return self.error(error.code(), &error.to_string(), None),
        };
        let id = message.id().map(str::to_owned);
        match message {
            ClientMessage::SessionStart { .. } if self.started.is_none() => {
                self.started = Some(Instant::now());
                let script = Arc::clone(&self.script);
                let mut first = script.segments[0].iter();
                // Viva's first clock goes out right after the intro's `turn.started`.
                if let Some(started) = first.next() {
                    self.emit(started);
                }
                let clock = self.clock();
                self.out.push(clock);
                for message in first {
                    self.emit(message);
                }
                // Every segment but the last ends on a question: the interviewer waits.
                self.awaiting = !self.ended;
            }
            ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. } => self.answer(id),
            ClientMessage::TurnInterrupt { .. } => {
                self.error(ErrorCode::NothingToInterrupt, "no turn is in flight", id);
            }
            ClientMessage::SessionEnd { .. } if !self.ended => {
                self.end(EndReason::EndedByCandidate);
            }
            ClientMessage::Ping { .. } => self.out.push(ServerMessage::Pong(Pong { id })),
            _ => {}
        }
    }

    fn answer(&mut self, id: Option<String>) {
        if let Some((seq, answer_id)) = id.as_ref().and_then(|id| self.acked.get(id)) {
            let ack = AnswerReceived::typed(*seq, id.clone(), *answer_id);
            return self.out.push(ServerMessage::AnswerReceived(ack));
        }
        if self.started.is_none() {
            return self.error(ErrorCode::NotStarted, "send session.start first", id);
        }
        if self.ended {
            return self.error(ErrorCode::SessionEnded, "the session has ended", id);
        }
        if !self.awaiting {
            return self.error(ErrorCode::NotAwaitingAnswer, "no question is waiting for an answer", id);
        }
        self.awaiting = false;
        self.answers += 1;
        let seq = self.next_seq();
        if let Some(id) = &id {
            self.acked.insert(id.clone(), (seq, self.answers));
        }
        self.out.push(ServerMessage::AnswerReceived(AnswerReceived::typed(seq, id, self.answers)));
        let script = Arc::clone(&self.script);
        match script.segments.get(self.answers as usize) {
            Some(segment) => {
                for message in segment {
                    self.emit(message);
                }
            }
            // More answers than the log has: end as Viva does after its last question.
            None => self.end(EndReason::Completed),
        }
        self.awaiting = !self.ended;
    }

    /// Queues `message` from the log, with this session's `seq` and id.
    fn emit(&mut self, message: &ServerMessage) {
        let mut message = message.clone();
        match &mut message {
            ServerMessage::TurnStarted(m) => m.seq = self.next_seq(),
            ServerMessage::TurnDone(m) => m.seq = self.next_seq(),
            ServerMessage::AnswerReceived(m) => m.seq = self.next_seq(),
            ServerMessage::ScoreUpdated(m) => m.seq = self.next_seq(),
            ServerMessage::ReportReady(m) => {
                m.seq = self.next_seq();
                m.session_id.clone_from(&self.session_id);
            }
            ServerMessage::SessionEnded(m) => {
                m.seq = self.next_seq();
                self.ended = true;
            }
            _ => {}
        }
        self.out.push(message);
    }

    fn end(&mut self, reason: EndReason) {
        let seq = self.next_seq();
        self.out.push(ServerMessage::ReportReady(ReportReady { seq, session_id: self.session_id.clone() }));
        let seq = self.next_seq();
        self.out.push(ServerMessage::SessionEnded(SessionEnded { seq, reason }));
        self.ended = true;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    fn error(&mut self, code: ErrorCode, message: &str, reference: Option<String>) {
        let event = ErrorEvent { code, message: message.to_owned(), fatal: false, reference };
        self.out.push(ServerMessage::Error(event));
    }
}

/// A message as a frame of the socket's encoding (as the gateway makes it).
fn frame(encoding: Encoding, message: &ServerMessage) -> Message {
    let bytes = encoding.encode(message).unwrap_or_default();
    match encoding {
        Encoding::Json => Message::Text(String::from_utf8(bytes).unwrap_or_default().into()),
        Encoding::MsgPack => Message::Binary(bytes.into()),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_logs_load() {
        let per_turn = Baseline::shipped(Deltas::PerTurn).unwrap();
        let per_word = Baseline::shipped(Deltas::PerWord).unwrap();
        for (plan, _) in LOGS {
            let script = per_turn.script(plan).unwrap();
            assert!(script.answers() >= 4, "{plan}: {}", script.answers());
            let messages: Vec<_> = script.messages().collect();
            assert!(matches!(messages.first(), Some(ServerMessage::TurnStarted(_))), "{plan}");
            assert!(matches!(messages.last(), Some(ServerMessage::SessionEnded(_))), "{plan}");
            let deltas =
                |script: &PlanScript| script.messages().filter(|m| matches!(m, ServerMessage::TurnDelta(_))).count();
            let turns = messages.iter().filter(|m| matches!(m, ServerMessage::TurnDone(_))).count();
            assert_eq!(deltas(script), turns, "{plan}");
            assert!(deltas(per_word.script(plan).unwrap()) > 10 * turns, "{plan}");
        }
    }

    #[test]
    fn words_join_back_to_the_text() {
        for text in ["", "one", "Hello there,  world.\nNext line ", "  leading"] {
            assert_eq!(words(text).concat(), text);
        }
        assert_eq!(words("a b  c"), ["a ", "b  ", "c"]);
    }
}
