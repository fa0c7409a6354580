//! Run with: cargo run -p example-terminal -- --url http://127.0.0.1:8080
//!
//! One interview over one WebSocket at a time: decodes the server's events (with the
//! protocol crate's [`Encoding`], JSON or MessagePack), renders them, and sends what the
//! candidate typed when the interviewer waits for it. [`Client`] outlives a socket, so after
//! a drop the next socket resumes where this one stopped (`last_seq`): durable events already
//! seen are skipped by `seq`, an open turn's text so far comes from `session.ready`, and an
//! answer still unacknowledged is re-sent with the same `id` (the server applies it once).

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use viva_protocol::checker::Checker;
use viva_protocol::server::SessionReady;
use viva_protocol::state::{OpenTurn, Scores};
use viva_protocol::{
    ClientMessage, CloseCode, DimensionScore, Encoding, EndReason, ErrorCode, Expects, ServerMessage, TurnKind,
    TurnStatus,
};

use crate::input::{HELP, Input, Line, Parser};

/// The socket to the gateway.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a socket's life ended.
#[derive(Debug)]
pub enum Outcome {
    /// The session ended (`session.ended`, then the server closed).
    Ended,
    /// The candidate left.
    Quit,
    /// The socket dropped in a way worth a reconnect.
    Dropped(String),
    /// The socket closed in a way a reconnect will not fix.
    Fatal(String),
}

/// How long to wait before re-sending an answer the server could not take yet.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The interviewer turn being printed.
#[derive(Debug)]
struct Turn {
    turn_id: u32,
    kind: TurnKind,
    expects: Option<Expects>,
    /// Text printed so far.
    printed: String,
    /// The `index` of the next delta.
    next_index: u32,
    /// Something else was printed after the text: it goes on on a new line.
    broken: bool,
}

/// Everything the client knows about the interview, across sockets.
pub struct Client {
    encoding: Encoding,
    /// Print what is sent (stdin is not a terminal, so it was not seen being typed).
    echo: bool,
    /// Highest durable `seq` processed; `None` before the first `session.ready`.
    last_seq: Option<u64>,
    /// Number of `session.ready` received, to tell a socket that worked from one that did not.
    readies: u64,
    open: Option<Turn>,
    /// The open turn of the last `session.ready`, for its text so far once its (replayed)
    /// `turn.started` arrives.
    ready_open: Option<OpenTurn>,
    /// Set while the interviewer waits for an answer.
    awaiting: Option<Expects>,
    prompted: bool,
    /// The answer sent and not yet acknowledged, with what its question expected.
    in_flight: Option<(ClientMessage, Expects)>,
    /// When to re-send `in_flight` after the server asked to retry.
    retry_at: Option<Instant>,
    pending: VecDeque<Input>,
    parser: Parser,
    stdin_closed: bool,
    /// Running scores last shown.
    shown: Option<Scores>,
    /// Lines held back while a turn is printing.
    held: Vec<String>,
    remaining_s: Option<u64>,
    /// Whether the command list was shown with the first prompt.
    helped: bool,
    next_id: u64,
    /// `session.end` was sent: wait for `session.ended`, ask for nothing more.
    ending: bool,
    ended: Option<EndReason>,
    /// The protocol's invariants over every message, across sockets.
    checker: Checker,
}

impl Client {
    /// A client speaking `encoding`.
    pub fn new(encoding: Encoding, echo: bool) -> Self {
        Self {
            encoding,
            echo,
            last_seq: None,
            readies: 0,
            open: None,
            ready_open: None,
            awaiting: None,
            prompted: false,
            in_flight: None,
            retry_at: None,
            pending: VecDeque::new(),
            parser: Parser::default(),
            stdin_closed: false,
            shown: None,
            held: Vec::new(),
            remaining_s: None,
            helped: false,
            next_id: 0,
            ending: false,
            ended: None,
            checker: Checker::observer(),
        }
    }

    /// What broke the protocol, if anything did (checked over every message of every socket;
    /// after a reconnect that lost the history, from that reconnect on).
    pub fn protocol_violations(&self) -> Vec<String> {
        let (violations, _) = self.checker.clone().finish();
        violations.into_iter().map(|v| format!("{}: {}", v.kind.name(), v.detail)).collect()
    }

    /// The `last_seq` to resume from.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// How many `session.ready` were received so far.
    pub fn readies(&self) -> u64 {
        self.readies
    }

