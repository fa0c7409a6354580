//! The shipped recordings replayed against the real router on 127.0.0.1:0, small-scale, in
//! both encodings: every session completes and no event breaks the protocol; the series adds
//! up, and the command line writes the JSON, the HTML report and the SVG plots. Nothing here
//! asserts a timing; the replay runs at a speed that makes the recordings' pauses vanish.

use std::path::{Path, PathBuf};
use std::time::Duration;

use viva_engine::EngineConfig;
use viva_load::client::Api;
use viva_load::recording::{self, Script};
use viva_load::report::{self, RunInfo};
use viva_load::session::SessionOutcome;
use viva_load::stats::Metric;
use viva_load::{ReplayConfig, Summary, Target, Timeouts};
use viva_protocol::{ClientMessage, Encoding};

mod common;

use common::shipped;

/// A gateway with the scripted interviewer at pace 0, serving until the test ends.
async fn gateway() -> Target {
    Target::parse(&format!("ws://{}", common::gateway(EngineConfig::default()))).unwrap()
}

/// Replays the shipped recordings; the summary and every session's outcome.
async fn replay(target: Target, encoding: Encoding, sessions: usize) -> (Summary, Vec<SessionOutcome>) {
    let config = ReplayConfig {
        targets: vec![target],
        max_reconnects: 0,
        scripts: shipped(),
        sessions,
        concurrency: 3,
        speed: 1e6,
        encoding,
        token_prefix: format!("dev:replay-{}-", encoding.subprotocol().replace('.', "-")),
        timeouts: Timeouts::default(),
        ramp_per_s: None,
        voice: None,
    };
    common::replay(config).await
}

fn assert_clean(summary: &Summary, sessions: u64) {
    common::assert_clean(summary, sessions);
    for metric in ["ack", "first_delta", "score", "start_first_delta", "connect"] {
        assert!(summary.latency_ms[metric].count > 0, "{metric} measured");
    }
}

#[test]
fn there_are_recordings_of_every_shipped_plan() {
    let scripts = shipped();
    let mut plans: Vec<&str> = scripts.iter().map(|s| s.plan.as_str()).collect();
    plans.dedup();
    assert_eq!(plans, ["coding-python", "frontend", "senior-backend"]);
    let code = scripts.iter().flat_map(|s| s.answers()).filter(|a| matches!(a, ClientMessage::CodeSubmit { .. }));
    assert!(code.count() >= 2, "code answers are recorded");
    assert!(scripts.iter().any(Script::ends), "a recording ends the interview early");
}

/// The series accounts for every event, byte, answer and session of the run.
fn assert_series_adds_up(summary: &Summary) {
    let series = &summary.series;
    assert!(!series.is_empty(), "a point per second of the run");
    assert!(series.iter().enumerate().all(|(i, p)| p.t_s == i as u64 && p.span_s > 0.0 && p.span_s <= 1.0));
    assert_eq!(series.iter().map(|p| p.events).sum::<u64>(), summary.events);
    assert_eq!(series.iter().map(|p| p.bytes_in).sum::<u64>(), summary.bytes_in);
    assert!(series.iter().map(|p| p.answers).sum::<u64>() >= summary.answers, "every answer sent is counted");
    assert_eq!(series.iter().map(|p| p.completed).sum::<u64>(), summary.sessions.completed);
    assert_eq!(series.iter().map(|p| p.failed).sum::<u64>(), summary.sessions.failed);
    assert!(series.iter().any(|p| p.live > 0.0), "sessions were live");
}

