//! The embedded scorer: explainable scores from plain-text signals, no model needed.
//!
//! It reads an answer the way a tired but fair interviewer skims one: did it name the key
//! points, is it told in order, is it concrete, and (for code) does the code look finished.
//! See [`HeuristicScorer`] for the formula. Coverage comes from [`crate::rubric`], shared with
//! the session core; the other signals are read here, each in a module of its own:
//! [`layout`] and [`star_structure`] (structure), [`specificity`], and [`code_shape`].

mod code_shape;
mod language;
mod specificity;
mod structure;

use async_trait::async_trait;
use viva_protocol::{AnswerContent, DimensionScore};

use super::{ScoreError, ScoreRequest, Scorer, Scoring, round1};
use crate::plan::{Expected, KeyPoint, Plan, Question, QuestionStyle};
use crate::rubric::{self, Coverage, Words};

pub use code_shape::{CodeShape, EdgeCases, code_shape};
pub use specificity::{Specificity, specificity};
pub use structure::{Layout, Star, layout, star_structure};

/// Scores answers from plain-text signals, deterministically and without I/O.
///
/// Four signals, each 0–1, are read from the answer:
///
/// - **coverage** (C): the share of the question's key points named (see [`rubric::coverage`]);
/// - **structure** (S): for a behavioural answer, the STAR parts told (situation, task,
///   action, result) and whether the candidate says what *they* did; for prose, length
///   (~120 words is full marks, a one-liner is near 0), sentences, sequence words (first,
///   then, finally) and paragraphs or lists; for code, length and comments;
/// - **specificity** (P): numbers, numbers with units (ms, %, rps, GB, replicas), big-O and
///   trade-off language ("trade-off", "however", "instead of", "versus"); for code, a stated
///   complexity and trade-offs in comments;
/// - **code** (K), only for code answers and coding questions: for `code_quality`-like
///   dimensions, a function or class defined (0.35), the language asked for (0.2), an edge case
///   guarded (0.25) and comments (0.2); for `testing`-like dimensions, tests present (0.55) and
///   edge cases guarded (0.45). A prose answer to a coding question gets K = 0.
///
/// Each dimension weighs the signals by what its name says it measures:
///
/// | dimension name contains                      | C    | S    | P    | K    |
/// |----------------------------------------------|------|------|------|------|
/// | `communicat`, `clarity`, `explain`           | 0.30 | 0.50 | 0.20 | 0    |
/// | `code`, `craft`                              | 0.30 | 0.10 | 0    | 0.60 |
/// | `test`, `verif`                              | 0.40 | 0    | 0.10 | 0.50 |
/// | `ownership`, `leader`, `collab`, `teamwork`  | 0.45 | 0.35 | 0.20 | 0    |
/// | anything else (`system_design`, ...)         | 0.60 | 0.15 | 0.15 | 0.10 |
///
/// When K does not apply its weight is spread over the others in proportion. The weighted
/// mean is then multiplied by a relevance factor, `0.4 + 0.6 × min(C / 0.5, 1)`, so that a
/// long, well-formed answer that names none of the key points still scores low, and scaled to
/// 0–10 with one decimal. An empty answer scores 0 everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeuristicScorer;

impl HeuristicScorer {
    /// `name/version`, stamped on reports; bump the version when the formula changes.
    pub const NAME: &'static str = "heuristic/1";

    /// Scores `answer` to question `question_id` of `plan`, synchronously.
    pub fn score_now(&self, plan: &Plan, question_id: &str, answer: &AnswerContent) -> Result<Scoring, ScoreError> {
        let question = plan.question(question_id).ok_or_else(|| ScoreError::UnknownQuestion(question_id.to_owned()))?;
        Ok(score_question(question, answer))
    }
}

#[async_trait]
impl Scorer for HeuristicScorer {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn score(&self, request: ScoreRequest) -> Result<Scoring, ScoreError> {
        self.score_now(&request.plan, &request.question_id, &request.answer)
    }
}

/// The signals read from one answer, each 0–1.
#[derive(Debug, Clone, Copy)]
struct Signals {
    /// Share of key points named.
    coverage: f32,
    /// How well the answer is organised.
    structure: f32,
    /// How concrete it is.
    specificity: f32,
    /// Code signals, when the answer is code or the question asks for code.
    code: Option<CodeSignals>,
}

/// Code signals, each 0–1.
#[derive(Debug, Clone, Copy)]
struct CodeSignals {
    /// Defined, in the right language, guarded and commented.
    quality: f32,
    /// Tested and guarded.
    testing: f32,
}

