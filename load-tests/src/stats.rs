//! What a run measured: latency histograms (HDR, microsecond resolution), throughput, sessions
//! and violations, summed up in a [`Summary`], and k6-style [`Threshold`]s over it.
//!
//! Threshold metrics (`--threshold 'p99_first_delta_ms<20'`):
//!
//! - `{p50,p90,p99,max,mean}_{latency}_ms` for each latency of [`Metric`]: `connect`,
//!   `start_first_delta`, `ack`, `first_delta`, `score`, and with `--voice`
//!   `speech_end_to_answer`, `speech_end_to_audio`;
//! - `events_per_s`, `bytes_per_s` (received), `sessions_completed`, `sessions_failed`,
//!   `violations`, `errors`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::series::{SeriesBuilder, SeriesPoint};
use crate::session::SessionOutcome;

/// A latency the replay measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// The WebSocket handshake.
    Connect,
    /// `session.start` sent → the first `turn.delta` (the intro starts speaking).
    StartFirstDelta,
    /// An answer sent → its `answer.received` (stored and acknowledged).
    Ack,
    /// An answer sent → the first `turn.delta` of the turn that follows it.
    FirstDelta,
    /// An answer sent → its `score.updated`.
    Score,
    /// Voice: the end of a spoken answer's speech (when the 20 ms frame holding
    /// `input_audio.speech_stopped`'s `audio_end_ms` was sent) → its `answer.received`.
    SpeechEndToAnswer,
    /// Voice: the end of a spoken answer's speech → the first `turn.audio` of the next turn.
    SpeechEndToAudio,
    /// A socket closed before the end → the `session.ready` of the socket opened again.
    Reconnect,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Self; 8] = [
        Self::Connect,
        Self::StartFirstDelta,
        Self::Ack,
        Self::FirstDelta,
        Self::Score,
        Self::SpeechEndToAnswer,
        Self::SpeechEndToAudio,
        Self::Reconnect,
    ];

    /// Its name in reports and thresholds.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::StartFirstDelta => "start_first_delta",
            Self::Ack => "ack",
            Self::FirstDelta => "first_delta",
            Self::Score => "score",
            Self::SpeechEndToAnswer => "speech_end_to_answer",
            Self::SpeechEndToAudio => "speech_end_to_audio",
            Self::Reconnect => "reconnect",
        }
    }

    /// What it measures.
    pub fn description(self) -> &'static str {
        match self {
            Self::Connect => "WebSocket handshake",
            Self::StartFirstDelta => "session.start -> first turn.delta",
            Self::Ack => "answer -> answer.received",
            Self::FirstDelta => "answer -> first turn.delta of the next turn",
            Self::Score => "answer -> score.updated",
            Self::SpeechEndToAnswer => "voice: end of speech -> answer.received",
            Self::SpeechEndToAudio => "voice: end of speech -> first turn.audio of the next turn",
            Self::Reconnect => "socket closed early -> session.ready of the next socket",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One session's latency samples, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    values: [Vec<u64>; Metric::ALL.len()],
}

impl Samples {
    /// Adds one sample.
    pub fn record(&mut self, metric: Metric, latency: Duration) {
        self.values[metric.index()].push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// The samples of `metric`, in microseconds.
    pub fn of(&self, metric: Metric) -> &[u64] {
        &self.values[metric.index()]
    }

    /// These samples and `other`'s.
    pub fn merged(mut self, other: Self) -> Self {
        for (mine, theirs) in self.values.iter_mut().zip(other.values) {
            mine.extend(theirs);
        }
        self
    }
}

/// Largest latency a histogram holds (an hour); larger samples count as this.
const MAX_MICROS: u64 = 3_600_000_000;

/// Sums sessions up as they finish.
pub struct Aggregate {
    histograms: Vec<Histogram<u64>>,
    sessions: u64,
    completed: u64,
    failures: BTreeMap<String, u64>,
    violations: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    events: u64,
    bytes_in: u64,
    bytes_out: u64,
    messages_out: u64,
    answers: u64,
    extra_answers: u64,
    audio_chunks: u64,
    audio_ms_in: u64,
    audio_ms_out: u64,
    barge_ins: u64,
    reconnects: u64,
    moved: u64,
    /// Sockets opened, by the node that took them.
    nodes: BTreeMap<String, u64>,
    /// A few failures and violations, word for word, to show what went wrong.
    examples: Vec<String>,
    /// Activity per second of the run.
    series: SeriesBuilder,
}

/// How many failures and violations a summary quotes.
const EXAMPLES: usize = 10;

impl Default for Aggregate {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregate {
    /// Nothing yet.
    pub fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| Histogram::new(3).unwrap());
        Self {
            histograms: Metric::ALL.iter().map(|_| histogram()).collect(),
            sessions: 0,
            completed: 0,
            failures: BTreeMap::new(),
            violations: BTreeMap::new(),
            errors: BTreeMap::new(),
            events: 0,
            bytes_in: 0,
            bytes_out: 0,
            messages_out: 0,
            answers: 0,
            extra_answers: 0,
            audio_chunks: 0,
            audio_ms_in: 0,
            audio_ms_out: 0,
            barge_ins: 0,
            reconnects: 0,
            moved: 0,
            nodes: BTreeMap::new(),
            examples: Vec::new(),
            series: SeriesBuilder::default(),
        }
    }

