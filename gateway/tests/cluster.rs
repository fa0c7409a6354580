//! The gateway on a Redis Cluster (`--store redis+cluster://...`), real processes: three
//! `redis-server` masters in cluster mode and the gateway binary. Whole interviews, the
//! export, and the deletion of a user, whose keys are spread over every master, leaving no key
//! anywhere.

mod common;

use common::{Connect, Process, play};
use viva_engine::plan::PlanCatalog;
use viva_protocol::{ClientMessage, ServerMessage};
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
    // More (unstarted) sessions of ann's until they sit on at least two masters: which slot a
    // session lands in is random.
    let masters_used = |ids: &[String]| {
        cluster.nodes.iter().filter(|node| ids.iter().any(|s| node.cli(&["--scan"]).contains(s.as_str()))).count()
    };
    let mut anns: Vec<String> = sessions[..3].to_vec();
    while masters_used(&anns) < 2 && anns.len() < 30 {
        anns.push(gateway.create("ann", "frontend").await);
    }
    assert!(masters_used(&anns) >= 2, "ann's sessions are spread over the masters");
    let before = keys(&cluster);
    assert!(sessions.iter().chain(&anns).all(|s| before.iter().any(|k| k.contains(s.as_str()))));

    let (status, export) = gateway.get(Some("ann"), "/v1/me/export").await;
    assert_eq!((status, export["sessions"].as_array().map(Vec::len)), (200, Some(anns.len())));
    let (_, mine) = gateway.get(Some("ann"), "/v1/me/sessions").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), anns.len());

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

/// Two gateway processes on one cluster: a client's new socket on one replaces its socket on
/// the other at once (4009: the notice, before the old owner writes anything), and deleting a
/// user on one closes their socket on the other (4010).
#[tokio::test]
async fn another_gateway_takes_a_session_over_and_deletion_reaches_every_gateway() {
    let cluster = RedisCluster::start(3, 0);
    let url = cluster.url();
    let one = Process::spawn(&["--store", &url, "--scripted-pace-ms", "0"]);
    let two = Process::spawn(&["--store", &url, "--scripted-pace-ms", "0"]);

    let session = one.create("cem", "senior-backend").await;
    let mut first = one.connect(&session, Connect::user("dev:cem")).await.unwrap();
    first.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    first.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let mut second = two.connect(&session, Connect::user("dev:cem").last_seq(0)).await.unwrap();
    let ServerMessage::SessionReady(ready) = second.message().await else { panic!("session.ready first") };
    assert!(ready.resumed);
    assert_eq!(first.closed().await, Some(4009), "replaced by the socket on the other gateway");
    let plan = PlanCatalog::shipped().get("senior-backend").unwrap().clone();
    let question = ready.state.awaiting_answer.expect("the first question waits").question_id;
    second.send(&common::answer_for(&plan, &question, "a1".into())).await;
    second.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;

    let deleted = common::http().delete(one.url("/v1/me")).bearer_auth("dev:cem").send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(second.closed().await, Some(4010), "the other gateway closed the deleted user's socket");
    assert!(keys(&cluster).iter().all(|k| !k.contains(session.as_str())));
}