/// What a rubric dimension mostly measures, read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emphasis {
    /// Substance: coverage first (`system_design`, `technical_depth`, `problem_solving`, ...).
    Substance,
    /// How the answer is told.
    Communication,
    /// How the code is written.
    CodeQuality,
    /// Whether the work is checked.
    Testing,
    /// Behavioural: owning and telling the story.
    Ownership,
}

impl Emphasis {
    /// The emphasis of a dimension named `name`.
    fn of(name: &str) -> Self {
        let name = name.to_ascii_lowercase();
        let has = |stems: &[&str]| stems.iter().any(|s| name.contains(s));
        if has(&["communicat", "clarity", "explain"]) {
            Self::Communication
        } else if has(&["code", "craft"]) {
            Self::CodeQuality
        } else if has(&["test", "verif"]) {
            Self::Testing
        } else if has(&["ownership", "leader", "collab", "teamwork"]) {
            Self::Ownership
        } else {
            Self::Substance
        }
    }

    /// Weights of coverage, structure, specificity and code.
    fn weights(self) -> [f32; 4] {
        match self {
            Self::Substance => [0.60, 0.15, 0.15, 0.10],
            Self::Communication => [0.30, 0.50, 0.20, 0.0],
            Self::CodeQuality => [0.30, 0.10, 0.0, 0.60],
            Self::Testing => [0.40, 0.0, 0.10, 0.50],
            Self::Ownership => [0.45, 0.35, 0.20, 0.0],
        }
    }

    /// The 0–10 score of a dimension with this emphasis.
    fn score(self, s: &Signals) -> f32 {
        let [wc, ws, wp, wk] = self.weights();
        let (wk, k) = match s.code {
            Some(c) if self == Self::Testing => (wk, c.testing),
            Some(c) => (wk, c.quality),
            None => (0.0, 0.0),
        };
        let raw = (wc * s.coverage + ws * s.structure + wp * s.specificity + wk * k) / (wc + ws + wp + wk);
        let relevance = 0.4 + 0.6 * (s.coverage / 0.5).min(1.0);
        round1((10.0 * raw * relevance).clamp(0.0, 10.0))
    }
}

/// Scores an answer to `question`.
fn score_question(question: &Question, answer: &AnswerContent) -> Scoring {
    let words = Words::of_answer(answer);
    let covered = rubric::coverage_in(question, &words);
    let ids = |points: &[&KeyPoint]| points.iter().map(|k| k.id.clone()).collect();
    let mut notes = Vec::new();
    let signals = if words.is_empty() {
        notes.push("Empty answer: nothing to score.".to_owned());
        None
    } else {
        notes.push(coverage_note(&covered));
        Some(read_signals(question, answer, &words, covered.fraction(), &mut notes))
    };
    Scoring {
        dimensions: question
            .dimensions
            .iter()
            .map(|name| DimensionScore {
                name: name.clone(),
                score: signals.as_ref().map_or(0.0, |s| Emphasis::of(name).score(s)),
            })
            .collect(),
        key_points_hit: ids(&covered.hit),
        key_points_missed: ids(&covered.missed),
        notes,
        scored_by: HeuristicScorer::NAME.to_owned(),
    }
}

