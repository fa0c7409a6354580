//! Run with: cargo run -p example-terminal -- --url http://127.0.0.1:8080
//!
//! An interactive mock interview against a running gateway, in the terminal. It picks a plan
//! (`--plan`, or a list from `GET /v1/plans` to choose from), creates a session with
//! `POST /v1/sessions`, opens its WebSocket (`viva.v1.json`, or `viva.v1.msgpack` with
//! `--msgpack`), starts the interview and streams the interviewer's turns inline. When the
//! interviewer waits, type an answer (see `/help`). A dropped socket is resumed with
//! `?last_seq=` up to 5 times in a row. At the end it prints the report from
//! `GET /v1/sessions/{id}/report`.
//!
//! Answers can be piped too: `printf 'first answer\nsecond answer\n' | cargo run -p
//! example-terminal -- --plan senior-backend`.

mod input;
mod session;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use viva_protocol::Encoding;
use viva_protocol::rest::{ApiError, CreateSession, Plans, Report, SessionCreated};

use crate::session::{Client, Outcome, Socket, fmt_score};

/// A mock interview in the terminal, against a Viva gateway.
#[derive(Debug, Parser)]
struct Args {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// Who you are (the gateway's dev auth: the token is `dev:<user>`).
    #[arg(long, default_value = "alice")]
    user: String,
    /// Interview plan id; without it, pick one from the gateway's list.
    #[arg(long)]
    plan: Option<String>,
    /// Speak MessagePack (`viva.v1.msgpack`, binary frames) instead of JSON.
    #[arg(long)]
    msgpack: bool,
}

/// Reconnects in a row before giving up.
const MAX_RECONNECTS: u32 = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest is built with rustls but no crypto provider (see ARCHITECTURE.md): without one,
    // the first client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut lines = input::spawn_stdin();
    let api = Api::new(args.url, &args.user);
    let plan = match args.plan {
        Some(plan) => plan,
        None => pick_plan(&api, &mut lines).await?,
    };
    let created = api.create_session(&plan).await?;
    println!(
        "Session {} · \"{}\" ({} questions, {} min) · user {}",
        created.session_id,
        created.plan.title,
        created.plan.questions,
        created.plan.duration_s / 60,
        args.user
    );
    let encoding = if args.msgpack { Encoding::MsgPack } else { Encoding::Json };
    let mut client = Client::new(encoding, !std::io::stdin().is_terminal());
    let mut failures = 0;
    let outcome = loop {
        let readies = client.readies();
        let reason = match api.connect(&created.ws_path, encoding, client.last_seq()).await {
            Ok(mut ws) => match client.run(&mut ws, &mut lines).await {
                Outcome::Dropped(reason) => reason,
                outcome => break outcome,
            },
            Err(Connect::Retry(reason)) => reason,
            Err(Connect::Fatal(error)) => return Err(error),
        };
        // A socket that got as far as `session.ready` worked: count failures in a row.
        if client.readies() > readies {
            failures = 0;
        }
        failures += 1;
        if failures > MAX_RECONNECTS {
            bail!("connection lost ({reason}); gave up after {MAX_RECONNECTS} reconnects");
        }
        let from = client.last_seq().map(|s| format!(" with last_seq={s}")).unwrap_or_default();
        println!("\n(connection lost: {reason}; reconnecting{from}, attempt {failures}/{MAX_RECONNECTS})");
        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
    };
    match outcome {
        Outcome::Ended => {
            let report = api.report(&created.session_id).await?;
            print_report(&report);
            let violations = client.protocol_violations();
            if !violations.is_empty() {
                bail!("the gateway broke the protocol:\n  {}", violations.join("\n  "));
            }
            Ok(())
        }
        Outcome::Quit => {
            println!("Left. Session {} stays open for now.", created.session_id);
            Ok(())
        }
        Outcome::Fatal(reason) => bail!("the session closed: {reason}"),
        Outcome::Dropped(reason) => bail!("connection lost: {reason}"),
    }
}

/// Lists the gateway's plans and reads the candidate's pick.
async fn pick_plan(api: &Api, lines: &mut mpsc::UnboundedReceiver<String>) -> anyhow::Result<String> {
    let plans = api.plans().await?.plans;
    if plans.is_empty() {
        bail!("the gateway offers no plans");
    }
    println!("Plans:");
    for (i, plan) in plans.iter().enumerate() {
        println!(
            "  {}) {:<16} {} · {} {} · {} questions · {} min",
            i + 1,
            plan.id,
            plan.title,
            plan.level,
            plan.role,
            plan.questions,
            plan.duration_s / 60
        );
    }
    loop {
        print!("Pick a plan [1-{}]: ", plans.len());
        std::io::stdout().flush()?;
        let Some(line) = lines.recv().await else {
            bail!("no plan picked (end of input)");
        };
        let line = line.trim();
        let picked = match line.parse::<usize>() {
            Ok(n) => n.checked_sub(1).and_then(|i| plans.get(i)),
            Err(_) => plans.iter().find(|p| p.id == line),
        };
        match picked {
            Some(plan) => return Ok(plan.id.clone()),
            None => println!("Type a number from 1 to {}.", plans.len()),
        }
    }
}