    /// Adds a finished session.
    pub fn add(&mut self, outcome: &SessionOutcome) {
        self.sessions += 1;
        self.completed += u64::from(outcome.completed);
        for metric in Metric::ALL {
            let histogram = &mut self.histograms[metric.index()];
            for &micros in outcome.samples.of(metric) {
                histogram.saturating_record(micros.clamp(1, MAX_MICROS));
            }
        }
        let session = outcome.session_id.as_deref().unwrap_or("-");
        if let Some((kind, detail)) = &outcome.failure {
            *self.failures.entry(kind.name().to_owned()).or_default() += 1;
            self.example(format!("session {} ({session}, {}): failed: {detail}", outcome.index, outcome.recording));
        }
        for violation in &outcome.violations {
            *self.violations.entry(violation.kind.name()).or_default() += 1;
            let detail = &violation.detail;
            self.example(format!("session {} ({session}): {}: {detail}", outcome.index, violation.kind.name()));
        }
        for (code, count) in &outcome.errors {
            *self.errors.entry(code.clone()).or_default() += u64::from(*count);
        }
        self.events += outcome.events;
        self.bytes_in += outcome.bytes_in;
        self.bytes_out += outcome.bytes_out;
        self.messages_out += outcome.messages_out;
        self.answers += outcome.answers;
        self.extra_answers += outcome.extra_answers;
        self.audio_chunks += outcome.audio_chunks;
        self.audio_ms_in += outcome.audio_ms_in;
        self.audio_ms_out += outcome.audio_ms_out;
        self.barge_ins += outcome.barge_ins;
        self.reconnects += outcome.reconnects;
        self.moved += outcome.moved;
        for node in &outcome.nodes {
            *self.nodes.entry(node.clone()).or_default() += 1;
        }
        self.series.add(&outcome.timeline, outcome.completed);
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(text);
        }
    }

    /// Sessions added so far: (finished, completed).
    pub fn progress(&self) -> (u64, u64) {
        (self.sessions, self.completed)
    }

    /// Violations so far.
    pub fn violation_count(&self) -> u64 {
        self.violations.values().sum()
    }

    /// The summary of a run that took `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let latency_ms = Metric::ALL
            .iter()
            .map(|m| (m.name().to_owned(), LatencySummary::of(&self.histograms[m.index()])))
            .collect();
        Summary {
            duration_s: round3(elapsed.as_secs_f64()),
            sessions: Sessions {
                total: self.sessions,
                completed: self.completed,
                failed: self.sessions - self.completed,
                failures: self.failures.clone(),
            },
            violations: Violations { total: self.violation_count(), by_kind: self.violations.clone() },
            errors: self.errors.clone(),
            latency_ms,
            events: self.events,
            events_per_s: round3(self.events as f64 / seconds),
            bytes_in: self.bytes_in,
            bytes_per_s: round3(self.bytes_in as f64 / seconds),
            messages_out: self.messages_out,
            bytes_out: self.bytes_out,
            answers: self.answers,
            extra_answers: self.extra_answers,
            audio: Audio {
                turn_audio_chunks: self.audio_chunks,
                turn_audio_s: round3(self.audio_ms_in as f64 / 1000.0),
                speech_sent_s: round3(self.audio_ms_out as f64 / 1000.0),
                barge_ins: self.barge_ins,
            },
            connections: Connections { reconnects: self.reconnects, moved: self.moved, by_node: self.nodes.clone() },
            examples: self.examples.clone(),
            thresholds: Vec::new(),
            series: self.series.points(elapsed),
            distributions: Metric::ALL
                .iter()
                .map(|m| (m.name().to_owned(), Distribution::of(&self.histograms[m.index()])))
                .collect(),
        }
    }
}

