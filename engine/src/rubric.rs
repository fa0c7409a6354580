//! Rubric text signals: which key points an answer covers, and the other plain-text
//! observations the heuristic scorer weighs (structure, specificity, code shape).
//!
//! Everything here is pure and deterministic: no regular expressions, no I/O, no clock. The
//! session core calls [`coverage`] to pick follow-up questions, and
//! [`HeuristicScorer`](crate::scorer::HeuristicScorer) builds its scores from these signals.
//!
//! # Matching rules
//!
//! An answer is lowercased and split into [`Words`]: runs of alphanumerics, `_`, `+` and `#`
//! (so `c++`, `c#` and `rate_limit` are single words). Code answers are split on identifier
//! characters instead, and each identifier is also split on `_` and camelCase: `moveToEnd`
//! yields `movetoend`, `move`, `to`, `end`.
//!
//! A keyword (possibly several words, split the same way as prose, so `trade-off` is `trade off`)
//! is found when its words appear consecutively in the answer, each as the **prefix** of the
//! answer's word: `shard` matches `sharding`, `token bucket` matches `Token buckets`, but `hash`
//! does not match `rehash` and `tradeoff` does not match `trade off`. Two exceptions keep short
//! keywords honest: a keyword word of a single character must match a whole word, and a number
//! must not run on into more digits. So `o(1)` matches `O(1)` but not `of 10`, and `429`
//! matches `429s` but not `4290`.

use viva_protocol::AnswerContent;

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
/// keywords is found (see the [module docs](self) for the matching rules).
pub fn coverage<'q>(question: &'q Question, answer: &AnswerContent) -> Coverage<'q> {
    coverage_in(question, &Words::of_answer(answer))
}

/// [`coverage`] over words already split, for callers that need them for more than this.
pub fn coverage_in<'q>(question: &'q Question, words: &Words) -> Coverage<'q> {
    let (hit, missed) = question.key_points.iter().partition(|k| k.keywords.iter().any(|kw| words.contains(kw)));
    Coverage { hit, missed }
}

/// An answer split into lowercase words, ready for keyword matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words {
    /// Every word's lowercase characters, back to back.
    buf: String,
    /// Byte range of each word in `buf`, in answer order.
    spans: Vec<(usize, usize)>,
}

/// How a phrase's words are compared with an answer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Keyword rule: each phrase word is a prefix (see the module docs for the exceptions).
    Prefix,
    /// Every phrase word must equal the answer's word.
    Exact,
}

impl Words {
    /// Splits prose: words are runs of alphanumerics, `_`, `+` and `#`.
    pub fn of_text(text: &str) -> Self {
        let mut words = Self { buf: String::with_capacity(text.len()), spans: Vec::new() };
        let mut start = None;
        for c in text.chars() {
            if is_text_char(c) {
                start.get_or_insert(words.buf.len());
                push_lowercase(&mut words.buf, c);
            } else if let Some(s) = start.take() {
                words.spans.push((s, words.buf.len()));
            }
        }
        if let Some(s) = start {
            words.spans.push((s, words.buf.len()));
        }
        words
    }

    /// Splits source code: each identifier (alphanumerics and `_`) is a word, followed by its
    /// parts split on `_` and camelCase when it has more than one (`HTTPServer`: `httpserver`,
    /// `http`, `server`).
    pub fn of_code(source: &str) -> Self {
        let mut words = Self { buf: String::with_capacity(source.len() * 2), spans: Vec::new() };
        let mut start = None;
        for (i, c) in source.char_indices() {
            if is_ident_char(c) {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                words.push_identifier(&source[s..i]);
            }
        }
        if let Some(s) = start {
            words.push_identifier(&source[s..]);
        }
        words
    }

    /// Splits an answer: prose with [`Words::of_text`], code with [`Words::of_code`] after
    /// [`strip_comments`], so that naming a key point in a comment is not covering it.
    pub fn of_answer(answer: &AnswerContent) -> Self {
        match answer {
            AnswerContent::Text { text } => Self::of_text(text),
            AnswerContent::Code { language, source } => Self::of_code(&strip_comments(language, source)),
        }
    }

