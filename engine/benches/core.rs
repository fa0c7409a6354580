//! The session core's throughput: inputs per second through `Session`, driving whole
//! interviews of the shipped plans with the scripted interviewer's text (one input per word)
//! and the heuristic scorer, no I/O. Run with: cargo bench -p viva-engine --bench core

// `criterion_group!` defines undocumented public functions.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use viva_engine::plan::{Expected, PlanCatalog};
use viva_engine::scorer::HeuristicScorer;
use viva_protocol::AnswerContent;

use common::interview;

fn core(c: &mut Criterion) {
    let catalog = PlanCatalog::shipped();
    let mut group = c.benchmark_group("core/interview");
    for plan in catalog.iter() {
        group.throughput(Throughput::Elements(interview(plan, false)));
        group.bench_function(plan.id.as_str(), |b| b.iter(|| interview(black_box(plan), false)));
    }
    group.finish();
}

/// Heuristic scoring of the largest code answers: a plain one, and one crafted to hit the
/// comment stripper (a `#` on every line; 13 s before it became one pass).
fn scoring(c: &mut Criterion) {
    let catalog = PlanCatalog::shipped();
    let plan = catalog.get("coding-python").expect("a shipped plan");
    let question = plan.questions.iter().find(|q| matches!(q.expects, Expected::Code { .. })).expect("a code question");
    let mut group = c.benchmark_group("scoring/64KiB-code");
    let plain = "def solve(items):\n    return sorted(items)\n".repeat(64 * 1024 / 42);
    let crafted = "#\n".repeat(32 * 1024);
    for (name, source) in [("plain", plain), ("a-comment-per-line", crafted)] {
        let answer = AnswerContent::Code { language: "python".into(), source };
        group.bench_function(name, |b| {
            b.iter(|| HeuristicScorer.score_now(plan, &question.id, black_box(&answer)).expect("scored"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = core, scoring
}
criterion_main!(benches);
