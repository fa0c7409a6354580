//! Language names (canonical names and their aliases) and comments in source code, which
//! are not part of an answer's words: naming a key point in a comment is not covering it.

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
    let markers: &[&str] = if python { &["#", "\"\"\"", "'''"] } else { &["//", "/*"] };
    // One pass, left to right: every byte is looked at once, so crafted input (a comment
    // marker on every line) costs what its length does.
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let (mut copied, mut at) = (0, 0);
    while at < bytes.len() {
        // Markers are ASCII: one never starts inside a multi-byte character.
        let Some(marker) = markers.iter().find(|m| bytes[at..].starts_with(m.as_bytes())) else {
            at += 1;
            continue;
        };
        out.push_str(&source[copied..at]);
        out.push(' ');
        let after = &source[at + marker.len()..];
        let end = match *marker {
            "#" | "//" => after.find('\n').unwrap_or(after.len()),
            "/*" => after.find("*/").map_or(after.len(), |i| i + 2),
            quote => after.find(quote).map_or(after.len(), |i| i + quote.len()),
        };
        at += marker.len() + end;
        copied = at;
    }
    out.push_str(&source[copied..]);
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

    /// The first implementation: it searched the rest of the source for every marker at every
    /// comment, quadratic on crafted input; kept as the reference of what the output is.
    fn reference(python: bool, source: &str) -> String {
        let mut out = String::with_capacity(source.len());
        let mut rest = source;
        while !rest.is_empty() {
            let markers: &[&str] = if python { &["#", "\"\"\"", "'''"] } else { &["//", "/*"] };
            let Some((at, marker)) = markers.iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min() else {
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

    proptest::proptest! {
        #[test]
        fn one_pass_strips_what_the_reference_strips(
            source in "([a-z #/*'\"\né]|//|/\\*|\\*/|\"\"\"|'''){0,80}",
            python in proptest::bool::ANY,
        ) {
            let language = if python { "python" } else { "typescript" };
            proptest::prop_assert_eq!(super::strip_comments(language, &source), reference(python, &source));
        }
    }

    #[test]
    fn a_marker_on_every_line_is_stripped_whole() {
        // The input that took 13 s before (64 KiB of `#` lines); its output is all it checks.
        let source = "#\n".repeat(32 * 1024);
        assert_eq!(super::strip_comments("python", &source), " \n".repeat(32 * 1024));
        let source = "/**/".repeat(16 * 1024);
        assert_eq!(super::strip_comments("typescript", &source), " ".repeat(16 * 1024));
    }
}