    /// Serves one socket until it closes or the candidate leaves.
    pub async fn run(&mut self, ws: &mut Socket, lines: &mut mpsc::UnboundedReceiver<String>) -> Outcome {
        loop {
            let retry_at = self.retry_at;
            let step = tokio::select! {
                frame = ws.next() => self.on_frame(ws, frame).await,
                line = lines.recv(), if !self.stdin_closed => {
                    self.on_line(line);
                    None
                }
                () = sleep_until(retry_at) => {
                    self.retry_at = None;
                    match self.in_flight.clone() {
                        Some((message, _)) => self.send(ws, &message).await.err(),
                        None => None,
                    }
                }
            };
            let step = match step {
                Some(outcome) => Some(outcome),
                None => self.pump(ws).await,
            };
            if let Some(outcome) = step {
                if matches!(outcome, Outcome::Quit) {
                    let _ = ws.close(None).await;
                }
                return outcome;
            }
        }
    }

    /// Handles one frame (or the end of the stream).
    async fn on_frame(
        &mut self,
        ws: &mut Socket,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Option<Outcome> {
        let bytes = match frame {
            None => return Some(self.dropped("the connection closed without a close frame".into())),
            Some(Err(error)) => return Some(self.dropped(format!("socket error: {error}"))),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) =
                    frame.map_or((None, String::new()), |f| (Some(u16::from(f.code)), f.reason.as_str().to_owned()));
                return Some(self.closed(code, &reason));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return None,
            Some(Ok(Message::Text(text))) => {
                self.check_frame_type(false);
                text.as_bytes().to_vec()
            }
            Some(Ok(Message::Binary(bytes))) => {
                self.check_frame_type(true);
                bytes.to_vec()
            }
        };
        match self.encoding.decode::<ServerMessage>(&bytes) {
            Ok(message) => self.on_message(ws, message).await.err(),
            Err(error) => {
                self.note(format!("(cannot decode a server message: {error})"));
                None
            }
        }
    }

    fn check_frame_type(&self, binary: bool) {
        if binary != self.encoding.is_binary() {
            eprintln!(
                "(unexpected {} frame on a {} socket)",
                if binary { "binary" } else { "text" },
                self.encoding.subprotocol()
            );
        }
    }

    /// What a close frame means for the session.
    fn closed(&self, code: Option<u16>, reason: &str) -> Outcome {
        let Some(code) = code else {
            return self.dropped("closed without a code".into());
        };
        let described = format!("closed with {code} ({reason})");
        let reconnect = [CloseCode::GoingAway, CloseCode::SlowConsumer, CloseCode::Moved, CloseCode::InternalError];
        if code == CloseCode::Normal.code() {
            if self.ended.is_some() { Outcome::Ended } else { self.dropped(described) }
        } else if reconnect.iter().any(|c| c.code() == code) {
            self.dropped(described)
        } else {
            Outcome::Fatal(described)
        }
    }

    fn dropped(&self, reason: String) -> Outcome {
        if self.ended.is_some() { Outcome::Ended } else { Outcome::Dropped(reason) }
    }