    /// Appends an identifier, then its `_` / camelCase parts if it has several.
    fn push_identifier(&mut self, ident: &str) {
        let whole = self.spans.len();
        let start = self.buf.len();
        self.spans.push((start, start));
        let mut part: Option<usize> = None;
        let mut prev: Option<char> = None;
        let mut chars = ident.chars().peekable();
        while let Some(c) = chars.next() {
            let next = chars.peek().copied();
            if c == '_' {
                if let Some(s) = part.take() {
                    self.spans.push((s, self.buf.len()));
                }
                self.buf.push('_');
                prev = Some(c);
                continue;
            }
            let boundary = prev.is_some_and(|p| {
                c.is_uppercase()
                    && (p.is_lowercase()
                        || p.is_numeric()
                        || (p.is_uppercase() && next.is_some_and(char::is_lowercase)))
            });
            if boundary {
                if let Some(s) = part.take() {
                    self.spans.push((s, self.buf.len()));
                }
            }
            part.get_or_insert(self.buf.len());
            push_lowercase(&mut self.buf, c);
            prev = Some(c);
        }
        if let Some(s) = part {
            self.spans.push((s, self.buf.len()));
        }
        let end = self.buf.len();
        self.spans[whole].1 = end;
        // A single part spanning the whole identifier adds nothing.
        if self.spans.len() == whole + 2 && self.spans[whole + 1] == (start, end) {
            self.spans.truncate(whole + 1);
        }
    }

    /// How many words there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no words at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th word, lowercase.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.spans.get(i).map(|&(s, e)| &self.buf[s..e])
    }

    /// Every word, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans.iter().map(|&(s, e)| &self.buf[s..e])
    }

    /// Whether `keyword` is found under the keyword rule (see the [module docs](self)).
    pub fn contains(&self, keyword: &str) -> bool {
        let phrase = Phrase::new(keyword, Mode::Prefix);
        (0..self.len()).any(|i| self.matches_at(i, &phrase))
    }

    /// How many times any of `phrases` starts at some word.
    fn count_any(&self, phrases: &[&str], mode: Mode) -> u32 {
        let phrases = Phrase::all(phrases, mode);
        (0..self.len()).filter(|&i| phrases.iter().any(|p| self.matches_at(i, p))).count() as u32
    }

    /// Whether any of `phrases` is found.
    fn has_any(&self, phrases: &[&str], mode: Mode) -> bool {
        let phrases = Phrase::all(phrases, mode);
        (0..self.len()).any(|i| phrases.iter().any(|p| self.matches_at(i, p)))
    }

    /// Whether `phrase`'s words start at word `i`. A phrase without words matches nothing.
    fn matches_at(&self, i: usize, phrase: &Phrase) -> bool {
        !phrase.parts.is_empty()
            && phrase.parts.iter().enumerate().all(|(n, part)| self.get(i + n).is_some_and(|word| part.matches(word)))
    }
}

/// A phrase split into its words and lowercased once, before it is looked for at every word
/// of an answer (scoring is the engine's hottest loop).
struct Phrase {
    parts: Vec<PhraseWord>,
}

/// One word of a [`Phrase`].
struct PhraseWord {
    lower: String,
    /// The answer's word must be this word, not merely start with it.
    whole: bool,
    /// All digits: `3` matches `3rd` but not `30`.
    number: bool,
}

impl Phrase {
    fn new(phrase: &str, mode: Mode) -> Self {
        let parts = phrase
            .split(|c: char| !is_text_char(c))
            .filter(|w| !w.is_empty())
            .map(|part| PhraseWord {
                lower: part.chars().flat_map(char::to_lowercase).collect(),
                whole: mode == Mode::Exact || part.chars().nth(1).is_none(),
                number: part.chars().all(|c| c.is_ascii_digit()),
            })
            .collect();
        Self { parts }
    }

