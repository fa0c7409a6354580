//! Résumés as text: what the engine keeps of a candidate's résumé file and what it reads in
//! it. Pure functions, no I/O.
//!
//! Turning a file (PDF, DOCX) into text is **not** here: parsing untrusted documents needs the
//! time and memory bounds of a child process, which a driver provides (the gateway's
//! `resume` module runs its own binary as one, with resource limits). An embedder that has
//! text already (or extracts it its own way) calls [`crate::Engine::put_resume`] with it; the
//! engine does not pull PDF and ZIP parsers into every program that links it.
//!
//! Here: [`normalize`] (the one normal form of résumé text: whitespace, control characters,
//! Markdown syntax reduced to text), [`cut_at_sentence`] (the engine's résumé limit), and
//! [`skills`] (the plans' technical keywords a résumé names, which the scripted interviewer's
//! intro mentions and `GET /v1/me/resume` lists).

use crate::plan::{Plan, QuestionStyle};
use crate::rubric;
use crate::time::Timestamp;

/// A user's résumé as stored: its text (normalized, within the engine's résumé limit) and
/// what the file was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The text, normalized ([`normalize`]) and at most `EngineConfig::max_resume_bytes`.
    pub text: String,
    /// Whether text was cut off (at a sentence boundary) to fit the limit.
    pub truncated: bool,
    /// The file's name as uploaded (sanitized), e.g. `cv.pdf`.
    pub file_name: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// When it was uploaded.
    pub uploaded_at: Timestamp,
}

/// Résumé text in its one normal form: no control characters (but line breaks), no zero-width
/// characters or soft hyphens, spaces collapsed within a line, lines trimmed, at most one
/// empty line between paragraphs, a word hyphenated across a line break joined again; with
/// `markdown`, Markdown syntax reduced to its text (headings, emphasis, code, links and
/// images, lists, quotes, tables, rules). Idempotent.
pub fn normalize(text: &str, markdown: bool) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut in_fence = false;
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    for raw in unified.split('\n') {
        let line = clean_line(raw);
        let line = if markdown {
            let trimmed = line.trim();
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                in_fence = !in_fence;
                continue;
            }
            if in_fence {
                line
            } else {
                match markdown_line(&line) {
                    Some(line) => line,
                    // Markup only (a rule, a table's separator): no line at all.
                    None => continue,
                }
            }
        } else {
            line
        };
        let line = collapse_spaces(&line);
        // A word hyphenated at the end of a line goes on in the next one: "engi-" + "neering".
        if let (Some(previous), Some(first)) = (lines.last_mut(), line.chars().next()) {
            let hyphenated = previous.ends_with('-')
                && previous.chars().rev().nth(1).is_some_and(char::is_alphabetic)
                && first.is_lowercase();
            if hyphenated {
                previous.pop();
                previous.push_str(&line);
                continue;
            }
        }
        if line.is_empty() && lines.last().is_none_or(String::is_empty) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

