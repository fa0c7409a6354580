//! Key-point coverage: which of a question's key points an answer names, and the words and
//! keyword rule that decide it.
//!
//! Everything here is pure and deterministic: no regular expressions, no I/O, no clock. The
//! session core calls [`coverage`] to pick follow-up questions, and the
//! [heuristic scorer](crate::scorer::heuristic) scores coverage with it and reads its other
//! signals (structure, specificity, code shape) from the same [`Words`].
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
pub(crate) enum Mode {
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
    pub(crate) fn count_any(&self, phrases: &[&str], mode: Mode) -> u32 {
        let phrases = Phrase::all(phrases, mode);
        (0..self.len()).filter(|&i| phrases.iter().any(|p| self.matches_at(i, p))).count() as u32
    }

    /// Whether any of `phrases` is found.
    pub(crate) fn has_any(&self, phrases: &[&str], mode: Mode) -> bool {
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
pub(crate) fn is_text_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '+' | '#')
}

/// Whether `c` belongs to an identifier.
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
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
}
