//! Code shape: what a piece of code defines, whether it is in the language asked for, which
//! edge cases it guards and whether it has tests, read without running it.

use super::language::detect_language;
use std::sync::LazyLock;

use crate::rubric::{Mode, Phrases, Words, canonical_language, is_ident_char};

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
pub(super) fn code_shape_in<'a>(language: &str, source: &'a str, words: &Words) -> CodeShape<'a> {
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
        empty_input: words.has(&EMPTY_CHECKS)
            || ["==0", "===0", "<1", "<=0", "==[]", "==\"\"", "===\"\"", "===''", "==''"]
                .iter()
                .any(|p| contains_compact(source, p)),
        missing_value: words.has(&MISSING_CHECKS) || ["??", "?."].iter().any(|p| source.contains(p)),
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
        invalid_input: words.has(&INVALID_CHECKS),
    };
    shape.has_tests = words.has(&TESTS);
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

/// Words of code that checks for empty input.
static EMPTY_CHECKS: LazyLock<Phrases> =
    LazyLock::new(|| Phrases::new(&["if not"], Mode::Exact).with(&["empty"], Mode::Prefix));

/// Words of code that handles a missing value.
static MISSING_CHECKS: LazyLock<Phrases> =
    LazyLock::new(|| Phrases::new(&["none", "null", "undefined", "nil", "not in", "keyerror"], Mode::Exact));

/// Words of code that refuses invalid input.
static INVALID_CHECKS: LazyLock<Phrases> =
    LazyLock::new(|| Phrases::new(&["raise", "throw", "valueerror", "typeerror", "except", "catch"], Mode::Exact));

/// Words of code that tests itself.
static TESTS: LazyLock<Phrases> = LazyLock::new(|| {
    Phrases::new(&["assert", "pytest", "unittest", "test_", "def test"], Mode::Prefix)
        .with(&["describe", "expect", "jest", "vitest"], Mode::Exact)
});

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
