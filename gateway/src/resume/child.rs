//! Résumé extraction in a child process with resource limits: the gateway binary runs itself
//! (`viva-gateway __extract-resume ...`, [`SUBCOMMAND`]) with the file on stdin, and the child
//! writes its text as one JSON value on stdout.
//!
//! Bounds, and why each holds:
//! - **Memory**: the child sets `RLIMIT_AS` (its whole address space) on itself before it reads
//!   a byte of the file, so no input can make it map more; an allocation past it fails and the
//!   child aborts (Rust's allocation-failure handler). Its own, not the gateway's: the
//!   gateway's memory is untouched by any file.
//! - **CPU**: `RLIMIT_CPU`, set the same way: the kernel sends `SIGXCPU` at the soft limit and
//!   `SIGKILL` a second later.
//! - **Wall time**: the parent waits at most [`Extractor::timeout`], then kills the child
//!   (also when the request is dropped: `kill_on_drop`), so a child blocked on anything is gone.
//! - **Input and output**: the body is at most 2 MiB (the route's limit); the reply is read up
//!   to a cap; the parse itself caps pages, inflated size and text ([`Limits`]).
//! - **At once**: at most [`Extractor::max_concurrent`] children run; others wait, bounded by
//!   the same timeout (then 503).
//! - No core files (`RLIMIT_CORE` 0), no files written (`RLIMIT_FSIZE` 0), an empty
//!   environment (the gateway's secrets are not passed on).
//!
//! The limits are set with safe calls in the child itself (the workspace forbids `unsafe`, so
//! no `pre_exec`); they come first in `main`, before the runtime, the configuration or the
//! input, and a child that cannot set them refuses to parse.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::MAX_FILE_BYTES;
use super::extract::{self, Extracted, Kind, Limits};

/// The first argument that makes the gateway binary a résumé extractor.
pub const SUBCOMMAND: &str = "__extract-resume";

/// Largest reply read from a child (the text is capped well below).
const MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;

/// The child's exit code for bad arguments (EX_USAGE).
const EXIT_USAGE: i32 = 64;

/// The child's exit code when it cannot set its resource limits (EX_OSERR): it refuses to parse.
const EXIT_NO_LIMITS: i32 = 71;

/// Most of a child's stderr kept for the logs.
const MAX_STDERR_BYTES: u64 = 4 * 1024;

/// What a child answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    /// The text.
    Text(Extracted),
    /// Why there is none.
    Unreadable(String),
}

/// Why a file's text was not had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The file cannot be read (a message for its uploader): 422.
    #[error("{0}")]
    Unreadable(String),
    /// Extraction is not set up here ([`Extractor::program`] is `None`), or no child could be
    /// started, or too many run: 503.
    #[error("{0}")]
    Unavailable(String),
}

