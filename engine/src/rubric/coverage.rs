//! [`Coverage`]: which of a question's key points an answer names, each point by any of its
//! keywords.

use viva_protocol::AnswerContent;

use super::Words;
use crate::plan::{KeyPoint, Question};

/// Which key points of a question an answer covered.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage<'q> {
    /// Points covered, in the question's order.
    pub hit: Vec<&'q KeyPoint>,
    /// Points missed, in the question's order.
    pub missed: Vec<&'q KeyPoint>,
}

impl Coverage<'_> {
    /// How many key points the question has.
    pub fn total(&self) -> usize {
        self.hit.len() + self.missed.len()
    }

    /// The share of key points covered, 0–1 (0 for a question without key points).
    pub fn fraction(&self) -> f32 {
        match self.total() {
            0 => 0.0,
            n => self.hit.len() as f32 / n as f32,
        }
    }
}

/// Which of `question`'s key points `answer` covers: a point is covered when any of its
/// keywords is found (see the [matching rules](crate::rubric#matching-rules)).
pub fn coverage<'q>(question: &'q Question, answer: &AnswerContent) -> Coverage<'q> {
    coverage_in(question, &Words::of_answer(answer))
}

/// [`coverage`] over words already split, for callers that need them for more than this.
pub fn coverage_in<'q>(question: &'q Question, words: &Words) -> Coverage<'q> {
    let (hit, missed) = question.key_points.iter().partition(|k| k.keywords.iter().any(|kw| words.contains(kw)));
    Coverage { hit, missed }
}
