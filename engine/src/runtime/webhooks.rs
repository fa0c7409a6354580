//! The engine's webhook calls for operators (`GET /v1/admin/webhooks`, dead letters, re-drive,
//! switching an endpoint on again). Delivery itself is `crate::webhook`.

use viva_protocol::rest::{DeadWebhook, DeadWebhooks, EndpointDisabled, WebhookEndpoint, WebhookEndpoints};

use super::Engine;
use crate::EngineError;
use crate::store::DeliveryId;
use crate::webhook::{Dispatch, message_id};

/// Most dead letters listed at once.
pub const MAX_DEAD_LISTED: usize = 500;

impl Engine {
    fn dispatch(&self) -> Result<&Dispatch, EngineError> {
        self.ctx.webhooks.as_ref().ok_or(EngineError::NotFound)
    }

    /// The endpoints, which are off, and the outbox's size. `NotFound` without webhooks.
    pub async fn webhook_endpoints(&self) -> Result<WebhookEndpoints, EngineError> {
        let dispatch = self.dispatch()?;
        let store = &self.ctx.store;
        let disabled = store.disabled_endpoints().await?;
        let endpoints = dispatch
            .endpoints()
            .iter()
            .map(|endpoint| WebhookEndpoint {
                id: endpoint.id.clone(),
                url: endpoint.url.to_string(),
                disabled: disabled
                    .iter()
                    .find(|d| d.endpoint == endpoint.id)
                    .map(|d| EndpointDisabled { at: d.at.0, reason: d.reason.clone() }),
            })
            .collect();
        let (_, dead) = store.dead_webhooks(0).await?;
        Ok(WebhookEndpoints { endpoints, pending: store.pending_webhooks().await?, dead })
    }

    /// The newest `limit` (at most [`MAX_DEAD_LISTED`]) dead letters.
    pub async fn dead_webhooks(&self, limit: usize) -> Result<DeadWebhooks, EngineError> {
        self.dispatch()?;
        let (letters, total) = self.ctx.store.dead_webhooks(limit.min(MAX_DEAD_LISTED)).await?;
        let items = letters
            .into_iter()
            .map(|letter| {
                let message = &letter.pending.message;
                DeadWebhook {
                    id: letter.id.to_string(),
                    webhook_id: message_id(letter.id.session_id.as_str(), message.seq),
                    endpoint: letter.id.endpoint.clone(),
                    kind: event_type(&message.body),
                    session_id: letter.id.session_id.to_string(),
                    attempts: letter.pending.attempts,
                    last_error: letter.pending.last_error.clone(),
                    created_at: message.created_at.0,
                    dead_at: letter.dead_at.0,
                    reason: letter.reason,
                }
            })
            .collect();
        Ok(DeadWebhooks { items, total })
    }

    /// Sends a dead letter again (at once, with a fresh schedule, under the same
    /// `webhook-id`). `NotFound` when there is no such dead letter.
    pub async fn redrive_webhook(&self, id: &str) -> Result<(), EngineError> {
        let dispatch = self.dispatch()?;
        let id: DeliveryId = id.parse().map_err(|_| EngineError::NotFound)?;
        if !self.ctx.store.redrive_webhook(&id, self.ctx.clock.now()).await? {
            return Err(EngineError::NotFound);
        }
        dispatch.wake();
        Ok(())
    }

    /// Switches an endpoint on again (after a 410) on every node. `NotFound` for an endpoint
    /// not configured here.
    pub async fn enable_webhook_endpoint(&self, endpoint: &str) -> Result<(), EngineError> {
        let dispatch = self.dispatch()?;
        if !dispatch.endpoints().iter().any(|e| e.id == endpoint) {
            return Err(EngineError::NotFound);
        }
        self.ctx.store.enable_endpoint(endpoint).await?;
        Ok(())
    }
}

/// The `type` of a webhook body (stored bodies are the engine's own JSON).
fn event_type(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Typed>(body).map_or_else(|_| "unknown".to_owned(), |t| t.kind)
}