/// Runs extractions in child processes.
#[derive(Debug, Clone)]
pub struct Extractor {
    /// The program run as the child: the gateway binary, which answers [`SUBCOMMAND`]. `None`
    /// (the default: an embedder's program may not answer it) turns résumé files off (503).
    pub program: Option<PathBuf>,
    /// The child's address-space limit, in bytes.
    pub memory_bytes: u64,
    /// The child's CPU-time limit, in seconds.
    pub cpu_seconds: u64,
    /// Longest wait for a child (and for a turn to start one), wall time.
    pub timeout: Duration,
    /// Caps of the parse itself.
    pub limits: Limits,
    /// Children running at once, at most.
    pub max_concurrent: usize,
    permits: Arc<Semaphore>,
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Extractor {
    /// Default limits: 512 MiB of address space, 5 s of CPU, 10 s of wall time, two at once.
    pub fn new(program: Option<PathBuf>) -> Self {
        let max_concurrent = 2;
        Self {
            program,
            memory_bytes: 512 * 1024 * 1024,
            cpu_seconds: 5,
            timeout: Duration::from_secs(10),
            limits: Limits::default(),
            max_concurrent,
            permits: Arc::new(Semaphore::new(max_concurrent)),
        }
    }

    /// Sets how many children may run at once.
    pub fn with_max_concurrent(mut self, max_concurrent: usize) -> Self {
        self.max_concurrent = max_concurrent.max(1);
        self.permits = Arc::new(Semaphore::new(self.max_concurrent));
        self
    }

    /// The text of `bytes`, a file of `kind`, from a child process. Counted in
    /// `viva_resume_extractions_total{kind, outcome}` (`text`, `unreadable`, `unavailable`) and
    /// timed in `viva_resume_extraction_seconds{kind}`.
    pub async fn extract(&self, kind: Kind, bytes: &[u8]) -> Result<Extracted, ExtractError> {
        let started = std::time::Instant::now();
        let result = self.run(kind, bytes).await;
        let outcome = match &result {
            Ok(_) => "text",
            Err(ExtractError::Unreadable(_)) => "unreadable",
            Err(ExtractError::Unavailable(_)) => "unavailable",
        };
        metrics::counter!("viva_resume_extractions_total", "kind" => kind.name(), "outcome" => outcome).increment(1);
        if outcome != "unavailable" {
            metrics::histogram!("viva_resume_extraction_seconds", "kind" => kind.name())
                .record(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn run(&self, kind: Kind, bytes: &[u8]) -> Result<Extracted, ExtractError> {
        let program = self
            .program
            .as_ref()
            .ok_or_else(|| ExtractError::Unavailable("résumé files are not enabled on this server".into()))?;
        let busy = || ExtractError::Unavailable("too many résumés are being read; try again shortly".into());
        let _permit = match tokio::time::timeout(self.timeout, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(busy()),
        };
        let limits = &self.limits;
        let mut child = tokio::process::Command::new(program)
            .arg(SUBCOMMAND)
            .args([kind.name().to_owned(), self.memory_bytes.to_string(), self.cpu_seconds.to_string()])
            .args([
                limits.max_pages.to_string(),
                limits.max_inflated_bytes.to_string(),
                limits.max_text_bytes.to_string(),
            ])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                tracing::error!(%error, program = %program.display(), "cannot start the résumé extractor");
                ExtractError::Unavailable("résumés cannot be read right now".into())
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExtractError::Unavailable("résumés cannot be read right now".into()));
        };
        let talk = async {
            let write = async move {
                // A child that stops reading (it failed, or has what it needs) closes the pipe.
                let _ = stdin.write_all(bytes).await;
                drop(stdin);
            };
            let ((), out, err) = tokio::join!(write, read_out(stdout), read_err(stderr));
            (out, err)
        };
        let talked = tokio::time::timeout(self.timeout, async {
            let (out, err) = talk.await;
            let status = child.wait().await;
            (out, err, status)
        })
        .await;
        let Ok((out, err, status)) = talked else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(ExtractError::Unreadable(format!(
                "the file took longer than {} s to read",
                self.timeout.as_secs()
            )));
        };
        let stderr = String::from_utf8_lossy(&err);
        match serde_json::from_slice::<Reply>(&out) {
            Ok(Reply::Text(extracted)) => Ok(extracted),
            Ok(Reply::Unreadable(message)) => Err(ExtractError::Unreadable(message)),
            Err(_) if status.as_ref().is_ok_and(|s| matches!(s.code(), Some(EXIT_USAGE | EXIT_NO_LIMITS))) => {
                // Not the file: this program cannot run as the extractor here.
                tracing::error!(program = %program.display(), stderr = %stderr.trim(), "the résumé extractor cannot run");
                Err(ExtractError::Unavailable("résumés cannot be read right now".into()))
            }
            Err(_) => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                tracing::info!(kind = kind.name(), %status, stderr = %stderr.trim(), "résumé extractor failed");
                Err(ExtractError::Unreadable(self.failure(&status, &stderr)))
            }
        }
    }

