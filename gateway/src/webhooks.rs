//! Webhooks from the gateway's side: the `--webhook-*` flags, and the admin routes over the
//! outbox (`--admin-token`): the endpoints, the dead letters, a re-drive, switching an
//! endpoint on again. Delivery is the engine's (`viva_engine::webhook`).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use clap::Args;
use viva_engine::webhook::{Endpoint, WebhookConfig};
use viva_protocol::rest::{DeadWebhooks, WebhookEndpoints};

use crate::AppState;
use crate::auth::admin::Admin;
use crate::config::whole_number;
use crate::error::{AppError, PathParams};

/// The webhook flags and their `VIVA_*` variables, as given.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Where to POST `report.ready`, `session.ended` and `usage.low` (several: repeat the flag,
    /// or separate with commas); `https://` unless loopback or `--webhook-allow-http`.
    #[arg(long = "webhook-url", env = "VIVA_WEBHOOK_URL", value_delimiter = ',')]
    pub urls: Vec<String>,
    /// The signing secret of each `--webhook-url`, in the same order: `whsec_<base64>`;
    /// several separated by spaces sign with each (rotation). Never logged.
    #[arg(long = "webhook-secret", env = "VIVA_WEBHOOK_SECRET", value_delimiter = ',', hide_env_values = true)]
    pub secrets: Vec<String>,
    /// Allows `http://` webhook URLs to hosts other than loopback.
    #[arg(long, env = "VIVA_WEBHOOK_ALLOW_HTTP")]
    pub webhook_allow_http: bool,
    /// The waits between attempts, e.g. `5s,5m,30m,2h,5h,10h` (units ms, s, m, h); after the
    /// last, the message is dead-lettered.
    #[arg(long, env = "VIVA_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h")]
    pub webhook_retry_schedule: String,
    /// Seconds a receiver has to answer 2xx.
    #[arg(long, env = "VIVA_WEBHOOK_TIMEOUT_S", default_value = "10")]
    pub webhook_timeout_s: String,
    /// Requests in flight to one endpoint at most, per node.
    #[arg(long, env = "VIVA_WEBHOOK_CONCURRENCY", default_value = "8")]
    pub webhook_concurrency: String,
    /// Deliveries waiting above which the outbox's growth is logged (and always exported as
    /// `viva_webhook_outbox_pending`).
    #[arg(long, env = "VIVA_WEBHOOK_OUTBOX_WARN", default_value = "10000")]
    pub webhook_outbox_warn: String,
}

impl WebhookArgs {
    /// The configuration (`None` without `--webhook-url`); what is wrong goes to `errors`.
    pub fn validate(&self, errors: &mut Vec<String>) -> Option<WebhookConfig> {
        if self.urls.is_empty() {
            if !self.secrets.is_empty() {
                errors.push("--webhook-secret without --webhook-url".to_owned());
            }
            return None;
        }
        if self.secrets.len() != self.urls.len() {
            errors.push(format!(
                "{} --webhook-url but {} --webhook-secret: give one secret (or one space-separated list) per URL, in order",
                self.urls.len(),
                self.secrets.len()
            ));
            return None;
        }
        let before = errors.len();
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for (url, secrets) in self.urls.iter().zip(&self.secrets) {
            match Endpoint::new(url.trim(), secrets, self.webhook_allow_http) {
                Ok(endpoint) if endpoints.iter().any(|e| e.id == endpoint.id) => {
                    errors.push(format!("--webhook-url `{url}` is given twice"));
                }
                Ok(endpoint) => endpoints.push(endpoint),
                Err(error) => errors.push(error.to_string()),
            }
        }
        let mut config = WebhookConfig::new(endpoints);
        match schedule(&self.webhook_retry_schedule) {
            Some(schedule) => config.schedule = schedule,
            None => errors.push(format!(
                "--webhook-retry-schedule `{}` is not a list like 5s,5m,30m,2h (1 to 20 waits of 10ms to 48h)",
                self.webhook_retry_schedule
            )),
        }
        let mut number = |name: &str, value: &str, min: u64, max: u64| {
            whole_number(name, value, min, max).map_err(|e| errors.push(e)).unwrap_or(min)
        };
        config.timeout = Duration::from_secs(number("webhook-timeout-s", &self.webhook_timeout_s, 1, 300));
        config.per_endpoint = number("webhook-concurrency", &self.webhook_concurrency, 1, 1_000) as usize;
        config.outbox_warn = number("webhook-outbox-warn", &self.webhook_outbox_warn, 1, 1_000_000_000);
        (errors.len() == before).then_some(config)
    }
}

/// `5s,5m,30m` → the waits.
fn schedule(text: &str) -> Option<Vec<Duration>> {
    let waits: Option<Vec<Duration>> = text.split(',').map(|wait| wait_of(wait.trim())).collect();
    waits.filter(|w| (1..=20).contains(&w.len()))
}

fn wait_of(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let wait = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    };
    (Duration::from_millis(10)..=Duration::from_secs(48 * 3600)).contains(&wait).then_some(wait)
}

/// `GET /v1/admin/webhooks`.
pub async fn endpoints(State(state): State<AppState>, _: Admin) -> Result<Json<WebhookEndpoints>, AppError> {
    Ok(Json(state.engine.webhook_endpoints().await?))
}

/// `?limit=` of the dead letters.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct DeadQuery {
    /// Dead letters at most (50 when absent).
    #[schemars(with = "Option<u32>", range(min = 1, max = 500))]
    limit: Option<String>,
}

/// The `{id}` of a dead letter's route.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct DeadLetterPath {
    /// The dead letter's id (`id` in `GET /v1/admin/webhooks/dead`).
    id: String,
}

/// The `{id}` of an endpoint's route.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EndpointPath {
    /// The endpoint's id (`id` in `GET /v1/admin/webhooks`).
    id: String,
}

/// `GET /v1/admin/webhooks/dead?limit=`: the newest dead letters (50 unless `limit`, at most
/// 500).
pub async fn dead(
    State(state): State<AppState>,
    _: Admin,
    query: Result<Query<DeadQuery>, QueryRejection>,
) -> Result<Json<DeadWebhooks>, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
    let limit = match query.limit {
        None => 50,
        Some(limit) => whole_number("limit", &limit, 1, 500)
            .map_err(|_| AppError::BadRequest("`limit` must be a whole number from 1 to 500".to_owned()))?
            as usize,
    };
    Ok(Json(state.engine.dead_webhooks(limit).await?))
}

/// `POST /v1/admin/webhooks/dead/{id}/redrive`: 204, the delivery is due at once.
pub async fn redrive(
    State(state): State<AppState>,
    _: Admin,
    PathParams(DeadLetterPath { id }): PathParams<DeadLetterPath>,
) -> Result<StatusCode, AppError> {
    state.engine.redrive_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/webhooks/endpoints/{id}/enable`: 204.
pub async fn enable(
    State(state): State<AppState>,
    _: Admin,
    PathParams(EndpointPath { id }): PathParams<EndpointPath>,
) -> Result<StatusCode, AppError> {
    state.engine.enable_webhook_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_units_and_refuse_the_rest() {
        assert_eq!(
            schedule("5s,5m,30m,2h,5h,10h").unwrap(),
            [5, 300, 1800, 7200, 18_000, 36_000].map(Duration::from_secs).to_vec()
        );
        assert_eq!(schedule("200ms, 1s").unwrap(), vec![Duration::from_millis(200), Duration::from_secs(1)]);
        for bad in ["", "5", "5x", "s", "1ms", "49h", "5s,,5s", "-1s"] {
            assert_eq!(schedule(bad), None, "{bad:?}");
        }
    }
}
