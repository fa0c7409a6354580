//! Run with: cargo run -p example-embedded
//!
//! The canned candidate: answers composed from the plan's own key points, so that every
//! question is answered on topic and the interviewer rarely needs a follow-up. Prose for text
//! questions (told as a story for behavioural ones), a small snippet in the expected language
//! for code questions.

use std::sync::Arc;

use viva_engine::plan::{KeyPoint, Plan, Question, QuestionStyle};
use viva_engine::rubric;
use viva_protocol::{AnswerContent, Expects, TurnKind};

/// Answers the questions of one plan.
pub struct Candidate {
    plan: Arc<Plan>,
    /// The last answer given, per question id, to see what a follow-up is about.
    last: Vec<(String, AnswerContent)>,
}

impl Candidate {
    /// A candidate for `plan`.
    pub fn new(plan: Arc<Plan>) -> Self {
        Self { plan, last: Vec::new() }
    }

    /// The answer to a `question` or `follow_up` turn about `question_id`.
    pub fn answer(&mut self, kind: TurnKind, question_id: Option<&str>, expects: Option<&Expects>) -> AnswerContent {
        let plan = Arc::clone(&self.plan);
        let Some(question) = question_id.and_then(|id| plan.question(id)) else {
            return AnswerContent::Text {
                text: "I would start by clarifying the requirements, then walk through the design step by step."
                    .to_owned(),
            };
        };
        let points: Vec<&KeyPoint> = match (kind, self.previous(&question.id)) {
            // A follow-up probes what the last answer missed (the core asks about the first
            // missed key point); answer exactly that, or everything if nothing was missed.
            (TurnKind::FollowUp, Some(previous)) => {
                let missed = rubric::coverage(question, previous).missed;
                if missed.is_empty() { question.key_points.iter().collect() } else { missed }
            }
            _ => question.key_points.iter().collect(),
        };
        let keywords: Vec<&str> = points.iter().map(|k| first_keyword(k)).collect();
        let answer = match expects {
            Some(Expects::Code { language }) => {
                AnswerContent::Code { language: language.clone(), source: snippet(question, language, &keywords) }
            }
            _ if kind == TurnKind::FollowUp => AnswerContent::Text { text: follow_up_text(&points) },
            _ => AnswerContent::Text {
                text: match question.style {
                    QuestionStyle::Behavioural => story(&keywords),
                    QuestionStyle::Technical | QuestionStyle::Coding => walkthrough(&keywords),
                },
            },
        };
        let answer = cover_the_rest(question, &points, answer);
        self.last.retain(|(id, _)| id != &question.id);
        self.last.push((question.id.clone(), answer.clone()));
        answer
    }

    fn previous(&self, question_id: &str) -> Option<&AnswerContent> {
        self.last.iter().find(|(id, _)| id == question_id).map(|(_, a)| a)
    }
}

/// The key point's first keyword that is not blank.
fn first_keyword(point: &KeyPoint) -> &str {
    point.keywords.iter().map(|k| k.trim()).find(|k| !k.is_empty()).unwrap_or(point.id.as_str())
}

/// A technical answer told in order, concrete and naming a trade-off.
fn walkthrough(keywords: &[&str]) -> String {
    let mut text = String::from("Let me go through it in order. ");
    let last = keywords.len().saturating_sub(1);
    for (i, keyword) in keywords.iter().enumerate() {
        let sentence = match i {
            0 => format!("First, I would build on {keyword}. "),
            1 => format!(
                "Then I would add {keyword}, sized with real numbers: say 10,000 requests per second with a p99 under 50 ms. "
            ),
            _ if i == last => format!("Finally, {keyword}. "),
            _ => format!("Next, {keyword}. "),
        };
        text.push_str(&sentence);
    }
    text.push_str(
        "The main trade-off is simplicity versus precision; however, I would start simple, measure, and only then optimise.",
    );
    text
}

/// A behavioural answer told as a story: situation, task, action, result.
fn story(keywords: &[&str]) -> String {
    let mut text = String::from("In 2022, at my previous company, ");
    match keywords {
        [] => text.push_str("we had a hard quarter. "),
        [only] => text.push_str(&format!("the situation came down to {only}. ")),
        [first, middle @ .., last] => {
            text.push_str(&format!("the situation came down to {first}. "));
            if let [task, actions @ ..] = middle {
                text.push_str(&format!("My task was to own {task}. "));
                for action in actions {
                    text.push_str(&format!("I led the work on {action}. "));
                }
            }
            text.push_str(&format!(
                "As a result, {last}: we cut incidents by 40% within 3 months, and I learned to follow through early."
            ));
        }
    }
    text
}

/// A prose answer to a follow-up: the points asked about, with what they mean.
fn follow_up_text(points: &[&KeyPoint]) -> String {
    let mut text = String::from("Good question. ");
    for point in points {
        text.push_str(&format!(
            "On that: {}. In short, the answer {}. ",
            first_keyword(point),
            lower_first(&point.description)
        ));
    }
    text
}