/// A line without control, zero-width or soft-hyphen characters; tabs and other spaces as
/// plain spaces.
fn clean_line(line: &str) -> String {
    line.chars()
        .filter_map(|c| match c {
            '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn collapse_spaces(line: &str) -> String {
    line.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// One Markdown line as text; `None` for a line that is markup only.
fn markdown_line(line: &str) -> Option<String> {
    let mut rest = line.trim();
    // Rules (---, ***, ___) and table separators (|---|:--:|) say nothing.
    let is_rule = rest.len() >= 3 && rest.chars().all(|c| matches!(c, '-' | '*' | '_' | ' '));
    let is_table_rule = rest.contains('-') && rest.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
    if is_rule || is_table_rule {
        return None;
    }
    // Block markers: quotes, headings, list items.
    loop {
        let before = rest;
        rest = rest.trim_start_matches('>').trim_start();
        if rest.starts_with('#') {
            let hashes = rest.chars().take_while(|c| *c == '#').count();
            if hashes <= 6 && rest[hashes..].starts_with(' ') {
                rest = rest[hashes..].trim_start();
            }
        }
        for bullet in ["- ", "* ", "+ "] {
            if let Some(item) = rest.strip_prefix(bullet) {
                rest = item.trim_start();
            }
        }
        for checkbox in ["[ ] ", "[x] ", "[X] "] {
            if let Some(item) = rest.strip_prefix(checkbox) {
                rest = item;
            }
        }
        if rest == before {
            break;
        }
    }
    let rest = rest.trim_end_matches('#').trim_end();
    let mut text = inline_markdown(rest);
    if text.contains('|') {
        text = text.split('|').map(str::trim).filter(|cell| !cell.is_empty()).collect::<Vec<_>>().join(" ");
    }
    Some(text)
}

/// Inline Markdown as text: `[text](url)` and `![alt](url)` become their text, backticks go,
/// and emphasis markers (`*`, `**`, `~~`, `_` around words, never inside one like
/// `snake_case`) go.
fn inline_markdown(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A link or an image: keep the bracketed text, drop the (url).
        if c == '[' || (c == '!' && chars.get(i + 1) == Some(&'[')) {
            let open = if c == '!' { i + 1 } else { i };
            if let Some(close) = (open + 1..chars.len()).find(|&j| chars[j] == ']') {
                if chars.get(close + 1) == Some(&'(') {
                    if let Some(end) = (close + 2..chars.len()).find(|&j| chars[j] == ')') {
                        out.extend(&chars[open + 1..close]);
                        i = end + 1;
                        continue;
                    }
                }
            }
        }
        match c {
            '`' => {}
            '*' => {}
            '~' if chars.get(i + 1) == Some(&'~') => i += 1,
            '_' => {
                let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(|c| c.is_alphanumeric());
                let after = chars.get(i + 1).is_some_and(|c| c.is_alphanumeric());
                if before && after {
                    out.push('_');
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// `text` cut to at most `max_bytes` at a sentence boundary, and whether it was cut. A
/// boundary is the end of a sentence (`.`, `!` or `?` before a space) or of a line (résumés are
/// lists more than prose); when none is in the second half of the allowance, the last word
/// boundary, else the last whole character.
pub fn cut_at_sentence(text: &str, max_bytes: usize) -> (&str, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // What fits, plus the character after it: a sentence ending exactly at the limit counts.
    let window = &text[..end];
    let next = text[end..].chars().next();
    let half = max_bytes / 2;
    let sentence = window
        .char_indices()
        .filter(|&(i, c)| {
            let following = window[i + c.len_utf8()..].chars().next().or(next);
            match c {
                '\n' => true,
                '.' | '!' | '?' => following.is_none_or(char::is_whitespace),
                _ => false,
            }
        })
        .map(|(i, c)| if c == '\n' { i } else { i + c.len_utf8() })
        .next_back()
        .filter(|&at| at >= half);
    let word = || window.rfind(char::is_whitespace).filter(|&at| at >= half);
    let at = sentence.or_else(word).unwrap_or(end);
    (text[..at].trim_end(), true)
}

/// The plans' technical keywords (of their non-behavioural questions' key points, four letters
/// or more) that `text` names, in the plans' order, each once, in the text's own words (a
/// keyword that is a stem, like `idempoten`, gives the word it matched, `idempotency`): the
/// skills a résumé shows as these plans understand them (e.g. `kafka`, `token bucket`).
pub fn skills<'a>(text: &str, plans: impl IntoIterator<Item = &'a Plan>) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let words = rubric::Words::of_text(text);
    let mut found: Vec<String> = Vec::new();
    for plan in plans {
        // Behavioural questions' keywords (impact, users, ...) say nothing about skills; nor do
        // very short words.
        let technical = plan.questions.iter().filter(|q| q.style != QuestionStyle::Behavioural);
        let keywords = technical.flat_map(|q| &q.key_points).flat_map(|k| &k.keywords).filter(|k| k.len() >= 4);
        for keyword in keywords {
            if let Some(skill) = words.found(keyword) {
                if !found.contains(&skill) {
                    found.push(skill);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanCatalog;

    #[test]
    fn normalizes_whitespace_and_control_characters() {
        let text = "  Jane\u{0}  Doe\t\u{200B}Engineer \r\n\r\n\r\n\u{7}Built   engi-\nneering tools.\u{AD}\n\n";
        assert_eq!(normalize(text, false), "Jane Doe Engineer\n\nBuilt engineering tools.");
        assert_eq!(normalize(&normalize(text, false), false), normalize(text, false));
    }

    #[test]
    fn reduces_markdown_to_text() {
        let markdown = "# Jane *Doe*\n\n## Skills ##\n- **Rust**, `tokio`, [Kafka](https://kafka.apache.org)\n\
                        * snake_case and _emphasis_ and ~~struck~~\n> quoted\n---\n| Tool | Years |\n|---|:-:|\n\
                        | Redis | 5 |\n```\nlet x = 1;\n```\n![logo](a.png) 1. numbered";
        expect_test::expect![[r#"
            Jane Doe

            Skills
            Rust, tokio, Kafka
            snake_case and emphasis and struck
            quoted
            Tool Years
            Redis 5
            let x = 1;
            logo 1. numbered"#]]
        .assert_eq(&normalize(markdown, true));
    }

    #[test]
    fn cuts_at_a_sentence_boundary() {
        let text = "First sentence here. Second one is longer than that. Third.";
        assert_eq!(cut_at_sentence(text, 100), (text, false));
        assert_eq!(cut_at_sentence(text, 40), ("First sentence here.", true));
        // Exactly at the limit, with a space after it.
        assert_eq!(cut_at_sentence(text, 52), ("First sentence here. Second one is longer than that.", true));
        // A line break is a boundary too.
        assert_eq!(cut_at_sentence("Rust, Go\nKafka and Redis and more", 15), ("Rust, Go", true));
        // No boundary in the second half: the last word.
        assert_eq!(cut_at_sentence("Short. averyveryverylongword andmore", 34), ("Short. averyveryverylongword", true));
        // Never inside a character.
        let (cut, truncated) = cut_at_sentence("ééééé", 3);
        assert_eq!((cut, truncated), ("é", true));
    }

    #[test]
    fn finds_skills_across_every_plan() {
        let plans = PlanCatalog::shipped();
        let text = "Built Kafka pipelines; designed a token bucket limiter with idempotency keys. I like gardening.";
        let found = skills(text, plans.iter().map(|p| p.as_ref()));
        assert!(found.iter().any(|s| s == "kafka"), "{found:?}");
        assert!(found.iter().any(|s| s == "token bucket"), "{found:?}");
        assert!(found.iter().any(|s| s == "idempotency"), "a stem gives the résumé's word: {found:?}");
        assert!(!found.iter().any(|s| s == "idempoten"), "{found:?}");
        assert!(skills("I like gardening.", plans.iter().map(|p| p.as_ref())).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_text_normalizes_once_and_cuts_within_the_limit(
            text in "([a-zA-Z .!?#*_`\\[\\]()|>~-]|\n|\r|\t|\u{0}|\u{AD}|\u{200B}|é|ß|\u{2028}){0,200}",
            markdown in proptest::bool::ANY,
            max in 0usize..120,
        ) {
            let once = normalize(&text, markdown);
            // Idempotent as plain text: what normalizing gives is already in normal form.
            proptest::prop_assert_eq!(normalize(&once, false), once.clone());
            proptest::prop_assert!(!once.chars().any(|c| c.is_control() && c != '\n'), "{:?}", once);
            let (cut, truncated) = cut_at_sentence(&once, max);
            proptest::prop_assert!(cut.len() <= max);
            proptest::prop_assert!(once.starts_with(cut));
            proptest::prop_assert_eq!(truncated, once.len() > max);
        }
    }
}
