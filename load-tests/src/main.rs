//! The `viva-load` command line: `record` saves one session's recording; `replay` runs many
//! sessions from recordings against a gateway, checks every event and reports latencies;
//! `hold` measures idle sessions' memory; `baseline-server` and `provider` are servers to run
//! beside a gateway (a yardstick for it, a paced LLM for it).
//!
//! Run with: `cargo run --release -p viva-load -- replay --url ws://127.0.0.1:8080
//! --recordings load-tests/recordings --sessions 200 --concurrency 50 --speed 10`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use viva_load::client::Api;
use viva_load::recording::{self, Script};
use viva_load::stats::{Metric, THRESHOLD_HELP};
use viva_load::{ReplayConfig, Summary, Target, Threshold, Timeouts};
use viva_protocol::{ClientMessage, Encoding};

/// Load tester for Viva: records interviews and replays them at scale.
#[derive(Debug, Parser)]
#[command(name = "viva-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save a session's recording (`GET /v1/sessions/{id}/recording`) to a file.
    Record(RecordArgs),
    /// Replay recordings as many sessions, check every event against the protocol, and report
    /// latencies and throughput. Exits 1 when a session failed, the protocol was violated or
    /// a threshold was missed; 2 when the run could not be made.
    Replay(ReplayArgs),
    /// Open N sessions that start and then wait for an answer, hold them, and report the
    /// gateway's resident memory per idle session. Exits 1 when a session failed to open or
    /// was dropped, 2 when the run could not be made.
    Hold(HoldArgs),
    /// Serve a bare WebSocket server (no engine) that sends Viva's frames on Viva's schedule,
    /// a target for `replay` and `hold` to compare Viva against.
    BaselineServer(BaselineArgs),
    /// Serve a paced OpenAI-format API: chat completions (`/models`, `/chat/completions`,
    /// streamed or JSON), the LLM for load runs of `viva-gateway --interviewer llm
    /// --scorer llm`; and speech (`/audio/transcriptions`, `/audio/speech`), the providers of
    /// `--stt openai --tts openai`. Prints what it served when stopped (Ctrl-C or SIGTERM).
    Provider(ProviderArgs),
}

