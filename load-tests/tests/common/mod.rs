//! What the viva-load integration tests share: an in-process gateway, the shipped
//! recordings, and a replay that keeps every session's outcome.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::{Engine, EngineConfig};
use viva_gateway::AppState;
use viva_gateway::auth::AuthMode;
use viva_load::session::SessionOutcome;
use viva_load::{ReplayConfig, Script, Summary};

/// A gateway on 127.0.0.1 with the scripted interviewer at pace 0, serving until the test ends.
pub fn gateway(config: EngineConfig) -> SocketAddr {
    let interviewer = Arc::new(ScriptedInterviewer::new(Duration::ZERO));
    let engine = Engine::builder().config(config).interviewer(interviewer).build();
    let listener = viva_gateway::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(engine, AuthMode::Dev);
    tokio::spawn(viva_gateway::run(listener, state, std::future::pending(), Duration::from_secs(1)));
    addr
}

/// The recordings in `load-tests/recordings/`.
pub fn shipped() -> Vec<Script> {
    Script::read_all(&Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings")).unwrap()
}

/// Runs `config`; the summary and every session's outcome.
pub async fn replay(config: ReplayConfig) -> (Summary, Vec<SessionOutcome>) {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let summary =
        viva_load::replay::run(config, move |outcome, _| seen.lock().unwrap().push(outcome.clone())).await.unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    (summary, outcomes)
}

/// Every one of `sessions` completed, without a protocol violation.
pub fn assert_clean(summary: &Summary, sessions: u64) {
    assert_eq!(summary.violations.total, 0, "violations: {:#?}", summary.examples);
    assert_eq!((summary.sessions.completed, summary.sessions.failed), (sessions, 0), "{:#?}", summary.examples);
    assert!(summary.passed());
}