/// Reads the signals of a non-empty answer, noting what it saw.
fn read_signals(
    question: &Question,
    answer: &AnswerContent,
    words: &Words,
    coverage: f32,
    notes: &mut Vec<String>,
) -> Signals {
    match answer {
        AnswerContent::Text { text } => {
            let structure = if question.style == QuestionStyle::Behavioural {
                let star = structure::star_in(words);
                notes.extend(star_notes(&star));
                star_score(&star, words.len())
            } else {
                let layout = structure::layout_in(text, words);
                notes.push(layout_note(&layout));
                layout_score(&layout)
            };
            let spec = specificity::specificity_in(text, words);
            notes.push(specificity_note(&spec, false));
            let code = (question.style == QuestionStyle::Coding).then(|| {
                notes.push("No code submitted for a coding question.".to_owned());
                CodeSignals { quality: 0.0, testing: 0.0 }
            });
            Signals { coverage, structure, specificity: text_specificity(&spec), code }
        }
        AnswerContent::Code { language, source } => {
            let asked = match &question.expects {
                Expected::Code { language } => language.as_str(),
                Expected::Text => language.as_str(),
            };
            let shape = code_shape::code_shape_in(asked, source, words);
            let language_ok = match shape.detected_language {
                Some(_) => shape.language_matches,
                None => rubric::same_language(language, asked),
            };
            notes.push(format!(
                "{} of code, {}.",
                plural(shape.lines, "line", "lines"),
                match shape.comment_lines {
                    0 => "no comments".to_owned(),
                    n => format!("{} of comments", plural(n, "line", "lines")),
                }
            ));
            let spec = specificity::specificity_in(source, words);
            notes.push(specificity_note(&spec, true));
            notes.push(code_note(&shape));
            if !language_ok {
                let written = shape.detected_language.unwrap_or(language);
                notes.push(format!("Written in {written}; {asked} was asked for."));
            }
            Signals {
                coverage,
                structure: 0.6 * ratio(shape.lines, 6.0) + 0.4 * flag(shape.comment_lines > 0),
                specificity: 0.6 * ratio(spec.complexity, 1.0) + 0.4 * ratio(spec.tradeoff_phrases, 1.0),
                code: Some(CodeSignals {
                    quality: 0.35 * flag(shape.defines_function || shape.defines_class)
                        + 0.2 * flag(language_ok)
                        + 0.25 * flag(shape.handles_edge_cases())
                        + 0.2 * flag(shape.comment_lines > 0),
                    testing: 0.55 * flag(shape.has_tests) + 0.45 * ratio(shape.edge_cases.count(), 2.0),
                }),
            }
        }
    }
}

/// `n / full`, capped at 1.
fn ratio(n: u32, full: f32) -> f32 {
    (n as f32 / full).min(1.0)
}

