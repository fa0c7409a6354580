//! [`Coverage`]: which of a question's key points an answer names, each point by any of its
//! keywords.

use std::fmt;
use std::sync::{Arc, OnceLock};

use viva_protocol::AnswerContent;

use super::{Mode, Phrases, Words};
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
    let points = &question.key_points;
    let found = words.tags_found(question.keyword_index.get(question), points.len());
    let (hit, missed) = points.iter().zip(found).partition::<Vec<_>, _>(|&(_, found)| found);
    Coverage { hit: hit.into_iter().map(|(k, _)| k).collect(), missed: missed.into_iter().map(|(k, _)| k).collect() }
}

/// A question's keywords prepared for matching, each tagged with its key point's index: built
/// on first use and kept with the plan, so that every answer of every session of the plan
/// shares it. Derived data: it never makes two questions differ, and is never deserialized.
#[derive(Clone, Default)]
pub struct KeywordIndex(OnceLock<Arc<Phrases>>);

impl KeywordIndex {
    fn get(&self, question: &Question) -> &Phrases {
        self.0.get_or_init(|| {
            let keywords = question.key_points.iter().enumerate();
            let keywords = keywords.flat_map(|(i, k)| k.keywords.iter().map(move |kw| (i, kw.as_str())));
            Arc::new(Phrases::default().tagged(keywords, Mode::Prefix))
        })
    }
}

impl PartialEq for KeywordIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for KeywordIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeywordIndex")
    }
}
