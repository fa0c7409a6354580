//! `viva-load hold`: opens N sessions that start and then sit waiting for an answer, holds
//! them for a while, and reports the gateway's resident memory per idle session.
//!
//! Each session is created (`POST /v1/sessions`), connected, and started; once the
//! interviewer's first question is done (the [`Checker`] says the interview waits for an
//! answer) it is open, and from then on its socket is only read (a `clock` every 5 s), never
//! written, until the hold is over; then every socket is closed. A socket that closes while
//! held counts as `dropped`.
//!
//! Memory is the gateway's resident set (RSS): from `/proc/<pid>/status` (`VmRSS`) when the
//! gateway's pid is known, else from its `GET /metrics` (`process_resident_memory_bytes`, which
//! both viva-gateway and the baseline server report). It is read before the first
//! session is opened, at the end of the hold, and a second after the sockets are closed; the
//! figure per session is (RSS while holding − RSS before) / sessions open. The REST client
//! used to open the sessions is dropped before the hold, so its idle keep-alive connections
//! are not counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use viva_protocol::{ClientMessage, Encoding};

use crate::client::{Api, ClientError, Incoming, Socket, Target};
use crate::net::Exhausted;
use viva_protocol::checker::Checker;

/// Where the gateway's resident memory is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemorySource {
    /// `/proc/<pid>/status`, `VmRSS` (the gateway runs on this machine).
    Pid(u32),
    /// `process_resident_memory_bytes` in the target's `GET /metrics`.
    Metrics,
}

impl MemorySource {
    /// How reports name it.
    pub fn describe(&self) -> String {
        match self {
            Self::Pid(pid) => format!("/proc/{pid}/status VmRSS"),
            Self::Metrics => "GET /metrics process_resident_memory_bytes".to_owned(),
        }
    }
}

/// What to hold.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// The gateway.
    pub target: Target,
    /// Sessions to open.
    pub sessions: usize,
    /// How long to hold them once all are open (or failed).
    pub duration: Duration,
    /// The sockets' encoding.
    pub encoding: Encoding,
    /// Session `n` (1-based) belongs to the user of token `<prefix><n>`.
    pub token_prefix: String,
    /// The plan (`None`: the gateway's first).
    pub plan: Option<String>,
    /// Sessions being opened at once.
    pub concurrency: usize,
    /// Start at most this many sessions per second (`None`: as `concurrency` allows).
    pub ramp_per_s: Option<f64>,
    /// A REST call or a WebSocket handshake.
    pub connect_timeout: Duration,
    /// Wait for the first question, after the handshake.
    pub event_timeout: Duration,
    /// Where to read the gateway's memory.
    pub memory: MemorySource,
}

/// What a hold found (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct HoldReport {
    /// Sessions asked for.
    pub sessions: usize,
    /// Sessions that reached the first question and were held.
    pub opened: u64,
    /// Sessions that did not.
    pub failed: u64,
    /// Failures by stage (`create`, `connect`, `first_question`).
    pub failures: BTreeMap<String, u64>,
    /// A few failures' details.
    pub examples: Vec<String>,
    /// Held sessions whose socket closed during the hold.
    pub dropped: u64,
    /// Protocol violations seen while opening (see `replay`).
    pub violations: u64,
    /// The plan the sessions are on.
    pub plan: String,
    /// `viva.v1.json` or `viva.v1.msgpack`.
    pub encoding: String,
    /// Seconds from the first create to the last session open or failed.
    pub open_s: f64,
    /// Seconds held.
    pub hold_s: f64,
    /// Where memory was read.
    pub memory_source: String,
    /// The gateway's RSS before any session was opened.
    pub rss_before_bytes: Option<u64>,
    /// Its RSS at the end of the hold.
    pub rss_hold_bytes: Option<u64>,
    /// Its RSS a second after the sockets were closed.
    pub rss_after_bytes: Option<u64>,
    /// (RSS while holding − RSS before) / sessions open.
    pub bytes_per_session: Option<f64>,
    /// This tester's own RSS while holding, and per session (the client side's cost).
    pub tester_rss_bytes: Option<u64>,
    /// The tester's RSS growth per session open.
    pub tester_bytes_per_session: Option<f64>,
    /// The gateway's open-file limit, when its pid is known.
    pub gateway_file_limit: Option<u64>,
    /// Why memory could not be read, and what to do about exhausted limits.
    pub notes: Vec<String>,
}

/// Why a hold could not start.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// Nothing to run.
    #[error("{0}")]
    Config(String),
    /// The gateway does not answer.
    #[error("the gateway does not answer: {0}")]
    Gateway(#[from] ClientError),
}

