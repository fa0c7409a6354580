//! The gateway on a Redis Cluster (`--store redis+cluster://...`), real processes: three
//! `redis-server` masters in cluster mode and the gateway binary. Whole interviews, the
//! export, and the deletion of a user, whose keys are spread over every master, leaving no key
//! anywhere.

mod common;

use common::{Connect, Process, play};
use viva_engine::plan::PlanCatalog;
use viva_protocol::ClientMessage;
use viva_testkit::RedisCluster;

/// Every key on every master.
fn keys(cluster: &RedisCluster) -> Vec<String> {
    cluster.nodes.iter().flat_map(|node| node.cli(&["--scan"]).lines().map(str::to_owned).collect::<Vec<_>>()).collect()
}

#[tokio::test]
async fn interviews_exports_and_deletion_on_a_three_master_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let url = cluster.url();
    let gateway = Process::spawn(&["--store", &url, "--scripted-pace-ms", "0"]);
    let (status, ready) = gateway.get(None, "/readyz").await;
    assert_eq!((status, ready["store"].as_str()), (200, Some("redis")));

    let plan = PlanCatalog::shipped().get("senior-backend").unwrap().clone();
    let mut sessions = Vec::new();
    for user in ["ann", "ann", "ann", "bob"] {
        let session = gateway.create(user, "senior-backend").await;
        let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
        client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
        let (_, close) = play(&mut client, &plan).await;
        assert_eq!(close, Some(1000));
        assert_eq!(gateway.get(Some(user), &format!("/v1/sessions/{session}/report")).await.0, 200);
        sessions.push(session);
    }
    let before = keys(&cluster);
    let masters_used = cluster
        .nodes
        .iter()
        .filter(|node| sessions[..3].iter().any(|s| node.cli(&["--scan"]).contains(s.as_str())))
        .count();
    assert!(masters_used >= 2, "ann's sessions are spread over the masters ({masters_used})");
    assert!(sessions.iter().all(|s| before.iter().any(|k| k.contains(s.as_str()))));

    let (status, export) = gateway.get(Some("ann"), "/v1/me/export").await;
    assert_eq!((status, export["sessions"].as_array().map(Vec::len)), (200, Some(3)));
    let (_, mine) = gateway.get(Some("ann"), "/v1/me/sessions").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);

    let deleted = common::http().delete(gateway.url("/v1/me")).bearer_auth("dev:ann").send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let after = keys(&cluster);
    let left: Vec<&String> = after
        .iter()
        .filter(|k| k.contains("{u:ann}") || sessions[..3].iter().any(|s| k.contains(s.as_str())))
        .collect();
    assert!(left.is_empty(), "no key of ann on any master: {left:?}");
    assert!(after.iter().any(|k| k.contains(sessions[3].as_str())), "bob's session stays");

    gateway.signal("TERM");
    assert_eq!(gateway.wait().await.0, Some(0));
}
