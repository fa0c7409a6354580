//! The CPU cost of one whole scripted interview through core, scorer and codec, counted in
//! instructions (deterministic, unlike time: comparable across noisy machines). Not a timed
//! benchmark: `scripts/callgrind.sh` runs this under valgrind's callgrind, collecting only
//! inside [`measured`], and prints the instructions per interview of each plan. Each plan is
//! played twice, the first time unmeasured: the first interview of a process also builds what
//! is built once (the plan's keyword index, the scorer's phrase tables).
//! Run with: scripts/callgrind.sh (or `cargo bench -p viva-engine --bench instructions`, which
//! only plays the interviews once).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use viva_engine::plan::{Plan, PlanCatalog};
use viva_protocol::ClientMessage;

fn main() {
    let catalog = PlanCatalog::shipped();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    // `--recorded FILE`: the interview with a recording's answers (long prose, code), as
    // `viva-load replay` sends them; the scripted interview's answers are one sentence each.
    if let [flag, file] = args.as_slice()
        && flag == "--recorded"
    {
        let (plan_id, answers) = recorded_answers(std::path::Path::new(file));
        let plan = catalog.get(&plan_id).expect("the recording's plan is shipped");
        let answer =
            |_: &str, n: u32| answers.get(n as usize - 1).cloned().unwrap_or(ClientMessage::SessionEnd { id: None });
        common::interview_answering(black_box(plan), true, answer);
        let inputs = measured_recorded(black_box(plan), answer);
        println!("{file}: {inputs} inputs");
        return;
    }
    // One plan per run when named (the script runs each under callgrind on its own).
    let only = args.first();
    for plan in catalog.iter().filter(|p| only.is_none_or(|o| *o == p.id)) {
        common::interview(black_box(plan), true);
        let inputs = measured(black_box(plan));
        println!("{}: {inputs} inputs", plan.id);
    }
}

/// The interview callgrind counts (the script collects inside this function only).
#[inline(never)]
fn measured(plan: &Arc<Plan>) -> u64 {
    common::interview(plan, true)
}

/// The same for an interview with recorded answers.
#[inline(never)]
fn measured_recorded(plan: &Arc<Plan>, answer: impl FnMut(&str, u32) -> ClientMessage) -> u64 {
    common::interview_answering(plan, true, answer)
}

/// The answers of a recording (`load-tests/recordings/<plan>.<name>.jsonl`, what `viva-load
/// replay` sends): its plan and its `answer.submit` and `code.submit` messages, in order.
fn recorded_answers(path: &std::path::Path) -> (String, Vec<ClientMessage>) {
    #[derive(serde::Deserialize)]
    struct Line {
        message: ClientMessage,
    }
    let name = path.file_name().and_then(|n| n.to_str()).expect("a recording's file name");
    let plan = name.split('.').next().expect("<plan>.<name>.jsonl").to_owned();
    let text = std::fs::read_to_string(path).expect("a readable recording");
    let answers = text
        .lines()
        .map(|line| serde_json::from_str::<Line>(line).expect("a recording's line").message)
        .filter(|m| matches!(m, ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. }))
        .collect();
    (plan, answers)
}
