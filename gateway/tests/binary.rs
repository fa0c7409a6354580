//! The `viva-gateway` binary as an operator runs it: bad configuration exits 64 with every
//! problem listed; SIGTERM closes live sockets with 4000 and exits 0.

mod common;

use common::{Connect, Process};
use viva_protocol::{ClientMessage, ServerMessage};

#[test]
fn bad_configuration_exits_64_listing_every_problem() {
    let output = common::binary()
        .args(["--listen", "0.0.0.0:99999", "--store", "carrier-pigeon"])
        .env("VIVA_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for needle in ["--listen", "--store", "--log-format"] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
    let unknown = common::binary().arg("--frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(64));
    let help = common::binary().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8(help.stdout).unwrap().contains("VIVA_SCRIPTED_PACE_MS"));
}

#[test]
fn plans_that_do_not_hold_together_exit_64_saying_why() {
    let dir = std::env::temp_dir().join(format!("viva-bad-plans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = include_str!("../../engine/plans/frontend.toml").replacen("duration_s = 2700", "duration_s = 0", 1);
    std::fs::write(dir.join("broken.toml"), plan).unwrap();
    let output = common::binary().args(["--plans", dir.to_str().unwrap()]).output().unwrap();
    let missing = common::binary().args(["--plans", "/nonexistent/viva-plans"]).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--plans") && stderr.contains("duration_s is 0"), "{stderr}");
    assert_eq!(missing.status.code(), Some(64));
}

#[tokio::test]
async fn sigterm_closes_sockets_with_4000_and_exits_cleanly() {
    let gateway = Process::spawn(&["--scripted-pace-ms", "0", "--log-format", "json"]);
    let session = gateway.create("erin", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:erin")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    let metrics = common::http().get(gateway.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let metrics = metrics.text().await.unwrap();
    for name in ["viva_live_sessions", "viva_events_sent_total", "viva_store_append_seconds_bucket"] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
    let rss = metrics.lines().find_map(|line| line.strip_prefix("process_resident_memory_bytes "));
    assert!(
        rss.and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 1e6),
        "resident memory in /metrics:\n{metrics}"
    );

    gateway.signal("TERM");
    assert_eq!(client.closed().await, Some(4000));
    let (code, logs) = gateway.wait().await;
    assert_eq!(code, Some(0));
    assert!(logs.lines().all(|l| l.starts_with('{')), "JSON logs: {logs}");
    assert!(logs.contains("shutdown signal received"));
}

/// The binary's scripted interviewer with the heuristic scorer: an answer that misses the
/// question's key points is scored first (the follow-up is chosen from what the score says was
/// missed), then followed up; and without a pace each turn is one delta.
#[tokio::test]
async fn the_scripted_interviewer_follows_up_on_what_the_score_says_was_missed() {
    use viva_protocol::TurnKind;
    let gateway = Process::spawn(&["--scripted-pace-ms", "0"]);
    let session = gateway.create("frank", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:frank")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let asked = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let deltas = asked.iter().filter(|m| matches!(m, ServerMessage::TurnDelta(d) if d.turn_id == 2)).count();
    assert_eq!(deltas, 1, "{asked:?}");
    let answer = "I am not sure, I would look it up.".to_owned();
    client.send(&ClientMessage::AnswerSubmit { id: Some("a1".into()), text: answer }).await;
    let next = client.until(|m| matches!(m, ServerMessage::TurnStarted(_))).await;
    assert!(next.iter().any(|m| matches!(m, ServerMessage::ScoreUpdated(s) if s.answer_id == 1)), "{next:?}");
    let Some(ServerMessage::TurnStarted(started)) = next.last() else { unreachable!() };
    assert_eq!(started.kind, TurnKind::FollowUp, "{next:?}");
    gateway.signal("TERM");
    assert_eq!(gateway.wait().await.0, Some(0));
}

#[test]
fn secrets_in_the_store_url_are_never_printed() {
    let help = common::binary().arg("--help").env("VIVA_STORE", "redis://:hunter2@127.0.0.1:6379/0").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("hunter2"), "--help shows the store's password");
    let refused = common::binary().args(["--store", "rediss://admin:hunter2@10.0.0.1/0"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--store") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn logs_into_a_pipe_have_no_colour_codes() {
    let gateway = Process::spawn(&[]);
    assert_eq!(common::http().get(gateway.url("/healthz")).send().await.unwrap().status(), 200);
    gateway.signal("TERM");
    let (code, logs) = gateway.wait().await;
    assert_eq!(code, Some(0));
    assert!(logs.contains("listening") && !logs.contains('\u{1b}'), "{logs:?}");
}

/// A supervisor may stop the gateway the moment it says it listens: the handlers are in place
/// by then (they were once installed only when the server first polled for a signal, and a
/// SIGTERM in between killed the process by the default action).
#[tokio::test]
async fn sigterm_right_after_the_banner_drains_and_exits_0() {
    let gateway = Process::spawn(&[]);
    gateway.signal("TERM");
    let (code, logs) = gateway.wait().await;
    assert_eq!(code, Some(0));
    assert!(logs.contains("shutdown signal received") && logs.contains("stopped"), "{logs}");
}

#[test]
fn bad_webhook_flags_exit_64_and_secrets_are_never_printed() {
    let output = common::binary()
        .args(["--webhook-url", "http://hooks.example.com/viva", "--webhook-url", "https://hooks.example.com/b"])
        .args([
            "--webhook-secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--webhook-secret",
            "whsec_c2hvcnQtc2VjcmV0",
        ])
        .args(["--webhook-retry-schedule", "5s,5 parsecs"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for needle in ["must be https", "a webhook secret must be `whsec_`", "--webhook-retry-schedule"] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
    assert!(!stderr.contains("c2hvcnQtc2VjcmV0") && !stderr.contains("MfKQ9r8"), "a secret printed: {stderr}");
    let output = common::binary()
        .args(["--webhook-url", "https://a.example/", "--webhook-url", "https://b.example/"])
        .args(["--webhook-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 --webhook-url but 1 --webhook-secret"));
    let help = common::binary()
        .arg("--help")
        .env("VIVA_WEBHOOK_SECRET", "whsec_hunter2hunter2hunter2hunter2")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("hunter2"), "--help shows a webhook secret");
}