    fn all(phrases: &[&str], mode: Mode) -> Vec<Self> {
        phrases.iter().map(|p| Self::new(p, mode)).collect()
    }
}

impl PhraseWord {
    /// Whether the answer's (lowercase) `word` matches.
    fn matches(&self, word: &str) -> bool {
        // Most words differ at the first byte: answer that without a call to memcmp.
        if word.as_bytes().first() != self.lower.as_bytes().first() {
            return false;
        }
        let Some(rest) = word.strip_prefix(self.lower.as_str()) else { return false };
        match rest.chars().next() {
            None => true,
            Some(_) if self.whole => false,
            Some(c) => !(self.number && c.is_ascii_digit()),
        }
    }
}

/// Appends `c` lowercased (ASCII, the common case, without Unicode's tables).
fn push_lowercase(buf: &mut String, c: char) {
    if c.is_ascii() {
        buf.push(c.to_ascii_lowercase());
    } else {
        buf.extend(c.to_lowercase());
    }
}

/// Whether `c` belongs to a prose word.
fn is_text_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '+' | '#')
}

/// Whether `c` belongs to an identifier.
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// How concrete an answer is: numbers, units, complexity and trade-offs named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Specificity {
    /// Numbers (`3`, `99.9`, `10k`; a decimal counts once) and latency percentiles (`p99`).
    pub numbers: u32,
    /// Numbers with a unit: `200 ms`, `5GB`, `40%`, `10k rps`, `3 replicas`, `p99`.
    pub units: u32,
    /// Trade-off language: "trade-off", "however", "at the cost of", "instead of", "versus".
    pub tradeoff_phrases: u32,
    /// Big-O notations: `O(1)`, `O(n log n)`.
    pub complexity: u32,
}

/// Words that make a number concrete when they follow it (or are glued to it: `10ms`),
/// separated by whitespace.
const UNITS: &str = "\
    ns us µs ms s sec secs second seconds min mins minute minutes h hr hrs hour hours day days \
    week weeks b kb mb gb tb pb kib mib gib tib byte bytes kbps mbps gbps rps qps tps rpm ops \
    req reqs requests percent k m x users nodes servers instances replicas shards partitions \
    regions engineers people customers fps";

/// Phrases that name a trade-off, matched as whole words.
const TRADEOFFS: &[&str] = &[
    "trade off",
    "trade offs",
    "tradeoff",
    "tradeoffs",
    "however",
    "at the cost of",
    "at the expense of",
    "instead of",
    "rather than",
    "versus",
    "vs",
    "on the other hand",
    "downside",
    "downsides",
    "drawback",
    "drawbacks",
    "in exchange",
    "whereas",
    "compared to",
    "compared with",
    "pros and cons",
    "it depends",
    "depends on",
];

/// Counts the numbers, units, complexities and trade-off phrases of `text`.
pub fn specificity(text: &str) -> Specificity {
    specificity_in(text, &Words::of_text(text))
}

