//! Test harness: the real router on 127.0.0.1:0 and real clients (tokio-tungstenite for the
//! socket, reqwest for REST). Time is real but nothing waits on it: the scripted interviewer
//! runs at pace 0.

#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use viva_engine::{Engine, EngineConfig};
use viva_gateway::AppState;
use viva_protocol::checker::Checker;
use viva_protocol::rest::SessionCreated;
use viva_protocol::{ClientMessage, Encoding, ServerMessage};
use viva_testkit::gateway::{InProcessGateway, scripted_engine};

/// How long a test waits for any one event before failing (a hang is a failure, not a pass).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A gateway serving on a free loopback port, in this process (testkit's starter).
pub struct Gateway {
    pub remote: Remote,
    pub engine: Engine,
    pub server: InProcessGateway,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(EngineConfig::default(), |_| {}).await
    }

    pub async fn start_with(config: EngineConfig, tune: impl FnOnce(&mut AppState)) -> Self {
        Self::start_on(scripted_engine(config, Duration::ZERO), tune).await
    }

    /// A gateway whose scripted interviewer speaks a word every `pace`, so a test can act
    /// while a turn is still streaming.
    pub async fn start_paced(pace: Duration) -> Self {
        Self::start_on(scripted_engine(EngineConfig::default(), pace), |_| {}).await
    }

    /// A gateway in front of an existing engine (e.g. one a stopped gateway served).
    pub async fn start_on(engine: Engine, tune: impl FnOnce(&mut AppState)) -> Self {
        let server = InProcessGateway::start(engine.clone(), tune);
        Self { remote: Remote { addr: server.addr }, engine, server }
    }

    /// Stops it as a SIGTERM would and waits until it has stopped.
    pub async fn stop(self) -> std::io::Result<()> {
        self.server.stop().await
    }
}

impl std::ops::Deref for Gateway {
    type Target = Remote;

    fn deref(&self) -> &Remote {
        &self.remote
    }
}

/// A gateway reached over the network: REST and socket clients.
pub struct Remote {
    pub addr: SocketAddr,
}

