//! The README's "Try it": the terminal example as a user runs it, the binary itself against a
//! real gateway on loopback, answers piped in. A client that panics at start, cannot finish an
//! interview or sees the protocol broken fails here.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use viva_engine::EngineConfig;
use viva_testkit::gateway::InProcessGateway;

/// Bounds a hung binary; the interview takes about a second at pace 0.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs the binary with `args` and `input` on stdin; its exit status and what it printed.
async fn run(args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-terminal"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example's binary");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.expect("finished in time").unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piped_interview_runs_to_its_report_in_both_encodings() {
    let gateway = InProcessGateway::scripted(EngineConfig::default());
    let url = format!("http://{}", gateway.addr);
    let answers = "A cache in front of the database, invalidated on write.\n\
                   Consistent hashing spreads keys; replicas for reads.\n\
                   /end\n";
    for extra in [None, Some("--msgpack")] {
        let mut args = vec!["--url", &url, "--plan", "senior-backend", "--user", "piped"];
        args.extend(extra);
        let (ok, printed) = run(&args, answers).await;
        assert!(ok, "{extra:?}: the example failed:\n{printed}");
        assert!(printed.contains("Session ses_"), "{printed}");
        assert!(printed.contains("Overall"), "the report is printed:\n{printed}");
        assert!(!printed.contains("panicked"), "{printed}");
    }
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_picked_from_the_list_when_none_is_given() {
    let gateway = InProcessGateway::scripted(EngineConfig::default());
    let url = format!("http://{}", gateway.addr);
    let (ok, printed) = run(&["--url", &url], "9\n1\nMy answer.\n/end\n").await;
    assert!(ok, "{printed}");
    assert!(printed.contains("Plans:"), "{printed}");
    assert!(printed.contains("Overall"), "{printed}");
    gateway.stop().await.unwrap();
}

#[tokio::test]
async fn no_gateway_is_a_clear_error_not_a_panic() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, printed) = run(&["--url", &url, "--plan", "senior-backend"], "").await;
    assert!(!ok);
    assert!(!printed.contains("panicked"), "{printed}");
    assert!(printed.contains("Error"), "{printed}");
}
