//! The LLM scorer: the model scores an answer per rubric dimension, 0–10, with evidence
//! quoted from the answer, as JSON that must follow a schema. Output that does not validate is
//! asked for once more; then the heuristic scorer scores that answer, and the answer's
//! `scored_by` (and a note) says so.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use viva_protocol::{AnswerContent, DimensionScore};

use super::{HeuristicScorer, ScoreError, ScoreRequest, Scorer, Scoring, round1};
use crate::llm::{ChatMessage, LlmClient};
use crate::plan::Question;

/// Scores answers through an OpenAI-compatible model.
#[derive(Debug, Clone)]
pub struct LlmScorer {
    client: LlmClient,
    name: String,
}

impl LlmScorer {
    /// A scorer over `client`.
    pub fn new(client: LlmClient) -> Self {
        let name = format!("llm/{}", client.model());
        Self { client, name }
    }
}

/// What the model must answer.
#[derive(Debug, Deserialize)]
struct Output {
    dimensions: Vec<DimensionOutput>,
    key_points_hit: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct DimensionOutput {
    name: String,
    score: f64,
    evidence: String,
}

#[async_trait]
impl Scorer for LlmScorer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn score(&self, request: ScoreRequest) -> Result<Scoring, ScoreError> {
        let question = request
            .plan
            .question(&request.question_id)
            .ok_or_else(|| ScoreError::UnknownQuestion(request.question_id.clone()))?;
        let mut problem = String::new();
        for attempt in 1..=2 {
            let reply = self
                .client
                .complete_json(&request.user_id, messages(question, &request.answer, &problem), schema(question))
                .await;
            match reply.map_err(|e| e.to_string()).and_then(|text| validate(question, &text)) {
                Ok(mut scoring) => {
                    scoring.scored_by.clone_from(&self.name);
                    return Ok(scoring);
                }
                Err(error) => {
                    tracing::warn!(session = %request.session_id, answer = %request.answer_id, attempt, %error, "LLM scoring failed");
                    problem = error;
                }
            }
        }
        metrics::counter!("viva_scorer_fallbacks_total").increment(1);
        let mut scoring = HeuristicScorer.score_now(&request.plan, &request.question_id, &request.answer)?;
        scoring.notes.push(format!("The LLM scorer failed ({problem}); scored heuristically."));
        Ok(scoring)
    }
}

fn messages(question: &Question, answer: &AnswerContent, problem: &str) -> Vec<ChatMessage> {
    let points: Vec<String> = question.key_points.iter().map(|k| format!("- {}: {}", k.id, k.description)).collect();
    let answer = match answer {
        AnswerContent::Text { text } => format!("Answer:\n{text}"),
        AnswerContent::Code { language, source } => format!("Answer ({language} code):\n{source}"),
    };
    let mut chat = vec![
        ChatMessage::system(
            "You grade answers in mock job interviews, strictly and fairly. For each rubric dimension give a \
             score from 0 to 10 and quote the words of the answer that justify it (empty quote if none). List \
             the ids of the key points the answer really covers. Reply with JSON only.",
        ),
        ChatMessage::user(format!(
            "Question: {}\nRubric dimensions: {}\nKey points:\n{}\n\n{answer}",
            question.prompt,
            question.dimensions.join(", "),
            points.join("\n")
        )),
    ];
    if !problem.is_empty() {
        chat.push(ChatMessage::system(format!(
            "Your previous reply was invalid: {problem}. Follow the schema exactly."
        )));
    }
    chat
}

/// The JSON schema of [`Output`] for this question.
fn schema(question: &Question) -> Value {
    let ids: Vec<&str> = question.key_points.iter().map(|k| k.id.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["dimensions", "key_points_hit"],
        "properties": {
            "dimensions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "score", "evidence"],
                    "properties": {
                        "name": { "type": "string", "enum": question.dimensions },
                        "score": { "type": "number", "minimum": 0, "maximum": 10 },
                        "evidence": { "type": "string" }
                    }
                }
            },
            "key_points_hit": { "type": "array", "items": { "type": "string", "enum": ids } }
        }
    })
}

/// Checks the model's reply: JSON of the schema, every dimension of the question scored once
/// within 0–10, key points known. Servers without schema support may wrap JSON in a code fence.
pub(crate) fn validate(question: &Question, text: &str) -> Result<Scoring, String> {
    let json = text.trim().trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```");
    let output: Output = serde_json::from_str(json).map_err(|e| format!("not the JSON asked for: {e}"))?;
    let mut dimensions = Vec::with_capacity(question.dimensions.len());
    let mut notes = Vec::new();
    for name in &question.dimensions {
        let mut scored = output.dimensions.iter().filter(|d| &d.name == name);
        let (Some(d), None) = (scored.next(), scored.next()) else {
            return Err(format!("dimension `{name}` must be scored exactly once"));
        };
        if !(0.0..=10.0).contains(&d.score) {
            return Err(format!("score {} of `{name}` is not within 0–10", d.score));
        }
        dimensions.push(DimensionScore { name: name.clone(), score: round1(d.score as f32) });
        if !d.evidence.trim().is_empty() {
            notes.push(format!("{name}: \"{}\"", d.evidence.trim()));
        }
    }
    if let Some(unknown) = output.key_points_hit.iter().find(|id| !question.key_points.iter().any(|k| &k.id == *id)) {
        return Err(format!("unknown key point `{unknown}`"));
    }
    let (hit, missed): (Vec<_>, Vec<_>) =
        question.key_points.iter().map(|k| k.id.clone()).partition(|id| output.key_points_hit.contains(id));
    Ok(Scoring { dimensions, key_points_hit: hit, key_points_missed: missed, notes, scored_by: String::new() })
}
