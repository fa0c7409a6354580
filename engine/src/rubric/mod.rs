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

mod coverage;
mod language;
mod words;

pub use coverage::{Coverage, KeywordIndex, coverage, coverage_in};
pub use language::{canonical_language, same_language, strip_comments};
pub use words::Words;
pub(crate) use words::{Mode, Phrases, is_ident_char, is_text_char};