/// [`specificity`] with `text`'s words already split (prose or code).
pub(crate) fn specificity_in(text: &str, words: &Words) -> Specificity {
    let mut s = Specificity { tradeoff_phrases: words.count_any(TRADEOFFS, Mode::Exact), ..Specificity::default() };
    let mut raw = RawWords::new(text).peekable();
    // End of the last number seen, so that `99.9` and `10,000` count once.
    let mut prev_number_end = None;
    while let Some((start, word)) = raw.next() {
        let end = start + word.len();
        let after = &text[end..];
        if (word == "O" || word == "o") && after.starts_with('(') {
            s.complexity += 1;
            // Skip what is inside the parentheses: `O(n log n)` is not three more numbers.
            let close = end + after.find(')').unwrap_or(after.len());
            while raw.next_if(|&(next_start, _)| next_start < close).is_some() {}
            continue;
        }
        let first = word.chars().next().unwrap_or(' ');
        let percentile = matches!(first, 'p' | 'P') && word.len() > 1 && word[1..].bytes().all(|b| b.is_ascii_digit());
        if percentile {
            s.numbers += 1;
            s.units += 1;
            prev_number_end = Some(end);
            continue;
        }
        if !first.is_ascii_digit() {
            continue;
        }
        let continues = prev_number_end.is_some_and(|e| matches!(&text[e..start], "." | ","));
        prev_number_end = Some(end);
        if !continues {
            s.numbers += 1;
        }
        let bytes = after.as_bytes();
        if bytes.len() > 1 && matches!(bytes[0], b'.' | b',') && bytes[1].is_ascii_digit() {
            // The number goes on (`99.9`); its last part carries the unit.
            continue;
        }
        let next_is_unit = raw.peek().is_some_and(|&(next_start, next)| {
            text[end..next_start].chars().all(char::is_whitespace) && (unit(next) || next.eq_ignore_ascii_case("per"))
        });
        if has_unit_suffix(word) || after.starts_with('%') || next_is_unit {
            s.units += 1;
        }
    }
    s
}

/// Whether `word` is a unit (case-insensitive).
fn unit(word: &str) -> bool {
    UNITS.split_whitespace().any(|u| u.eq_ignore_ascii_case(word))
}

/// Whether a word starting with digits ends in a unit: `10ms`, `5GB`, `10k`.
fn has_unit_suffix(word: &str) -> bool {
    let suffix = word.trim_start_matches(|c: char| c.is_ascii_digit());
    !suffix.is_empty() && unit(suffix)
}

/// Runs of prose word characters with their byte offsets, in original case.
struct RawWords<'a> {
    /// The text.
    text: &'a str,
    /// Where to look next.
    pos: usize,
}

impl<'a> RawWords<'a> {
    /// Words of `text`.
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }
}

impl<'a> Iterator for RawWords<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.text[self.pos..];
        let start = self.pos + rest.find(is_text_char)?;
        let len = self.text[start..].find(|c: char| !is_text_char(c)).unwrap_or(self.text.len() - start);
        self.pos = start + len;
        Some((start, &self.text[start..start + len]))
    }
}

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
const SEQUENCE: &[&str] = &[
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
];

/// How `text` is laid out: length, sentences, paragraphs, lists and sequence words.
pub fn layout(text: &str) -> Layout {
    layout_in(text, &Words::of_text(text))
}

