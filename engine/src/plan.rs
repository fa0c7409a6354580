//! Interview plans: the questions, rubric and key points of one kind of interview.
//!
//! Plans are data (TOML files under `engine/plans/`, embedded at compile time), so adding an
//! interview is writing a file, not code. [`PlanCatalog::shipped`] loads and validates them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::rubric::KeywordIndex;
use serde::Deserialize;

/// One interview: its questions in order, the rubric they are scored on, and the time limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Stable id, e.g. `senior-backend`.
    pub id: String,
    /// Bumped whenever questions or rubric change; stamped on reports.
    pub version: u32,
    /// Human title.
    pub title: String,
    /// Role interviewed for, e.g. `backend`.
    pub role: String,
    /// Level interviewed for, e.g. `senior`.
    pub level: String,
    /// Time limit in seconds.
    pub duration_s: u64,
    /// What the interviewer says first.
    pub intro: String,
    /// What the interviewer says last.
    pub closing: String,
    /// Rubric dimensions.
    pub dimensions: Vec<Dimension>,
    /// Questions, asked in order.
    pub questions: Vec<Question>,
}

/// A rubric dimension, scored 0–10.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Name, e.g. `system_design`.
    pub name: String,
    /// What it measures, shown in reports.
    pub description: String,
}

/// One question of a plan.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Stable id within the plan.
    pub id: String,
    /// The question as the interviewer asks it.
    pub prompt: String,
    /// How a good answer is shaped; picks the scorer's signals.
    pub style: QuestionStyle,
    /// Expected answer format.
    #[serde(default)]
    pub expects: Expected,
    /// Rubric dimensions this question measures.
    pub dimensions: Vec<String>,
    /// What a good answer covers.
    pub key_points: Vec<KeyPoint>,
    /// Candidate levels the question suits (e.g. `["senior", "staff"]`); empty: every level.
    #[serde(default)]
    pub levels: Vec<String>,
    /// Seconds the interview should spend on it, follow-ups included (the report compares the
    /// time spent with it); by default the plan's `duration_s` shared evenly by its questions
    /// (see [`Plan::budget_s`]).
    #[serde(default)]
    pub budget_s: Option<u64>,
    /// The key points' keywords prepared for matching (built on first use).
    #[serde(skip)]
    pub keyword_index: KeywordIndex,
}

impl Question {
    /// Whether the question suits a candidate of `level` (any question suits an unknown level).
    pub fn suits(&self, level: Option<&str>) -> bool {
        match level.map(str::trim).filter(|l| !l.is_empty()) {
            Some(level) => self.levels.is_empty() || self.levels.iter().any(|l| l.eq_ignore_ascii_case(level)),
            None => true,
        }
    }
}

/// How a good answer to a question is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionStyle {
    /// Technical prose: coverage, specificity, trade-offs.
    Technical,
    /// A story: situation, task, action, result.
    Behavioural,
    /// Code: a function, the language asked for, edge cases.
    Coding,
}

/// The answer format a question expects (either is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Expected {
    /// Prose.
    #[default]
    Text,
    /// Code in `language`.
    Code {
        /// e.g. `python`.
        language: String,
    },
}

/// Something a good answer covers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPoint {
    /// Stable id within the question.
    pub id: String,
    /// What the point is, shown in reports.
    pub description: String,
    /// Words or phrases any of which shows the point was covered (case-insensitive).
    pub keywords: Vec<String>,
    /// What the interviewer asks when the point is missing.
    pub follow_up: String,
}

impl Plan {
    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// The first question after the one at `after` (from the start when `None`) that suits a
    /// candidate of `level`.
    pub fn next_question(&self, after: Option<usize>, level: Option<&str>) -> Option<&Question> {
        let start = after.map_or(0, |i| i + 1);
        self.questions.iter().skip(start).find(|q| q.suits(level))
    }

