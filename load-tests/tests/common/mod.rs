//! What the viva-load integration tests share: an in-process gateway, the shipped
//! recordings, and a replay that keeps every session's outcome.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use viva_engine::EngineConfig;
use viva_load::session::SessionOutcome;
use viva_load::{ReplayConfig, Script, Summary};
use viva_testkit::gateway::InProcessGateway;

/// A gateway on 127.0.0.1 with the scripted interviewer at pace 0, serving until the test ends.
pub fn gateway(config: EngineConfig) -> SocketAddr {
    InProcessGateway::scripted(config).detach()
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
