//! Specificity: how concrete an answer is (numbers, numbers with units, big-O bounds and
//! trade-off language), one of the heuristic scorer's signals.

use std::sync::LazyLock;

use crate::rubric::{Mode, Phrases, Words, is_text_char};

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

/// Words that make a number concrete when they follow it (or are glued to it: `10ms`).
/// A list, not a string split at every look-up: numbers are frequent in good answers.
const UNITS: &[&str] = &[
    "ns",
    "us",
    "µs",
    "ms",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hr",
    "hrs",
    "hour",
    "hours",
    "day",
    "days",
    "week",
    "weeks",
    "b",
    "kb",
    "mb",
    "gb",
    "tb",
    "pb",
    "kib",
    "mib",
    "gib",
    "tib",
    "byte",
    "bytes",
    "kbps",
    "mbps",
    "gbps",
    "rps",
    "qps",
    "tps",
    "rpm",
    "ops",
    "req",
    "reqs",
    "requests",
    "percent",
    "k",
    "m",
    "x",
    "users",
    "nodes",
    "servers",
    "instances",
    "replicas",
    "shards",
    "partitions",
    "regions",
    "engineers",
    "people",
    "customers",
    "fps",
];

/// Phrases that name a trade-off, matched as whole words.
static TRADEOFFS: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(
        &[
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
        ],
        Mode::Exact,
    )
});

/// Counts the numbers, units, complexities and trade-off phrases of `text`.
pub fn specificity(text: &str) -> Specificity {
    specificity_in(text, &Words::of_text(text))
}

/// [`specificity`] with `text`'s words already split (prose or code).
pub(super) fn specificity_in(text: &str, words: &Words) -> Specificity {
    let mut s = Specificity { tradeoff_phrases: words.count(&TRADEOFFS), ..Specificity::default() };
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
    UNITS.iter().any(|u| u.eq_ignore_ascii_case(word))
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