/// What a run measured (also its `--json` form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Wall time of the run, in seconds.
    pub duration_s: f64,
    /// Sessions run.
    pub sessions: Sessions,
    /// Protocol violations.
    pub violations: Violations,
    /// Non-fatal `error` events received, by code.
    pub errors: BTreeMap<String, u64>,
    /// Latency percentiles per metric, in milliseconds.
    pub latency_ms: BTreeMap<String, LatencySummary>,
    /// Server messages received.
    pub events: u64,
    /// `events` per second of the run.
    pub events_per_s: f64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// `bytes_in` per second of the run.
    pub bytes_per_s: f64,
    /// Client messages sent.
    pub messages_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Answers sent.
    pub answers: u64,
    /// Of which beyond the recordings' own answers (their last answer again).
    pub extra_answers: u64,
    /// Voice: the audio moved (all zero in a text replay).
    pub audio: Audio,
    /// Sockets: reconnects, and which nodes took them.
    pub connections: Connections,
    /// The first few failures and violations, word for word.
    pub examples: Vec<String>,
    /// The thresholds checked, if any.
    pub thresholds: Vec<ThresholdResult>,
    /// Activity per second of the run, from its start.
    pub series: Vec<SeriesPoint>,
    /// Each latency's distribution, for plots (not in the JSON: its percentiles are).
    #[serde(skip)]
    pub distributions: BTreeMap<String, Distribution>,
}

/// The audio of a run (voice replays).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Audio {
    /// `turn.audio` messages received.
    pub turn_audio_chunks: u64,
    /// Seconds of interviewer audio they held.
    pub turn_audio_s: f64,
    /// Seconds of the candidate's audio sent (speech and the silence after it).
    pub speech_sent_s: f64,
    /// Turns cut off while an answer was being spoken (the client waits for the interviewer's
    /// audio to finish: should be 0).
    pub barge_ins: u64,
}

/// The sockets of a run, behind a balancer or over several gateways.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connections {
    /// Sockets that closed before their session's end and were opened again (resuming).
    pub reconnects: u64,
    /// Of those, closed because another node took the session over (4011).
    pub moved: u64,
    /// Sockets opened (first and again), by the node that took them (`x-viva-node`).
    pub by_node: BTreeMap<String, u64>,
}

/// Sessions of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sessions {
    /// Run.
    pub total: u64,
    /// Reached `session.ended` and close 1000.
    pub completed: u64,
    /// Did not.
    pub failed: u64,
    /// Why, by kind (`create`, `connect`, `event_timeout`, `session_timeout`, `closed_early`,
    /// `send`, `panic`, `voice_errors`).
    pub failures: BTreeMap<String, u64>,
}

/// Protocol violations of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violations {
    /// All of them.
    pub total: u64,
    /// By kind (see `viva_protocol::checker::ViolationKind`).
    pub by_kind: BTreeMap<String, u64>,
}

/// Percentiles of one latency, in milliseconds (`null` without samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
}

impl LatencySummary {
    fn of(histogram: &Histogram<u64>) -> Self {
        let count = histogram.len();
        let ms = |micros: u64| (count > 0).then(|| round3(micros as f64 / 1000.0));
        Self {
            count,
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
            mean: (count > 0).then(|| round3(histogram.mean() / 1000.0)),
        }
    }
}

/// Buckets per decade of a [`Distribution`]'s histogram.
pub const BUCKETS_PER_DECADE: u32 = 5;

/// The percentiles a [`Distribution`]'s curve goes through, where the samples resolve them.
const CURVE_PERCENTILES: [f64; 28] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 92.5, 95.0, 96.0, 97.0, 97.5, 98.0, 98.5,
    99.0, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999,
];