    async fn on_message(&mut self, ws: &mut Socket, message: ServerMessage) -> Result<(), Outcome> {
        if let ServerMessage::SessionReady(ready) = &message {
            if self.last_seq.is_some() && !ready.resumed {
                // Nothing replayed: what was missed is only in the state; check from here.
                self.checker = Checker::observer();
            }
        }
        self.checker.observe(&message);
        if let Some(seq) = message.seq() {
            // A durable event already processed (a replay overlapping what was seen).
            if self.last_seq.is_some_and(|last| seq <= last) {
                return Ok(());
            }
            self.last_seq = Some(seq);
        }
        match message {
            ServerMessage::SessionReady(ready) => self.on_ready(ws, *ready).await?,
            ServerMessage::TurnStarted(turn) => {
                self.finish_line();
                let about = turn.question_id.as_deref().map(|q| format!(" · {q}")).unwrap_or_default();
                println!("\n[interviewer · {}{about}]", kind_name(turn.kind));
                let mut view = Turn {
                    turn_id: turn.turn_id,
                    kind: turn.kind,
                    expects: turn.expects,
                    printed: String::new(),
                    next_index: 0,
                    broken: false,
                };
                if let Some(open) = self.ready_open.take().filter(|o| o.turn_id == turn.turn_id) {
                    print_flush(&open.text);
                    view.printed = open.text;
                    view.next_index = open.next_index;
                }
                self.open = Some(view);
                self.awaiting = None;
                self.prompted = false;
            }
            ServerMessage::TurnDelta(delta) => {
                if let Some(view) = self.open.as_mut().filter(|v| v.turn_id == delta.turn_id) {
                    if delta.index >= view.next_index {
                        print_flush(&delta.text);
                        view.broken &= delta.text.is_empty();
                        view.printed.push_str(&delta.text);
                        view.next_index = delta.index + 1;
                    }
                }
            }
            ServerMessage::TurnDone(done) => {
                let view = self.open.take().filter(|v| v.turn_id == done.turn_id);
                let printed = view.as_ref().map_or("", |v| v.printed.as_str());
                let broken = view.as_ref().is_some_and(|v| v.broken);
                match done.text.strip_prefix(printed) {
                    Some("") if broken => {}
                    Some(rest) => {
                        print_flush(rest);
                        println!();
                    }
                    None => println!("\n(as delivered) {}", done.text),
                }
                match done.status {
                    TurnStatus::Completed => {}
                    TurnStatus::Interrupted => println!("(interrupted)"),
                    TurnStatus::Failed => println!("(the interviewer failed; it will ask again)"),
                }
                if let Some(view) = view {
                    if view.kind.awaits_answer() && done.status != TurnStatus::Failed {
                        self.awaiting = Some(view.expects.unwrap_or(Expects::Text));
                        self.prompted = false;
                    }
                }
                for line in self.held.drain(..) {
                    println!("{line}");
                }
            }
            ServerMessage::AnswerReceived(received) => {
                let ours = self.in_flight.as_ref().and_then(|(m, _)| m.id());
                if ours.is_some() && ours == received.id.as_deref() {
                    self.in_flight = None;
                    self.retry_at = None;
                }
                self.note(format!("  (answer #{} received)", received.answer_id));
            }
            ServerMessage::ScoreUpdated(score) => {
                let running = Scores { dimensions: score.dimensions, overall: score.overall };
                if self.shown.as_ref() != Some(&running) {
                    self.note(format!(
                        "  score: answer #{} {} · overall {} ({})",
                        score.answer_id,
                        fmt_score(score.answer.overall),
                        fmt_score(running.overall),
                        fmt_dimensions(&running.dimensions)
                    ));
                    self.shown = Some(running);
                }
            }
            ServerMessage::SessionEnding(ending) => {
                self.note(format!("  (the interview is closing: {}; the report follows)", end_name(ending.reason)));
            }
            ServerMessage::ReportReady(_) => self.note("  (report ready)".into()),
            ServerMessage::SessionEnded(end) => {
                self.finish_line();
                println!("\nInterview over: {}", end_name(end.reason));
                self.ended = Some(end.reason);
                self.awaiting = None;
            }
            ServerMessage::Clock(clock) => self.remaining_s = Some(clock.remaining_s),
            ServerMessage::UsageLow(low) => {
                self.finish_line();
                println!("\n[your minutes are running low: {} s left]", low.remaining_s);
            }
            ServerMessage::Error(error) => self.on_error(error),
            // A text session: nothing of voice comes.
            ServerMessage::Pong(_)
            | ServerMessage::TurnTruncated(_)
            | ServerMessage::TurnAudio(_)
            | ServerMessage::SpeechStarted(_)
            | ServerMessage::SpeechStopped(_)
            | ServerMessage::TranscriptDelta(_) => {}
        }
        Ok(())
    }