/// A small function in `language`, with the approach named in a constant (comments do not
/// count towards key points: the rubric reads code, not what is said about it).
fn snippet(question: &Question, language: &str, keywords: &[&str]) -> String {
    let approach = keywords.join(", ").replace('"', "'");
    let snake = question.id.replace('-', "_");
    match rubric::canonical_language(language) {
        Some("python") => format!(
            "APPROACH = \"{approach}\"\n\
             # Cost: O(n log n) time and O(n) space; the trade-off is memory versus speed.\n\
             def {snake}(items):\n\
             \x20   \"\"\"Answer to `{id}`.\"\"\"\n\
             \x20   if not items:\n\
             \x20       return []\n\
             \x20   result = []\n\
             \x20   for item in sorted(items):\n\
             \x20       result.append(item)\n\
             \x20   return result\n\
             \n\
             \n\
             def test_{snake}():\n\
             \x20   assert {snake}([]) == []\n",
            id = question.id,
        ),
        Some("rust") => format!(
            "pub const APPROACH: &str = \"{approach}\";\n\
             // Cost: O(n log n) time and O(n) space; the trade-off is memory versus speed.\n\
             pub fn {snake}(items: &[i64]) -> Vec<i64> {{\n\
             \x20   if items.is_empty() {{\n\
             \x20       return Vec::new();\n\
             \x20   }}\n\
             \x20   let mut result = items.to_vec();\n\
             \x20   result.sort();\n\
             \x20   result\n\
             }}\n"
        ),
        // TypeScript, JavaScript, and a C-like sketch for anything else.
        _ => format!(
            "export const APPROACH = \"{approach}\";\n\
             // Cost: O(n log n) time and O(n) space; the trade-off is memory versus speed.\n\
             export function {camel}<T>(items: T[]): T[] {{\n\
             \x20 if (items.length === 0) {{\n\
             \x20   return [];\n\
             \x20 }}\n\
             \x20 return [...items].sort();\n\
             }}\n",
            camel = camel_case(&question.id),
        ),
    }
}

/// Appends whatever key point the answer still misses (a keyword that does not match its own
/// text under the rubric's rules), so the interviewer has no reason to follow up.
fn cover_the_rest(question: &Question, points: &[&KeyPoint], answer: AnswerContent) -> AnswerContent {
    let coverage = rubric::coverage(question, &answer);
    let missed: Vec<&str> = coverage
        .missed
        .iter()
        .filter(|k| points.iter().any(|p| p.id == k.id))
        .flat_map(|k| k.keywords.iter().map(String::as_str))
        .collect();
    if missed.is_empty() {
        return answer;
    }
    let extra = missed.join(", ").replace('"', "'");
    match answer {
        AnswerContent::Text { mut text } => {
            text.push_str(&format!(" I would also mention {extra}."));
            AnswerContent::Text { text }
        }
        AnswerContent::Code { language, source } => {
            let also = if rubric::same_language(&language, "python") {
                format!("ALSO = \"{extra}\"")
            } else {
                format!("export const ALSO = \"{extra}\";")
            };
            AnswerContent::Code { language, source: format!("{also}\n{source}") }
        }
    }
}

fn lower_first(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn camel_case(id: &str) -> String {
    let mut out = String::new();
    for (i, part) in id.split(['-', '_']).filter(|p| !p.is_empty()).enumerate() {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.extend(first.to_lowercase());
            } else {
                out.extend(first.to_uppercase());
            }
            out.push_str(chars.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use viva_engine::plan::{Expected, PlanCatalog};
    use viva_engine::rubric;
    use viva_engine::scorer::heuristic;
    use viva_protocol::{AnswerContent, Expects, TurnKind};

    use super::Candidate;

    fn expects(expected: &Expected) -> Expects {
        match expected {
            Expected::Text => Expects::Text,
            Expected::Code { language } => Expects::Code { language: language.clone() },
        }
    }

    #[test]
    fn every_shipped_question_is_answered_in_full_and_in_its_format() {
        for plan in PlanCatalog::shipped().iter() {
            let mut candidate = Candidate::new(Arc::clone(plan));
            for question in &plan.questions {
                let expects = expects(&question.expects);
                let answer = candidate.answer(TurnKind::Question, Some(&question.id), Some(&expects));
                let coverage = rubric::coverage(question, &answer);
                assert!(coverage.missed.is_empty(), "{}/{}: {answer:?}", plan.id, question.id);
                match (&expects, &answer) {
                    (Expects::Code { language }, AnswerContent::Code { language: sent, source }) => {
                        assert_eq!(language, sent);
                        assert!(heuristic::code_shape(language, source).language_matches, "{source}");
                    }
                    (Expects::Text, AnswerContent::Text { .. }) => {}
                    _ => panic!("{}/{}: {answer:?} for {expects:?}", plan.id, question.id),
                }
            }
        }
    }

    #[test]
    fn a_follow_up_answers_what_the_last_answer_missed() {
        let catalog = PlanCatalog::shipped();
        let plan = catalog.get("senior-backend").unwrap();
        let question = &plan.questions[0];
        let mut candidate = Candidate::new(Arc::clone(plan));
        // Pretend the first answer only named the first key point.
        let first = AnswerContent::Text { text: question.key_points[0].keywords[0].clone() };
        candidate.last.push((question.id.clone(), first));
        let answer = candidate.answer(TurnKind::FollowUp, Some(&question.id), Some(&Expects::Text));
        let coverage = rubric::coverage(question, &answer);
        assert!(!coverage.hit.iter().any(|k| k.id == question.key_points[0].id), "{answer:?}");
        assert_eq!(coverage.hit.len(), question.key_points.len() - 1, "{answer:?}");
    }
}
