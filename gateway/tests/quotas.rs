//! Per-user quotas over real HTTP: one user cannot create sessions without end (each costs
//! memory, a store's keys and, with an LLM, the provider's capacity).

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
    assert_eq!(mine["sessions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_default_is_sixty_an_hour() {
    let gateway = Gateway::start().await;
    for _ in 0..60 {
        assert_eq!(create(&gateway, "sam").await.status(), 201);
    }
    assert_eq!(create(&gateway, "sam").await.status(), 429);
}
