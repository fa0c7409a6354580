//! The heuristic scorer on any answer, prose or code (in any of the shipped plans' languages),
//! to every question of the shipped plans: no panic, scores within 0–10, and — run with inputs
//! up to 64 KiB and a per-input time limit (scripts/fuzz.sh) — no input slow to score (a
//! crafted 64 KiB answer once took 13 s: issue 12, item 4).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use viva_engine::plan::PlanCatalog;
use viva_engine::scorer::HeuristicScorer;
use viva_protocol::AnswerContent;

static CATALOG: LazyLock<PlanCatalog> = LazyLock::new(PlanCatalog::shipped);
const LANGUAGES: [&str; 5] = ["python", "rust", "javascript", "go", "sql"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let answer = match selector % (LANGUAGES.len() as u8 + 1) {
        0 => AnswerContent::Text { text: text.to_owned() },
        n => AnswerContent::Code { language: LANGUAGES[usize::from(n) - 1].to_owned(), source: text.to_owned() },
    };
    let plans: Vec<_> = CATALOG.iter().collect();
    let plan = plans[usize::from(selector) / 8 % plans.len()];
    let question = &plan.questions[usize::from(selector) % plan.questions.len()];
    let scoring = HeuristicScorer.score_now(plan, &question.id, &answer).expect("a question of the plan");
    assert!(scoring.dimensions.iter().all(|d| (0.0..=10.0).contains(&d.score)), "{:?}", scoring.dimensions);
});
