//! The OpenAPI document of the REST routes (gateway/src/openapi.rs), committed as
//! `protocol/schema/openapi.json` beside the JSON Schemas: this test regenerates it and fails
//! on any difference, so it never drifts from the routes; `UPDATE_SCHEMAS=1 cargo test -p
//! viva-gateway --test openapi` writes it after a change (commit it with it). The gateway
//! serves the same document at `GET /v1/openapi.json`.

mod common;

use std::path::{Path, PathBuf};

use common::{Gateway, http};

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/schema/openapi.json")
}

#[test]
fn the_committed_document_is_the_routes_document() {
    let document = viva_gateway::openapi::document();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(committed(), &document).unwrap();
        return;
    }
    let text = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        text == document,
        "{} differs from the routes: run `UPDATE_SCHEMAS=1 cargo test -p viva-gateway --test openapi` and commit it",
        committed().display()
    );
}

#[tokio::test]
async fn the_gateway_serves_it() {
    let gateway = Gateway::start().await;
    let response = http().get(gateway.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), viva_gateway::openapi::document());
}
