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
}
