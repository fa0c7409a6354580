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
    /// Each word's [`prefix_key`], beside its span: a phrase's word is compared with it first.
    keys: Vec<u64>,
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
        let mut words = Self { buf: String::with_capacity(text.len()), ..Self::default() };
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
        words.keyed()
    }

    /// Splits source code: each identifier (alphanumerics and `_`) is a word, followed by its
    /// parts split on `_` and camelCase when it has more than one (`HTTPServer`: `httpserver`,
    /// `http`, `server`).
    pub fn of_code(source: &str) -> Self {
        let mut words = Self { buf: String::with_capacity(source.len() * 2), ..Self::default() };
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
        words.keyed()
    }

    /// With every word's key, once the words are split.
    fn keyed(mut self) -> Self {
        self.keys = self.spans.iter().map(|&(s, e)| prefix_key(&self.buf.as_bytes()[s..e])).collect();
        self
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
        let phrase = Phrase::new(keyword, Mode::Prefix, 0);
        (0..self.len()).any(|i| self.matches_at(i, &phrase))
    }

    /// The words `keyword` matches first (see [`Words::contains`]), as they are in the text
    /// (lowercase, joined by spaces): `idempoten` finds `idempotency`.
    pub fn found(&self, keyword: &str) -> Option<String> {
        let phrase = Phrase::new(keyword, Mode::Prefix, 0);
        let at = (0..self.len()).find(|&i| self.matches_at(i, &phrase))?;
        let words: Vec<&str> = (at..at + phrase.parts.len()).filter_map(|i| self.get(i)).collect();
        Some(words.join(" "))
    }

    /// At how many words any phrase of `set` starts.
    pub(crate) fn count(&self, set: &Phrases) -> u32 {
        (0..self.len()).filter(|&i| self.starting_at(i, set).next().is_some()).count() as u32
    }

    /// Whether any phrase of `set` is found.
    pub(crate) fn has(&self, set: &Phrases) -> bool {
        (0..self.len()).any(|i| self.starting_at(i, set).next().is_some())
    }

    /// For each tag below `tags`, whether a phrase of `set` with that tag is found.
    pub(crate) fn tags_found(&self, set: &Phrases, tags: usize) -> Vec<bool> {
        let mut found = vec![false; tags];
        for i in 0..self.len() {
            for phrase in self.starting_at(i, set) {
                if let Some(seen) = found.get_mut(phrase.tag) {
                    *seen = true;
                }
            }
        }
        found
    }

    /// The phrases of `set` that start at word `i`: only those whose first byte is the word's
    /// are compared.
    fn starting_at<'s>(&'s self, i: usize, set: &'s Phrases) -> impl Iterator<Item = &'s Phrase> + 's {
        let candidates = match self.get(i).and_then(|word| word.as_bytes().first()) {
            Some(&first) => set.starting_with(first),
            None => &[],
        };
        candidates.iter().filter(move |phrase| self.matches_at(i, phrase))
    }

    /// Whether `phrase`'s words start at word `i`. A phrase without words matches nothing.
    fn matches_at(&self, i: usize, phrase: &Phrase) -> bool {
        !phrase.parts.is_empty()
            && phrase.parts.iter().enumerate().all(|(n, part)| {
                self.keys.get(i + n).is_some_and(|&key| part.matches(key, || self.get(i + n).unwrap_or_default()))
            })
    }
}

/// Phrases prepared once for matching many answers: split into words, lowercased, and
/// grouped by their first byte so that each word of an answer is compared only with the
/// phrases that can start there (scoring is the engine's hottest loop). Build the scorer's
/// fixed lists once per process and a question's keywords once per plan, not per answer.
pub(crate) struct Phrases {
    /// Ordered by their first byte.
    phrases: Vec<Phrase>,
    /// Where the phrases starting with each byte begin in `phrases`: those starting with `b`
    /// are `phrases[starts[b]..starts[b + 1]]`.
    starts: Box<[u32; 257]>,
}

impl Default for Phrases {
    fn default() -> Self {
        Self { phrases: Vec::new(), starts: Box::new([0; 257]) }
    }
}

impl Phrases {
    /// `phrases`, each matched under `mode`.
    pub(crate) fn new(phrases: &[&str], mode: Mode) -> Self {
        Self::default().with(phrases, mode)
    }

    /// These phrases added, each matched under `mode`.
    pub(crate) fn with(self, phrases: &[&str], mode: Mode) -> Self {
        self.tagged(phrases.iter().map(|&phrase| (0, phrase)), mode)
    }

    /// These phrases added, each with its tag (see [`Words::tags_found`]).
    pub(crate) fn tagged<'p>(mut self, phrases: impl IntoIterator<Item = (usize, &'p str)>, mode: Mode) -> Self {
        // A phrase without words matches nothing.
        let added = phrases.into_iter().map(|(tag, phrase)| Phrase::new(phrase, mode, tag));
        self.phrases.extend(added.filter(|p| !p.parts.is_empty()));
        self.phrases.sort_by_key(Phrase::first_byte);
        let mut next = 0;
        for (byte, start) in self.starts.iter_mut().enumerate() {
            while next < self.phrases.len() && usize::from(self.phrases[next].first_byte()) < byte {
                next += 1;
            }
            *start = next as u32;
        }
        self
    }

    /// The phrases whose first word starts with `byte`.
    fn starting_with(&self, byte: u8) -> &[Phrase] {
        let b = usize::from(byte);
        &self.phrases[self.starts[b] as usize..self.starts[b + 1] as usize]
    }
}