    async fn on_ready(&mut self, ws: &mut Socket, ready: SessionReady) -> Result<(), Outcome> {
        self.readies += 1;
        let state = ready.state;
        let first = self.last_seq.is_none();
        let how = if first {
            "connected".to_owned()
        } else if ready.resumed {
            format!("resumed after seq {}", self.last_seq.unwrap_or_default())
        } else {
            "reconnected (history gone: continuing from the current state)".to_owned()
        };
        self.finish_line();
        println!(
            "({how} · {} · epoch {} · seq {} · {})",
            self.encoding.subprotocol(),
            ready.epoch,
            ready.seq,
            status_name(&state)
        );
        self.remaining_s = Some(state.clock.remaining_s);
        if first || !ready.resumed {
            // Nothing is replayed: render from the state.
            self.last_seq = Some(ready.seq);
            self.open = None;
            if let Some(open) = state.open_turn {
                let about = open.question_id.as_deref().map(|q| format!(" · {q}")).unwrap_or_default();
                println!("\n[interviewer · {}{about}]", kind_name(open.kind));
                print_flush(&open.text);
                self.open = Some(Turn {
                    turn_id: open.turn_id,
                    kind: open.kind,
                    expects: open.expects,
                    printed: open.text,
                    next_index: open.next_index,
                    broken: false,
                });
            }
            self.awaiting = state.awaiting_answer.map(|a| a.expects);
            self.prompted = false;
            if !first && self.shown.as_ref() != Some(&state.scores) && state.scores.overall.is_some() {
                println!(
                    "  score: overall {} ({})",
                    fmt_score(state.scores.overall),
                    fmt_dimensions(&state.scores.dimensions)
                );
                self.shown = Some(state.scores);
            }
        } else {
            // The durable events after `last_seq` follow; an open turn's text so far is only here.
            match (self.open.as_mut(), state.open_turn) {
                (Some(view), Some(open)) if view.turn_id == open.turn_id => {
                    if let Some(rest) = open.text.strip_prefix(view.printed.as_str()) {
                        print_flush(rest);
                        view.broken &= rest.is_empty();
                    }
                    view.printed = open.text;
                    view.next_index = open.next_index;
                }
                (_, open) => self.ready_open = open,
            }
        }
        if state.ended_reason.is_some() {
            self.ended = state.ended_reason;
        }
        if state.status == viva_protocol::state::SessionStatus::Created {
            let id = self.id();
            self.send(ws, &ClientMessage::SessionStart { id, voice: None }).await?;
        }
        if let Some((message, _)) = self.in_flight.clone() {
            println!("(re-sending the unacknowledged answer)");
            self.send(ws, &message).await?;
        }
        Ok(())
    }