    /// What a child that died without answering met, for the uploader.
    fn failure(&self, status: &str, stderr: &str) -> String {
        if stderr.contains("memory allocation") || stderr.contains("capacity overflow") {
            format!("reading the file needed more than {} MiB of memory", self.memory_bytes / (1024 * 1024))
        } else if status.contains("SIGXCPU") || status.contains("SIGKILL") {
            format!("reading the file took more than {} s of CPU time", self.cpu_seconds)
        } else {
            "the file is malformed: its parser gave up on it".to_owned()
        }
    }
}

async fn read_out(stdout: tokio::process::ChildStdout) -> Vec<u8> {
    // Up to the cap; then the pipe closes and a child still writing fails.
    let mut kept = Vec::new();
    let _ = stdout.take(MAX_REPLY_BYTES).read_to_end(&mut kept).await;
    kept
}

async fn read_err(stderr: tokio::process::ChildStderr) -> Vec<u8> {
    // Kept up to a cap; the rest is read and dropped, so a chatty child never blocks on it.
    let mut kept = Vec::new();
    let mut stderr = stderr;
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = (MAX_STDERR_BYTES as usize).saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

/// The child: `args` are what follows [`SUBCOMMAND`] (kind, memory bytes, CPU seconds, max
/// pages, max inflated bytes, max text bytes). Sets its limits, reads the file from stdin,
/// writes its reply to stdout (JSON: `{"text": {"text", "truncated"}}` or
/// `{"unreadable": "why"}`). Called by `main` before anything else.
pub fn main(args: &[String]) -> ExitCode {
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(kind), Some(memory), Some(cpu), Some(pages), Some(inflated), Some(text)) =
        (args.first().and_then(|k| Kind::of_name(k)), number(1), number(2), number(3), number(4), number(5))
    else {
        eprintln!(
            "usage: viva-gateway {SUBCOMMAND} <pdf|docx|markdown|text> <memory bytes> <cpu s> <pages> <inflated bytes> <text bytes>"
        );
        return ExitCode::from(EXIT_USAGE as u8);
    };
    if let Err(error) = limit_self(memory, cpu) {
        eprintln!("cannot set resource limits: {error}");
        return ExitCode::from(EXIT_NO_LIMITS as u8);
    }
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin().lock().take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes) {
        eprintln!("cannot read the file: {error}");
        return ExitCode::from(74);
    }
    let limits = Limits {
        max_pages: usize::try_from(pages).unwrap_or(usize::MAX),
        max_inflated_bytes: inflated,
        max_text_bytes: usize::try_from(text).unwrap_or(usize::MAX),
    };
    let reply = if bytes.len() > MAX_FILE_BYTES {
        Reply::Unreadable("the file is over 2 MiB".into())
    } else {
        match std::panic::catch_unwind(|| extract::extract(kind, &bytes, &limits)) {
            Ok(Ok(extracted)) => Reply::Text(extracted),
            Ok(Err(unreadable)) if unreadable.0 == extract::OUT_OF_MEMORY => {
                Reply::Unreadable(format!("reading the file needed more than {} MiB of memory", memory / (1024 * 1024)))
            }
            Ok(Err(unreadable)) => Reply::Unreadable(unreadable.0),
            Err(_) => Reply::Unreadable("the file is malformed: its parser gave up on it".into()),
        }
    };
    let mut stdout = std::io::stdout().lock();
    match serde_json::to_writer(&mut stdout, &reply).map_err(std::io::Error::from).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cannot write the reply: {error}");
            ExitCode::from(74)
        }
    }
}

/// This process's resource limits: address space, CPU time, no core file, no file written.
fn limit_self(memory_bytes: u64, cpu_seconds: u64) -> std::io::Result<()> {
    use rlimit::Resource;
    rlimit::setrlimit(Resource::CORE, 0, 0)?;
    rlimit::setrlimit(Resource::FSIZE, 0, 0)?;
    rlimit::setrlimit(Resource::CPU, cpu_seconds, cpu_seconds + 1)?;
    rlimit::setrlimit(Resource::AS, memory_bytes, memory_bytes)?;
    Ok(())
}
