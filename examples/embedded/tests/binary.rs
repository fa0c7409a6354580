//! The README's `cargo run -p example-embedded`: the binary itself, run as a user runs it, on
//! every shipped plan, and with a plan that does not exist.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    // The binary bounds itself (a 30 s deadline on the interview).
    Command::new(env!("CARGO_BIN_EXE_example-embedded")).args(args).output().expect("the example's binary")
}

#[test]
fn every_shipped_plan_runs_to_its_report_with_the_protocol_kept() {
    for plan in ["senior-backend", "coding-python", "frontend"] {
        let output = run(&["--plan", plan]);
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{plan}: {printed}{}", String::from_utf8_lossy(&output.stderr));
        assert!(printed.contains("Protocol kept"), "{plan}: {printed}");
        assert!(printed.contains("Overall:"), "{plan}: {printed}");
    }
}

#[test]
fn an_unknown_plan_is_named_with_the_plans_there_are() {
    let output = run(&["--plan", "nope"]);
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("no plan `nope`") && printed.contains("senior-backend"), "{printed}");
}