#[derive(Debug, clap::Args)]
struct RecordArgs {
    /// The gateway, `ws://host:port` or `http://host:port`.
    #[arg(long)]
    url: String,
    /// The session to record.
    #[arg(long)]
    session: String,
    /// Bearer token of the session's owner, e.g. `dev:alice`.
    #[arg(long)]
    token: String,
    /// Where to save it: a file named `<plan>.<name>.jsonl`, or a directory (the file is then
    /// `<plan>.<session>.jsonl`).
    #[arg(long)]
    out: PathBuf,
    /// Seconds a request may take.
    #[arg(long, default_value_t = 10)]
    timeout_s: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EncodingArg {
    /// `viva.v1.json`, text frames.
    Json,
    /// `viva.v1.msgpack`, binary frames.
    Msgpack,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The gateway, `ws://host:port` or `http://host:port`; several (repeat the flag): session
    /// n goes to the nth mod their number, and each reconnect to the next. Behind a balancer,
    /// its one URL.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Reconnects a session makes at most, resuming with `last_seq`, after its socket closed
    /// before the end with a code that says to (a node going away, or killed; a session moved);
    /// then it fails.
    #[arg(long, default_value_t = 10)]
    max_reconnects: u32,
    /// A directory of `<plan>.<name>.jsonl` recordings (or one such file), replayed round-robin.
    #[arg(long, default_value = "load-tests/recordings")]
    recordings: PathBuf,
    /// Sessions to run.
    #[arg(long, default_value_t = 10)]
    sessions: usize,
    /// Sessions live at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Replay this many times faster than recorded (answers still wait for their question).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write a self-contained HTML report (parameters, results, latency histograms,
    /// throughput over time; no script, nothing fetched) to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Also write the report's plots as standalone SVG files into this directory (made if
    /// missing): throughput.svg, latency-percentiles.svg, latency-<metric>.svg.
    #[arg(long)]
    svg_dir: Option<PathBuf>,
    /// The sockets' encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::Json)]
    encoding: EncodingArg,
    /// Session n (1-based) belongs to the user of bearer token `<prefix><n>`.
    #[arg(long, default_value = "dev:load-")]
    token_prefix: String,
    /// A condition the run must meet, like k6's: `METRIC<N`, `<=`, `>` or `>=`; repeatable.
    #[arg(long = "threshold", value_name = "EXPR", long_help = THRESHOLD_HELP)]
    thresholds: Vec<Threshold>,
    /// Seconds a REST call or a WebSocket handshake may take.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout_s: f64,
    /// Seconds the gateway may stay silent while a session waits for it.
    #[arg(long, default_value_t = 45.0)]
    event_timeout_s: f64,
    /// Seconds one session may take [default: the recording's length at --speed, plus 120].
    #[arg(long)]
    session_timeout_s: Option<f64>,
    /// Start at most this many sessions per second [default: as fast as --concurrency allows].
    #[arg(long)]
    ramp_per_s: Option<f64>,
    /// Speak: start every session with voice both ways and speak each prose answer (espeak-ng
    /// speech in 20 ms frames at real pace, then silence until the server hears its end); code
    /// answers stay typed. Needs `espeak-ng`, and a gateway with --stt and --tts.
    #[arg(long)]
    voice: bool,
    /// With --voice: speak at most this many characters of an answer, its whole sentences
    /// (0: all of it). About 15 characters a second: a 1,000-character answer would pass the
    /// server's 60 s utterance limit.
    #[arg(long, default_value_t = 300)]
    voice_max_chars: usize,
    /// With --voice: a session fails after more `stt_failed` and `tts_failed` errors than this.
    #[arg(long, default_value_t = 3)]
    voice_max_errors: u32,
    /// With --voice: where the answers' speech is cached between runs [default: viva-load-voice
    /// in the temporary directory].
    #[arg(long)]
    voice_cache: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_file_limit();
    let result = match cli.command {
        Command::Record(args) => record(args).await.map(|()| true),
        Command::Replay(args) => replay(args).await,
        Command::Hold(args) => hold(args).await,
        Command::BaselineServer(args) => baseline_server(args).await.map(|()| true),
        Command::Provider(args) => provider(args).await.map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("viva-load: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let api = Api::new(Target::parse(&args.url)?, Duration::from_secs(args.timeout_s));
    let view = api.session(&args.token, &args.session).await?;
    let lines = api.recording(&args.token, &args.session).await?;
    let out =
        if args.out.is_dir() { args.out.join(format!("{}.{}.jsonl", view.plan_id, args.session)) } else { args.out };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if recording::plan_of(&name) != Some(view.plan_id.as_str()) || !name.ends_with(".jsonl") {
        bail!(
            "the session is on plan `{0}`: name the file `{0}.<name>.jsonl` so a replay uses that plan",
            view.plan_id
        );
    }
    let text = recording::to_jsonl(&lines);
    // Check it reads back as a replayable recording before saving it.
    Script::parse(name.trim_end_matches(".jsonl"), &text)?;
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    let answers = lines.iter().filter(|l| recording::is_answer(&l.message)).count();
    let ended = lines.iter().any(|l| matches!(l.message, ClientMessage::SessionEnd { .. }));
    let seconds = lines.last().map_or(0.0, |l| l.t_ms as f64 / 1000.0);
    let end = if ended { ", ended by the candidate" } else { "" };
    println!("saved {} messages ({answers} answers{end}, {seconds:.1} s) to {}", lines.len(), out.display());
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<bool> {
    let scripts = Script::read_all(&args.recordings)?;
    let seconds = |s: f64, flag: &str| {
        if s.is_finite() && s > 0.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(anyhow::anyhow!("{flag} must be above 0"))
        }
    };
    let timeouts = Timeouts {
        connect: seconds(args.connect_timeout_s, "--connect-timeout-s")?,
        event: seconds(args.event_timeout_s, "--event-timeout-s")?,
        session: args.session_timeout_s.map(|s| seconds(s, "--session-timeout-s")).transpose()?,
    };
    let encoding = match args.encoding {
        EncodingArg::Json => Encoding::Json,
        EncodingArg::Msgpack => Encoding::MsgPack,
    };
    let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    eprintln!(
        "replaying {} recordings ({}) as {} sessions, {} at once, at {}x, {} encoding",
        scripts.len(),
        names.join(", "),
        args.sessions,
        args.concurrency,
        args.speed,
        encoding.subprotocol()
    );
    let info = viva_load::report::RunInfo {
        url: args.url.join(" "),
        recordings: names.iter().map(|name| (*name).to_owned()).collect(),
        sessions: args.sessions,
        concurrency: args.concurrency,
        speed: args.speed,
        encoding: encoding.subprotocol().to_owned(),
        started_at: std::time::SystemTime::now(),
        command: viva_load::report::command_line(std::env::args()),
    };
    let voice = if args.voice {
        let cache = args.voice_cache.clone().unwrap_or_else(viva_load::voice::default_cache_dir);
        let started = Instant::now();
        let prepared =
            viva_load::voice::VoiceReplay::prepare(&scripts, args.voice_max_chars, args.voice_max_errors, &cache)
                .await
                .context("speaking the answers")?;
        eprintln!(
            "voice: {} answers, {:.1} s of speech ({} synthesized by espeak-ng in {:.1} s, the rest from {})",
            prepared.voices.len(),
            prepared.voices.seconds(),
            prepared.voices.synthesized,
            started.elapsed().as_secs_f64(),
            cache.display()
        );
        Some(std::sync::Arc::new(prepared))
    } else {
        None
    };
    let config = ReplayConfig {
        targets: args.url.iter().map(|url| Target::parse(url)).collect::<Result<_, _>>()?,
        max_reconnects: args.max_reconnects,
        scripts,
        sessions: args.sessions,
        concurrency: args.concurrency,
        speed: args.speed,
        encoding,
        token_prefix: args.token_prefix,
        timeouts,
        ramp_per_s: args.ramp_per_s,
        voice,
    };
    let progress = Progress::new(args.sessions as u64);
    let reporter = progress.clone();
    let mut summary = viva_load::replay::run(config, move |_, aggregate| {
        let (done, completed) = aggregate.progress();
        reporter.update(done, completed, aggregate.violation_count());
    })
    .await?;
    progress.finish();
    summary.check(&args.thresholds);
    print!("{}", render(&summary));
    if let Some(path) = &args.json {
        write_json(path, &summary)?;
    }
    if let Some(path) = &args.html {
        let written = viva_load::report::write_html(path, &info, &summary);
        written.with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.svg_dir {
        let written = viva_load::report::write_svgs(dir, &summary);
        written.with_context(|| format!("writing the plots into {}", dir.display()))?;
    }
    Ok(summary.passed())
}

fn write_json(path: &Path, summary: &Summary) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// A progress bar on a terminal; a line every 10% (or 5 s) otherwise.
#[derive(Clone)]
enum Progress {
    Bar(ProgressBar),
    Lines { total: u64, last: std::sync::Arc<Mutex<(u64, Instant)>> },
}

impl Progress {
    fn new(total: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines { total, last: std::sync::Arc::new(Mutex::new((0, Instant::now()))) };
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} sessions {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self::Bar(bar)
    }

    fn update(&self, done: u64, completed: u64, violations: u64) {
        let failed = done - completed;
        match self {
            Self::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(format!("({completed} completed, {failed} failed, {violations} violations)"));
            }
            Self::Lines { total, last } => {
                let Ok(mut last) = last.lock() else { return };
                let step = (*total / 10).max(1);
                if done == *total || done >= last.0 + step || last.1.elapsed() >= Duration::from_secs(5) {
                    *last = (done, Instant::now());
                    eprintln!(
                        "{done}/{total} sessions ({completed} completed, {failed} failed, {violations} violations)"
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// The summary as a report for people.
fn render(summary: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let s = &summary.sessions;
    let _ = writeln!(
        out,
        "\nsessions    {} run, {} completed, {} failed in {:.1} s",
        s.total, s.completed, s.failed, summary.duration_s
    );
    for (kind, count) in &s.failures {
        let _ = writeln!(out, "  failed    {kind}: {count}");
    }
    let _ = writeln!(out, "violations  {}", summary.violations.total);
    for (kind, count) in &summary.violations.by_kind {
        let _ = writeln!(out, "  {kind}: {count}");
    }
    if !summary.errors.is_empty() {
        let errors: Vec<String> = summary.errors.iter().map(|(code, n)| format!("{code}: {n}")).collect();
        let _ = writeln!(out, "errors      {}", errors.join(", "));
    }
    let c = &summary.connections;
    if c.reconnects > 0 || c.by_node.len() > 1 {
        let nodes: Vec<String> = c.by_node.iter().map(|(node, n)| format!("{node}: {n}")).collect();
        let _ =
            writeln!(out, "sockets     {} reconnects ({} moved); by node: {}", c.reconnects, c.moved, nodes.join(", "));
    }
    let _ = writeln!(out, "latency (ms)        count      p50      p90      p99      max");
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    for metric in Metric::ALL {
        let l = &summary.latency_ms[metric.name()];
        let _ = writeln!(
            out,
            "  {:<17} {:>6} {:>8} {:>8} {:>8} {:>8}   {}",
            metric.name(),
            l.count,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
            metric.description()
        );
    }
    let _ = writeln!(
        out,
        "throughput  {} events, {:.0} events/s; {:.1} KiB/s received; {} messages sent ({} answers, {} beyond the recordings)",
        summary.events,
        summary.events_per_s,
        summary.bytes_per_s / 1024.0,
        summary.messages_out,
        summary.answers,
        summary.extra_answers
    );
    let audio = &summary.audio;
    if audio.turn_audio_chunks > 0 || audio.speech_sent_s > 0.0 {
        let _ = writeln!(
            out,
            "audio       {} turn.audio chunks received ({:.1} s of interviewer audio); {:.1} s of speech and silence sent; {} turns cut off by the speech",
            audio.turn_audio_chunks, audio.turn_audio_s, audio.speech_sent_s, audio.barge_ins
        );
    }
    for example in &summary.examples {
        let _ = writeln!(out, "  e.g. {example}");
    }
    for t in &summary.thresholds {
        let value = t.value.map_or_else(|| "no samples".to_owned(), |v| format!("{v}"));
        let _ = writeln!(out, "threshold   {} = {value}: {}", t.threshold, if t.passed { "ok" } else { "MISSED" });
    }
    let _ = writeln!(out, "{}", if summary.passed() { "PASSED" } else { "FAILED" });
    out
}

#[derive(Debug, clap::Args)]
struct HoldArgs {
    /// The gateway, `ws://host:port` or `http://host:port`.
    #[arg(long)]
    url: String,
    /// Sessions to open and hold.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Seconds to hold them once all are open.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// The gateway's process id, to read its memory from /proc/<pid>/status [default: the
    /// gateway's GET /metrics `process_resident_memory_bytes`].
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// The sockets' encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::Json)]
    encoding: EncodingArg,
    /// Session n (1-based) belongs to the user of bearer token `<prefix><n>`.
    #[arg(long, default_value = "dev:hold-")]
    token_prefix: String,
    /// The plan of the sessions [default: the gateway's first].
    #[arg(long)]
    plan: Option<String>,
    /// Sessions being opened at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Start at most this many sessions per second [default: as fast as --concurrency allows].
    #[arg(long)]
    ramp_per_s: Option<f64>,
    /// Seconds a REST call or a WebSocket handshake may take.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout_s: f64,
    /// Seconds to wait for a session's first question once connected.
    #[arg(long, default_value_t = 30.0)]
    event_timeout_s: f64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct BaselineArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Send one `turn.delta` per word, as the scripted interviewer produces them [default: one
    /// per turn, as Viva sends them at pace 0, its outbox merging deltas queued together].
    #[arg(long)]
    word_deltas: bool,
}

#[derive(Debug, clap::Args)]
struct ProviderArgs {
    /// Address to listen on (loopback only, unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: std::net::SocketAddr,
    /// Allow a --listen address other than loopback (the server has no authentication).
    #[arg(long)]
    allow_remote: bool,
    /// Milliseconds from a streamed request to its first content chunk.
    #[arg(long, default_value_t = 300)]
    first_token_ms: u64,
    /// Milliseconds from a streamed request to its last content chunk (the whole turn).
    #[arg(long, default_value_t = 1500)]
    turn_ms: u64,
    /// Milliseconds before a non-streamed (JSON) answer.
    #[arg(long, default_value_t = 1200)]
    score_ms: u64,
    /// Words in a streamed turn, one per chunk.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    turn_words: u64,
    /// Milliseconds from a `/audio/transcriptions` request to its transcript.
    #[arg(long, default_value_t = 300)]
    stt_ms: u64,
    /// Milliseconds from a `/audio/speech` request to its first audio (the rest follows at once).
    #[arg(long, default_value_t = 200)]
    tts_first_audio_ms: u64,
    /// Milliseconds of `/audio/speech` audio per character of its text.
    #[arg(long, default_value_t = 60)]
    tts_ms_per_char: u64,
}

/// Lifts this process's open-file soft limit to its hard limit (a run holds a socket per
/// session), and says so when that is still low.
fn raise_file_limit() {
    match viva_load::net::raise_file_limit() {
        Ok((soft, _)) if soft < 4096 => eprintln!(
            "viva-load: may open only {soft} files (its hard limit), so at most about {soft} sockets; \
             raise it with `ulimit -Hn` as root or in /etc/security/limits.conf"
        ),
        Ok(_) => {}
        Err(error) => eprintln!("viva-load: cannot raise the open-file limit: {error}"),
    }
}

async fn hold(args: HoldArgs) -> anyhow::Result<bool> {
    use viva_load::hold::{HoldConfig, MemorySource};
    let seconds = |s: f64, flag: &str| {
        if s.is_finite() && s >= 0.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(anyhow::anyhow!("{flag} must be 0 or more"))
        }
    };
    let encoding = match args.encoding {
        EncodingArg::Json => Encoding::Json,
        EncodingArg::Msgpack => Encoding::MsgPack,
    };
    let config = HoldConfig {
        target: Target::parse(&args.url)?,
        sessions: args.sessions,
        duration: seconds(args.duration_s, "--duration-s")?,
        encoding,
        token_prefix: args.token_prefix,
        plan: args.plan,
        concurrency: args.concurrency,
        ramp_per_s: args.ramp_per_s,
        connect_timeout: seconds(args.connect_timeout_s, "--connect-timeout-s")?,
        event_timeout: seconds(args.event_timeout_s, "--event-timeout-s")?,
        memory: args.gateway_pid.map_or(MemorySource::Metrics, MemorySource::Pid),
    };
    eprintln!(
        "opening {} sessions ({} at once, {} encoding), then holding them for {:?}; memory from {}",
        config.sessions,
        config.concurrency,
        encoding.subprotocol(),
        config.duration,
        config.memory.describe()
    );
    let total = config.sessions as u64;
    let step = (total / 10).max(1);
    let report = viva_load::hold::run(config, move |opened, failed| {
        let done = opened + failed;
        if done % step == 0 || done == total {
            eprintln!("{done}/{total} sessions ({opened} open, {failed} failed)");
        }
    })
    .await?;
    print!("{}", render_hold(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.failed == 0 && report.dropped == 0)
}

/// A hold's report for people.
fn render_hold(report: &viva_load::hold::HoldReport) -> String {
    use std::fmt::Write;
    let mib = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    let per = |b: Option<f64>| b.map_or_else(|| "-".to_owned(), |b| format!("{:.0} bytes ({:.1} KiB)", b, b / 1024.0));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsessions    {} asked, {} open, {} failed (opened in {:.1} s), {} dropped while held {:.1} s",
        report.sessions, report.opened, report.failed, report.open_s, report.dropped, report.hold_s
    );
    for (stage, count) in &report.failures {
        let _ = writeln!(out, "  failed    {stage}: {count}");
    }
    for example in &report.examples {
        let _ = writeln!(out, "  e.g. {example}");
    }
    let _ = writeln!(out, "violations  {}", report.violations);
    let _ = writeln!(out, "memory      {} ({} session plan `{}`)", report.memory_source, report.encoding, report.plan);
    let _ = writeln!(
        out,
        "  gateway   before {}, holding {}, after closing {}",
        mib(report.rss_before_bytes),
        mib(report.rss_hold_bytes),
        mib(report.rss_after_bytes)
    );
    let _ = writeln!(out, "  per idle session {}", per(report.bytes_per_session));
    let _ = writeln!(
        out,
        "  viva-load holding {}, per session {}",
        mib(report.tester_rss_bytes),
        per(report.tester_bytes_per_session)
    );
    if let Some(limit) = report.gateway_file_limit {
        let _ = writeln!(out, "  gateway open-file limit {limit}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "note        {note}");
    }
    let _ = writeln!(out, "{}", if report.failed == 0 && report.dropped == 0 { "PASSED" } else { "FAILED" });
    out
}

async fn baseline_server(args: BaselineArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use viva_load::baseline::{self, Baseline, Deltas};
    let deltas = if args.word_deltas { Deltas::PerWord } else { Deltas::PerTurn };
    let server = Arc::new(Baseline::shipped(deltas).map_err(|e| anyhow::anyhow!("the canned frames: {e}"))?);
    let listener = baseline::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("viva-load baseline-server listening on http://{addr} (pid {})", std::process::id());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    baseline::serve(listener, server, shutdown).await?;
    Ok(())
}

async fn provider(args: ProviderArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use viva_load::provider::{self, Pace, Provider};
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!("--listen {} is not a loopback address; add --allow-remote to serve it anyway", args.listen);
    }
    if args.turn_ms < args.first_token_ms {
        bail!("--turn-ms ({}) must be at least --first-token-ms ({})", args.turn_ms, args.first_token_ms);
    }
    let pace = Pace {
        first_token: Duration::from_millis(args.first_token_ms),
        turn: Duration::from_millis(args.turn_ms),
        score: Duration::from_millis(args.score_ms),
        turn_words: usize::try_from(args.turn_words)?,
        stt: Duration::from_millis(args.stt_ms),
        tts_first_audio: Duration::from_millis(args.tts_first_audio_ms),
        speech_ms_per_char: args.tts_ms_per_char,
    };
    let server = Arc::new(Provider::new(pace));
    let listener =
        viva_load::baseline::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "viva-load provider listening on http://{addr} (pid {}): model `{}`, first token {} ms, turns {} ms of {} words, JSON in {} ms, transcripts in {} ms, first speech audio in {} ms ({} ms a character)",
        std::process::id(),
        provider::MODEL,
        args.first_token_ms,
        args.turn_ms,
        args.turn_words,
        args.score_ms,
        args.stt_ms,
        args.tts_first_audio_ms,
        args.tts_ms_per_char
    );
    provider::serve(listener, Arc::clone(&server), stopped()).await?;
    let s = server.stats();
    println!(
        "viva-load provider: {} streamed ({} cut short by the client, {} in flight at the end), {} JSON, {} refused; at most {} at once",
        s.streamed, s.streams_cut, s.in_flight, s.completions, s.rejected, s.max_in_flight
    );
    println!(
        "viva-load provider: {} transcriptions ({:.1} s of audio), {} speeches ({:.1} s of audio)",
        s.transcriptions,
        s.transcribed_ms as f64 / 1000.0,
        s.speeches,
        s.spoken_ms as f64 / 1000.0
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
