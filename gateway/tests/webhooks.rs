//! Webhooks over real sockets: a real HTTP receiver on loopback that checks every signature
//! (HMAC-SHA256 computed here, apart from the engine's code), scripted to fail, hang, answer
//! 410 or stay down; the gateway's admin routes over the outbox; two gateways on one
//! `redis-server` delivering each message once; and the gateway binary killed between
//! recording a `report.ready` and delivering it, with a receiver that verifies with the
//! Python `standardwebhooks` package (the spec's reference implementation).

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use common::{Connect, Gateway, Process, Remote, play};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use viva_engine::Engine;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::plan::PlanCatalog;
use viva_engine::store::{RedisStore, Store};
use viva_engine::webhook::{Dispatch, Endpoint, WebhookConfig};
use viva_protocol::{ClientMessage, ServerMessage};
use viva_testkit::RedisServer;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ADMIN: &str = "admin-token-for-the-tests-0123";

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answers (the gateway's timeout must cut it).
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: Value,
    /// Whether its signature verified and its timestamp is recent.
    verified: bool,
    /// What the receiver answered (`None`: it hung).
    answered: Option<u16>,
}

/// A webhook receiver on a free loopback port: answers each request with the next scripted
/// reply (200 once the script is used up) and keeps what it got.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        let script = Arc::new(Mutex::new(script.into_iter().collect::<VecDeque<_>>()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script, Arc::clone(&received));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (script, received) = (Arc::clone(&s), Arc::clone(&r));
                async move {
                    let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let id = header("webhook-id");
                    let verified = verify(&id, &header("webhook-timestamp"), &header("webhook-signature"), &body);
                    let answered = match reply {
                        Reply::Status(status) => Some(status),
                        Reply::Hang => None,
                    };
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    received.lock().unwrap().push(Received { id, body, verified, answered });
                    match reply {
                        Reply::Status(status) => StatusCode::from_u16(status).unwrap(),
                        Reply::Hang => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (10 s at most) until `done` holds of what it got.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..1000 {
            let received = self.received();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the receiver never got {what}: {:#?}", self.received());
    }
}

/// The Standard Webhooks check, written from the spec: one of the space-separated `v1,`
/// signatures is the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes, and
/// the timestamp is within five minutes.
fn verify(id: &str, timestamp: &str, signatures: &str, body: &[u8]) -> bool {
    let key = base64::engine::general_purpose::STANDARD.decode(SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let recent = timestamp.parse::<u64>().is_ok_and(|t| t.abs_diff(now) < 300);
    recent && signatures.split(' ').any(|s| s == expected)
}

/// Delivery to `url` on a quick schedule for tests: 3 attempts, 100 ms apart.
fn config(urls: &[String]) -> WebhookConfig {
    let endpoints = urls.iter().map(|url| Endpoint::new(url, SECRET, false).unwrap()).collect();
    WebhookConfig {
        schedule: vec![Duration::from_millis(100); 2],
        timeout: Duration::from_millis(500),
        poll: Duration::from_millis(50),
        ..WebhookConfig::new(endpoints)
    }
}

fn engine(store: Option<Arc<dyn Store>>, webhooks: WebhookConfig) -> Engine {
    let mut builder = Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)));
    if let Some(store) = store {
        builder = builder.store(store);
    }
    builder.webhooks(Dispatch::new(webhooks).unwrap()).build()
}

async fn gateway(engine: Engine) -> Gateway {
    Gateway::start_on(engine, |state| state.admin_token = Some(Arc::from(ADMIN))).await
}

/// Runs one whole interview of `user` on `remote`; the session id.
async fn interview(remote: &Remote, user: &str) -> String {
    let plan = PlanCatalog::shipped().get("senior-backend").unwrap().clone();
    let session = remote.create(user, "senior-backend").await;
    let mut client = remote.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let (messages, _) = play(&mut client, &plan).await;
    assert!(messages.iter().any(|m| matches!(m, ServerMessage::SessionEnded(_))));
    session
}

