//! The webhook outbox as the store keeps it (`crate::webhook` sends it).
//!
//! A message is written by [`Store::append`](super::Store::append) in the same step as the
//! durable event it tells, then marked due. Delivery workers on any node *claim* due
//! deliveries for a lease (the claim's token is the lease's end), and every later step of a
//! claimed delivery is conditional on that token, so a worker whose lease ran out (and whose
//! delivery another worker took over) changes nothing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::core::SessionId;
use crate::time::Timestamp;

/// One webhook message for one endpoint, about one durable event of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    /// The event's seq in its session's log (with the session, the message id).
    pub seq: u64,
    /// The endpoint's id.
    pub endpoint: String,
    /// The JSON body, signed and sent as it is on every attempt.
    pub body: String,
    /// When the event happened.
    pub created_at: Timestamp,
}

/// Which delivery: a session's message to an endpoint, written `<session>.<seq>.<endpoint>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId {
    /// The session.
    pub session_id: SessionId,
    /// The event's seq.
    pub seq: u64,
    /// The endpoint's id.
    pub endpoint: String,
}

impl DeliveryId {
    /// The delivery of `message` of `session_id`.
    pub fn of(session_id: &SessionId, message: &WebhookMessage) -> Self {
        Self { session_id: session_id.clone(), seq: message.seq, endpoint: message.endpoint.clone() }
    }

    /// Its name within its session (`<seq>.<endpoint>`).
    pub fn field(&self) -> String {
        format!("{}.{}", self.seq, self.endpoint)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.session_id, self.seq, self.endpoint)
    }
}

impl FromStr for DeliveryId {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::NotFound(format!("no delivery `{text}`"));
        let mut parts = text.splitn(3, '.');
        let (Some(session), Some(seq), Some(endpoint)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let seq = seq.parse().map_err(|_| bad())?;
        if session.is_empty() || endpoint.is_empty() || endpoint.contains('.') {
            return Err(bad());
        }
        Ok(Self { session_id: SessionId::from(session.to_owned()), seq, endpoint: endpoint.to_owned() })
    }
}

/// A delivery waiting for its next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWebhook {
    /// The message.
    pub message: WebhookMessage,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// A delivery a worker holds until `token` (ms): the lease's end, which every later step of
/// it must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Which.
    pub id: DeliveryId,
    /// The lease's end, in ms since the epoch.
    pub token: u64,
    /// What to send; `None` when the message is gone (delivered, its session deleted or
    /// expired, or its event never stored): the claim is then only dropped.
    pub pending: Option<PendingWebhook>,
}

/// A delivery given up on, kept to be seen and re-driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadWebhook {
    /// Which.
    pub id: DeliveryId,
    /// The message and its attempts.
    pub pending: PendingWebhook,
    /// When it was given up on.
    pub dead_at: Timestamp,
    /// Why.
    pub reason: String,
}

/// An endpoint switched off (it answered 410 Gone), on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledEndpoint {
    /// The endpoint's id.
    pub endpoint: String,
    /// Since when.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// The delivery side of the webhook outbox.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Claims up to `limit` deliveries due at `now` for `lease`.
    async fn claim_webhooks(&self, now: Timestamp, lease: Duration, limit: usize) -> Result<Vec<Claimed>, StoreError>;

    /// The delivery succeeded: forgets it.
    async fn webhook_delivered(&self, claimed: &Claimed) -> Result<(), StoreError>;

    /// The claim had no message (`pending: None`): drops the claim only.
    async fn webhook_dropped(&self, claimed: &Claimed) -> Result<(), StoreError>;

    /// The delivery is tried again at `at`, having made `attempts` attempts, the last failing
    /// with `error`.
    async fn webhook_retry(
        &self,
        claimed: &Claimed,
        at: Timestamp,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError>;

    /// The delivery is given up on (dead-lettered) at `now`, after `attempts` attempts.
    async fn webhook_dead(
        &self,
        claimed: &Claimed,
        now: Timestamp,
        attempts: u32,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// The newest `limit` dead letters, and how many there are in all.
    async fn dead_webhooks(&self, limit: usize) -> Result<(Vec<DeadWebhook>, u64), StoreError>;

    /// Puts a dead letter back in the outbox, due at `now`, with its attempts reset: whether
    /// there was such a dead letter.
    async fn redrive_webhook(&self, id: &DeliveryId, now: Timestamp) -> Result<bool, StoreError>;

    /// Deliveries waiting (due or not, claimed or not).
    async fn pending_webhooks(&self) -> Result<u64, StoreError>;

    /// Switches an endpoint off on every node.
    async fn disable_endpoint(&self, endpoint: &str, at: Timestamp, reason: &str) -> Result<(), StoreError>;

    /// Switches it on again: whether it was off.
    async fn enable_endpoint(&self, endpoint: &str) -> Result<bool, StoreError>;

    /// The endpoints switched off.
    async fn disabled_endpoints(&self) -> Result<Vec<DisabledEndpoint>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_round_trip_and_refuse_garbage() {
        let id = DeliveryId { session_id: SessionId::from("ses_ab12".to_owned()), seq: 42, endpoint: "0f1e2d".into() };
        assert_eq!(id.to_string(), "ses_ab12.42.0f1e2d");
        assert_eq!(id.to_string().parse::<DeliveryId>().unwrap(), id);
        for bad in ["", "ses_ab12", "ses_ab12.x.0f", "ses_ab12.1.", ".1.0f", "ses.1.a.b"] {
            assert!(bad.parse::<DeliveryId>().is_err(), "{bad:?}");
        }
    }
}