/// One latency's samples as plots show them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    /// Sample counts in buckets of equal width on a log scale ([`BUCKETS_PER_DECADE`] a
    /// decade, from 1 ms), from the smallest sample's bucket to the largest's, empty ones
    /// included; none without samples.
    pub buckets: Vec<LatencyBucket>,
    /// The percentile curve, `(percentile, ms)`: from the smallest sample (0) through the
    /// percentiles the samples resolve (up to 100 · (1 − 1/count)) to the largest sample, put
    /// at that last resolvable percentile, 100 · (1 − 1/count).
    pub percentiles: Vec<(f64, f64)>,
}

/// A bucket of a latency histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBucket {
    /// Its lower bound, in milliseconds.
    pub from_ms: f64,
    /// Its upper bound (excluded), in milliseconds.
    pub to_ms: f64,
    /// Samples in it.
    pub count: u64,
}

impl Distribution {
    fn of(histogram: &Histogram<u64>) -> Self {
        let count = histogram.len();
        if count == 0 {
            return Self::default();
        }
        let per_decade = f64::from(BUCKETS_PER_DECADE);
        let bucket_of = |micros: u64| ((micros as f64 / 1000.0).log10() * per_decade + 1e-9).floor() as i64;
        let bound = |bucket: i64| round_sig(10f64.powf(bucket as f64 / per_decade));
        let recorded: Vec<(i64, u64)> = histogram
            .iter_recorded()
            .map(|v| (bucket_of(histogram.median_equivalent(v.value_iterated_to())), v.count_at_value()))
            .collect();
        let (Some(&(first, _)), Some(&(last, _))) = (recorded.first(), recorded.last()) else {
            return Self::default();
        };
        let mut buckets: Vec<LatencyBucket> =
            (first..=last).map(|b| LatencyBucket { from_ms: bound(b), to_ms: bound(b + 1), count: 0 }).collect();
        for (bucket, n) in recorded {
            if let Some(slot) = usize::try_from(bucket - first).ok().and_then(|i| buckets.get_mut(i)) {
                slot.count += n;
            }
        }
        let ms = |micros: u64| round3(micros as f64 / 1000.0);
        // The largest sample stands for the percentile 100 · (1 − 1/count); the curve goes
        // through the percentiles below it.
        let top = 100.0 * (1.0 - 1.0 / count as f64);
        let mut percentiles: Vec<(f64, f64)> = CURVE_PERCENTILES
            .iter()
            .filter(|&&p| p < top - 1e-6)
            .map(|&p| (p, ms(histogram.value_at_quantile(p / 100.0))))
            .collect();
        percentiles.push((round3(top), ms(histogram.max())));
        Self { buckets, percentiles }
    }
}

/// `x` to 6 significant digits (bucket bounds print as 1.58489, not 1.5848931924611136).
fn round_sig(x: f64) -> f64 {
    let scale = 10f64.powi(5 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// The value of a threshold metric (see the module docs); `None` for a latency without
    /// samples or an unknown name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "events_per_s" => return Some(self.events_per_s),
            "bytes_per_s" => return Some(self.bytes_per_s),
            "sessions_completed" => return Some(self.sessions.completed as f64),
            "sessions_failed" => return Some(self.sessions.failed as f64),
            "violations" => return Some(self.violations.total as f64),
            "errors" => return Some(self.errors.values().sum::<u64>() as f64),
            _ => {}
        }
        let (stat, rest) = name.split_once('_')?;
        let latency = self.latency_ms.get(rest.strip_suffix("_ms")?)?;
        match stat {
            "p50" => latency.p50,
            "p90" => latency.p90,
            "p99" => latency.p99,
            "max" => latency.max,
            "mean" => latency.mean,
            _ => None,
        }
    }

    /// Whether the run passed: every session completed, no violation, every threshold met.
    pub fn passed(&self) -> bool {
        self.sessions.failed == 0 && self.violations.total == 0 && self.thresholds.iter().all(|t| t.passed)
    }

    /// Checks `thresholds` and keeps their results.
    pub fn check(&mut self, thresholds: &[Threshold]) {
        self.thresholds = thresholds
            .iter()
            .map(|t| {
                let value = self.metric(&t.metric);
                ThresholdResult { threshold: t.to_string(), value, passed: value.is_some_and(|v| t.holds(v)) }
            })
            .collect();
    }
}

