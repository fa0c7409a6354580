//! Run with: cargo run -p example-embedded
//!
//! A whole mock interview in one process, through the engine's library API: no gateway, no
//! sockets. It builds an [`Engine`] with the scripted interviewer at full speed, creates a
//! session (`--plan`, default `senior-backend`), connects, starts it, prints the interviewer's
//! turns as they stream, answers every question with a canned answer built from the plan's
//! key points (code in the expected language for code questions), prints the scores as they
//! arrive, and at `report.ready` fetches the report with [`Engine::report`] and prints it.
//! Every message goes through the protocol's checker (`viva_protocol::checker`), as an app's
//! own tests can do. Exits 0 once the session has ended with the protocol kept.

mod answers;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use viva_engine::core::UserId;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::{Engine, Next};
use viva_protocol::checker::Checker;
use viva_protocol::rest::Report;
use viva_protocol::server::{ScoreUpdated, TurnStarted};
use viva_protocol::{AnswerContent, ClientMessage, CloseCode, DimensionScore, ServerMessage, TurnStatus};

/// Runs a scripted mock interview in-process and prints its report.
#[derive(Debug, Parser)]
struct Args {
    /// Interview plan to follow.
    #[arg(long, default_value = "senior-backend")]
    plan: String,
    /// The user the session belongs to.
    #[arg(long, default_value = "alice")]
    user: String,
}

/// The whole interview takes well under a second at pace 0; this only guards against a hang.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::time::timeout(DEADLINE, interview(args))
        .await
        .with_context(|| format!("the interview did not finish within {DEADLINE:?}"))?
}

async fn interview(args: Args) -> anyhow::Result<()> {
    let engine = Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build();
    let Some(plan) = engine.plans().get(&args.plan).cloned() else {
        let known: Vec<&str> = engine.plans().iter().map(|p| p.id.as_str()).collect();
        bail!("no plan `{}`; the plans are: {}", args.plan, known.join(", "));
    };
    let profile = viva_engine::core::Candidate {
        role: Some(plan.role.clone()),
        level: Some(plan.level.clone()),
        ..Default::default()
    };
    let user = UserId::new(args.user);
    let meta = engine.create_session(&user, &plan.id, profile).await?;
    let session_id = meta.session_id;
    println!(
        "Session {session_id}: \"{}\" ({} questions, {} min)",
        plan.title,
        plan.questions.len(),
        plan.duration_s / 60
    );

    let mut checker = Checker::new();
    let mut connection = engine.connect(&user, &session_id, None).await?;
    if let Next::Message(message) = connection.next().await {
        checker.observe(&message);
        if let ServerMessage::SessionReady(ready) = message {
            println!("Connected: epoch {}, status {:?}, head seq {}", ready.epoch, ready.state.status, ready.seq);
        }
    }
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await?;

    let mut candidate = answers::Candidate::new(Arc::clone(&plan));
    let mut open: Option<TurnStarted> = None;
    let mut answers_sent = 0u32;
    // Scores arrive whenever the scorer is done, often in the middle of the next turn: hold
    // their lines back until that turn has finished printing.
    let mut held: Vec<String> = Vec::new();
    let mut report: Option<Report> = None;
    let mut ended = None;
    loop {
        let message = match connection.next().await {
            Next::Message(message) => message,
            Next::Close(code) => {
                checker.closed(Some(code.code()));
                if code == CloseCode::Normal && ended.is_some() {
                    break;
                }
                bail!("the session closed the connection: {} ({})", code.code(), code.reason())
            }
        };
        checker.observe(&message);
        match message {
            ServerMessage::TurnStarted(turn) => {
                let about = turn.question_id.as_deref().map(|q| format!(" · {q}")).unwrap_or_default();
                println!("\n[interviewer · {:?}{about}]", turn.kind);
                open = Some(turn);
            }
            ServerMessage::TurnDelta(delta) => {
                print!("{}", delta.text);
                std::io::stdout().flush()?;
            }
            ServerMessage::TurnDone(done) => {
                println!();
                match done.status {
                    TurnStatus::Completed => {}
                    TurnStatus::Interrupted => println!("(interrupted)"),
                    TurnStatus::Failed => println!("(the interviewer failed; it will ask again)"),
                }
                for line in held.drain(..) {
                    println!("{line}");
                }
                let Some(turn) = open.take().filter(|t| t.turn_id == done.turn_id) else {
                    continue;
                };
                if !turn.kind.awaits_answer() || done.status == TurnStatus::Failed {
                    continue;
                }
                let answer = candidate.answer(turn.kind, turn.question_id.as_deref(), turn.expects.as_ref());
                answers_sent += 1;
                let id = Some(format!("answer-{answers_sent}"));
                let message = match answer {
                    AnswerContent::Text { text } => {
                        println!("\n[candidate]\n{text}");
                        ClientMessage::AnswerSubmit { id, text }
                    }
                    AnswerContent::Code { language, source } => {
                        println!("\n[candidate · {language} code]\n{}", source.trim_end());
                        ClientMessage::CodeSubmit { id, language, source }
                    }
                };
                checker.sent(&message);
                connection.send(message).await?;
            }
            ServerMessage::AnswerReceived(received) => {
                println!("  (answer #{} stored, seq {})", received.answer_id, received.seq);
            }
            ServerMessage::ScoreUpdated(score) => {
                let line = score_line(&score);
                if open.is_some() {
                    held.push(line);
                } else {
                    println!("{line}");
                }
            }
            ServerMessage::SessionEnding(ending) => {
                println!("\n(the interview is closing: {:?}; waiting for the report)", ending.reason);
            }
            ServerMessage::ReportReady(_) => {
                let fetched = engine.report(&user, &session_id).await?;
                print_report(&fetched);
                report = Some(fetched);
            }
            ServerMessage::SessionEnded(end) => {
                println!("\nSession ended: {:?} (seq {})", end.reason, end.seq);
                ended = Some(end.reason);
            }
            ServerMessage::Error(error) => {
                eprintln!("error [{}]: {}", error.code, error.message);
                if error.fatal {
                    bail!("fatal error from the session: {}", error.message);
                }
            }
            // A text session with no metering: nothing of voice or minutes comes.
            ServerMessage::SessionReady(_)
            | ServerMessage::Clock(_)
            | ServerMessage::Pong(_)
            | ServerMessage::UsageLow(_)
            | ServerMessage::TurnTruncated(_)
            | ServerMessage::TurnAudio(_)
            | ServerMessage::SpeechStarted(_)
            | ServerMessage::SpeechStopped(_)
            | ServerMessage::TranscriptDelta(_) => {}
        }
    }
    if report.is_none() {
        bail!("the session ended without a report");
    }
    let (violations, _) = checker.finish();
    if !violations.is_empty() {
        bail!("the protocol was broken: {violations:#?}");
    }
    println!("Protocol kept: every invariant of docs/protocol.md held.");
    Ok(())
}

