//! The CPU cost of one whole scripted interview through core, scorer and codec, counted in
//! instructions (deterministic, unlike time: comparable across noisy machines). Not a timed
//! benchmark: `scripts/callgrind.sh` runs this under valgrind's callgrind, collecting only
//! inside `common::interview`, and prints the instructions per interview of each plan.
//! Run with: scripts/callgrind.sh (or `cargo bench -p viva-engine --bench instructions`, which
//! only plays the interviews once).

mod common;

use std::hint::black_box;

use viva_engine::plan::PlanCatalog;

fn main() {
    let catalog = PlanCatalog::shipped();
    // One plan per run when named (the script runs each under callgrind on its own).
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    for plan in catalog.iter().filter(|p| only.as_deref().is_none_or(|o| o == p.id)) {
        let inputs = common::interview(black_box(plan), true);
        println!("{}: {inputs} inputs", plan.id);
    }
}