/// `--threshold`'s help: the syntax and every metric.
pub const THRESHOLD_HELP: &str = "\
A condition the run must meet, like k6's thresholds: METRIC followed by <, <=, > or >= and a
number, e.g. 'p99_first_delta_ms<20' or 'events_per_s>=5000'. Repeatable; any missed makes the
exit status 1 (as do failed sessions and protocol violations).

Metrics:
  {p50,p90,p99,max,mean}_connect_ms            WebSocket handshake
  {p50,p90,p99,max,mean}_start_first_delta_ms  session.start -> first turn.delta
  {p50,p90,p99,max,mean}_ack_ms                answer -> answer.received
  {p50,p90,p99,max,mean}_first_delta_ms        answer -> first turn.delta of the next turn
  {p50,p90,p99,max,mean}_score_ms              answer -> score.updated
  {p50,p90,p99,max,mean}_speech_end_to_answer_ms  voice: end of speech -> answer.received
  {p50,p90,p99,max,mean}_speech_end_to_audio_ms   voice: end of speech -> first turn.audio of the next turn
  {p50,p90,p99,max,mean}_reconnect_ms          socket closed early -> session.ready of the next socket
  events_per_s, bytes_per_s                    server messages / payload bytes received per second
  sessions_completed, sessions_failed          sessions that did / did not reach session.ended + close 1000
  violations, errors                           protocol violations; non-fatal error events received

A latency without samples misses every threshold on it.";

/// Every threshold metric name.
pub fn metric_names() -> Vec<String> {
    let mut names = Vec::new();
    for metric in Metric::ALL {
        for stat in ["p50", "p90", "p99", "max", "mean"] {
            names.push(format!("{stat}_{}_ms", metric.name()));
        }
    }
    names.extend(
        ["events_per_s", "bytes_per_s", "sessions_completed", "sessions_failed", "violations", "errors"]
            .map(str::to_owned),
    );
    names
}

/// A comparison of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A condition the run must meet, e.g. `p99_first_delta_ms<20`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric (see [`metric_names`]).
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
}

impl Threshold {
    /// Whether `value` meets it.
    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Op::Lt => value < self.value,
            Op::Le => value <= self.value,
            Op::Gt => value > self.value,
            Op::Ge => value >= self.value,
        }
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = text.find(['<', '>']).ok_or_else(|| format!("`{text}`: expected METRIC<N, <=, > or >="))?;
        let (metric, rest) = text.split_at(at);
        let (op, bound) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        if !metric_names().iter().any(|m| m == metric) {
            return Err(format!("`{metric}` is not a metric; see --help for the list"));
        }
        let value: f64 = bound.parse().map_err(|_| format!("`{bound}` is not a number"))?;
        if !value.is_finite() {
            return Err(format!("`{bound}` is not a finite number"));
        }
        Ok(Self { metric: metric.to_owned(), op, value })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.symbol(), self.value)
    }
}