fn score_line(score: &ScoreUpdated) -> String {
    format!(
        "  score for answer #{}: {} → running overall {} ({})",
        score.answer_id,
        fmt_score(score.answer.overall),
        fmt_score(score.overall),
        fmt_dimensions(&score.dimensions)
    )
}

fn print_report(report: &Report) {
    println!("\n================ Report ================");
    println!(
        "Plan {} v{} · scored by {}/{} · ended: {:?}",
        report.plan.id, report.plan.version, report.scorer.name, report.scorer.version, report.ended_reason
    );
    println!("Overall: {} / 10", fmt_score(report.overall));
    println!("Per dimension:");
    for dimension in &report.dimensions {
        println!("  {:<18} {:>4.1}", dimension.name, dimension.score);
    }
    println!("Per answer:");
    for answer in &report.answers {
        println!(
            "  #{} {:<22} {:>4}  key points {}/{}",
            answer.answer_id,
            answer.question_id,
            fmt_score(answer.overall),
            answer.key_points_hit.len(),
            answer.key_points_hit.len() + answer.key_points_missed.len()
        );
    }
    print_list("Strengths", &report.strengths);
    print_list("Practise next", &report.practise);
    println!("========================================");
}

fn print_list(title: &str, items: &[String]) {
    println!("{title}:");
    if items.is_empty() {
        println!("  (none)");
    }
    for item in items {
        println!("  - {item}");
    }
}

fn fmt_score(score: Option<f32>) -> String {
    score.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1}"))
}

fn fmt_dimensions(dimensions: &[DimensionScore]) -> String {
    dimensions.iter().map(|d| format!("{} {:.1}", d.name, d.score)).collect::<Vec<_>>().join(", ")
}
