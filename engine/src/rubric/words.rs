//! [`Words`]: an answer split into lowercase words (prose and code each their own way), and
//! the phrase matching that finds keywords in them.

use viva_protocol::AnswerContent;

use super::strip_comments;

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
    /// Keyword rule: each phrase word is a prefix (see the
    /// [matching rules](crate::rubric#matching-rules) for the exceptions).
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

    /// Whether `keyword` is found under the keyword rule (see the
    /// [matching rules](crate::rubric#matching-rules)).
    pub fn contains(&self, keyword: &str) -> bool {
        let phrase = Phrase::new(keyword, Mode::Prefix);
        (0..self.len()).any(|i| self.matches_at(i, &phrase))
    }

    /// The words `keyword` matches first (see [`Words::contains`]), as they are in the text
    /// (lowercase, joined by spaces): `idempoten` finds `idempotency`.
    pub fn found(&self, keyword: &str) -> Option<String> {
        let phrase = Phrase::new(keyword, Mode::Prefix);
        let at = (0..self.len()).find(|&i| self.matches_at(i, &phrase))?;
        let words: Vec<&str> = (at..at + phrase.parts.len()).filter_map(|i| self.get(i)).collect();
        Some(words.join(" "))
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

#[cfg(test)]
mod tests {
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