/// A directory of its own under the system's temporary one, for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("viva-load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The HTML report holds the run, every latency and both kinds of plots, and loads nothing.
fn assert_report(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), 2 + Metric::ALL.len(), "throughput, percentiles, a histogram each");
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    for text in ["Throughput over the run", "Events received per second", "Sessions live", "Latency by percentile"] {
        assert!(html.contains(text), "{text}");
    }
    for metric in Metric::ALL {
        assert!(html.contains(&format!("<title>{}: ", metric.name())), "a histogram of {}", metric.name());
    }
    for outside in ["src=", "href=", "<script", "<link", "url("] {
        assert!(!html.contains(outside), "the report refers to `{outside}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_in_json() {
    let started_at = std::time::SystemTime::now();
    let (summary, _) = replay(gateway().await, Encoding::Json, 6).await;
    assert_clean(&summary, 6);
    assert_eq!(summary.extra_answers, 0, "each recording answers every question its plan asks");
    assert_series_adds_up(&summary);

    let info = RunInfo {
        url: "ws://127.0.0.1:0".into(),
        recordings: shipped().into_iter().map(|s| s.name).collect(),
        sessions: 6,
        concurrency: 3,
        speed: 1e6,
        encoding: Encoding::Json.subprotocol().into(),
        started_at,
        command: "cargo test".into(),
    };
    let dir = scratch("report");
    let path = dir.join("report.html");
    report::write_html(&path, &info, &summary).unwrap();
    assert_report(&std::fs::read_to_string(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `viva-load replay --json --html --svg-dir`, the binary, against the in-process gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_writes_the_json_the_report_and_the_plots() {
    let target = gateway().await;
    let dir = scratch("cli");
    let (json, html, svgs) = (dir.join("summary.json"), dir.join("report.html"), dir.join("svg"));
    let url = target.ws("");
    let recordings = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_viva-load"));
    command.args(["replay", "--url", &url, "--sessions", "4", "--concurrency", "4", "--speed", "1000000"]);
    command.args(["--token-prefix", "dev:cli-", "--threshold", "violations<1"]);
    command.arg("--recordings").arg(&recordings);
    command.arg("--json").arg(&json).arg("--html").arg(&html).arg("--svg-dir").arg(&svgs);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("PASSED"), "{stdout}");

    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let series = summary["series"].as_array().expect("the JSON has the series");
    let events: u64 = series.iter().map(|p| p["events"].as_u64().unwrap()).sum();
    assert_eq!(events, summary["events"].as_u64().unwrap());
    for key in ["t_s", "span_s", "bytes_in", "answers", "live", "completed", "failed"] {
        assert!(series[0].get(key).is_some(), "{key}");
    }

    let report = std::fs::read_to_string(&html).unwrap();
    assert_report(&report);
    assert!(report.contains(&url) && report.contains("violations&lt;1") && report.contains("PASSED"));
    let mut files: Vec<String> =
        std::fs::read_dir(&svgs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut expected = vec!["latency-percentiles.svg".to_owned(), "throughput.svg".to_owned()];
    expected.extend(Metric::ALL.iter().map(|m| format!("latency-{}.svg", m.name())));
    expected.sort();
    assert_eq!(files, expected);
    let throughput = std::fs::read_to_string(svgs.join("throughput.svg")).unwrap();
    assert!(throughput.contains("<svg xmlns=\"http://www.w3.org/2000/svg\"") && throughput.contains("events/s"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_in_msgpack() {
    let (summary, _) = replay(gateway().await, Encoding::MsgPack, 6).await;
    assert_clean(&summary, 6);
    assert_series_adds_up(&summary);
}

/// A replayed session's own recording is the recording it replayed: same messages, same
/// answers with the same ids (times differ: the replay ran faster).
#[tokio::test]
async fn a_replayed_session_records_what_was_replayed() {
    let target = gateway().await;
    let scripts = shipped();
    let (summary, outcomes) = replay(target.clone(), Encoding::Json, scripts.len()).await;
    assert_clean(&summary, scripts.len() as u64);
    let api = Api::new(target, Duration::from_secs(10));
    for outcome in outcomes {
        let script = scripts.iter().find(|s| s.name == outcome.recording).unwrap();
        let token = format!("dev:replay-viva-v1-json-{}", outcome.index + 1);
        let recorded = api.recording(&token, outcome.session_id.as_deref().unwrap()).await.unwrap();
        let messages: Vec<&ClientMessage> = recorded.iter().map(|l| &l.message).collect();
        let expected: Vec<&ClientMessage> = script.lines.iter().map(|l| &l.message).collect();
        assert_eq!(messages, expected, "{}", script.name);
        assert!(recorded.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        let again = Script::parse(&format!("{}.again", script.plan), &recording::to_jsonl(&recorded)).unwrap();
        assert_eq!(again.answers().count(), script.answers().count());
    }
}

/// One session at recorded speed, giving up on connects after `connect`.
fn one_session(target: Target, connect: Duration) -> ReplayConfig {
    ReplayConfig {
        targets: vec![target],
        max_reconnects: 0,
        scripts: shipped(),
        sessions: 1,
        concurrency: 1,
        speed: 1.0,
        encoding: Encoding::Json,
        token_prefix: "dev:nobody-".into(),
        timeouts: Timeouts { connect, ..Timeouts::default() },
        ramp_per_s: None,
        voice: None,
    }
}

#[tokio::test]
async fn a_gateway_that_is_not_there_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = Target::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let config = one_session(target, Duration::from_secs(2));
    let error = viva_load::replay::run(config, |_, _| {}).await.unwrap_err();
    assert!(error.to_string().contains("the gateway does not answer"), "{error}");
}

#[tokio::test]
async fn a_gateway_that_never_answers_fails_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    // Accepts connections and never says a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = one_session(target, Duration::from_millis(300));
    let error = viva_load::replay::run(config, |_, _| {}).await.unwrap_err();
    assert!(error.to_string().contains("GET /v1/plans"), "{error}");
}

/// Two gateways on one store (two nodes), sessions spread over both URLs; one goes away
/// mid-run (a SIGTERM: its sockets close with 4000). Its sessions reconnect to the other,
/// resume with `last_seq` and complete; nothing breaks the protocol; the summary counts the
/// reconnects and the sockets each node took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_reconnect_to_another_gateway_when_theirs_goes_away() {
    use std::sync::Arc;
    use viva_engine::store::MemoryStore;
    use viva_testkit::gateway::InProcessGateway;

    let store = Arc::new(MemoryStore::new());
    // Words every 2 ms: an interview lasts seconds, so sessions are live when one node goes.
    let node = |store: Arc<MemoryStore>| {
        let interviewer = Arc::new(viva_engine::interviewer::ScriptedInterviewer::new(Duration::from_millis(2)));
        let engine = viva_engine::Engine::builder().store(store).interviewer(interviewer).build();
        InProcessGateway::start(engine, |_| {})
    };
    let (leaving, staying) = (node(Arc::clone(&store)), node(store));
    let target = |gateway: &InProcessGateway| Target::parse(&format!("ws://{}", gateway.addr)).unwrap();
    let config = ReplayConfig {
        targets: vec![target(&leaving), target(&staying)],
        max_reconnects: 3,
        scripts: shipped(),
        sessions: 8,
        concurrency: 8,
        speed: 1e6,
        encoding: Encoding::MsgPack,
        token_prefix: "dev:moving-".to_owned(),
        timeouts: Timeouts::default(),
        ramp_per_s: None,
        voice: None,
    };
    let run = tokio::spawn(common::replay(config));
    while leaving.engine.live_sessions() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    leaving.stop().await.unwrap();
    let (summary, outcomes) = run.await.unwrap();
    common::assert_clean(&summary, 8);
    let moved: Vec<&SessionOutcome> = outcomes.iter().filter(|o| o.reconnects > 0).collect();
    assert!(moved.len() >= 3, "the sessions live on the node that left reconnected: {}", moved.len());
    assert!(moved.iter().all(|o| o.nodes.len() == 2 && o.nodes[0] != o.nodes[1]), "each went to the other node");
    assert_eq!(summary.connections.reconnects, moved.iter().map(|o| o.reconnects).sum::<u64>());
    assert_eq!(summary.connections.by_node.len(), 2);
    assert_eq!(summary.latency_ms["reconnect"].count, summary.connections.reconnects);
}
