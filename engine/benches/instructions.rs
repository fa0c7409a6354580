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

fn main() {
    let catalog = PlanCatalog::shipped();
    // One plan per run when named (the script runs each under callgrind on its own).
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    for plan in catalog.iter().filter(|p| only.as_deref().is_none_or(|o| o == p.id)) {
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
