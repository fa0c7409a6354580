//! Webhooks (`docs/webhooks.md`): a session's durable events that the products' backends want
//! pushed to them (`report.ready`, `session.ended`, `usage.low`), signed per the Standard
//! Webhooks spec and delivered at least once.
//!
//! The path of one message:
//! 1. The session's driver appends a batch of durable events; [`messages`] turns the ones
//!    worth a webhook into one [`WebhookMessage`] per endpoint, and the store writes them **in
//!    the same step** as the events (on Redis: the same script, under the session's hash tag),
//!    then marks them due in a sharded due-index ([`crate::store::Webhooks`]).
//! 2. Delivery workers on any node ([`Dispatch`]) claim due messages for a lease, POST them,
//!    and record the outcome: delivered (removed), retried later (the schedule, with jitter),
//!    dead-lettered after the last attempt or when the endpoint answered 410 (which disables
//!    it). A node that dies holding a claim loses it when the lease runs out.
//!
//! The message id (`webhook-id`) is the session and the event's seq, so every attempt, from
//! any node, carries the same one.

mod deliver;
mod sign;

use std::time::Duration;

use sha2::{Digest, Sha256};
use viva_protocol::webhook::{ReportReadyHook, SessionEndedHook, UsageLowHook, Webhook, WebhookEvent};

pub use deliver::Dispatch;
pub use sign::{BadSecret, Secret, signature_header};

use crate::core::{LogEntry, Record};
use crate::store::{SessionMeta, WebhookMessage};
use crate::time::Timestamp;

/// Where webhooks go and how hard to try.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The receivers; every message goes to each.
    pub endpoints: Vec<Endpoint>,
    /// The waits between attempts: the first attempt is at once, attempt `n + 1` waits
    /// `schedule[n - 1]` (plus up to 50% jitter); after the last, the message is dead.
    pub schedule: Vec<Duration>,
    /// A request that has not answered 2xx by then failed.
    pub timeout: Duration,
    /// Requests in flight to one endpoint at most (per node).
    pub per_endpoint: usize,
    /// How often a worker looks for due messages when nothing woke it.
    pub poll: Duration,
    /// Pending deliveries above which the outbox's growth is logged.
    pub outbox_warn: u64,
}

impl WebhookConfig {
    /// The production schedule (the one Standard Webhooks' providers use): at once, then
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h later.
    pub const SCHEDULE: [Duration; 6] = [
        Duration::from_secs(5),
        Duration::from_secs(5 * 60),
        Duration::from_secs(30 * 60),
        Duration::from_secs(2 * 3600),
        Duration::from_secs(5 * 3600),
        Duration::from_secs(10 * 3600),
    ];

    /// Delivery to `endpoints` with the defaults: the production schedule, 10 s timeout, 8
    /// requests at once per endpoint, a poll every second.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints,
            schedule: Self::SCHEDULE.to_vec(),
            timeout: Duration::from_secs(10),
            per_endpoint: 8,
            poll: Duration::from_secs(1),
            outbox_warn: 10_000,
        }
    }

    /// How many attempts a message gets.
    pub fn attempts(&self) -> u32 {
        self.schedule.len() as u32 + 1
    }

    /// How long a claim lasts: longer than a request can take, so a live node's claim never
    /// runs out under it.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// One receiver of webhooks.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Stable while the URL is: the first 12 hex digits of its SHA-256.
    pub id: String,
    /// Where to POST.
    pub url: reqwest::Url,
    /// Signing keys: each signs every request (several while one is rotated).
    pub secrets: Vec<Secret>,
}

/// Why an endpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL.
    #[error("`{0}` is not a URL")]
    BadUrl(String),
    /// `http` to a host that is not loopback, without `--webhook-allow-http`.
    #[error("webhook URL `{0}` must be https (http is allowed to loopback, or with --webhook-allow-http)")]
    NotHttps(String),
    /// The secrets.
    #[error(transparent)]
    Secret(#[from] BadSecret),
}

impl Endpoint {
    /// An endpoint at `url` signing with `secrets` (`whsec_...`, several separated by spaces).
    pub fn new(url: &str, secrets: &str, allow_http: bool) -> Result<Self, EndpointError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| EndpointError::BadUrl(url.to_owned()))?;
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => return Err(EndpointError::BadUrl(url.to_owned())),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback || allow_http => {}
            "http" => return Err(EndpointError::NotHttps(url.to_owned())),
            _ => return Err(EndpointError::BadUrl(url.to_owned())),
        }
        let digest = Sha256::digest(parsed.as_str().as_bytes());
        let id = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Ok(Self { id, url: parsed, secrets: Secret::parse_list(secrets)? })
    }
}

/// The webhook messages a batch of durable events makes: one per event worth one and per
/// endpoint. Pure, so the same batch always makes the same messages (ids and bodies).
pub fn messages(meta: &SessionMeta, batch: &[LogEntry], endpoints: &[Endpoint]) -> Vec<WebhookMessage> {
    if endpoints.is_empty() {
        return Vec::new();
    }
    let mut messages = Vec::new();
    for entry in batch {
        let Some(event) = event(meta, &entry.record) else { continue };
        let body = serde_json::to_string(&Webhook { event, timestamp: rfc3339(entry.at) })
            .expect("a webhook body always serializes");
        for endpoint in endpoints {
            messages.push(WebhookMessage {
                seq: entry.seq,
                endpoint: endpoint.id.clone(),
                body: body.clone(),
                created_at: entry.at,
            });
        }
    }
    messages
}

/// The `webhook-id` of the message about the event `seq` of `session_id`.
pub fn message_id(session_id: &str, seq: u64) -> String {
    format!("msg_{session_id}_{seq}")
}