/// The resident set of process `pid`, in bytes, from `/proc/<pid>/status`.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `process_resident_memory_bytes` in a Prometheus text exposition.
pub fn rss_in_metrics(text: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes"))
        .and_then(|rest| rest.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Reads the gateway's RSS; `Err` says why it cannot.
async fn sample(memory: &MemorySource, metrics: &reqwest::Client, target: &Target) -> Result<u64, String> {
    match memory {
        MemorySource::Pid(pid) => rss_of(*pid).ok_or_else(|| format!("cannot read /proc/{pid}/status")),
        MemorySource::Metrics => {
            let response =
                metrics.get(target.http("/metrics")).send().await.map_err(|e| format!("GET /metrics: {e}"))?;
            let text = response.text().await.map_err(|e| format!("GET /metrics: {e}"))?;
            rss_in_metrics(&text).ok_or_else(|| {
                "the gateway's /metrics has no process_resident_memory_bytes: pass --gateway-pid".to_owned()
            })
        }
    }
}

/// How opening one session went.
type Opened = Result<u64, (&'static str, String, Option<Exhausted>)>;

/// Opens the sessions, holds them, closes them; `on_open(opened, failed)` sees each opening.
pub async fn run(config: HoldConfig, on_open: impl Fn(u64, u64) + Send + 'static) -> Result<HoldReport, HoldError> {
    if config.sessions == 0 || config.concurrency == 0 {
        return Err(HoldError::Config("need sessions >= 1 and concurrency >= 1".to_owned()));
    }
    if let Some(ramp) = config.ramp_per_s.filter(|r| !r.is_finite() || *r <= 0.0) {
        return Err(HoldError::Config(format!("the ramp must be above 0 sessions/s, not {ramp}")));
    }
    let api = Api::new(config.target.clone(), config.connect_timeout);
    let plans = api.plans().await?;
    let plan = match &config.plan {
        Some(plan) if plans.plans.iter().any(|p| &p.id == plan) => plan.clone(),
        Some(plan) => return Err(HoldError::Config(format!("the gateway has no plan `{plan}`"))),
        None => plans.plans.first().map(|p| p.id.clone()).ok_or(HoldError::Config("the gateway has no plan".into()))?,
    };
    let metrics = reqwest::Client::builder().timeout(config.connect_timeout).build().unwrap_or_default();
    let mut notes = Vec::new();
    let gateway_file_limit = match config.memory {
        MemorySource::Pid(pid) => crate::net::file_limit_of(pid),
        MemorySource::Metrics => None,
    };
    if let Some(limit) = gateway_file_limit.filter(|l| *l < config.sessions as u64 + 100) {
        notes.push(format!(
            "the gateway may open only {limit} files, fewer than {} sessions need: restart it after `ulimit -n {}`",
            config.sessions,
            (config.sessions as u64 + 1000).max(65536)
        ));
    }
    let rss_before = match sample(&config.memory, &metrics, &config.target).await {
        Ok(rss) => Some(rss),
        Err(why) => {
            notes.push(why);
            None
        }
    };
    let tester_before = rss_of(std::process::id());

    let started = Instant::now();
    let (release, released) = watch::channel(false);
    let (report, mut reports) = mpsc::unbounded_channel::<Opened>();
    let dropped = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = JoinSet::new();
    let opener = {
        let config = config.clone();
        let plan = plan.clone();
        let dropped = Arc::clone(&dropped);
        let permits = Arc::clone(&permits);
        async move {
            for index in 0..config.sessions {
                if let Some(ramp) = config.ramp_per_s {
                    tokio::time::sleep_until(started + Duration::from_secs_f64(index as f64 / ramp)).await;
                }
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
                let job = Job {
                    api: api.clone(),
                    token: format!("{}{}", config.token_prefix, index + 1),
                    plan: plan.clone(),
                    encoding: config.encoding,
                    connect_timeout: config.connect_timeout,
                    event_timeout: config.event_timeout,
                };
                let (report, mut released, dropped) = (report.clone(), released.clone(), Arc::clone(&dropped));
                tasks.spawn(async move {
                    let opened = job.open().await;
                    drop(job);
                    drop(permit);
                    let mut socket = match opened {
                        Ok((socket, violations)) => {
                            let _ = report.send(Ok(violations));
                            socket
                        }
                        Err(failure) => {
                            let _ = report.send(Err(failure));
                            return;
                        }
                    };
                    drop(report);
                    let closed = loop {
                        tokio::select! {
                            incoming = socket.next() => if let Incoming::Closed(_) = incoming { break true },
                            _ = released.wait_for(|r| *r) => break false,
                        }
                    };
                    if closed {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        socket.close(Duration::from_secs(5)).await;
                    }
                });
            }
            tasks
        }
    };
    let opener = tokio::spawn(opener);
    let (mut opened, mut failed, mut violations) = (0u64, 0u64, 0u64);
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples = Vec::new();
    let mut exhausted = Vec::new();
    while let Some(result) = reports.recv().await {
        match result {
            Ok(seen) => {
                opened += 1;
                violations += seen;
            }
            Err((stage, detail, out_of)) => {
                failed += 1;
                *failures.entry(stage.to_owned()).or_default() += 1;
                if examples.len() < 5 {
                    examples.push(format!("{stage}: {detail}"));
                }
                if let Some(out_of) = out_of.filter(|o| !exhausted.contains(o)) {
                    exhausted.push(out_of);
                }
            }
        }
        on_open(opened, failed);
    }
    let open_s = started.elapsed().as_secs_f64();
    let mut tasks = opener.await.unwrap_or_default();

    let holding = Instant::now();
    tokio::time::sleep(config.duration).await;
    let rss_hold = sample(&config.memory, &metrics, &config.target).await.ok();
    let tester_hold = rss_of(std::process::id());
    let hold_s = holding.elapsed().as_secs_f64();
    let _ = release.send(true);
    while tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = sample(&config.memory, &metrics, &config.target).await.ok();

    let per_session = |before: Option<u64>, hold: Option<u64>| match (before, hold) {
        (Some(before), Some(hold)) if opened > 0 => Some((hold as f64 - before as f64) / opened as f64),
        _ => None,
    };
    for out_of in exhausted {
        notes.push(out_of.hint().to_owned());
    }
    Ok(HoldReport {
        sessions: config.sessions,
        opened,
        failed,
        failures,
        examples,
        dropped: dropped.load(Ordering::Relaxed),
        violations,
        plan,
        encoding: config.encoding.subprotocol().to_owned(),
        open_s,
        hold_s,
        memory_source: config.memory.describe(),
        rss_before_bytes: rss_before,
        rss_hold_bytes: rss_hold,
        rss_after_bytes: rss_after,
        bytes_per_session: per_session(rss_before, rss_hold),
        tester_rss_bytes: tester_hold,
        tester_bytes_per_session: per_session(tester_before, tester_hold),
        gateway_file_limit,
        notes,
    })
}

/// Opening one session.
struct Job {
    api: Api,
    token: String,
    plan: String,
    encoding: Encoding,
    connect_timeout: Duration,
    event_timeout: Duration,
}

impl Job {
    /// Creates, connects and starts the session, and reads until the first question is done:
    /// the socket and the protocol violations seen, or the stage that failed.
    async fn open(&self) -> Result<(Socket, u64), (&'static str, String, Option<Exhausted>)> {
        let failed = |stage, error: ClientError| {
            let out_of = Exhausted::of(&error);
            (stage, error.to_string(), out_of)
        };
        let created = self.api.create_session(&self.token, &self.plan).await.map_err(|e| failed("create", e))?;
        let mut socket =
            Socket::connect(self.api.target(), &self.token, &created.session_id, self.encoding, self.connect_timeout)
                .await
                .map_err(|e| failed("connect", e))?;
        let mut checker = Checker::new();
        let deadline = Instant::now() + self.event_timeout;
        let mut started = false;
        while !checker.awaiting_answer() {
            let incoming = tokio::time::timeout_at(deadline, socket.next()).await;
            let incoming = incoming
                .map_err(|_| ("first_question", format!("no first question within {:?}", self.event_timeout), None))?;
            match incoming {
                Incoming::Message(message) => checker.observe(&message),
                Incoming::BadFrame(detail) => checker.bad_frame(&detail),
                Incoming::Closed(code) => {
                    return Err(("first_question", format!("closed with {code:?} before the first question"), None));
                }
            }
            if !started {
                started = true;
                let start = ClientMessage::SessionStart { id: Some("hold-start".to_owned()), voice: None };
                socket.send(&start).await.map_err(|e| failed("connect", e))?;
            }
        }
        let (violations, _) = checker.finish();
        Ok((socket, violations.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_rss() {
        assert!(rss_of(std::process::id()).is_some_and(|rss| rss > 0));
        assert_eq!(rss_of(u32::MAX), None);
    }

    #[test]
    fn reads_rss_from_prometheus_text() {
        let text = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                    # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.2345e7\nother 1\n";
        assert_eq!(rss_in_metrics(text), Some(12_345_000));
        assert_eq!(rss_in_metrics("viva_sessions 3\n"), None);
    }
}