/// [`layout`] with `text`'s words already split.
pub(crate) fn layout_in(text: &str, words: &Words) -> Layout {
    let mut l = Layout {
        words: words.len() as u32,
        sequence_words: words.count_any(SEQUENCE, Mode::Exact),
        ..Layout::default()
    };
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
const SITUATION: &[&str] = &[
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
];

/// Cues of a task, matched under the keyword rule.
const TASK: &[&str] = &[
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
];

/// Cues of a result, matched under the keyword rule.
const RESULT: &[&str] = &[
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
];

/// Irregular past-tense verbs that tell an action after "I" or "we", separated by whitespace.
const IRREGULAR_PAST: &str = "\
    led wrote rewrote set ran built rebuilt made took met spoke sat got brought told gave went \
    found chose drove put kept sent began did dug cut split shut broke won paid held sought \
    taught undid understood read";

/// Words ending in `ed` that are not past tenses.
const NOT_PAST: &[&str] = &["need", "feed", "bleed", "breed", "speed", "proceed", "succeed", "exceed"];

/// Small words allowed between "I" and its verb: "I then rolled back", "I quickly paged".
const BETWEEN: &[&str] = &["then", "also", "first", "immediately", "personally", "just", "finally"];

/// Which STAR parts `text` tells, from cue phrases and "I/we + past tense" actions.
pub fn star_structure(text: &str) -> Star {
    star_in(&Words::of_text(text))
}

/// [`star_structure`] over prose already split.
pub(crate) fn star_in(words: &Words) -> Star {
    let mut star = Star {
        situation: words.has_any(SITUATION, Mode::Prefix) || words.iter().any(is_year),
        task: words.has_any(TASK, Mode::Prefix),
        result: words.has_any(RESULT, Mode::Prefix),
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
    IRREGULAR_PAST.split_whitespace().any(|v| v == word)
        || (word.len() >= 4 && word.ends_with("ed") && !NOT_PAST.contains(&word))
}

/// The edge cases a piece of code visibly guards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeCases {
    /// Empty or zero-size input: `if not xs`, `len(xs) == 0`, `.length === 0`, "empty".
    pub empty_input: bool,
    /// A missing value: `None`, `null`, `undefined`, `key not in d`, `??`, `?.`.
    pub missing_value: bool,
    /// Limits: `< 0`, `>= len(...)`, `> self.capacity`, `.length - 1`.
    pub bounds: bool,
    /// Invalid input rejected: `raise`, `throw`, `ValueError`, `except` / `catch`.
    pub invalid_input: bool,
}

impl EdgeCases {
    /// How many kinds of edge case are guarded.
    pub fn count(&self) -> u32 {
        [self.empty_input, self.missing_value, self.bounds, self.invalid_input].iter().filter(|&&x| x).count() as u32
    }
}

/// What a piece of code looks like, without running it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeShape<'a> {
    /// Names of the functions, methods and classes it defines, in order.
    pub defined: Vec<&'a str>,
    /// Whether it defines a function or method.
    pub defines_function: bool,
    /// Whether it defines a class.
    pub defines_class: bool,
    /// The language it looks like, if any is clear: `python`, `typescript`, `javascript`,
    /// `rust`, `go` or `java`.
    pub detected_language: Option<&'static str>,
    /// Whether the detected language is the one asked for (plain JavaScript counts as
    /// TypeScript).
    pub language_matches: bool,
    /// Edge cases guarded.
    pub edge_cases: EdgeCases,
    /// Whether it contains tests: `assert`, `def test_...`, pytest / unittest, `describe` /
    /// `expect`.
    pub has_tests: bool,
    /// Non-blank lines.
    pub lines: u32,
    /// Comment and docstring lines.
    pub comment_lines: u32,
}

impl CodeShape<'_> {
    /// Whether it guards any edge case.
    pub fn handles_edge_cases(&self) -> bool {
        self.edge_cases.count() > 0
    }
}

/// The shape of `source`, expected to be written in `language`.
pub fn code_shape<'a>(language: &str, source: &'a str) -> CodeShape<'a> {
    code_shape_in(language, source, &Words::of_code(source))
}

/// [`code_shape`] with `source`'s words already split by [`Words::of_code`].
pub(crate) fn code_shape_in<'a>(language: &str, source: &'a str, words: &Words) -> CodeShape<'a> {
    let mut shape = CodeShape::default();
    let mut in_docstring = false;
    for line in source.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        shape.lines += 1;
        let quotes = t.matches("\"\"\"").count() + t.matches("'''").count();
        if in_docstring || quotes > 0 || ["#", "//", "/*", "*"].iter().any(|m| t.starts_with(m)) {
            shape.comment_lines += 1;
        }
        if quotes % 2 == 1 {
            in_docstring = !in_docstring;
        }
        if let Some((name, kind)) = definition(t) {
            shape.defined.push(name);
            match kind {
                Def::Class => shape.defines_class = true,
                Def::Function => shape.defines_function = true,
            }
        }
    }
    shape.detected_language = detect_language(source);
    shape.language_matches = match (canonical_language(language), shape.detected_language) {
        (Some("typescript"), Some("javascript")) => true,
        (Some(asked), Some(found)) => asked == found,
        _ => false,
    };
    shape.edge_cases = EdgeCases {
        empty_input: words.has_any(&["if not"], Mode::Exact)
            || words.has_any(&["empty"], Mode::Prefix)
            || ["==0", "===0", "<1", "<=0", "==[]", "==\"\"", "===\"\"", "===''", "==''"]
                .iter()
                .any(|p| contains_compact(source, p)),
        missing_value: words.has_any(&["none", "null", "undefined", "nil", "not in", "keyerror"], Mode::Exact)
            || ["??", "?."].iter().any(|p| source.contains(p)),
        bounds: [
            "<0",
            "<=0",
            ">=len(",
            ">len(",
            "<len(",
            ".length-1",
            ">self.capacity",
            ">=self.capacity",
            ">this.capacity",
            ">=this.capacity",
            "maxsize",
        ]
        .iter()
        .any(|p| contains_compact(source, p)),
        invalid_input: words.has_any(&["raise", "throw", "valueerror", "typeerror", "except", "catch"], Mode::Exact),
    };
    shape.has_tests = words.has_any(&["assert", "pytest", "unittest", "test_", "def test"], Mode::Prefix)
        || words.has_any(&["describe", "expect", "jest", "vitest"], Mode::Exact);
    shape
}

