//! The `viva-gateway` binary as an operator runs it: bad configuration exits 64 with every
//! problem listed; SIGTERM closes live sockets with 4000 and exits 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Connect, Remote};
use viva_protocol::{ClientMessage, ServerMessage};

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva-gateway"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn bad_configuration_exits_64_listing_every_problem() {
    let output = gateway()
        .args(["--listen", "0.0.0.0:99999", "--store", "carrier-pigeon"])
        .env("VIVA_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for needle in ["--listen", "--store", "--log-format"] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
    let unknown = gateway().arg("--frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(64));
    let help = gateway().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8(help.stdout)
            .unwrap()
            .contains("VIVA_SCRIPTED_PACE_MS")
    );
}

#[tokio::test]
async fn sigterm_closes_sockets_with_4000_and_exits_cleanly() {
    let mut child = gateway()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--scripted-pace-ms",
            "0",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let remote = Remote {
        addr: addr.parse().unwrap(),
    };
    let session = remote.create("erin", "senior-backend").await;
    let mut client = remote.connect(&session, Connect::user("dev:erin")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None }).await;
    client
        .until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2))
        .await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(client.closed().await, Some(4000));
    let exit = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.status.code(), Some(0));
    let logs = String::from_utf8(exit.stderr).unwrap();
    assert!(logs.lines().all(|l| l.starts_with('{')), "JSON logs: {logs}");
    assert!(logs.contains("shutdown signal received"));
}