/// A threshold, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdResult {
    /// As given, normalized.
    pub threshold: String,
    /// The metric's value (`null`: no samples).
    pub value: Option<f64>,
    /// Whether it was met.
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_every_comparison() {
        let parsed: Vec<Threshold> =
            ["p99_first_delta_ms<20", "p50_ack_ms <= 2.5", "events_per_s>1000", "violations>=0"]
                .iter()
                .map(|t| t.parse().unwrap())
                .collect();
        let shown: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["p99_first_delta_ms<20", "p50_ack_ms<=2.5", "events_per_s>1000", "violations>=0"]);
        assert_eq!(parsed.iter().map(|t| t.op).collect::<Vec<_>>(), [Op::Lt, Op::Le, Op::Gt, Op::Ge]);
        assert!(parsed[0].holds(19.9) && !parsed[0].holds(20.0));
        assert!(parsed[1].holds(2.5) && !parsed[1].holds(2.6));
        for bad in ["p99_first_delta_ms", "p98_ack_ms<1", "p99_ack_ms<fast", "<3", "violations<inf"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_summary_holds_percentiles_and_checks_thresholds() {
        let mut aggregate = Aggregate::new();
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.record(Metric::FirstDelta, Duration::from_millis(ms));
        }
        let outcome = SessionOutcome {
            index: 0,
            recording: "test.x".into(),
            session_id: Some("ses_1".into()),
            completed: true,
            failure: None,
            violations: Vec::new(),
            errors: BTreeMap::new(),
            samples,
            events: 500,
            bytes_in: 50_000,
            messages_out: 10,
            bytes_out: 1_000,
            answers: 9,
            extra_answers: 0,
            audio_chunks: 0,
            audio_ms_in: 0,
            audio_ms_out: 0,
            barge_ins: 0,
            timeline: crate::series::Timeline::default(),
            reconnects: 2,
            moved: 1,
            nodes: vec!["node-a".into(), "node-b".into(), "node-a".into()],
        };
        aggregate.add(&outcome);
        let mut summary = aggregate.summary(Duration::from_secs(2));
        let by_node: Vec<(&str, u64)> = summary.connections.by_node.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!((summary.connections.reconnects, summary.connections.moved), (2, 1));
        assert_eq!(by_node, [("node-a", 2), ("node-b", 1)]);
        let first_delta = &summary.latency_ms["first_delta"];
        assert_eq!((first_delta.count, first_delta.p50, first_delta.max), (100, Some(50.015), Some(100.031)));
        assert_eq!(summary.latency_ms["ack"].p99, None);
        assert_eq!((summary.events_per_s, summary.bytes_per_s), (250.0, 25_000.0));
        let thresholds: Vec<Threshold> = ["p99_first_delta_ms<200", "p99_ack_ms<1", "events_per_s>=250"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        summary.check(&thresholds);
        let passed: Vec<bool> = summary.thresholds.iter().map(|t| t.passed).collect();
        assert_eq!(passed, [true, false, true], "no samples fails a threshold");
        assert!(!summary.passed());
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["violations"]["total"], 0);
        assert_eq!(json["sessions"]["completed"], 1);
        assert_eq!(json["series"].as_array().map(Vec::len), Some(2), "a point per second");
        assert!(json.get("distributions").is_none());
    }

    #[test]
    fn a_distribution_counts_log_buckets_and_draws_the_percentile_curve() {
        let mut aggregate = Aggregate::new();
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.record(Metric::Ack, Duration::from_millis(ms));
        }
        let mut outcome = SessionOutcome::new(0, "test.x".into());
        outcome.samples = samples;
        aggregate.add(&outcome);
        let summary = aggregate.summary(Duration::from_secs(1));
        let ack = &summary.distributions["ack"];
        // 1 ms to 100 ms: two decades of five buckets, and the one 100 ms starts.
        assert_eq!(ack.buckets.len(), 11);
        assert_eq!((ack.buckets[0].from_ms, ack.buckets[0].to_ms), (1.0, 1.58489));
        assert_eq!(ack.buckets.iter().map(|b| b.count).sum::<u64>(), 100);
        assert_eq!(ack.buckets[10].count, 1);
        assert!(ack.buckets.windows(2).all(|w| w[0].to_ms == w[1].from_ms));
        // 100 samples resolve percentiles below 99; the largest sample is put at 99.
        assert_eq!(ack.percentiles.first(), Some(&(0.0, 1.0)));
        assert_eq!(ack.percentiles.last(), Some(&(99.0, 100.031)));
        assert!(ack.percentiles.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{:?}", ack.percentiles);
        assert_eq!(ack.percentiles.len(), 20, "0 to 98.5, and the largest");
        assert_eq!(summary.distributions["score"], Distribution::default());
    }

    #[test]
    fn the_help_names_every_metric() {
        for name in metric_names() {
            let documented = match name.strip_suffix("_ms").and_then(|n| n.split_once('_')) {
                Some((_, latency)) => THRESHOLD_HELP.contains(&format!("}}_{latency}_ms")),
                None => THRESHOLD_HELP.contains(&name),
            };
            assert!(documented, "{name} is not in --threshold's help");
        }
    }

    #[test]
    fn every_metric_name_is_known_to_the_summary() {
        let summary = Aggregate::new().summary(Duration::from_secs(1));
        for name in metric_names() {
            let is_latency = name.ends_with("_ms");
            assert_eq!(summary.metric(&name).is_none(), is_latency, "{name}");
        }
    }
}
