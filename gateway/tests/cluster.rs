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

const ADMIN: &str = "admin-token-for-the-tests-0123";

async fn admin(remote: &common::Remote, method: reqwest::Method, path: &str) -> (u16, serde_json::Value) {
    let response = common::http().request(method, remote.url(path)).bearer_auth(ADMIN).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// The registry of nodes, and a drain asked for on one node for another: the drained node
/// says so on `/readyz`, hands its live session over (4000: reconnect), leaves the registry
/// and exits 0; the client resumes on the other node with nothing lost.
#[tokio::test]
async fn a_node_drained_from_another_hands_its_sessions_over_and_exits() {
    let redis = viva_testkit::RedisServer::start();
    let url = redis.url();
    let args = |id: &'static str| {
        vec![
            "--store",
            &url,
            "--scripted-pace-ms",
            "0",
            "--admin-token",
            ADMIN,
            "--node-id",
            id,
            "--drain-delay-s",
            "1",
        ]
    };
    let a = Process::spawn(&args("node-a"));
    let b = Process::spawn(&args("node-b"));
    let ids = |nodes: &serde_json::Value| -> Vec<String> {
        nodes["items"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect()
    };
    let mut listed = Vec::new();
    for _ in 0..500 {
        listed = ids(&admin(&a, reqwest::Method::GET, "/v1/admin/nodes").await.1);
        if listed.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(listed, ["node-a", "node-b"]);
    // Every response says which node answered (for operators and load tests behind a balancer).
    let answered = common::http().get(b.url("/healthz")).send().await.unwrap();
    assert_eq!(answered.headers()["x-viva-node"], "node-b");
    let (_, nodes) = admin(&b, reqwest::Method::GET, "/v1/admin/nodes").await;
    let this: Vec<bool> = nodes["items"].as_array().unwrap().iter().map(|n| n["this_node"] == true).collect();
    assert_eq!(this, [false, true]);
    assert_eq!(admin(&a, reqwest::Method::POST, "/v1/admin/nodes/node-z/drain").await.0, 404);

    let session = b.create("dee", "senior-backend").await;
    let mut client = b.connect(&session, Connect::user("dev:dee")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let mut seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    assert_eq!(admin(&a, reqwest::Method::POST, "/v1/admin/nodes/node-b/drain").await.0, 202);
    let mut ready = 200;
    for _ in 0..500 {
        ready = b.get(None, "/readyz").await.0;
        if ready == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(ready, 503, "a draining node says so");
    let refused = common::http()
        .post(b.url("/v1/sessions"))
        .bearer_auth("dev:dee")
        .json(&serde_json::json!({"plan": "senior-backend"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503, "no new session on a draining node");

    // Its live session is persisted and its socket told to reconnect; then it exits.
    assert_eq!(client.closed().await, Some(4000));
    assert_eq!(b.wait().await.0, Some(0));
    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let mut client = a.connect(&session, Connect::user("dev:dee").last_seq(last)).await.unwrap();
    let ServerMessage::SessionReady(resumed) = client.message().await else { panic!("session.ready first") };
    assert!(resumed.resumed && resumed.state.awaiting_answer.is_some(), "resumed on the other node, waiting");
    seen.push(ServerMessage::SessionReady(resumed));
    assert_eq!(ids(&admin(&a, reqwest::Method::GET, "/v1/admin/nodes").await.1), ["node-a"], "it left the registry");
    a.signal("TERM");
    assert_eq!(a.wait().await.0, Some(0));
}

/// A running interview whose client left, on a node that is then killed (SIGKILL: no
/// handover): another node's sweep finds its lease run out and runs it to its `time_up` end
/// and its report, with nobody connected. Its log is whole: seq contiguous, one end.
#[tokio::test]
async fn a_session_alone_on_a_killed_node_ends_on_time_on_another() {
    let cluster = RedisCluster::start(3, 0);
    let url = cluster.url();
    let plans = common::QuickPlan::new(6);
    let args = ["--store", &url, "--scripted-pace-ms", "0", "--session-lease-ms", "1000", "--plans", plans.dir()];
    let (one, two) = (Process::spawn(&args), Process::spawn(&args));

    let session = one.create("dia", "quick-frontend").await;
    let mut client = one.connect(&session, Connect::user("dev:dia")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    drop(client);
    one.signal("KILL");
    one.wait().await;

    let path = format!("/v1/sessions/{session}");
    let mut view = serde_json::Value::Null;
    for _ in 0..600 {
        view = two.get(Some("dia"), &path).await.1;
        if !view["ended_reason"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(view["ended_reason"], "time_up", "{view}");
    let (status, report) = two.get(Some("dia"), &format!("{path}/report")).await;
    assert_eq!((status, report["ended_reason"].as_str()), (200, Some("time_up")));
    let (_, events) = two.get(Some("dia"), &format!("{path}/events")).await;
    let events = events["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no seq skipped or repeated");
    assert_eq!(events.iter().filter(|e| e["type"] == "session.ended").count(), 1);
    two.signal("TERM");
    assert_eq!(two.wait().await.0, Some(0));
}
