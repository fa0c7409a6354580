//! [`AnswerReading`]: what the rubric reads from one answer (its words, the key points they
//! name), computed on first use and shared by whoever reads the answer after.

use std::fmt;
use std::sync::{Arc, OnceLock};

use viva_protocol::AnswerContent;

use super::{Coverage, Words, coverage};
use crate::plan::Question;

/// One answer to one question, read at most once however many read it: the core's follow-up
/// choice reads a question's first answer, and the heuristic scorer, scoring it a moment later,
/// takes the same words and coverage instead of reading the answer again. Cloning shares;
/// nothing is read for a reader that needs nothing of it (a model-backed scorer).
///
/// Every call must pass the same answer and question: the first call's are the ones read.
#[derive(Clone, Default)]
pub struct AnswerReading(Arc<Reading>);

#[derive(Default)]
struct Reading {
    words: OnceLock<Words>,
    /// Per key point of the question, whether the answer names it.
    found: OnceLock<Vec<bool>>,
}

impl AnswerReading {
    /// The answer's words.
    pub fn words(&self, answer: &AnswerContent) -> &Words {
        self.0.words.get_or_init(|| Words::of_answer(answer))
    }

    /// Which of `question`'s key points the answer covers.
    pub fn coverage<'q>(&self, question: &'q Question, answer: &AnswerContent) -> Coverage<'q> {
        let found = self.0.found.get_or_init(|| coverage::found(question, self.words(answer)));
        coverage::from_found(question, found)
    }

    /// The words, if someone read them already.
    pub fn read(&self) -> Option<&Words> {
        self.0.words.get()
    }
}

impl PartialEq for AnswerReading {
    /// Derived data: never makes two requests differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for AnswerReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.read().is_some() { "AnswerReading(read)" } else { "AnswerReading(not read)" })
    }
}
