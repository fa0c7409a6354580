//! A model's reply to a scoring request, checked by the LLM scorer against a question of the
//! shipped plan: no panic, and what passes is a well-formed score (every dimension of the
//! question once, within 0–10; the key points split into hit and missed).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use viva_engine::plan::{PlanCatalog, Question};

static QUESTION: LazyLock<Question> = LazyLock::new(|| {
    let catalog = PlanCatalog::shipped();
    let plan = catalog.get("senior-backend").expect("the shipped plan");
    plan.questions.iter().find(|q| q.dimensions.len() > 1 && q.key_points.len() > 1).expect("a question").clone()
});

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = std::str::from_utf8(data) else { return };
    let question = &*QUESTION;
    let Ok(scoring) = viva_engine::fuzzing::validate_score(question, reply) else { return };
    let names: Vec<&str> = scoring.dimensions.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, question.dimensions.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(scoring.dimensions.iter().all(|d| (0.0..=10.0).contains(&d.score)));
    let mut points: Vec<&String> = scoring.key_points_hit.iter().chain(&scoring.key_points_missed).collect();
    points.sort();
    let mut expected: Vec<&String> = question.key_points.iter().map(|k| &k.id).collect();
    expected.sort();
    assert_eq!(points, expected);
});