async fn admin(remote: &Remote, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = common::http().request(method, remote.url(path)).bearer_auth(ADMIN).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the outbox is empty (every delivery done or dead).
async fn until_settled(remote: &Remote) -> Value {
    for _ in 0..1000 {
        let (_, overview) = admin(remote, reqwest::Method::GET, "/v1/admin/webhooks").await;
        if overview["pending"] == 0 {
            return overview;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the outbox never emptied");
}

fn of_type<'a>(received: &'a [Received], kind: &str) -> Vec<&'a Received> {
    received.iter().filter(|r| r.body["type"] == kind).collect()
}

#[tokio::test]
async fn a_finished_interview_posts_signed_report_ready_and_session_ended() {
    let receiver = Receiver::start([]).await;
    let engine = engine(None, config(&[receiver.url()]));
    let gateway = gateway(engine.clone()).await;
    let session = interview(&gateway, "ann").await;

    let received = receiver.until("both events", |r| r.len() >= 2).await;
    assert!(received.iter().all(|r| r.verified), "{received:#?}");
    let report = &of_type(&received, "report.ready")[0].body;
    assert_eq!(report["data"]["session_id"], session.as_str());
    assert_eq!(report["data"]["user_id"], "ann");
    assert_eq!(report["data"]["plan_id"], "senior-backend");
    assert_eq!(report["data"]["report_path"], format!("/v1/sessions/{session}/report"));
    assert!(report["data"]["overall"].is_number());
    assert!(report["timestamp"].as_str().unwrap().ends_with('Z'));
    let ended = &of_type(&received, "session.ended")[0];
    assert_eq!(ended.body["data"]["reason"], "completed");
    // The id is the session and the event's seq: report.ready comes right before the end.
    let seq = |r: &Received| r.id.rsplit('_').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(seq(ended), seq(of_type(&received, "report.ready")[0]) + 1);
    assert!(ended.id.starts_with(&format!("msg_{session}_")));

    // What the receiver was told is what the owner can read.
    let (status, _) = gateway.get(Some("ann"), report["data"]["report_path"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let overview = until_settled(&gateway).await;
    assert_eq!((overview["pending"].as_u64(), overview["dead"].as_u64()), (Some(0), Some(0)));
    assert_eq!(receiver.received().len(), 2, "each delivered once");
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_with_one_id() {
    // The first two requests fail (whichever events they carry), then everything succeeds.
    let receiver = Receiver::start([Reply::Status(500), Reply::Status(503)]).await;
    let engine = engine(None, config(&[receiver.url()]));
    let gateway = gateway(engine.clone()).await;
    interview(&gateway, "ann").await;
    until_settled(&gateway).await;
    let received = receiver.received();
    let mut ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    for id in ["report.ready", "session.ended"].map(|kind| of_type(&received, kind)[0].id.clone()) {
        let attempts: Vec<&Received> = received.iter().filter(|r| r.id == id).collect();
        assert_eq!(attempts.iter().filter(|r| r.answered == Some(200)).count(), 1, "{id} delivered once");
        assert!(attempts.iter().all(|r| r.verified && r.body == attempts[0].body), "the same body, re-signed");
    }
    assert_eq!(received.len(), 4, "two failures, two deliveries: {received:#?}");
    let (_, dead) = admin(&gateway, reqwest::Method::GET, "/v1/admin/webhooks/dead").await;
    assert_eq!(dead["total"], 0);
}

#[tokio::test]
async fn a_hanging_receiver_is_cut_at_the_timeout_and_retried() {
    let receiver = Receiver::start([Reply::Hang]).await;
    let engine = engine(None, config(&[receiver.url()]));
    let gateway = gateway(engine.clone()).await;
    interview(&gateway, "ann").await;
    until_settled(&gateway).await;
    let received = receiver.received();
    let hung = received.iter().find(|r| r.answered.is_none()).expect("one request hung");
    let retried: Vec<&Received> = received.iter().filter(|r| r.id == hung.id).collect();
    assert_eq!(retried.len(), 2, "cut at the timeout, then delivered: {received:#?}");
    assert_eq!(retried[1].answered, Some(200));
}

#[tokio::test]
async fn a_receiver_down_for_the_whole_schedule_is_dead_lettered_and_redriven() {
    // Down (503) for every attempt of both messages: 3 each.
    let receiver = Receiver::start([Reply::Status(503); 6]).await;
    let engine = engine(None, config(&[receiver.url()]));
    let gateway = gateway(engine.clone()).await;
    let session = interview(&gateway, "ann").await;
    let overview = until_settled(&gateway).await;
    assert_eq!(overview["dead"], 2);
    let (status, dead) = admin(&gateway, reqwest::Method::GET, "/v1/admin/webhooks/dead").await;
    assert_eq!((status, dead["total"].as_u64()), (200, Some(2)));
    let letter = dead["items"].as_array().unwrap().iter().find(|d| d["type"] == "report.ready").unwrap().clone();
    assert_eq!((letter["attempts"].as_u64(), letter["session_id"].as_str()), (Some(3), Some(session.as_str())));
    assert!(letter["reason"].as_str().unwrap().contains("503"), "{letter}");
    assert_eq!(receiver.received().len(), 6);

    // Back up: a re-drive delivers it, under the same webhook-id.
    let path = format!("/v1/admin/webhooks/dead/{}/redrive", letter["id"].as_str().unwrap());
    assert_eq!(admin(&gateway, reqwest::Method::POST, &path).await.0, 204);
    let received = receiver.until("the re-driven message", |r| r.len() == 7).await;
    assert_eq!((received[6].id.as_str(), received[6].answered), (letter["webhook_id"].as_str().unwrap(), Some(200)));
    until_settled(&gateway).await;
    assert_eq!(admin(&gateway, reqwest::Method::POST, &path).await.0, 404, "not dead any more");
    let (_, dead) = admin(&gateway, reqwest::Method::GET, "/v1/admin/webhooks/dead").await;
    assert_eq!(dead["total"], 1);
    assert_eq!(admin(&gateway, reqwest::Method::POST, "/v1/admin/webhooks/dead/ses_x.1.abc/redrive").await.0, 404);
}

#[tokio::test]
async fn gone_disables_the_endpoint_until_an_admin_enables_it() {
    let gone = Receiver::start([Reply::Status(410)]).await;
    let fine = Receiver::start([]).await;
    // One request at a time per endpoint, so that none is already on its way when the 410
    // comes back (those in flight cannot be called back).
    let engine = engine(None, WebhookConfig { per_endpoint: 1, ..config(&[gone.url(), fine.url()]) });
    let gateway = gateway(engine.clone()).await;
    interview(&gateway, "ann").await;
    let overview = until_settled(&gateway).await;
    assert_eq!(fine.received().len(), 2, "the other endpoint is not affected");
    assert_eq!(gone.received().len(), 1, "nothing more is sent after a 410");
    let endpoints = overview["endpoints"].as_array().unwrap();
    let off = endpoints.iter().find(|e| e["url"] == gone.url()).unwrap();
    assert_eq!(off["disabled"]["reason"], "the endpoint answered 410 Gone");
    assert!(endpoints.iter().find(|e| e["url"] == fine.url()).unwrap()["disabled"].is_null());
    assert_eq!(overview["dead"], 2, "its messages are dead letters, to re-drive once it is back");

    let enable = format!("/v1/admin/webhooks/endpoints/{}/enable", off["id"].as_str().unwrap());
    assert_eq!(admin(&gateway, reqwest::Method::POST, &enable).await.0, 204);
    let (_, dead) = admin(&gateway, reqwest::Method::GET, "/v1/admin/webhooks/dead").await;
    for letter in dead["items"].as_array().unwrap() {
        let path = format!("/v1/admin/webhooks/dead/{}/redrive", letter["id"].as_str().unwrap());
        assert_eq!(admin(&gateway, reqwest::Method::POST, &path).await.0, 204);
    }
    gone.until("both messages after the re-drive", |r| r.iter().filter(|r| r.answered == Some(200)).count() == 2).await;
    let (_, overview) = admin(&gateway, reqwest::Method::GET, "/v1/admin/webhooks").await;
    assert_eq!((overview["dead"].as_u64(), overview["pending"].as_u64()), (Some(0), Some(0)));
    assert_eq!(admin(&gateway, reqwest::Method::POST, "/v1/admin/webhooks/endpoints/nope/enable").await.0, 404);
}

#[tokio::test]
async fn the_admin_routes_are_404_without_webhooks_or_token_and_401_for_a_wrong_token() {
    let plain = Gateway::start_on(
        Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build(),
        |state| state.admin_token = Some(Arc::from(ADMIN)),
    )
    .await;
    assert_eq!(admin(&plain, reqwest::Method::GET, "/v1/admin/webhooks").await.0, 404, "no webhooks configured");
    let receiver = Receiver::start([]).await;
    let engine = engine(None, config(&[receiver.url()]));
    let hooked = gateway(engine).await;
    let wrong = common::http().get(hooked.url("/v1/admin/webhooks/dead")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let (status, bad) = admin(&hooked, reqwest::Method::GET, "/v1/admin/webhooks/dead?limit=0").await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn two_gateways_on_one_redis_deliver_each_message_once() {
    let redis = RedisServer::start();
    let receiver = Receiver::start([]).await;
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url(), Duration::from_secs(2)).await.unwrap());
        let engine = engine(Some(store), config(&[receiver.url()]));
        gateways.push((gateway(engine.clone()).await, engine));
    }
    let mut sessions = Vec::new();
    for (n, user) in ["ann", "bob", "cem", "dee"].iter().enumerate() {
        let (gateway, _) = &gateways[n % 2];
        sessions.push(interview(gateway, user).await);
    }
    receiver.until("every message", |r| r.len() >= 8).await;
    // Both nodes' workers poll the same outbox; once it is empty (claims in flight count as
    // pending), nothing more can come, and each message came once.
    until_settled(&gateways[0].0).await;
    let received_now = receiver.received();
    assert_eq!(received_now.len(), 8, "{received_now:#?}");
    let mut ids: Vec<&str> = received_now.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    for session in &sessions {
        assert_eq!(received_now.iter().filter(|r| r.body["data"]["session_id"] == session.as_str()).count(), 2);
    }
}

/// `scripts/webhook-receiver.py`: verifies with the `standardwebhooks` package and prints a
/// JSON line per request.
struct PythonReceiver {
    child: std::process::Child,
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl PythonReceiver {
    fn start(mode: &str) -> Option<Self> {
        use std::io::BufRead;
        let ready = std::process::Command::new("python3").args(["-c", "import standardwebhooks"]).status();
        if !ready.is_ok_and(|s| s.success()) {
            viva_testkit::missing_program("python3 with the standardwebhooks package");
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/webhook-receiver.py");
        let mut child = std::process::Command::new("python3")
            .args([script, "--secret", SECRET, "--mode", mode])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        let url = banner.trim().strip_prefix("listening on ").expect("the receiver's banner").to_owned();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                kept.lock().unwrap().push(serde_json::from_str(&line).unwrap());
            }
        });
        Some(Self { child, url, lines })
    }

    async fn set_mode(&self, mode: &str) {
        let url = self.url.replace("/hook", "/mode");
        assert!(common::http().post(url).body(mode.to_owned()).send().await.unwrap().status().is_success());
    }

    async fn until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..3000 {
            let lines = self.lines.lock().unwrap().clone();
            if done(&lines) {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the receiver never got {what}: {:#?}", self.lines.lock().unwrap());
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Also the README's webhook commands: the receiver script and the binary with `--webhook-url`.
#[tokio::test]
async fn a_gateway_killed_between_recording_and_delivering_delivers_after_restart_once() {
    let Some(receiver) = PythonReceiver::start("hang") else { return };
    let redis = RedisServer::start();
    let store = redis.url();
    let args = [
        "--store",
        &store,
        "--scripted-pace-ms",
        "0",
        "--admin-token",
        ADMIN,
        "--webhook-url",
        &receiver.url,
        "--webhook-secret",
        SECRET,
        "--webhook-retry-schedule",
        "1s,1s,1s",
        "--webhook-timeout-s",
        "2",
    ];
    let first = Process::spawn(&args);
    let session = interview(&first, "ann").await;
    // The report is recorded; its delivery is in flight (the receiver holds it): kill -9.
    receiver.until("a first attempt", |lines| !lines.is_empty()).await;
    first.signal("KILL");
    first.wait().await;
    receiver.set_mode("ok").await;

    // The next gateway takes the claim over once its lease ran out, and delivers.
    let second = Process::spawn(&args);
    let delivered =
        |lines: &[Value], kind: &str| lines.iter().filter(|l| l["type"] == kind && l["status"] == 204).count();
    receiver
        .until("both events delivered", |l| delivered(l, "report.ready") == 1 && delivered(l, "session.ended") == 1)
        .await;
    until_settled(&second).await;
    let lines = receiver.lines.lock().unwrap().clone();
    assert!(lines.iter().all(|l| l["verified"] == true), "{lines:#?}");
    for kind in ["report.ready", "session.ended"] {
        let mut ids: Vec<&str> =
            lines.iter().filter(|l| l["type"] == kind).map(|l| l["id"].as_str().unwrap()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 1, "one webhook-id per event, on every attempt: {lines:#?}");
        assert_eq!(delivered(&lines, kind), 1);
        assert!(lines.iter().any(|l| l["type"] == kind && l["session_id"] == session.as_str()));
    }
    second.signal("TERM");
    assert_eq!(second.wait().await.0, Some(0));
}