fn event(meta: &SessionMeta, record: &Record) -> Option<WebhookEvent> {
    let session_id = meta.session_id.to_string();
    let user_id = meta.user_id.to_string();
    Some(match record {
        Record::ReportReady { report } => WebhookEvent::ReportReady(ReportReadyHook {
            report_path: format!("/v1/sessions/{session_id}/report"),
            session_id,
            user_id,
            plan_id: meta.plan_id.clone(),
            overall: report.overall,
        }),
        Record::SessionEnded { reason } => WebhookEvent::SessionEnded(SessionEndedHook {
            session_id,
            user_id,
            plan_id: meta.plan_id.clone(),
            reason: *reason,
        }),
        Record::UsageLow { remaining_s } => {
            WebhookEvent::UsageLow(UsageLowHook { session_id, user_id, remaining_s: *remaining_s })
        }
        _ => return None,
    })
}

/// `at` as RFC 3339 in UTC with milliseconds (`2026-12-05T06:00:00.000Z`).
pub fn rfc3339(at: Timestamp) -> String {
    let (days, ms_of_day) = ((at.0 / 86_400_000) as i64, at.0 % 86_400_000);
    // Howard Hinnant's civil_from_days: days since 1970-01-01 → year, month, day.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, ms) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use viva_protocol::{EndReason, TurnStatus};

    use super::*;
    use crate::core::{Report, TurnId};

    fn meta() -> SessionMeta {
        SessionMeta {
            session_id: "ses_1".into(),
            user_id: "ann".into(),
            plan_id: "senior-backend".into(),
            candidate: Default::default(),
            created_at: Timestamp(0),
            time_limit_ms: 60_000,
        }
    }

    fn report(overall: Option<f32>) -> Box<Report> {
        Box::new(Report {
            session_id: "ses_1".into(),
            plan_id: "senior-backend".into(),
            plan_version: 1,
            scorer: "heuristic/1".into(),
            generated_at: Timestamp(0),
            ended_reason: EndReason::Completed,
            overall,
            dimensions: vec![],
            answers: vec![],
            strengths: vec![],
            practise: vec![],
        })
    }

    #[test]
    fn the_three_events_make_one_message_per_endpoint_and_nothing_else_does() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let endpoints = [
            Endpoint::new("https://a.example/", secret, false).unwrap(),
            Endpoint::new("https://b.example/", secret, false).unwrap(),
        ];
        let at = Timestamp(1_796_452_801_007);
        let entry = |seq, record| LogEntry { seq, at, record };
        let batch = [
            entry(7, Record::UsageLow { remaining_s: 60 }),
            entry(8, Record::TurnDone { turn_id: TurnId(3), text: "Thanks.".into(), status: TurnStatus::Completed }),
            entry(9, Record::ReportReady { report: report(Some(7.5)) }),
            entry(10, Record::SessionEnded { reason: EndReason::OutOfMinutes }),
        ];
        let messages = messages(&meta(), &batch, &endpoints);
        let seen: Vec<(u64, &str)> = messages.iter().map(|m| (m.seq, m.endpoint.as_str())).collect();
        let (a, b) = (endpoints[0].id.as_str(), endpoints[1].id.as_str());
        assert_eq!(seen, [(7, a), (7, b), (9, a), (9, b), (10, a), (10, b)]);
        assert!(messages.iter().all(|m| m.created_at == at));
        let body = |seq| messages.iter().find(|m| m.seq == seq).unwrap().body.as_str();
        assert_eq!(
            body(7),
            r#"{"type":"usage.low","data":{"session_id":"ses_1","user_id":"ann","remaining_s":60},"timestamp":"2026-12-05T06:40:01.007Z"}"#
        );
        assert_eq!(
            body(9),
            r#"{"type":"report.ready","data":{"session_id":"ses_1","user_id":"ann","plan_id":"senior-backend","overall":7.5,"report_path":"/v1/sessions/ses_1/report"},"timestamp":"2026-12-05T06:40:01.007Z"}"#
        );
        assert_eq!(
            body(10),
            r#"{"type":"session.ended","data":{"session_id":"ses_1","user_id":"ann","plan_id":"senior-backend","reason":"out_of_minutes"},"timestamp":"2026-12-05T06:40:01.007Z"}"#
        );
        assert_eq!(message_id("ses_1", 9), "msg_ses_1_9");
        assert!(super::messages(&meta(), &batch, &[]).is_empty(), "no endpoint, no message");
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Timestamp(951_782_400_123)), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(Timestamp(1_796_452_801_007)), "2026-12-05T06:40:01.007Z");
        assert_eq!(rfc3339(Timestamp(4_107_542_399_999)), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback_or_allowed() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for ok in
            ["https://hooks.example.com/viva", "http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:80/"]
        {
            assert!(Endpoint::new(ok, secret, false).is_ok(), "{ok}");
        }
        assert!(matches!(Endpoint::new("http://hooks.example.com/", secret, false), Err(EndpointError::NotHttps(_))));
        assert!(Endpoint::new("http://hooks.example.com/", secret, true).is_ok());
        assert!(matches!(Endpoint::new("ftp://127.0.0.1/", secret, true), Err(EndpointError::BadUrl(_))));
        assert!(matches!(Endpoint::new("not a url", secret, true), Err(EndpointError::BadUrl(_))));
        assert!(matches!(Endpoint::new("https://a.example/", "nope", false), Err(EndpointError::Secret(_))));
        let a = Endpoint::new("https://a.example/", secret, false).unwrap();
        assert_eq!(a.id.len(), 12);
        assert_eq!(a.id, Endpoint::new("https://a.example/", secret, false).unwrap().id);
        assert_ne!(a.id, Endpoint::new("https://b.example/", secret, false).unwrap().id);
    }
}
