//! The LLM interviewer: the model phrases each turn the session core decides on, streamed
//! token by token; the scripted interviewer takes over a turn the model could not deliver.
//!
//! What the model is told (and nothing more, since the products promise that content goes
//! to processors only to produce results): the plan's role and level, the turn to speak (its
//! question, the key point a follow-up probes, the code a feedback turn reviews), the
//! candidate's role, level and the first part of their résumé, and the recent transcript.

use futures::StreamExt;
use futures::stream::BoxStream;
use viva_protocol::state::TranscriptEntry;
use viva_protocol::{AnswerContent, EndReason, TurnKind};

use super::{Interviewer, InterviewerEvent, ScriptedInterviewer, TurnRequest};
use crate::core::{Decision, FollowUpChoice};
use crate::llm::{ChatMessage, LlmClient, LlmError, LlmEvent};
use crate::rubric;

/// Most of the résumé sent to the provider, in characters.
const RESUME_CHARS: usize = 3_000;

/// Speaks turns through an OpenAI-compatible model, falling back to the script.
#[derive(Debug, Clone)]
pub struct LlmInterviewer {
    client: LlmClient,
    fallback: ScriptedInterviewer,
    name: String,
}

impl LlmInterviewer {
    /// An interviewer over `client`; `fallback` speaks turns the model cannot.
    pub fn new(client: LlmClient, fallback: ScriptedInterviewer) -> Self {
        let name = format!("llm/{}", client.model());
        Self { client, fallback, name }
    }
}

