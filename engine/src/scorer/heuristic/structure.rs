//! Structure of a prose answer, one of the heuristic scorer's signals: how it is laid out
//! (length, sentences, paragraphs, lists, sequence words) and, for a behavioural question,
//! which parts of a STAR story it tells.

use std::sync::LazyLock;

use crate::rubric::{Mode, Phrases, Words};

/// How a prose answer is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// Words (as [`Words::of_text`] splits them).
    pub words: u32,
    /// Sentences: ended by `.`, `!` or `?` before a space, or by a line break.
    pub sentences: u32,
    /// Blocks of text separated by blank lines.
    pub paragraphs: u32,
    /// Lines starting like a list item: `- `, `* `, `• `, `1. `, `2) `.
    pub list_items: u32,
    /// Sequence words: first, second, then, next, finally, after that, step.
    pub sequence_words: u32,
}

/// Words that show an answer proceeds in order, matched as whole words.
static SEQUENCE: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(
        &[
            "first",
            "firstly",
            "second",
            "secondly",
            "third",
            "thirdly",
            "then",
            "next",
            "finally",
            "lastly",
            "after that",
            "afterwards",
            "step",
            "steps",
        ],
        Mode::Exact,
    )
});

/// How `text` is laid out: length, sentences, paragraphs, lists and sequence words.
pub fn layout(text: &str) -> Layout {
    layout_in(text, &Words::of_text(text))
}

/// [`layout`] with `text`'s words already split.
pub(super) fn layout_in(text: &str, words: &Words) -> Layout {
    let mut l = Layout { words: words.len() as u32, sequence_words: words.count(&SEQUENCE), ..Layout::default() };
    let mut sentence_has_text = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = match c {
            '.' | '!' | '?' => chars.peek().is_none_or(|n| n.is_whitespace()),
            '\n' => true,
            _ => {
                sentence_has_text |= c.is_alphanumeric();
                false
            }
        };
        if ends && sentence_has_text {
            l.sentences += 1;
            sentence_has_text = false;
        }
    }
    if sentence_has_text {
        l.sentences += 1;
    }
    let mut in_paragraph = false;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            in_paragraph = false;
            continue;
        }
        if !in_paragraph && t.chars().any(char::is_alphanumeric) {
            l.paragraphs += 1;
            in_paragraph = true;
        }
        if is_list_item(t) {
            l.list_items += 1;
        }
    }
    l
}

/// Whether a trimmed line starts like a list item.
fn is_list_item(line: &str) -> bool {
    if ["- ", "* ", "• "].iter().any(|m| line.starts_with(m)) {
        return true;
    }
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.len() < line.len() && (rest.starts_with(". ") || rest.starts_with(") "))
}

/// Which parts of a STAR story (situation, task, action, result) an answer tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Star {
    /// Sets the scene: "at my last job", "we had", "our team", a year.
    pub situation: bool,
    /// Says what they had to do: "I was responsible for", "my role", "I was on call".
    pub task: bool,
    /// Says what was done: "I" or "we" followed by a past-tense verb.
    pub action: bool,
    /// Says how it ended: "as a result", "reduced", "in the end", "I learned".
    pub result: bool,
    /// Actions told in the first person singular ("I rolled back"), as opposed to "we".
    pub first_person_actions: u32,
}

impl Star {
    /// How many of the four parts are present.
    pub fn parts(&self) -> u32 {
        [self.situation, self.task, self.action, self.result].iter().filter(|&&p| p).count() as u32
    }
}

/// Cues of a situation, matched under the keyword rule.
static SITUATION: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(
        &[
            "at my",
            "at the time",
            "we had",
            "we were",
            "our team",
            "my team",
            "the team",
            "our service",
            "our system",
            "last year",
            "years ago",
            "back in",
            "i was working",
            "i worked",
            "when i was",
            "situation",
            "context",
            "background",
        ],
        Mode::Prefix,
    )
});

/// Cues of a task, matched under the keyword rule.
static TASK: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(
        &[
            "my role",
            "my job",
            "my responsibility",
            "i was responsible",
            "responsible for",
            "i owned",
            "i was on call",
            "on call",
            "i needed to",
            "i had to",
            "we needed to",
            "we had to",
            "the goal",
            "my goal",
            "our goal",
            "tasked",
            "the task",
            "the problem was",
            "the challenge",
            "i was asked",
            "incident commander",
        ],
        Mode::Prefix,
    )
});

/// Cues of a result, matched under the keyword rule.
static RESULT: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(
        &[
            "as a result",
            "result",
            "outcome",
            "in the end",
            "ended up",
            "eventually",
            "reduc",
            "improv",
            "increas",
            "decreas",
            "dropped",
            "went from",
            "went down",
            "since then",
            "learn",
            "lesson",
            "no longer",
            "turned out",
            "impact",
            "shipped",
            "launched",
            "resolved",
        ],
        Mode::Prefix,
    )
});

/// Irregular past-tense verbs that tell an action after "I" or "we".
const IRREGULAR_PAST: &[&str] = &[
    "led",
    "wrote",
    "rewrote",
    "set",
    "ran",
    "built",
    "rebuilt",
    "made",
    "took",
    "met",
    "spoke",
    "sat",
    "got",
    "brought",
    "told",
    "gave",
    "went",
    "found",
    "chose",
    "drove",
    "put",
    "kept",
    "sent",
    "began",
    "did",
    "dug",
    "cut",
    "split",
    "shut",
    "broke",
    "won",
    "paid",
    "held",
    "sought",
    "taught",
    "undid",
    "understood",
    "read",
];

/// Words ending in `ed` that are not past tenses.
const NOT_PAST: &[&str] = &["need", "feed", "bleed", "breed", "speed", "proceed", "succeed", "exceed"];

/// Small words allowed between "I" and its verb: "I then rolled back", "I quickly paged".
const BETWEEN: &[&str] = &["then", "also", "first", "immediately", "personally", "just", "finally"];

/// Which STAR parts `text` tells, from cue phrases and "I/we + past tense" actions.
pub fn star_structure(text: &str) -> Star {
    star_in(&Words::of_text(text))
}

/// [`star_structure`] over prose already split.
pub(super) fn star_in(words: &Words) -> Star {
    let mut star = Star {
        situation: words.has(&SITUATION) || words.iter().any(is_year),
        task: words.has(&TASK),
        result: words.has(&RESULT),
        ..Star::default()
    };
    let mut team_actions = 0;
    for i in 0..words.len() {
        let subject = words.get(i);
        if subject != Some("i") && subject != Some("we") {
            continue;
        }
        let mut verb = words.get(i + 1);
        if verb.is_some_and(|w| w.ends_with("ly") || BETWEEN.contains(&w)) {
            verb = words.get(i + 2);
        }
        if verb.is_some_and(is_past_tense) {
            if subject == Some("i") {
                star.first_person_actions += 1;
            } else {
                team_actions += 1;
            }
        }
    }
    star.action = star.first_person_actions + team_actions > 0;
    star
}

/// Whether a word looks like a year: 1990–2099.
fn is_year(word: &str) -> bool {
    word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()) && (word.starts_with("19") || word.starts_with("20"))
}

/// Whether a (lowercase) word looks like a past-tense verb.
fn is_past_tense(word: &str) -> bool {
    IRREGULAR_PAST.contains(&word) || (word.len() >= 4 && word.ends_with("ed") && !NOT_PAST.contains(&word))
}
