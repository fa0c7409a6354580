//! The bodies of the webhooks Viva sends (`--webhook-url`), in the shape the Standard Webhooks
//! spec recommends: `{"type", "timestamp", "data"}`. The request around them (the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers) is described in
//! `docs/webhooks.md`; a receiver verifies the signature over the body's exact bytes.

use serde::{Deserialize, Serialize};

use crate::EndReason;

/// One webhook's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Webhook {
    /// What happened: `type` names it, `data` tells it.
    #[serde(flatten)]
    pub event: WebhookEvent,
    /// When it happened (the durable event's time), RFC 3339 in UTC with milliseconds.
    pub timestamp: String,
}

/// The events a webhook tells, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum WebhookEvent {
    /// A session's report is stored and can be read.
    #[serde(rename = "report.ready")]
    ReportReady(ReportReadyHook),
    /// A session ended.
    #[serde(rename = "session.ended")]
    SessionEnded(SessionEndedHook),
    /// A candidate's minutes are running low during a session (`--metering minutes`).
    #[serde(rename = "usage.low")]
    UsageLow(UsageLowHook),
}

impl WebhookEvent {
    /// Its `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReportReady(_) => "report.ready",
            Self::SessionEnded(_) => "session.ended",
            Self::UsageLow(_) => "usage.low",
        }
    }
}

/// `report.ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportReadyHook {
    /// The session.
    pub session_id: String,
    /// Its owner.
    pub user_id: String,
    /// The plan it followed.
    pub plan_id: String,
    /// Overall score, 0–10; `None` when nothing was scored.
    pub overall: Option<f32>,
    /// Where the owner reads the report: `/v1/sessions/{id}/report`.
    pub report_path: String,
}

/// `session.ended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionEndedHook {
    /// The session.
    pub session_id: String,
    /// Its owner.
    pub user_id: String,
    /// The plan it followed.
    pub plan_id: String,
    /// Why it ended.
    pub reason: EndReason,
}

/// `usage.low`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageLowHook {
    /// The session running.
    pub session_id: String,
    /// Whose minutes.
    pub user_id: String,
    /// Seconds of minutes left.
    pub remaining_s: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_type_timestamp_data() {
        let hook = Webhook {
            event: WebhookEvent::UsageLow(UsageLowHook {
                session_id: "ses_1".into(),
                user_id: "u1".into(),
                remaining_s: 60,
            }),
            timestamp: "2026-12-05T06:00:00.000Z".into(),
        };
        let json = serde_json::to_string(&hook).unwrap();
        assert_eq!(
            json,
            r#"{"type":"usage.low","data":{"session_id":"ses_1","user_id":"u1","remaining_s":60},"timestamp":"2026-12-05T06:00:00.000Z"}"#
        );
        assert_eq!(serde_json::from_str::<Webhook>(&json).unwrap(), hook);
    }
}
