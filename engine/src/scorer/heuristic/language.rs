//! Language detection: which language a piece of code looks like, from its lines. (Language
//! names and their aliases are shared: [`crate::rubric::canonical_language`].)

/// The language `source` most looks like, from line markers; `None` when unclear or tied.
pub(super) fn detect_language(source: &str) -> Option<&'static str> {
    let (mut python, mut js, mut rust, mut go, mut java) = (0u32, 0u32, 0u32, 0u32, 0u32);
    let mut typed = false;
    for line in source.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let header =
            ["def ", "async def ", "class ", "if ", "elif ", "else", "for ", "while ", "try", "except", "with "];
        if t.ends_with(':') && header.iter().any(|h| t.starts_with(h)) {
            python += 2;
        }
        if t.contains("self.") || t.contains(" None") || (t.starts_with("import ") && !t.ends_with(';')) {
            python += 1;
        }
        if t.starts_with("function ")
            || t.contains("=>")
            || t.contains("===")
            || t.contains("!==")
            || t.starts_with("const ")
            || t.starts_with("export ")
            || t.contains("console.")
        {
            js += 2;
        }
        if t.ends_with(';') || t.ends_with('{') {
            js += 1;
            java += 1;
            rust += 1;
        }
        let rust_starts = ["fn ", "pub fn ", "impl", "let mut ", "use ", "#["];
        if rust_starts.iter().any(|m| t.starts_with(m)) || t.contains("&self") || t.contains("&mut ") {
            rust += 3;
        }
        if t.starts_with("func ") || t.contains(":=") || t.starts_with("package ") {
            go += 3;
        }
        if t.contains("public class")
            || t.contains("public static")
            || t.contains("System.out")
            || t.contains("private final")
        {
            java += 3;
        }
        let annotations = [
            ": number",
            ": string",
            ": boolean",
            ": void",
            ": any",
            ": unknown",
            "<T",
            "ReturnType<",
            "interface ",
            "type ",
        ];
        typed |= annotations.iter().any(|a| t.contains(a));
    }
    let scores = [("python", python), ("javascript", js), ("rust", rust), ("go", go), ("java", java)];
    let best = scores.iter().map(|&(_, s)| s).max().unwrap_or(0);
    let mut leaders = scores.iter().filter(|&&(_, s)| s == best);
    let (name, _) = *leaders.next()?;
    if best == 0 || leaders.next().is_some() {
        return None;
    }
    Some(if name == "javascript" && typed { "typescript" } else { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_detection() {
        let cases = [
            ("def f(x):\n    return x\n", Some("python")),
            ("function f(x) {\n  return x;\n}\n", Some("javascript")),
            ("function f(x: number): number {\n  return x;\n}\n", Some("typescript")),
            ("fn f(x: i32) -> i32 {\n    x\n}\n", Some("rust")),
            ("func f(x int) int {\n\treturn x\n}\n", Some("go")),
            ("x", None),
        ];
        for (source, want) in cases {
            assert_eq!(detect_language(source), want, "{source}");
        }
    }
}