/// A phrase split into its words and lowercased once, before it is looked for at every word
/// of an answer.
struct Phrase {
    parts: Vec<PhraseWord>,
    /// Which of a set's groups it belongs to (a question's key point).
    tag: usize,
}

/// One word of a [`Phrase`].
struct PhraseWord {
    lower: String,
    /// [`prefix_key`] of `lower`, and the mask of its bytes in it: a word whose key agrees
    /// under the mask starts with `lower`'s first 8 bytes (with all of `lower` if it is no
    /// longer). Most comparisons end here, without looking at the word's bytes.
    key: u64,
    mask: u64,
    /// The answer's word must be this word, not merely start with it.
    whole: bool,
    /// All digits: `3` matches `3rd` but not `30`.
    number: bool,
}

impl Phrase {
    fn new(phrase: &str, mode: Mode, tag: usize) -> Self {
        let parts = phrase
            .split(|c: char| !is_text_char(c))
            .filter(|w| !w.is_empty())
            .map(|part| {
                let lower: String = part.chars().flat_map(char::to_lowercase).collect();
                let key = prefix_key(lower.as_bytes());
                let mask = u64::MAX.checked_shr(8 * (8 - lower.len().min(8)) as u32).unwrap_or(0);
                PhraseWord {
                    key,
                    mask,
                    whole: mode == Mode::Exact || part.chars().nth(1).is_none(),
                    number: part.chars().all(|c| c.is_ascii_digit()),
                    lower,
                }
            })
            .collect();
        Self { parts, tag }
    }

    /// The first byte of its first word (0 for a phrase without words, which no set keeps).
    fn first_byte(&self) -> u8 {
        self.parts.first().and_then(|part| part.lower.as_bytes().first()).copied().unwrap_or(0)
    }
}

impl PhraseWord {
    /// Whether the answer's (lowercase) word, whose [`prefix_key`] is `key`, matches.
    fn matches<'w>(&self, key: u64, word: impl FnOnce() -> &'w str) -> bool {
        if key & self.mask != self.key {
            return false;
        }
        let word = word();
        let rest = if self.lower.len() <= 8 {
            // The key said it: `word` starts with all of `lower` (a char boundary follows).
            &word[self.lower.len()..]
        } else {
            match word.strip_prefix(self.lower.as_str()) {
                Some(rest) => rest,
                None => return false,
            }
        };
        match rest.chars().next() {
            None => true,
            Some(_) if self.whole => false,
            Some(c) => !(self.number && c.is_ascii_digit()),
        }
    }
}

/// A word's first 8 bytes as one number (little-endian; zeros past a shorter word's end, which
/// no word's byte is): `key & mask == phrase_key` compares up to 8 bytes at once.
fn prefix_key(bytes: &[u8]) -> u64 {
    let mut key = [0; 8];
    for (k, b) in key.iter_mut().zip(bytes) {
        *k = *b;
    }
    u64::from_le_bytes(key)
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

    #[test]
    fn a_prepared_set_matches_like_each_phrase_alone() {
        let w = Words::of_text("Sharding the cache, then a token bucket per shard; 429s at the edge.");
        let set = Phrases::default().tagged(
            [(0, "shard"), (1, "Token bucket"), (1, "leaky bucket"), (2, "tokens"), (3, "429"), (4, "")],
            Mode::Prefix,
        );
        assert_eq!(w.tags_found(&set, 5), [true, true, false, true, false]);
        // "shard" starts at two words, "token bucket" and "429" at one each.
        assert_eq!(w.count(&set), 4);
        let exact = Phrases::new(&["shard", "then"], Mode::Exact).with(&["cach"], Mode::Prefix);
        assert_eq!(w.count(&exact), 3);
        assert!(!w.has(&Phrases::new(&["sharding the cache now"], Mode::Exact)));
        assert!(!w.has(&Phrases::default()));
    }

    /// The 8-byte keys decide alone for phrase words up to 8 bytes, and the bytes past the
    /// eighth are compared for longer ones; a shorter word never matches a longer phrase word.
    #[test]
    fn keys_compare_like_the_words_themselves() {
        let w = Words::of_text("Idempotency keys, consistent hashing, über-caching; 10k rps, not 200; cach");
        let found = |phrase: &str, mode| w.has(&Phrases::new(&[phrase], mode));
        for (phrase, mode, expected) in [
            ("idempoten", Mode::Prefix, true),     // 9 bytes: a prefix, past the key
            ("idempotenz", Mode::Prefix, false),   // differs past the eighth byte
            ("idempotency", Mode::Exact, true),    // 11 bytes, whole
            ("idempotencyx", Mode::Prefix, false), // longer than the word
            ("consiste", Mode::Prefix, true),      // exactly 8 bytes
            ("consistx", Mode::Prefix, false),     // differs at the eighth
            ("cache", Mode::Prefix, false),        // longer than the word `cach`
            ("über", Mode::Prefix, true),          // not ASCII
            ("überc", Mode::Prefix, false),
            ("10", Mode::Prefix, true),  // `10k`
            ("20", Mode::Prefix, false), // not `200`
            ("200", Mode::Exact, true),
            ("consistent hashing", Mode::Exact, true),
            ("consistent hash", Mode::Exact, false),
            ("consistent hash", Mode::Prefix, true),
        ] {
            assert_eq!(found(phrase, mode), expected, "{phrase} ({mode:?})");
        }
    }
}