    /// The seconds budgeted for `question`: its own `budget_s`, or else what the plan's
    /// `duration_s` leaves after the questions with a budget of their own, shared evenly by
    /// the others (at least 1 s).
    pub fn budget_s(&self, question: &Question) -> u64 {
        if let Some(budget) = question.budget_s {
            return budget;
        }
        let set: u64 = self.questions.iter().filter_map(|q| q.budget_s).sum();
        let unset = self.questions.iter().filter(|q| q.budget_s.is_none()).count().max(1) as u64;
        (self.duration_s.saturating_sub(set) / unset).max(1)
    }

    /// Checks the plan's internal references; every error at once.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut problems = Vec::new();
        let dims: HashSet<&str> = self.dimensions.iter().map(|d| d.name.as_str()).collect();
        if self.questions.is_empty() {
            problems.push("has no questions".to_owned());
        }
        if self.duration_s == 0 {
            problems.push("duration_s is 0".to_owned());
        }
        let mut ids = HashSet::new();
        for q in &self.questions {
            if !ids.insert(q.id.as_str()) {
                problems.push(format!("question `{}` appears twice", q.id));
            }
            if q.dimensions.is_empty() {
                problems.push(format!("question `{}` measures no dimension", q.id));
            }
            for d in &q.dimensions {
                if !dims.contains(d.as_str()) {
                    problems.push(format!("question `{}` names unknown dimension `{d}`", q.id));
                }
            }
            if q.budget_s == Some(0) {
                problems.push(format!("question `{}` has a budget_s of 0", q.id));
            }
            if q.key_points.is_empty() {
                problems.push(format!("question `{}` has no key points", q.id));
            }
            for k in &q.key_points {
                if k.keywords.iter().all(|w| w.trim().is_empty()) {
                    problems.push(format!("key point `{}.{}` has no keywords", q.id, k.id));
                }
            }
        }
        let budgeted: u64 = self.questions.iter().filter_map(|q| q.budget_s).sum();
        if budgeted > self.duration_s {
            problems.push(format!("the questions' budget_s add up to {budgeted}, over duration_s {}", self.duration_s));
        }
        if problems.is_empty() { Ok(()) } else { Err(PlanError { plan: self.id.clone(), problems }) }
    }
}

/// A plan that does not hold together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan `{plan}`: {}", problems.join("; "))]
pub struct PlanError {
    /// The plan (or file) at fault.
    pub plan: String,
    /// Every problem found.
    pub problems: Vec<String>,
}

/// The plans an engine offers, by id.
#[derive(Debug, Clone, Default)]
pub struct PlanCatalog {
    plans: BTreeMap<String, Arc<Plan>>,
}

/// The plan files shipped with the engine.
const SHIPPED: &[(&str, &str)] = &[
    ("senior-backend.toml", include_str!("../plans/senior-backend.toml")),
    ("coding-python.toml", include_str!("../plans/coding-python.toml")),
    ("frontend.toml", include_str!("../plans/frontend.toml")),
];

impl PlanCatalog {
    /// The plans shipped with the engine.
    pub fn shipped() -> Self {
        let sources = SHIPPED.iter().map(|(name, text)| (*name, *text));
        // Shipped plans are validated by the test suite, so this cannot fail in a release.
        Self::from_toml(sources).expect("shipped plans are valid")
    }

    /// Plans parsed from `(file name, TOML text)` pairs; every error at once.
    pub fn from_toml<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Vec<PlanError>> {
        let mut catalog = Self::default();
        let mut errors = Vec::new();
        for (name, text) in sources {
            match toml::from_str::<Plan>(text) {
                Ok(plan) => match plan.validate() {
                    Ok(()) => {
                        catalog.plans.insert(plan.id.clone(), Arc::new(plan));
                    }
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(PlanError { plan: name.to_owned(), problems: vec![e.to_string()] }),
            }
        }
        if errors.is_empty() { Ok(catalog) } else { Err(errors) }
    }

    /// Adds `other`'s plans; one with the id of a plan here replaces it.
    pub fn extend(&mut self, other: PlanCatalog) {
        self.plans.extend(other.plans);
    }

    /// The plan with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Plan>> {
        self.plans.get(id)
    }

    /// Every plan, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plan>> {
        self.plans.values()
    }
}
