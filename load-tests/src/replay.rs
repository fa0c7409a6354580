//! A replay run: N sessions, at most C live at once, each replaying one recording
//! (round-robin over them) as its own user, summed up into a [`Summary`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use viva_protocol::Encoding;

use crate::client::{Api, ClientError, Target};
use crate::recording::Script;
use crate::session::{self, SessionJob, SessionOutcome};
use crate::stats::{Aggregate, Summary};
use crate::voice::VoiceReplay;

/// Every wait of a run, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A REST call or a WebSocket handshake.
    pub connect: Duration,
    /// Silence from the gateway while a session waits for it (clocks come every 5 s while a
    /// session is live; the end may wait up to 30 s for scores).
    pub event: Duration,
    /// One whole session; `None`: the recording's length at the run's speed, plus two minutes
    /// (and, with voice, 90 s per recorded answer).
    pub session: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), event: Duration::from_secs(45), session: None }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The gateways: session `n` is created and opened on target `n mod len` (one target:
    /// a gateway or a balancer), and each of its reconnects goes to the next.
    pub targets: Vec<Target>,
    /// Reconnects a session makes at most (after its socket closed early with a code that says
    /// to reconnect); then it fails.
    pub max_reconnects: u32,
    /// The recordings, replayed round-robin.
    pub scripts: Vec<Script>,
    /// Sessions to run.
    pub sessions: usize,
    /// Sessions live at once.
    pub concurrency: usize,
    /// Recordings' timing is divided by this.
    pub speed: f64,
    /// The sockets' encoding.
    pub encoding: Encoding,
    /// Session `n` (1-based) belongs to the user of token `<prefix><n>`.
    pub token_prefix: String,
    /// Bounds on every wait.
    pub timeouts: Timeouts,
    /// Start at most this many sessions per second (`None`: as fast as `concurrency` allows).
    pub ramp_per_s: Option<f64>,
    /// Speak the answers and listen to the turns (`None`: text, as recorded).
    pub voice: Option<Arc<VoiceReplay>>,
}

/// The session timeout's allowance for one spoken answer (its speech and the silence after
/// it at real pace, the turns' audio) on top of the recording's length.
const SPOKEN_ANSWER_ALLOWANCE: Duration = Duration::from_secs(90);

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Nothing to run.
    #[error("{0}")]
    Config(String),
    /// The gateway cannot be asked for its plans.
    #[error("the gateway does not answer: {0}")]
    Gateway(#[from] ClientError),
}

/// Runs the replay; `on_session` sees every session as it finishes, with the aggregate so far.
pub async fn run(
    config: ReplayConfig,
    on_session: impl Fn(&SessionOutcome, &Aggregate) + Send + Sync + 'static,
) -> Result<Summary, ReplayError> {
    if config.scripts.is_empty() || config.sessions == 0 || config.concurrency == 0 {
        return Err(ReplayError::Config("need recordings, sessions >= 1 and concurrency >= 1".to_owned()));
    }
    if config.speed.is_nan() || config.speed <= 0.0 {
        return Err(ReplayError::Config(format!("speed must be above 0, not {}", config.speed)));
    }
    if let Some(ramp) = config.ramp_per_s.filter(|r| !r.is_finite() || *r <= 0.0) {
        return Err(ReplayError::Config(format!("the ramp must be above 0 sessions/s, not {ramp}")));
    }
    if config.targets.is_empty() {
        return Err(ReplayError::Config("need at least one gateway URL".to_owned()));
    }
    let apis: Vec<Api> = config.targets.iter().map(|t| Api::new(t.clone(), config.timeouts.connect)).collect();
    let targets: Arc<[Target]> = config.targets.into();
    let plans = apis[0].plans().await?;
    for script in &config.scripts {
        if !plans.plans.iter().any(|p| p.id == script.plan) {
            return Err(ReplayError::Config(format!(
                "recording {}: the gateway has no plan `{}`",
                script.name, script.plan
            )));
        }
    }
    let scripts: Vec<Arc<Script>> = config.scripts.into_iter().map(Arc::new).collect();
    let started = Instant::now();
    let mut aggregate = Aggregate::new();
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let mut running = JoinSet::new();
    let finish = |joined: Result<SessionOutcome, tokio::task::JoinError>, aggregate: &mut Aggregate| {
        let outcome = joined.unwrap_or_else(|error| panicked(&error));
        aggregate.add(&outcome);
        on_session(&outcome, aggregate);
    };
    for index in 0..config.sessions {
        if let Some(ramp) = config.ramp_per_s {
            tokio::time::sleep_until(started + Duration::from_secs_f64(index as f64 / ramp)).await;
        }
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
        let script = Arc::clone(&scripts[index % scripts.len()]);
        let mut length = Duration::from_secs_f64(script.duration_ms() as f64 / 1000.0 / config.speed);
        if config.voice.is_some() {
            length += SPOKEN_ANSWER_ALLOWANCE * u32::try_from(script.answers().count()).unwrap_or(u32::MAX);
        }
        let job = SessionJob {
            index,
            token: format!("{}{}", config.token_prefix, index + 1),
            encoding: config.encoding,
            speed: config.speed,
            connect_timeout: config.timeouts.connect,
            event_timeout: config.timeouts.event,
            session_timeout: config.timeouts.session.unwrap_or(length + Duration::from_secs(120)),
            run_start: started,
            voice: config.voice.clone(),
            targets: Arc::clone(&targets),
            max_reconnects: config.max_reconnects,
        };
        let api = apis[index % apis.len()].clone();
        running.spawn(async move {
            let outcome = session::run(&api, &script, &job).await;
            drop(permit);
            outcome
        });
        while let Some(joined) = running.try_join_next() {
            finish(joined, &mut aggregate);
        }
    }
    while let Some(joined) = running.join_next().await {
        finish(joined, &mut aggregate);
    }
    Ok(aggregate.summary(started.elapsed()))
}

/// The outcome of a session whose task panicked (a bug in this tool, counted, not hidden).
fn panicked(error: &tokio::task::JoinError) -> SessionOutcome {
    let mut outcome = SessionOutcome::new(usize::MAX, String::new());
    outcome.failure = Some((crate::session::FailureKind::Panic, format!("the session's task failed: {error}")));
    outcome
}