/// Why a connect failed.
enum Connect {
    /// Worth another try (the gateway restarting, a network blip).
    Retry(String),
    /// Not worth another try (refused, not found, unauthorized).
    Fatal(anyhow::Error),
}

/// The gateway's REST API and WebSocket handshake.
struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Api {
    fn new(mut base: Url, user: &str) -> Self {
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self { http: reqwest::Client::new(), base, token: format!("dev:{user}") }
    }

    fn endpoint(&self, path: &str) -> anyhow::Result<Url> {
        self.base.join(path.trim_start_matches('/')).with_context(|| format!("bad path {path}"))
    }

    async fn plans(&self) -> anyhow::Result<Plans> {
        let response = self.http.get(self.endpoint("v1/plans")?).send().await;
        let body = check("GET /v1/plans", response).await?;
        Ok(Encoding::Json.decode(&body)?)
    }

    async fn create_session(&self, plan: &str) -> anyhow::Result<SessionCreated> {
        let request = CreateSession { plan: plan.to_owned(), candidate: None, adapt: false };
        let response =
            self.http.post(self.endpoint("v1/sessions")?).bearer_auth(&self.token).json(&request).send().await;
        let body = check("POST /v1/sessions", response).await?;
        Ok(Encoding::Json.decode(&body)?)
    }

    async fn report(&self, session_id: &str) -> anyhow::Result<Report> {
        let path = format!("v1/sessions/{session_id}/report");
        let response = self.http.get(self.endpoint(&path)?).bearer_auth(&self.token).send().await;
        let body = check(&format!("GET /{path}"), response).await?;
        Ok(Encoding::Json.decode(&body)?)
    }

    /// Opens the session's socket, resuming after `last_seq` when given.
    async fn connect(&self, ws_path: &str, encoding: Encoding, last_seq: Option<u64>) -> Result<Socket, Connect> {
        let fatal = |e: anyhow::Error| Connect::Fatal(e);
        let mut url = self.endpoint(ws_path).map_err(fatal)?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| fatal(anyhow!("cannot make a WebSocket URL of {url}")))?;
        if let Some(seq) = last_seq {
            url.query_pairs_mut().append_pair("last_seq", &seq.to_string());
        }
        let mut request =
            url.as_str().into_client_request().map_err(|e| fatal(anyhow!("bad WebSocket URL {url}: {e}")))?;
        let headers = request.headers_mut();
        let bearer =
            HeaderValue::from_str(&format!("Bearer {}", self.token)).map_err(|e| fatal(anyhow!("bad token: {e}")))?;
        headers.insert(header::AUTHORIZATION, bearer);
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(encoding.subprotocol()));
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _response)) => Ok(ws),
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status();
                let body = response.body().as_deref().unwrap_or_default();
                let error = anyhow!("WebSocket handshake refused: {}", describe(status, body));
                if status.is_server_error() {
                    Err(Connect::Retry(error.to_string()))
                } else {
                    Err(Connect::Fatal(error))
                }
            }
            Err(error @ (tungstenite::Error::Url(_) | tungstenite::Error::Tls(_))) => {
                Err(Connect::Fatal(anyhow!("cannot connect to {url}: {error}")))
            }
            Err(error) => Err(Connect::Retry(format!("cannot connect: {error}"))),
        }
    }
}

/// The body of a successful response, or an error naming what the gateway said.
async fn check(what: &str, response: reqwest::Result<reqwest::Response>) -> anyhow::Result<Vec<u8>> {
    let response = response.with_context(|| format!("{what} failed"))?;
    let status = response.status();
    let body = response.bytes().await.with_context(|| format!("{what}: reading the body"))?;
    if !status.is_success() {
        bail!("{what}: {}", describe(status, &body));
    }
    Ok(body.to_vec())
}

/// A status with the gateway's error code and message when the body has them.
fn describe(status: StatusCode, body: &[u8]) -> String {
    match Encoding::Json.decode::<ApiError>(body) {
        Ok(error) => format!("{status}: {} ({})", error.error.message, error.error.code),
        Err(_) => format!("{status}: {}", String::from_utf8_lossy(body).trim()),
    }
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
