//! Per-user quotas over real HTTP: one user cannot create sessions without end (each costs
//! memory, a store's keys and, with an LLM, the provider's capacity); and a node that runs
//! as many sessions as it may refuses more, with a typed answer.

mod common;

use common::{Gateway, http};
use viva_engine::EngineConfig;

async fn create(gateway: &Gateway, user: &str) -> reqwest::Response {
    http()
        .post(gateway.url("/v1/sessions"))
        .bearer_auth(format!("dev:{user}"))
        .json(&serde_json::json!({ "plan": "senior-backend" }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_past_the_hourly_quota_get_429_with_retry_after() {
    let config = EngineConfig { max_sessions_per_user_per_hour: Some(3), ..EngineConfig::default() };
    let gateway = Gateway::start_with(config, |_| {}).await;
    for _ in 0..3 {
        assert_eq!(create(&gateway, "quinn").await.status(), 201);
    }
    let refused = create(&gateway, "quinn").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3_500..=3_600).contains(&retry_after), "retry after {retry_after} s");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Nobody else is affected, and the refused attempt created nothing.
    assert_eq!(create(&gateway, "rita").await.status(), 201);
    let (_, mine) = gateway.get(Some("quinn"), "/v1/me/sessions").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_default_is_sixty_an_hour() {
    let gateway = Gateway::start().await;
    for _ in 0..60 {
        assert_eq!(create(&gateway, "sam").await.status(), 201);
    }
    assert_eq!(create(&gateway, "sam").await.status(), 429);
}

#[tokio::test]
async fn a_node_at_capacity_refuses_new_sessions_and_serves_its_own_unchanged() {
    use common::{Connect, Event};
    use viva_protocol::{ClientMessage, ServerMessage};

    let config = EngineConfig { max_loaded_sessions: Some(2), ..EngineConfig::default() };
    let gateway = Gateway::start_with(config, |_| {}).await;
    // A third session made before the node filled up, to connect to once it is full.
    let waiting = gateway.create("rae", "senior-backend").await;
    let mut running = Vec::new();
    for user in ["sam", "tia"] {
        let session = gateway.create(user, "senior-backend").await;
        let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
        client.message().await;
        running.push(client);
    }

    let refused = create(&gateway, "uma").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "at_capacity");

    let mut late = gateway.connect(&waiting, Connect::user("dev:rae")).await.unwrap();
    let Event::Message(ServerMessage::Error(error)) = late.next().await else { panic!("an error first") };
    assert_eq!((error.code.as_str(), error.fatal), ("at_capacity", true));
    assert_eq!(late.closed().await, Some(4503));

    // The sessions running here go on as before.
    for client in &mut running {
        client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
        assert!(matches!(client.message().await, ServerMessage::TurnStarted(_)));
    }
}