impl Interviewer for LlmInterviewer {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream_turn(&self, request: TurnRequest) -> BoxStream<'static, InterviewerEvent> {
        // The core asks again after a failed turn: the model gets one retry, then the script
        // takes over that turn; while the provider keeps failing, the script speaks at once.
        if request.attempt > 2 || self.client.circuit_open() {
            tracing::info!(session = %request.session_id, turn = %request.turn_id, "scripted interviewer takes the turn");
            metrics::counter!("viva_interviewer_fallbacks_total").increment(1);
            return self.fallback.stream_turn(request);
        }
        let model = self.client.stream_chat(&request.user_id, messages(&request));
        let fallback = self.fallback.clone();
        let mut choice = ChoiceLine::new(&request);
        // A turn that could not get a place with the provider in time was never sent: the
        // script speaks it now, rather than the candidate listening to more silence.
        futures::stream::once(async move {
            let (first, rest) = model.into_future().await;
            match first {
                Some(LlmEvent::Failed(LlmError::Busy)) => {
                    tracing::info!(session = %request.session_id, turn = %request.turn_id, "provider busy: scripted interviewer takes the turn");
                    metrics::counter!("viva_interviewer_fallbacks_total").increment(1);
                    fallback.stream_turn(request)
                }
                first => futures::stream::iter(first)
                    .chain(rest)
                    .flat_map(move |event| futures::stream::iter(choice.read(interviewer_event(event))))
                    .boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

fn interviewer_event(event: LlmEvent) -> InterviewerEvent {
    match event {
        LlmEvent::Text(text) => InterviewerEvent::Delta(text),
        LlmEvent::Done => InterviewerEvent::Done,
        LlmEvent::Failed(error) => InterviewerEvent::Failed(error.to_string()),
    }
}

/// The chat that makes the model speak this turn.
pub fn messages(request: &TurnRequest) -> Vec<ChatMessage> {
    let plan = &request.plan;
    let candidate = &request.candidate;
    let role = candidate.role.as_deref().unwrap_or(&plan.role);
    let level = candidate.level.as_deref().unwrap_or(&plan.level);
    let mut system = format!(
        "You are the interviewer in a mock job interview: \"{}\" for a {level} {role} candidate. \
         Speak as a friendly, professional human interviewer, in plain text (no markdown, no lists), \
         at most 90 words per turn. Say only this turn's words. Never reveal scores, rubrics or model answers.",
        plan.title
    );
    if let Some(resume) = candidate.resume_text.as_deref().filter(|r| !r.trim().is_empty()) {
        let excerpt: String = resume.chars().take(RESUME_CHARS).collect();
        system.push_str(&format!(
            "\nThe candidate's résumé (refer to a skill or project from it when it fits, briefly):\n{excerpt}"
        ));
    }
    let mut chat = vec![ChatMessage::system(system)];
    // As many as the core's `turn_context` puts in the request (12 by default).
    for entry in &request.transcript {
        match entry {
            TranscriptEntry::Turn { text, .. } if !text.is_empty() => chat.push(ChatMessage::assistant(text.clone())),
            TranscriptEntry::Answer { answer, .. } => chat.push(ChatMessage::user(answer_text(answer))),
            TranscriptEntry::Turn { .. } => {}
        }
    }
    let mut instruction = match &request.choice {
        Some(choice) => choice_instruction(request, choice),
        None => instruction(request, request.kind, request.question_id.as_deref(), request.key_point.as_deref()),
    };
    if let Some(focus) = focus_note(request) {
        instruction.push_str(&focus);
    }
    chat.push(ChatMessage::system(instruction));
    chat
}

/// An adaptive session: the key points of this turn's question the candidate missed in
/// earlier interviews, so that the model gives them room (a question turn, a follow-up or a
/// choice of follow-up).
fn focus_note(request: &TurnRequest) -> Option<String> {
    if !matches!(request.kind, TurnKind::Question | TurnKind::FollowUp) && request.choice.is_none() {
        return None;
    }
    let question_id = request.choice.as_ref().map(|c| c.question_id.as_str()).or(request.question_id.as_deref())?;
    let question = request.plan.question(question_id)?;
    let points: Vec<&str> = request
        .candidate
        .focus_on(question_id)
        .filter_map(|id| question.key_points.iter().find(|k| k.id == id))
        .map(|k| k.description.trim_end_matches('.'))
        .collect();
    (!points.is_empty()).then(|| {
        format!(
            "\nThis is adaptive practice: in earlier interviews the candidate repeatedly missed these points \
             of this question: {}. Give them room to show them (when you choose a follow-up, prefer one of \
             these if the answer missed it), without giving them away.",
            points.join("; ")
        )
    })
}

/// The model chooses between a follow-up and moving on, on a first line of its own that the
/// interviewer reads ([`ChoiceLine`]), and then speaks the turn it chose.
fn choice_instruction(request: &TurnRequest, choice: &FollowUpChoice) -> String {
    let points = request.plan.question(&choice.question_id).map_or(&[][..], |q| &q.key_points[..]);
    let list: Vec<String> = points.iter().enumerate().map(|(i, k)| format!("{}. {}", i + 1, k.description)).collect();
    let (kind, question_id) = &choice.move_on;
    format!(
        "First decide whether the candidate's last answer covered these key points:\n{}\n\
         Start your reply with a line holding only a number: the number of the most important key \
         point the answer missed, or 0 if it covered them well enough. Then, after that line: if you \
         chose a key point, ask one short follow-up question that probes it without giving it away; \
         if you chose 0: {}",
        list.join("\n"),
        instruction(request, *kind, question_id.as_deref(), None)
    )
}

/// What a turn of `kind` about `question_id` (probing `key_point`) must say.
fn instruction(request: &TurnRequest, kind: TurnKind, question_id: Option<&str>, key_point: Option<&str>) -> String {
    let plan = &request.plan;
    let question = question_id.and_then(|id| plan.question(id));
    match kind {
        TurnKind::Intro => format!(
            "Open the interview: greet the candidate and say what it covers, in your own words. Plan's opening: {}",
            plan.intro
        ),
        TurnKind::Question => format!(
            "Ask the next question. Keep its substance; you may rephrase it lightly: {}",
            question.map_or("", |q| q.prompt.as_str())
        ),
        TurnKind::FollowUp => {
            let point = question.zip(key_point).and_then(|(q, id)| q.key_points.iter().find(|k| k.id == id));
            match point {
                Some(point) => format!(
                    "The candidate's last answer did not cover: {}. Ask one short follow-up question that \
                     probes it without giving it away. For example: {}",
                    point.description, point.follow_up
                ),
                None => "Ask one short follow-up question about the candidate's last answer.".to_owned(),
            }
        }
        TurnKind::Feedback => {
            let coverage = question.zip(request.answer.as_ref()).map(|(q, a)| rubric::coverage(q, a));
            let (hit, missed) = coverage.map_or((String::new(), String::new()), |c| {
                let list = |points: &[&crate::plan::KeyPoint]| {
                    points.iter().map(|k| k.description.trim_end_matches('.')).collect::<Vec<_>>().join("; ")
                };
                (list(&c.hit), list(&c.missed))
            });
            format!(
                "Briefly review the code the candidate just submitted (2–3 sentences, no full solution). \
                 It covers: {hit}. It misses: {missed}. Then say you will move on."
            )
        }
        TurnKind::Closing if request.ending == Some(EndReason::OutOfMinutes) => {
            "The candidate's paid minutes have just run out. In one or two short sentences, thank them, \
             say the interview ends here and that their report is on its way."
                .to_owned()
        }
        TurnKind::Closing => {
            format!("Close the interview warmly and say what happens next. Plan's closing: {}", plan.closing)
        }
    }
}

/// Reads the line a turn offered a choice begins with (`choice_instruction`): `0` moves on,
/// `k` follows up on the question's k-th key point; the words after it are the turn. A reply
/// that does not begin with such a line is spoken as it is, as the default turn.
struct ChoiceLine {
    /// The question's key points, in the order the model was given them.
    key_points: Vec<String>,
    /// What was read of the first line; `None` once it is read (or when no choice is offered).
    line: Option<String>,
}

impl ChoiceLine {
    /// A first line longer than this is not a number: the model ignored the format.
    const LONGEST: usize = 8;

    fn new(request: &TurnRequest) -> Self {
        let question = request.choice.as_ref().and_then(|c| request.plan.question(&c.question_id));
        let key_points = question.map(|q| q.key_points.iter().map(|k| k.id.clone()).collect()).unwrap_or_default();
        Self { key_points, line: request.choice.as_ref().map(|_| String::new()) }
    }

    /// What the core hears of `event`.
    fn read(&mut self, event: InterviewerEvent) -> Vec<InterviewerEvent> {
        let Some(line) = self.line.as_mut() else { return vec![event] };
        let InterviewerEvent::Delta(text) = event else {
            // The reply ended within its first line.
            let line = self.line.take().unwrap_or_default();
            let mut events = self.decide(&line, String::new());
            events.push(event);
            return events;
        };
        line.push_str(&text);
        if let Some(end) = line.find('\n') {
            let rest = line[end + 1..].trim_start().to_owned();
            let line = line[..end].to_owned();
            self.line = None;
            return self.decide(&line, rest);
        }
        if line.len() > Self::LONGEST {
            return self.line.take().map(InterviewerEvent::Delta).into_iter().collect();
        }
        Vec::new()
    }

    fn decide(&self, line: &str, rest: String) -> Vec<InterviewerEvent> {
        let number = line.trim().trim_end_matches(['.', ')', ':']).parse::<usize>().ok();
        let decision = number.and_then(|n| match n {
            0 => Some(Decision::MoveOn),
            n => self.key_points.get(n - 1).map(|id| Decision::FollowUp { key_point: id.clone() }),
        });
        let text = match number {
            Some(_) => rest,
            // Words, not a number: they are the turn.
            None if rest.is_empty() => line.to_owned(),
            None => format!("{line}\n{rest}"),
        };
        decision
            .map(InterviewerEvent::Chose)
            .into_iter()
            .chain((!text.is_empty()).then_some(InterviewerEvent::Delta(text)))
            .collect()
    }
}

fn answer_text(answer: &AnswerContent) -> String {
    match answer {
        AnswerContent::Text { text } => text.clone(),
        AnswerContent::Code { language, source } => format!("```{language}\n{source}\n```"),
    }
}