/// What a line defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Def {
    /// A function or method.
    Function,
    /// A class.
    Class,
}

/// Keywords that may precede a definition.
const MODIFIERS: &[&str] = &[
    "export",
    "default",
    "async",
    "pub",
    "public",
    "private",
    "protected",
    "static",
    "readonly",
    "abstract",
    "override",
    "final",
];

/// Words that look like a method call or header but are not definitions.
const NOT_METHODS: &[&str] = &["if", "for", "while", "switch", "catch", "return", "function", "else", "with", "elif"];

/// The name and kind of what a trimmed line defines, if it defines something.
fn definition(line: &str) -> Option<(&str, Def)> {
    let mut rest = line;
    loop {
        let word = rest.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
        if word.is_empty() || !MODIFIERS.contains(&word) || !rest[word.len()..].starts_with(' ') {
            break;
        }
        rest = rest[word.len()..].trim_start();
    }
    for (keyword, kind) in [
        ("def ", Def::Function),
        ("function ", Def::Function),
        ("fn ", Def::Function),
        ("func ", Def::Function),
        ("class ", Def::Class),
    ] {
        if let Some(after) = rest.strip_prefix(keyword) {
            let mut after = after.trim_start();
            if keyword == "func " && after.starts_with('(') {
                // A Go method: `func (c *Cache) Get(...)`.
                after = after.split_once(')').map_or("", |(_, a)| a.trim_start());
            }
            return ident_prefix(after).map(|name| (name, kind));
        }
    }
    for keyword in ["const ", "let ", "var "] {
        if let Some(after) = rest.strip_prefix(keyword) {
            let name = ident_prefix(after.trim_start())?;
            let assigned = after.split_once('=').map(|(_, v)| v)?;
            return (assigned.contains("=>") || assigned.trim_start().starts_with("function"))
                .then_some((name, Def::Function));
        }
    }
    // A method in a JavaScript / TypeScript / Java class body: `get(key: K): V {`.
    let name = ident_prefix(rest)?;
    let after = &rest[name.len()..];
    let method = (after.starts_with('(') || after.starts_with('<'))
        && line.ends_with('{')
        && !NOT_METHODS.contains(&name)
        && !line.contains(';');
    method.then_some((name, Def::Function))
}

