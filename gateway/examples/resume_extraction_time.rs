//! How long reading a typical résumé takes, through the child process exactly as
//! `PUT /v1/me/resume` does it (spawn, limits, parse, reply): a two-page PDF and the same text
//! as DOCX, Markdown, made by the tests' fixtures.
//!
//! Run with: `cargo build -p viva-gateway && cargo run -p viva-gateway --example
//! resume_extraction_time [-- <path to viva-gateway> [runs [more files...]]]` (the binary
//! defaults to the one beside this example's build, `target/debug/viva-gateway`; `-` means it
//! too). Files given after the runs (`.pdf`, `.docx`, `.md`, `.txt`) are timed as well, e.g.
//! real PDFs with embedded fonts. Prints the median and worst time per file, and the sizes. A
//! debug build parses several times slower than a release one.

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use viva_gateway::resume::child::Extractor;
use viva_gateway::resume::extract::Kind;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let program = match args.next().filter(|a| a != "-") {
        Some(path) => PathBuf::from(path),
        None => {
            let examples = std::env::current_exe()?;
            let dir = examples.parent().and_then(|d| d.parent()).ok_or_else(|| anyhow::anyhow!("no target dir"))?;
            dir.join("viva-gateway")
        }
    };
    anyhow::ensure!(program.exists(), "{} not found: cargo build -p viva-gateway first", program.display());
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20);
    let lines = fixtures::typical_resume();
    let mut files = vec![
        ("PDF, 2 pages".to_owned(), Kind::Pdf, fixtures::text_pdf(&lines)),
        ("DOCX".to_owned(), Kind::Docx, fixtures::docx(&lines)),
        ("Markdown".to_owned(), Kind::Markdown, lines.join("\n").into_bytes()),
    ];
    for path in args {
        let kind = match path.rsplit('.').next() {
            Some("pdf") => Kind::Pdf,
            Some("docx") => Kind::Docx,
            Some("md") => Kind::Markdown,
            _ => Kind::Text,
        };
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        files.push((name, kind, std::fs::read(&path)?));
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let extractor = Extractor::new(Some(program.clone()));
    println!("{} runs each through {}", runs, program.display());
    for (what, kind, bytes) in files {
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        let mut chars = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let extracted = runtime.block_on(extractor.extract(kind, &bytes))?;
            times.push(started.elapsed());
            chars = extracted.text.chars().count();
        }
        times.sort();
        println!(
            "{what:>30}: {:>7} bytes → {chars} chars; median {:.1} ms, worst {:.1} ms",
            bytes.len(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
