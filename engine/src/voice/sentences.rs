//! A turn's streamed text cut into pieces to speak: text-to-speech starts on the first
//! sentence while the interviewer is still writing the rest (never waiting for the whole
//! turn), and each piece is short enough to stop quickly at a barge-in.
//!
//! Pieces are consecutive slices of the text as it came (spaces included), so what was spoken
//! is always a prefix of the turn's text (`turn.truncated` relies on it).

/// A piece ends after one of these followed by white space, or at a line break.
const ENDS: [char; 5] = ['.', '?', '!', ';', ':'];
/// A piece longer than this is cut at its last space (a long sentence, or a list).
const MAX_CHARS: usize = 200;

/// Cuts streamed text into pieces.
#[derive(Debug, Default)]
pub struct Sentences {
    /// Text not yet in a piece.
    pending: String,
}

impl Sentences {
    /// Takes the next text; returns the pieces it completes, in order.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.pending.push_str(text);
        let mut pieces = Vec::new();
        while let Some(end) = self.piece_end() {
            let rest = self.pending.split_off(end);
            pieces.push(std::mem::replace(&mut self.pending, rest));
        }
        pieces
    }

    /// The text is complete: what is left, if anything.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.is_empty()).then_some(rest)
    }

    /// Where the first complete piece of `pending` ends (a byte offset, after the white space
    /// that follows its end), if there is one.
    fn piece_end(&self) -> Option<usize> {
        let text = &self.pending;
        let mut chars = text.char_indices().peekable();
        let mut count = 0;
        let mut last_space = None;
        while let Some((at, c)) = chars.next() {
            count += 1;
            let next = chars.peek().map(|&(_, n)| n);
            if c == '\n' || (ENDS.contains(&c) && next.is_some_and(char::is_whitespace)) {
                // Include the white space after the end, so the next piece starts with a word.
                let mut end = at + c.len_utf8();
                while let Some(&(at, n)) = chars.peek().filter(|(_, n)| n.is_whitespace()) {
                    end = at + n.len_utf8();
                    chars.next();
                }
                // The white space may go on in the next push: only cut when more text follows.
                return (end < text.len()).then_some(end);
            }
            if c.is_whitespace() {
                last_space = Some(at + c.len_utf8());
            }
            if count >= MAX_CHARS {
                return last_space;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_come_out_as_soon_as_the_next_one_begins() {
        let mut s = Sentences::default();
        assert!(s.push("Hello there").is_empty());
        assert!(s.push(". ").is_empty(), "the white space after a stop may go on");
        assert_eq!(s.push("Tell me about"), ["Hello there. "]);
        assert_eq!(s.push(" caching? What\nnext"), ["Tell me about caching? ", "What\n"]);
        assert_eq!(s.finish().as_deref(), Some("next"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn pieces_are_the_text_itself_in_order() {
        let text = "Version 2.5 is out: see notes.  Then, e.g. this; and that!\n\nDone";
        for split in 1..text.len() {
            if !text.is_char_boundary(split) {
                continue;
            }
            let mut s = Sentences::default();
            let mut pieces = s.push(&text[..split]);
            pieces.extend(s.push(&text[split..]));
            pieces.extend(s.finish());
            assert_eq!(pieces.concat(), text, "split at {split}");
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
    }

    #[test]
    fn a_long_run_without_a_stop_is_cut_at_a_space() {
        let mut s = Sentences::default();
        let words = "word ".repeat(100);
        let pieces = s.push(&words);
        assert!(!pieces.is_empty());
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_CHARS && p.ends_with(' ')));
    }
}