impl Remote {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /v1/sessions` as `user`; the new session's id.
    pub async fn create(&self, user: &str, plan: &str) -> String {
        let response = http()
            .post(self.url("/v1/sessions"))
            .bearer_auth(format!("dev:{user}"))
            .json(&serde_json::json!({ "plan": plan, "candidate": { "role": "backend", "level": "senior" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<SessionCreated>().await.unwrap().session_id
    }

    /// GET `path` as `user` (no token when `None`): status and JSON body.
    pub async fn get(&self, user: Option<&str>, path: &str) -> (u16, serde_json::Value) {
        let mut request = http().get(self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(format!("dev:{user}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Opens a socket; `Err(status)` when the handshake is refused.
    pub async fn connect(&self, session: &str, options: Connect<'_>) -> Result<Client, u16> {
        let query: Vec<String> =
            [options.last_seq.map(|n| format!("last_seq={n}")), options.ticket.map(|t| format!("ticket={t}"))]
                .into_iter()
                .flatten()
                .collect();
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        let url = format!("ws://{}/v1/sessions/{session}/ws{query}", self.addr);
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = options.token {
            request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        }
        if let Some(origin) = options.origin {
            request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        if let Some(protocols) = options.protocols {
            request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(protocols).unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, response)) => {
                let encoding = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| Encoding::from_subprotocol(v.to_str().unwrap()))
                    .unwrap_or(Encoding::Json);
                Ok(Client { socket, encoding })
            }
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("connect failed: {other}"),
        }
    }
}

pub fn http() -> reqwest::Client {
    // The workspace's reqwest has rustls without a default crypto provider (ring is ours).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Options of a socket connect.
#[derive(Clone, Copy)]
pub struct Connect<'a> {
    pub token: Option<&'a str>,
    pub protocols: Option<&'a str>,
    pub last_seq: Option<u64>,
    /// Sent as `?ticket=` (a browser's credential).
    pub ticket: Option<&'a str>,
    /// Sent as the `Origin` header (browsers always send one).
    pub origin: Option<&'a str>,
}

impl<'a> Connect<'a> {
    /// With `Authorization: Bearer <token>`.
    pub fn user(token: &'a str) -> Self {
        Self { token: Some(token), ..Self::anonymous() }
    }

    /// Without any credential.
    pub fn anonymous() -> Self {
        Self { token: None, protocols: None, last_seq: None, ticket: None, origin: None }
    }

    /// With `?ticket=` and no `Authorization` header.
    pub fn ticket(ticket: &'a str) -> Self {
        Self { ticket: Some(ticket), ..Self::anonymous() }
    }

    pub fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn protocols(mut self, protocols: &'a str) -> Self {
        self.protocols = Some(protocols);
        self
    }

    pub fn last_seq(mut self, seq: u64) -> Self {
        self.last_seq = Some(seq);
        self
    }
}

/// What a client reads next.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(ServerMessage),
    Closed(Option<u16>),
}

/// A real WebSocket client speaking the protocol.
pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub encoding: Encoding,
}

impl Client {
    pub async fn send(&mut self, message: &ClientMessage) {
        let bytes = self.encoding.encode(message).unwrap();
        self.send_raw(bytes, self.encoding.is_binary()).await;
    }

    pub async fn send_json(&mut self, json: &str) {
        self.socket.send(Message::text(json)).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>, binary: bool) {
        let frame = if binary { Message::binary(bytes) } else { Message::text(String::from_utf8(bytes).unwrap()) };
        self.socket.send(frame).await.unwrap();
    }

    /// The next message or the close, skipping `clock` (it comes whenever time passes).
    pub async fn next(&mut self) -> Event {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next()).await.expect("no event in time");
            let message = match frame {
                None => return Event::Closed(None),
                Some(Err(_)) => return Event::Closed(None),
                Some(Ok(Message::Close(frame))) => return Event::Closed(frame.map(|f: CloseFrame| u16::from(f.code))),
                Some(Ok(Message::Text(text))) => {
                    assert_eq!(self.encoding, Encoding::Json, "text frame on a {:?} socket", self.encoding);
                    Encoding::Json.decode::<ServerMessage>(text.as_bytes()).unwrap()
                }
                Some(Ok(Message::Binary(bytes))) => {
                    assert_eq!(self.encoding, Encoding::MsgPack, "binary frame on a JSON socket");
                    Encoding::MsgPack.decode::<ServerMessage>(&bytes).unwrap()
                }
                Some(Ok(_)) => continue,
            };
            if !matches!(message, ServerMessage::Clock(_)) {
                return Event::Message(message);
            }
        }
    }

    /// The next message; panics on a close.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            Event::Message(message) => message,
            Event::Closed(code) => panic!("socket closed ({code:?}) while a message was expected"),
        }
    }

    /// Messages until one matches `stop` (included).
    pub async fn until(&mut self, stop: impl Fn(&ServerMessage) -> bool) -> Vec<ServerMessage> {
        let mut seen = Vec::new();
        loop {
            let message = self.message().await;
            let done = stop(&message);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// The close code, skipping any messages before it.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            if let Event::Closed(code) = self.next().await {
                return code;
            }
        }
    }
}

/// An answer that names the question's key points (code when code is expected).
pub fn answer_for(plan: &viva_engine::plan::Plan, question_id: &str, id: String) -> ClientMessage {
    use viva_engine::plan::Expected;
    let question = plan.question(question_id).unwrap();
    let words: Vec<&str> = question.key_points.iter().filter_map(|k| k.keywords.first().map(String::as_str)).collect();
    let prose = format!(
        "First, I would consider {}. For example at 10k requests per second the p99 latency stays under 50 ms; \
         the trade-off is memory versus speed.",
        words.join(", then ")
    );
    match &question.expects {
        Expected::Text => ClientMessage::AnswerSubmit { id: Some(id), text: prose },
        Expected::Code { language } => ClientMessage::CodeSubmit {
            id: Some(id),
            language: language.clone(),
            source: format!(
                "# {prose}\ndef solve(items):\n    if not items:\n        return []\n    return sorted(items)\n"
            ),
        },
    }
}

/// Plays an interview to its end: answers whenever the interviewer waits. Returns every
/// message after the ones already seen, and the close code.
pub async fn play(client: &mut Client, plan: &viva_engine::plan::Plan) -> (Vec<ServerMessage>, Option<u16>) {
    let mut seen = Vec::new();
    let mut open: std::collections::HashMap<u32, (viva_protocol::TurnKind, Option<String>)> = Default::default();
    let mut answers = 0;
    loop {
        match client.next().await {
            Event::Closed(code) => return (seen, code),
            Event::Message(message) => {
                match &message {
                    ServerMessage::TurnStarted(t) => {
                        open.insert(t.turn_id, (t.kind, t.question_id.clone()));
                    }
                    ServerMessage::TurnDone(done) if done.status != viva_protocol::TurnStatus::Failed => {
                        if let Some((kind, Some(question))) = open.get(&done.turn_id) {
                            if kind.awaits_answer() {
                                answers += 1;
                                client.send(&answer_for(plan, question, format!("answer-{answers}"))).await;
                            }
                        }
                    }
                    _ => {}
                }
                seen.push(message);
            }
        }
    }
}

/// The protocol's invariants (viva_protocol's checker) over every message a client saw of one
/// session from its start, over any number of resumes, to its completed end: no violation,
/// every acknowledged answer scored, `session.ended` the last durable event.
pub fn assert_kept(messages: &[ServerMessage]) {
    let mut checker = Checker::observer().every_answer_scored();
    for message in messages {
        checker.observe(message);
    }
    checker.closed(Some(1000));
    assert!(checker.ended().is_some(), "the session did not end: {:?}", checker.violations());
    let (violations, _) = checker.finish();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// The `viva-gateway` binary as a command with a clean environment.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_viva-gateway"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// A running `viva-gateway` process listening on a free loopback port; killed when dropped
/// unless waited for (a failed test leaves no gateway behind).
pub struct Process {
    child: Option<std::process::Child>,
    /// Its log, read as it comes (a full pipe would stop a gateway that logs much).
    log: Option<std::thread::JoinHandle<String>>,
    pub remote: Remote,
}

impl Process {
    /// Starts the binary with `args` (plus `--listen 127.0.0.1:0`) and waits for its banner.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with(args, &[])
    }

    /// [`Process::spawn`] with more environment variables.
    pub fn spawn_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, Read};
        let mut child = binary()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut log = Vec::new();
            let _ = stderr.read_to_end(&mut log);
            String::from_utf8_lossy(&log).into_owned()
        });
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
        let addr = banner.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next());
        let addr = addr.unwrap_or_else(|| panic!("no address in the banner {banner:?}"));
        Self { child: Some(child), log: Some(log), remote: Remote { addr: addr.parse().unwrap() } }
    }

    /// Sends a signal (`TERM`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let mut kill = std::process::Command::new("kill");
        kill.args([format!("-{signal}"), self.child.as_ref().map_or(0, std::process::Child::id).to_string()]);
        assert!(kill.status().unwrap().success(), "kill -{signal}");
    }

    /// Waits for the process to exit: its exit code and its log.
    pub async fn wait(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("not waited for yet");
        let log = self.log.take().expect("not waited for yet");
        tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            (status.code(), log.join().unwrap_or_default())
        })
        .await
        .unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::ops::Deref for Process {
    type Target = Remote;

    fn deref(&self) -> &Remote {
        &self.remote
    }
}

/// A directory holding the shipped frontend plan as `quick-frontend`, `duration_s` seconds
/// long (a plan's time is minutes; a test's is seconds). Removed with the value.
pub struct QuickPlan(std::path::PathBuf);

impl QuickPlan {
    pub fn new(duration_s: u64) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("viva-plans-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../../../engine/plans/frontend.toml");
        let quick = shipped.replacen("id = \"frontend\"", "id = \"quick-frontend\"", 1).replacen(
            "duration_s = 2700",
            &format!("duration_s = {duration_s}"),
            1,
        );
        std::fs::write(dir.join("quick-frontend.toml"), quick).unwrap();
        Self(dir)
    }

    pub fn dir(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for QuickPlan {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
