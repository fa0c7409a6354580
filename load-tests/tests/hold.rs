//! `viva-load hold` against the real router and against the baseline server, small-scale, on
//! 127.0.0.1: every session opens and is held, and memory is measured (the gateway runs in
//! this process, so its pid is this test's). Also: client sockets to a loopback target come
//! from spread source addresses. Nothing here asserts a timing or a memory figure.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use viva_load::Target;
use viva_load::baseline::{self, Baseline, Deltas};
use viva_load::hold::{HoldConfig, HoldReport, MemorySource};
use viva_protocol::Encoding;

mod common;

async fn gateway() -> Target {
    Target::parse(&format!("http://{}", common::gateway(Default::default()))).unwrap()
}

async fn baseline_server() -> Target {
    let listener = baseline::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(baseline::serve(
        listener,
        Arc::new(Baseline::shipped(Deltas::PerTurn).unwrap()),
        std::future::pending(),
    ));
    Target::parse(&format!("ws://{addr}")).unwrap()
}

fn config(target: Target, sessions: usize, encoding: Encoding, memory: MemorySource) -> HoldConfig {
    HoldConfig {
        target,
        sessions,
        duration: Duration::ZERO,
        encoding,
        token_prefix: "dev:hold-".to_owned(),
        plan: None,
        concurrency: 8,
        ramp_per_s: None,
        connect_timeout: Duration::from_secs(10),
        event_timeout: Duration::from_secs(30),
        memory,
    }
}

fn assert_held(report: &HoldReport, sessions: u64) {
    assert_eq!((report.opened, report.failed, report.dropped), (sessions, 0, 0), "{report:#?}");
    assert_eq!(report.violations, 0);
    assert!(report.rss_before_bytes.is_some() && report.rss_hold_bytes.is_some(), "{report:#?}");
    assert!(report.bytes_per_session.is_some(), "{report:#?}");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_sessions_on_the_gateway_and_measures_its_memory() {
    let memory = MemorySource::Pid(std::process::id());
    let report = viva_load::hold::run(config(gateway().await, 20, Encoding::Json, memory), |_, _| {}).await.unwrap();
    assert_held(&report, 20);
    assert!(!report.plan.is_empty(), "the gateway's first plan");
    assert!(report.gateway_file_limit.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_msgpack_sessions_on_the_baseline_reading_its_metrics() {
    let config = config(baseline_server().await, 10, Encoding::MsgPack, MemorySource::Metrics);
    let report = viva_load::hold::run(config, |_, _| {}).await.unwrap();
    assert_held(&report, 10);
    assert_eq!(report.encoding, "viva.v1.msgpack");
}

#[tokio::test]
async fn the_gateways_metrics_without_rss_are_reported_not_guessed() {
    let report = viva_load::hold::run(config(gateway().await, 2, Encoding::Json, MemorySource::Metrics), |_, _| {})
        .await
        .unwrap();
    assert_eq!((report.opened, report.failed), (2, 0));
    assert_eq!(report.bytes_per_session, None);
    assert!(report.notes.iter().any(|n| n.contains("--gateway-pid")), "{:?}", report.notes);
}

#[tokio::test]
async fn sockets_to_loopback_come_from_spread_source_addresses() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut clients = Vec::new();
    let mut peers = HashSet::new();
    for _ in 0..5 {
        clients.push(viva_load::net::connect("127.0.0.1", port).await.unwrap());
        let (_, peer) = listener.accept().await.unwrap();
        peers.insert(peer.ip());
    }
    assert!(peers.len() > 1, "{peers:?}");
    for peer in peers {
        let IpAddr::V4(ip) = peer else { panic!("{peer}") };
        assert!(ip.is_loopback() && ip.octets()[3] != 1, "{ip}");
    }
}