/// 1 for true, 0 for false.
fn flag(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

/// Structure of a behavioural answer: STAR parts (0.7), saying what *I* did (0.1), length
/// (0.2, full at 100 words).
fn star_score(star: &Star, words: usize) -> f32 {
    0.7 * star.parts() as f32 / 4.0 + 0.1 * flag(star.first_person_actions > 0) + 0.2 * length(words as u32, 100.0)
}

/// Structure of prose: length (0.45, full at 120 words), sentences (0.2, full at 4),
/// sequence words (0.2, full at 2), paragraphs or a list (0.15).
fn layout_score(l: &Layout) -> f32 {
    0.45 * length(l.words, 120.0)
        + 0.2 * ratio(l.sentences, 4.0)
        + 0.2 * ratio(l.sequence_words, 2.0)
        + 0.15 * flag(l.paragraphs >= 2 || l.list_items >= 2)
}

/// How adequate a length of `words` is: rising to 1 at `full`, easing off past 700 words
/// (a rambling answer), never below 0.5.
fn length(words: u32, full: f32) -> f32 {
    let w = words as f32;
    if w <= 700.0 { (w / full).min(1.0) } else { 1.0 - ((w - 700.0) / 1400.0).min(0.5) }
}

/// Specificity of prose: numbers (0.35, full at 3), numbers with units (0.25, full at 2),
/// trade-offs (0.4, full at 2); a big-O counts as a number with its unit.
fn text_specificity(s: &Specificity) -> f32 {
    0.35 * ratio(s.numbers + s.complexity, 3.0)
        + 0.25 * ratio(s.units + s.complexity, 2.0)
        + 0.4 * ratio(s.tradeoff_phrases, 2.0)
}

/// "Named 3 of 5 key points; missed: failure mode, client feedback."
fn coverage_note(c: &Coverage<'_>) -> String {
    let total = c.total();
    let missed = c.missed.iter().map(|k| label(&k.id)).collect::<Vec<_>>().join(", ");
    match c.hit.len() {
        _ if total == 0 => "The question has no key points to check.".to_owned(),
        n if n == total => format!("Named all {total} key points."),
        0 => format!("Named none of the {total} key points; missed: {missed}."),
        n => format!("Named {n} of {total} key points; missed: {missed}."),
    }
}

/// A key point id as words: `failure_mode` → `failure mode`.
fn label(id: &str) -> String {
    id.replace(['_', '-'], " ")
}

/// What the STAR reading of a story found.
fn star_notes(star: &Star) -> Vec<String> {
    let parts = [("situation", star.situation), ("task", star.task), ("action", star.action), ("result", star.result)];
    let told: Vec<&str> = parts.iter().filter(|p| p.1).map(|p| p.0).collect();
    let untold: Vec<&str> = parts.iter().filter(|p| !p.1).map(|p| p.0).collect();
    let mut notes = vec![match told.len() {
        4 => "Told a complete STAR story: situation, task, action and result.".to_owned(),
        0 => "No story structure: no situation, task, action or result.".to_owned(),
        _ => format!("STAR story with {}; no clear {}.", and_list(&told), or_list(&untold)),
    }];
    if star.action && star.first_person_actions == 0 {
        notes.push("Actions are told as \"we\"; say what you did yourself.".to_owned());
    }
    notes
}

/// What the layout of prose shows.
fn layout_note(l: &Layout) -> String {
    if l.words < 25 {
        return format!("Very short answer ({}): too short to show depth.", plural(l.words, "word", "words"));
    }
    let mut note = format!("{} in {}", plural(l.words, "word", "words"), plural(l.sentences, "sentence", "sentences"));
    if l.paragraphs >= 2 {
        note += &format!(" and {} paragraphs", l.paragraphs);
    }
    note += if l.sequence_words >= 2 { ", taken in steps." } else { "; no sequence words (first, then, finally)." };
    note
}

/// What specificity counts show.
fn specificity_note(s: &Specificity, code: bool) -> String {
    if code {
        return match (s.complexity > 0, s.tradeoff_phrases > 0) {
            (true, true) => "States the complexity and a trade-off.",
            (true, false) => "States the complexity.",
            (false, true) => "Names a trade-off but not the complexity.",
            (false, false) => "No complexity or trade-offs stated.",
        }
        .to_owned();
    }
    if s.numbers + s.complexity + s.tradeoff_phrases == 0 {
        return "No numbers or trade-offs named.".to_owned();
    }
    let mut named = Vec::new();
    if s.numbers > 0 {
        named.push(format!("{} ({} with units)", plural(s.numbers, "number", "numbers"), s.units.min(s.numbers)));
    }
    if s.complexity > 0 {
        named.push(plural(s.complexity, "big-O bound", "big-O bounds"));
    }
    if s.tradeoff_phrases > 0 {
        named.push(plural(s.tradeoff_phrases, "trade-off", "trade-offs"));
    }
    format!("Named {}.", and_list(&named))
}

/// What the code shape shows: "Defines `get` and `put`; handles missing values; no tests."
fn code_note(shape: &CodeShape<'_>) -> String {
    let mut names: Vec<String> = Vec::new();
    for name in &shape.defined {
        let dunder = name.starts_with("__") && name.ends_with("__");
        let quoted = format!("`{name}`");
        if !dunder && !names.contains(&quoted) {
            names.push(quoted);
        }
    }
    if names.len() > 4 {
        let more = names.len() - 3;
        names.truncate(3);
        names.push(format!("{more} more"));
    }
    let defines = if names.is_empty() {
        "Defines no function or class".to_owned()
    } else {
        format!("Defines {}", and_list(&names))
    };
    let e = &shape.edge_cases;
    let guarded: Vec<&str> = [
        ("empty input", e.empty_input),
        ("missing values", e.missing_value),
        ("bounds", e.bounds),
        ("invalid input", e.invalid_input),
    ]
    .iter()
    .filter(|g| g.1)
    .map(|g| g.0)
    .collect();
    let edges =
        if guarded.is_empty() { "no edge cases handled".to_owned() } else { format!("handles {}", and_list(&guarded)) };
    let tests = if shape.has_tests { "has tests" } else { "no tests" };
    format!("{defines}; {edges}; {tests}.")
}

/// `n thing` or `n things`.
fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "a", "a and b", "a, b and c".
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    join_last(items, " and ")
}

/// "a", "a or b", "a, b or c".
fn or_list<S: AsRef<str>>(items: &[S]) -> String {
    join_last(items, " or ")
}

/// Items joined by commas, the last one by `last`.
fn join_last<S: AsRef<str>>(items: &[S], last: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out += if i + 1 == items.len() { last } else { ", " };
        }
        out += item.as_ref();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emphasis_from_dimension_names() {
        let cases = [
            ("communication", Emphasis::Communication),
            ("code_quality", Emphasis::CodeQuality),
            ("testing", Emphasis::Testing),
            ("ownership", Emphasis::Ownership),
            ("collaboration", Emphasis::Ownership),
            ("system_design", Emphasis::Substance),
            ("problem_solving", Emphasis::Substance),
        ];
        for (name, want) in cases {
            assert_eq!(Emphasis::of(name), want, "{name}");
        }
    }

    #[test]
    fn weights_sum_to_one() {
        for e in [
            Emphasis::Substance,
            Emphasis::Communication,
            Emphasis::CodeQuality,
            Emphasis::Testing,
            Emphasis::Ownership,
        ] {
            let sum: f32 = e.weights().iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{e:?}: {sum}");
        }
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    }
}