    fn on_error(&mut self, error: viva_protocol::ErrorEvent) {
        self.note(format!("  ! error [{}]: {}", error.code, error.message));
        let Some((message, expects)) = self.in_flight.take() else {
            return;
        };
        let about_ours = error.reference.as_deref().is_some_and(|r| Some(r) == message.id());
        // A rate-limit refusal comes before the frame is decoded, so it names no id.
        let unnamed_rate_limit = error.code == ErrorCode::RateLimited && error.reference.is_none();
        if !about_ours && !unnamed_rate_limit {
            self.in_flight = Some((message, expects));
            return;
        }
        match error.code {
            ErrorCode::RateLimited | ErrorCode::StoreUnavailable => {
                println!("(will re-send the answer in {}s)", RETRY_AFTER.as_secs());
                self.in_flight = Some((message, expects));
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
            // The interviewer was not waiting after all: the answer is dropped.
            ErrorCode::NotAwaitingAnswer | ErrorCode::SessionEnded => {}
            _ => {
                println!("(answer refused; please answer again)");
                self.awaiting = Some(expects);
                self.prompted = false;
            }
        }
    }

    fn on_line(&mut self, line: Option<String>) {
        let Some(line) = line else {
            self.stdin_closed = true;
            if self.parser.in_code_block() {
                eprintln!("(end of input inside a code block: the block is not sent)");
            }
            return;
        };
        let input = match self.parser.line(&line) {
            Line::Input(input) => input,
            Line::Say(text) => {
                // Only an interactive candidate needs to hear back about what they typed.
                if !self.echo {
                    self.finish_line();
                    println!("{text}");
                }
                return;
            }
            Line::Nothing => return,
        };
        let is_answer = matches!(input, Input::Answer(_) | Input::Code { .. });
        if is_answer && !self.echo && (self.awaiting.is_none() || !self.pending.is_empty()) {
            println!("(queued: sent when the interviewer waits for your answer; /interrupt to cut in)");
        }
        self.pending.push_back(input);
    }

    /// Sends what the candidate queued, as far as the interview allows now.
    async fn pump(&mut self, ws: &mut Socket) -> Option<Outcome> {
        while let Some(front) = self.pending.front() {
            let message = match front {
                Input::Quit => return Some(Outcome::Quit),
                Input::Interrupt => {
                    self.finish_line();
                    println!("(interrupting)");
                    ClientMessage::TurnInterrupt { id: self.id() }
                }
                Input::End => {
                    self.finish_line();
                    println!("(ending the interview)");
                    self.ending = true;
                    ClientMessage::SessionEnd { id: self.id() }
                }
                Input::Answer(_) | Input::Code { .. } => {
                    if self.ended.is_some() || self.ending || self.in_flight.is_some() {
                        break;
                    }
                    let Some(expects) = self.awaiting.take() else { break };
                    let id = self.id();
                    let message = match self.pending.pop_front() {
                        Some(Input::Answer(text)) => {
                            if self.echo {
                                println!("\n[you]\n{text}");
                            }
                            ClientMessage::AnswerSubmit { id, text }
                        }
                        Some(Input::Code { language, source }) => {
                            if self.echo {
                                println!("\n[you · {language} code]\n{}", source.trim_end());
                            }
                            ClientMessage::CodeSubmit { id, language, source }
                        }
                        _ => unreachable!("the front is an answer"),
                    };
                    self.in_flight = Some((message.clone(), expects));
                    if let Err(outcome) = self.send(ws, &message).await {
                        return Some(outcome);
                    }
                    continue;
                }
            };
            // A barge-in is only meant for the turn in flight now: never re-sent later. An end
            // that did not go out stays queued for the next socket.
            let is_end = matches!(message, ClientMessage::SessionEnd { .. });
            if !is_end {
                self.pending.pop_front();
            }
            if let Err(outcome) = self.send(ws, &message).await {
                self.ending &= !is_end;
                return Some(outcome);
            }
            if is_end {
                self.pending.pop_front();
            }
        }
        let waiting_on_us = self.awaiting.is_some() && self.in_flight.is_none() && self.ended.is_none() && !self.ending;
        if waiting_on_us && self.pending.is_empty() {
            if self.stdin_closed {
                println!("(end of input: leaving; the session stays open)");
                return Some(Outcome::Quit);
            }
            if !self.prompted && !self.parser.in_code_block() {
                self.prompt();
            }
        }
        None
    }

    fn prompt(&mut self) {
        self.prompted = true;
        let expects = match &self.awaiting {
            Some(Expects::Code { language }) => format!("{language} code expected: /code {language}, then /end"),
            _ => "answer on one line".to_owned(),
        };
        let left = self.remaining_s.map(|s| format!(" · {}:{:02} left", s / 60, s % 60)).unwrap_or_default();
        println!("\n[your turn{left}] {expects} (/help for commands)");
        if !self.helped {
            self.helped = true;
            println!("{HELP}");
        }
        print_flush("> ");
    }

    async fn send(&mut self, ws: &mut Socket, message: &ClientMessage) -> Result<(), Outcome> {
        let bytes = self
            .encoding
            .encode(message)
            .map_err(|e| Outcome::Fatal(format!("cannot encode {}: {e}", message.type_name())))?;
        let frame = match self.encoding {
            Encoding::Json => {
                Message::Text(String::from_utf8(bytes).map_err(|e| Outcome::Fatal(e.to_string()))?.into())
            }
            Encoding::MsgPack => Message::Binary(bytes.into()),
        };
        ws.send(frame).await.map_err(|e| self.dropped(format!("cannot send {}: {e}", message.type_name())))
    }

    /// A fresh client message id (unique within the session: one client per session).
    fn id(&mut self) -> Option<String> {
        self.next_id += 1;
        Some(format!("c{}", self.next_id))
    }

    /// Prints a line now, or after the turn being printed.
    fn note(&mut self, line: String) {
        if self.open.is_some() {
            self.held.push(line);
        } else {
            println!("{line}");
        }
    }

    /// Ends a turn's line printed so far, so the next output starts on its own line.
    fn finish_line(&mut self) {
        if let Some(view) = self.open.as_mut() {
            if !view.broken && !view.printed.is_empty() {
                println!();
            }
            view.broken = true;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn print_flush(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

fn kind_name(kind: TurnKind) -> &'static str {
    match kind {
        TurnKind::Intro => "intro",
        TurnKind::Question => "question",
        TurnKind::FollowUp => "follow-up",
        TurnKind::Feedback => "feedback",
        TurnKind::Closing => "closing",
    }
}

fn end_name(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Completed => "completed",
        EndReason::TimeUp => "time is up",
        EndReason::EndedByCandidate => "ended by you",
        EndReason::InterviewerFailed => "the interviewer failed",
        EndReason::OutOfMinutes => "out of minutes",
        EndReason::Abandoned => "abandoned (nobody was connected)",
    }
}

fn status_name(state: &viva_protocol::SessionState) -> String {
    format!("{:?}", state.status).to_lowercase()
}

/// A score with one decimal, or `n/a`.
pub fn fmt_score(score: Option<f32>) -> String {
    score.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1}"))
}

fn fmt_dimensions(dimensions: &[DimensionScore]) -> String {
    dimensions.iter().map(|d| format!("{} {:.1}", d.name, d.score)).collect::<Vec<_>>().join(", ")
}