/// The identifier `text` starts with, if it starts with one.
fn ident_prefix(text: &str) -> Option<&str> {
    let end = text.find(|c: char| !(is_ident_char(c) || c == '$')).unwrap_or(text.len());
    let name = &text[..end];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// Whether `haystack` contains `pattern` (which has no whitespace) when whitespace in
/// `haystack` is ignored, so `len(xs) == 0` contains `==0`. A pattern ending in a digit does
/// not match in the middle of a number (`<1` is not in `< 10`).
fn contains_compact(haystack: &str, pattern: &str) -> bool {
    let (h, p) = (haystack.as_bytes(), pattern.as_bytes());
    let Some(&first) = p.first() else { return false };
    'start: for start in 0..h.len() {
        if h[start] != first {
            continue;
        }
        let mut i = start;
        for &b in p {
            while i < h.len() && h[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= h.len() || h[i] != b {
                continue 'start;
            }
            i += 1;
        }
        if p[p.len() - 1].is_ascii_digit() {
            while i < h.len() && h[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < h.len() && (h[i].is_ascii_digit() || h[i] == b'.') {
                continue;
            }
        }
        return true;
    }
    false
}

/// The canonical name of a language or one of its aliases (`py`, `ts`, `golang`, ...).
pub fn canonical_language(name: &str) -> Option<&'static str> {
    const ALIASES: &[(&str, &[&str])] = &[
        ("python", &["python", "python3", "py"]),
        ("typescript", &["typescript", "ts", "tsx"]),
        ("javascript", &["javascript", "js", "jsx", "node", "nodejs"]),
        ("rust", &["rust", "rs"]),
        ("go", &["go", "golang"]),
        ("java", &["java"]),
    ];
    let name = name.trim();
    ALIASES
        .iter()
        .find(|(_, aliases)| aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
        .map(|(canonical, _)| *canonical)
}

/// Source without its comments (and Python docstrings), each replaced by a space: `#` in
/// Python, `//` and `/* */` elsewhere. String literals are not parsed; a comment marker inside
/// a string ends that line early, which only makes coverage stricter.
pub fn strip_comments(language: &str, source: &str) -> String {
    let python = match canonical_language(language) {
        Some(language) => language == "python",
        None => !source.contains("//"),
    };
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        let next = if python {
            ["#", "\"\"\"", "'''"].iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min()
        } else {
            ["//", "/*"].iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min()
        };
        let Some((at, marker)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        out.push(' ');
        let after = &rest[at + marker.len()..];
        let end = match marker {
            "#" | "//" => after.find('\n').unwrap_or(after.len()),
            "/*" => after.find("*/").map_or(after.len(), |i| i + 2),
            quote => after.find(quote).map_or(after.len(), |i| i + quote.len()),
        };
        rest = &after[end..];
    }
    out
}

/// Whether two language names mean the same language (aliases and case ignored).
pub fn same_language(a: &str, b: &str) -> bool {
    match (canonical_language(a), canonical_language(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// The language `source` most looks like, from line markers; `None` when unclear or tied.
fn detect_language(source: &str) -> Option<&'static str> {
    let (mut python, mut js, mut rust, mut go, mut java) = (0u32, 0u32, 0u32, 0u32, 0u32);
    let mut typed = false;
    for line in source.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let header =
            ["def ", "async def ", "class ", "if ", "elif ", "else", "for ", "while ", "try", "except", "with "];
        if t.ends_with(':') && header.iter().any(|h| t.starts_with(h)) {
            python += 2;
        }
        if t.contains("self.") || t.contains(" None") || (t.starts_with("import ") && !t.ends_with(';')) {
            python += 1;
        }
        if t.starts_with("function ")
            || t.contains("=>")
            || t.contains("===")
            || t.contains("!==")
            || t.starts_with("const ")
            || t.starts_with("export ")
            || t.contains("console.")
        {
            js += 2;
        }
        if t.ends_with(';') || t.ends_with('{') {
            js += 1;
            java += 1;
            rust += 1;
        }
        let rust_starts = ["fn ", "pub fn ", "impl", "let mut ", "use ", "#["];
        if rust_starts.iter().any(|m| t.starts_with(m)) || t.contains("&self") || t.contains("&mut ") {
            rust += 3;
        }
        if t.starts_with("func ") || t.contains(":=") || t.starts_with("package ") {
            go += 3;
        }
        if t.contains("public class")
            || t.contains("public static")
            || t.contains("System.out")
            || t.contains("private final")
        {
            java += 3;
        }
        let annotations = [
            ": number",
            ": string",
            ": boolean",
            ": void",
            ": any",
            ": unknown",
            "<T",
            "ReturnType<",
            "interface ",
            "type ",
        ];
        typed |= annotations.iter().any(|a| t.contains(a));
    }
    let scores = [("python", python), ("javascript", js), ("rust", rust), ("go", go), ("java", java)];
    let best = scores.iter().map(|&(_, s)| s).max().unwrap_or(0);
    let mut leaders = scores.iter().filter(|&&(_, s)| s == best);
    let (name, _) = *leaders.next()?;
    if best == 0 || leaders.next().is_some() {
        return None;
    }
    Some(if name == "javascript" && typed { "typescript" } else { name })
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_do_not_count_as_coverage() {
        let python = "def f(xs):  # lru eviction ttl\n    \"\"\"Uses an lru.\"\"\"\n    return xs // 2\n";
        assert_eq!(super::strip_comments("python", python), "def f(xs):   \n     \n    return xs // 2\n");
        let ts = "/* lru */ const cache = new Map(); // evict\nconst ttl = 5;";
        assert_eq!(super::strip_comments("typescript", ts), "  const cache = new Map();  \nconst ttl = 5;");
    }

    use super::*;

    fn words(w: &Words) -> Vec<&str> {
        w.iter().collect()
    }

    #[test]
    fn code_identifiers_split_into_parts() {
        let w = Words::of_code("self.cache.moveToEnd(key); HTTPServer __init__ utf8Decoder x");
        assert_eq!(
            words(&w),
            [
                "self",
                "cache",
                "movetoend",
                "move",
                "to",
                "end",
                "key",
                "httpserver",
                "http",
                "server",
                "__init__",
                "init",
                "utf8decoder",
                "utf8",
                "decoder",
                "x"
            ]
        );
    }

    #[test]
    fn prose_keeps_plus_hash_and_underscore() {
        let w = Words::of_text("C++ and C# beat rate_limit, Überall!");
        assert_eq!(words(&w), ["c++", "and", "c#", "beat", "rate_limit", "überall"]);
    }

    #[test]
    fn compact_search_ignores_spaces_but_not_digits() {
        assert!(contains_compact("if len(xs) == 0:", "==0"));
        assert!(!contains_compact("if n < 10:", "<1"));
        assert!(contains_compact("if n < 1:", "<1"));
        assert!(!contains_compact("", "<1"));
    }

    #[test]
    fn definitions_across_languages() {
        let cases = [
            ("def get(self, key):", Some(("get", Def::Function))),
            ("async def fetch(url):", Some(("fetch", Def::Function))),
            ("class LRUCache:", Some(("LRUCache", Def::Class))),
            ("export function debounce<T>(fn: T) {", Some(("debounce", Def::Function))),
            ("export const debounce = <T,>(fn: T) => {", Some(("debounce", Def::Function))),
            ("const limit = 10;", None),
            ("pub fn merge(v: &[i32]) {", Some(("merge", Def::Function))),
            ("func (c *Cache) Get(k string) int {", Some(("Get", Def::Function))),
            ("private evict(): void {", Some(("evict", Def::Function))),
            ("if (x) {", None),
            ("foo(bar);", None),
        ];
        for (line, want) in cases {
            assert_eq!(definition(line), want, "{line}");
        }
    }

    #[test]
    fn language_detection() {
        let cases = [
            ("def f(x):\n    return x\n", Some("python")),
            ("function f(x) {\n  return x;\n}\n", Some("javascript")),
            ("function f(x: number): number {\n  return x;\n}\n", Some("typescript")),
            ("fn f(x: i32) -> i32 {\n    x\n}\n", Some("rust")),
            ("func f(x int) int {\n\treturn x\n}\n", Some("go")),
            ("x", None),
        ];
        for (source, want) in cases {
            assert_eq!(detect_language(source), want, "{source}");
        }
    }
}
