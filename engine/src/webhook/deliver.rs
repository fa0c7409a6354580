//! The delivery workers: claim due messages from the store, POST them signed, record the
//! outcome. One loop per engine (on every node: any node delivers any message), woken at once
//! when this node stores a message and every `poll` otherwise.
//!
//! Bounded: at most `per_endpoint` requests in flight per endpoint (a delivery whose endpoint
//! is busy is put back a second later, unattempted), each cut at `timeout`; redirects are not
//! followed; a claim is held for `WebhookConfig::lease`, longer than a request can last.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::{Endpoint, WebhookConfig, message_id, signature_header};
use crate::retry::jittered;
use crate::store::{Claimed, PendingWebhook, Store};
use crate::time::Clock;

/// Rounds of claims in one wake-up at most (then the loop sleeps again).
const CLAIM_ROUNDS: usize = 32;

/// A delivery whose endpoint is busy is tried again this much later.
const BUSY_DELAY_MS: u64 = 1000;

/// The handle the engine keeps: the endpoints (to make messages) and the workers' bell.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub(crate) config: Arc<WebhookConfig>,
    wake: Arc<Notify>,
    http: reqwest::Client,
}

impl Dispatch {
    /// Delivery per `config`, not started yet (the engine starts it with its store).
    pub fn new(config: WebhookConfig) -> Result<Self, reqwest::Error> {
        // rustls needs its crypto chosen once per process (reqwest is built without a default).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.per_endpoint)
            .user_agent(concat!("viva-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { config: Arc::new(config), wake: Arc::new(Notify::new()), http })
    }

    /// Starts delivering `store`'s outbox; delivery stops when the last clone of this handle
    /// is dropped.
    pub(crate) fn start(&self, store: Arc<dyn Store>, clock: Clock) {
        let per_endpoint = self.config.per_endpoint.max(1);
        let places =
            self.config.endpoints.iter().map(|e| (e.id.clone(), Arc::new(Semaphore::new(per_endpoint)))).collect();
        let worker = Worker {
            config: Arc::clone(&self.config),
            store,
            clock,
            http: self.http.clone(),
            places,
            warned_at: None,
            checked_at: None,
            disabled: Arc::default(),
            wake: Arc::downgrade(&self.wake),
        };
        tokio::spawn(worker.run());
    }

    /// The endpoints messages go to.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.config.endpoints
    }

    /// Tells the workers that messages were just stored.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

struct Worker {
    config: Arc<WebhookConfig>,
    store: Arc<dyn Store>,
    clock: Clock,
    http: reqwest::Client,
    /// Requests in flight per endpoint id.
    places: HashMap<String, Arc<Semaphore>>,
    /// When the outbox's length was last logged as too long.
    warned_at: Option<Instant>,
    /// When the outbox's length and the endpoints switched off were last read.
    checked_at: Option<Instant>,
    /// The endpoints switched off (on any node), and why; an attempt answered 410 adds its
    /// endpoint at once.
    disabled: Arc<Mutex<HashMap<String, String>>>,
    /// Its bell (rung by the engine when messages are stored, and by each attempt that frees a
    /// place); gone when the engine is.
    wake: Weak<Notify>,
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    /// 410 Gone: the receiver asks never to be called again.
    Gone,
    Failed(String),
}

impl Worker {
    async fn run(mut self) {
        loop {
            {
                let Some(bell) = self.wake.upgrade() else { return };
                let _ = tokio::time::timeout(self.config.poll, bell.notified()).await;
            }
            if let Err(error) = self.round().await {
                tracing::warn!(%error, "webhook delivery round failed; next round");
            }
        }
    }

    /// Claims and starts what is due, as long as there is room.
    async fn round(&mut self) -> Result<(), crate::store::StoreError> {
        // What every node shares is read again once a poll interval, not on every wake-up.
        if self.checked_at.is_none_or(|at| at.elapsed() >= self.config.poll) {
            self.watch_outbox().await;
            self.read_disabled().await?;
        }
        for _ in 0..CLAIM_ROUNDS {
            let room: usize = self.places.values().map(|p| p.available_permits()).sum();
            if room == 0 {
                break;
            }
            let now = self.clock.now();
            let claimed = self.store.claim_webhooks(now, self.config.lease(), room).await?;
            if claimed.is_empty() {
                break;
            }
            // A message is dead-lettered for an endpoint switched off only as the store says
            // it is now (an admin may have switched it on a moment ago, on any node).
            if claimed.iter().any(|c| lock(&self.disabled).contains_key(&c.id.endpoint)) {
                self.read_disabled().await?;
            }
            let disabled = lock(&self.disabled).clone();
            for claim in claimed {
                self.dispatch(claim, &disabled).await;
            }
        }
        Ok(())
    }

    async fn read_disabled(&mut self) -> Result<(), crate::store::StoreError> {
        let disabled = self.store.disabled_endpoints().await?.into_iter().map(|d| (d.endpoint, d.reason)).collect();
        *lock(&self.disabled) = disabled;
        self.checked_at = Some(Instant::now());
        Ok(())
    }

    /// Logs (at most once a minute) and exports how many deliveries wait.
    async fn watch_outbox(&mut self) {
        let Ok(pending) = self.store.pending_webhooks().await else { return };
        metrics::gauge!("viva_webhook_outbox_pending").set(pending as f64);
        if pending > self.config.outbox_warn && self.warned_at.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
            self.warned_at = Some(Instant::now());
            tracing::warn!(
                pending,
                warn_above = self.config.outbox_warn,
                "the webhook outbox is growing: receivers down or too slow?"
            );
        }
    }

    async fn dispatch(&self, claim: Claimed, disabled: &HashMap<String, String>) {
        let store = Arc::clone(&self.store);
        let now = self.clock.now();
        let Some(pending) = claim.pending.clone() else {
            if let Err(error) = store.webhook_dropped(&claim).await {
                tracing::warn!(delivery = %claim.id, %error, "cannot drop a webhook claim; it lapses");
            }
            return;
        };
        let endpoint = self.config.endpoints.iter().find(|e| e.id == claim.id.endpoint);
        let refusal = match (endpoint, disabled.get(&claim.id.endpoint)) {
            (None, _) => Some("endpoint no longer configured".to_owned()),
            (Some(_), Some(reason)) => Some(format!("endpoint disabled: {reason}")),
            _ => None,
        };
        if let Some(reason) = refusal {
            record(store.webhook_dead(&claim, now, pending.attempts, &reason).await, &claim, "dead");
            return;
        }
        let endpoint = endpoint.expect("refused above when unknown").clone();
        let permit = self.places.get(&endpoint.id).and_then(|p| Arc::clone(p).try_acquire_owned().ok());
        let Some(permit) = permit else {
            // Busy: back in a second, no attempt counted.
            let error = pending.last_error.clone().unwrap_or_default();
            let at = now.plus_ms(BUSY_DELAY_MS);
            record(store.webhook_retry(&claim, at, pending.attempts, &error).await, &claim, "busy");
            return;
        };
        let attempt = Attempt {
            config: Arc::clone(&self.config),
            store,
            clock: self.clock,
            http: self.http.clone(),
            endpoint,
            claim,
            pending,
            wake: self.wake.clone(),
            disabled: Arc::clone(&self.disabled),
        };
        tokio::spawn(attempt.run(permit));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Logs a store step that failed: the claim lapses and the delivery is tried again then.
fn record(result: Result<(), crate::store::StoreError>, claim: &Claimed, step: &str) {
    if let Err(error) = result {
        tracing::warn!(delivery = %claim.id, step, %error, "cannot record a webhook delivery's outcome; it is retried when its claim lapses");
    }
}

/// One attempt at one delivery.
struct Attempt {
    config: Arc<WebhookConfig>,
    store: Arc<dyn Store>,
    clock: Clock,
    http: reqwest::Client,
    endpoint: Endpoint,
    claim: Claimed,
    pending: PendingWebhook,
    wake: Weak<Notify>,
    disabled: Arc<Mutex<HashMap<String, String>>>,
}

impl Attempt {
    async fn run(self, permit: OwnedSemaphorePermit) {
        let outcome = self.send().await;
        let now = self.clock.now();
        let attempts = self.pending.attempts + 1;
        let (claim, store) = (&self.claim, &*self.store);
        match outcome {
            Outcome::Delivered => {
                metrics::counter!("viva_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                let latency = now.ms_since(self.pending.message.created_at);
                metrics::histogram!("viva_webhook_latency_seconds").record(latency as f64 / 1000.0);
                tracing::debug!(delivery = %claim.id, attempts, latency_ms = latency, "webhook delivered");
                record(store.webhook_delivered(claim).await, claim, "delivered");
            }
            Outcome::Gone => {
                metrics::counter!("viva_webhook_deliveries_total", "outcome" => "gone").increment(1);
                tracing::warn!(endpoint = %self.endpoint.url, "webhook endpoint answered 410 Gone: disabled");
                let reason = "the endpoint answered 410 Gone";
                lock(&self.disabled).insert(self.endpoint.id.clone(), reason.to_owned());
                record(store.disable_endpoint(&self.endpoint.id, now, reason).await, claim, "disable");
                record(store.webhook_dead(claim, now, attempts, reason).await, claim, "dead");
            }
            Outcome::Failed(error) if attempts >= self.config.attempts() => {
                metrics::counter!("viva_webhook_deliveries_total", "outcome" => "dead").increment(1);
                tracing::warn!(delivery = %claim.id, attempts, %error, "webhook dead-lettered after its last attempt");
                let reason = format!("{attempts} attempts failed; the last: {error}");
                record(store.webhook_dead(claim, now, attempts, &reason).await, claim, "dead");
            }
            Outcome::Failed(error) => {
                metrics::counter!("viva_webhook_deliveries_total", "outcome" => "failed").increment(1);
                let wait = jittered(self.config.schedule[attempts as usize - 1]);
                tracing::info!(delivery = %claim.id, attempts, %error, retry_in_ms = wait.as_millis() as u64, "webhook attempt failed");
                let at = now.plus_ms(wait.as_millis() as u64);
                record(store.webhook_retry(claim, at, attempts, &error).await, claim, "retry");
            }
        }
        // A place is free: more may be waiting for it.
        drop(permit);
        if let Some(bell) = self.wake.upgrade() {
            bell.notify_one();
        }
    }

    async fn send(&self) -> Outcome {
        let message = &self.pending.message;
        let id = message_id(self.claim.id.session_id.as_str(), message.seq);
        let timestamp = self.clock.now().0 / 1000;
        let signature = signature_header(&self.endpoint.secrets, &id, timestamp, message.body.as_bytes());
        let request = self
            .http
            .post(self.endpoint.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone());
        // The body of the answer is not read: its size is the receiver's to choose.
        let exchange = async { request.send().await.map(|response| response.status()) };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(Ok(status)) if status.is_success() => Outcome::Delivered,
            Ok(Ok(status)) if status == reqwest::StatusCode::GONE => Outcome::Gone,
            Ok(Ok(status)) => Outcome::Failed(format!("answered {status}")),
            Ok(Err(error)) if error.is_timeout() => {
                Outcome::Failed(format!("no answer within {:?}", self.config.timeout))
            }
            Ok(Err(error)) => Outcome::Failed(error.without_url().to_string()),
            Err(_) => Outcome::Failed(format!("no answer within {:?}", self.config.timeout)),
        }
    }
}
