//! The scripted interviewer: speaks the plan's own words, word by word, needing nothing
//! installed. It still interviews like a person: it greets the candidate by their role,
//! asks the follow-up the plan gives for a missing key point, and reviews submitted code.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use viva_protocol::{AnswerContent, EndReason, TurnKind};

use super::{Interviewer, InterviewerEvent, TurnRequest};
use crate::{resume, rubric};

/// Streams the plan's text at a fixed pace: a word at a time, or the whole turn at once
/// without a pace.
#[derive(Debug, Clone)]
pub struct ScriptedInterviewer {
    /// Delay between words; zero streams a turn as one delta (tests, load tests).
    pace: Duration,
}

impl ScriptedInterviewer {
    /// An interviewer that waits `pace` between words (none: a turn is one delta).
    pub fn new(pace: Duration) -> Self {
        Self { pace }
    }

    /// The whole text of a turn.
    pub fn text(request: &TurnRequest) -> String {
        let plan = &request.plan;
        let question = request.question_id.as_deref().and_then(|id| plan.question(id));
        let mut text = String::new();
        if request.attempt > 1 {
            text.push_str("Sorry, let me say that again. ");
        }
        match request.kind {
            TurnKind::Intro => {
                let role = request.candidate.role.as_deref().filter(|r| !r.trim().is_empty());
                let level = request.candidate.level.as_deref().filter(|l| !l.trim().is_empty());
                if let Some(role) = role {
                    let level = level.map(|l| format!("{l} ")).unwrap_or_default();
                    text.push_str(&format!("Welcome! I understand you are preparing for a {level}{role} role. "));
                }
                text.push_str(&plan.intro);
                let skills = resume_skills(request);
                if !skills.is_empty() {
                    text.push_str(&format!(
                        " I see from your résumé that you have worked with {}; feel free to draw on that.",
                        skills.join(" and ")
                    ));
                }
            }
            TurnKind::Question => text.push_str(question.map_or("", |q| q.prompt.as_str())),
            TurnKind::FollowUp => {
                let point = question
                    .zip(request.key_point.as_deref())
                    .and_then(|(q, id)| q.key_points.iter().find(|k| k.id == id));
                text.push_str(point.map_or("Could you say more about that?", |k| k.follow_up.as_str()));
            }
            TurnKind::Feedback => text.push_str(&feedback(request)),
            TurnKind::Closing if request.ending == Some(EndReason::OutOfMinutes) => {
                text.push_str("That's all the time your minutes allow today. Thank you: your report is on its way.");
            }
            TurnKind::Closing => text.push_str(&plan.closing),
        }
        text
    }
}

/// Up to two of the plan's key topics that the candidate's résumé mentions, in the résumé's
/// own terms as the plan names them (e.g. `kafka`, `token bucket`): the first two of
/// [`resume::skills`] for this plan.
fn resume_skills(request: &TurnRequest) -> Vec<String> {
    let resume = request.candidate.resume_text.as_deref().unwrap_or_default();
    let mut skills = resume::skills(resume, [request.plan.as_ref()]);
    skills.truncate(2);
    skills
}

/// A short review of a submitted answer (used after code).
fn feedback(request: &TurnRequest) -> String {
    let question = request.question_id.as_deref().and_then(|id| request.plan.question(id));
    let (Some(question), Some(answer)) = (question, request.answer.as_ref()) else {
        return "Thanks, let's move on.".to_owned();
    };
    let coverage = rubric::coverage(question, answer);
    let mut text = match answer {
        AnswerContent::Code { language, .. } => format!("Thanks for the {language} code. "),
        AnswerContent::Text { .. } => "Thanks. ".to_owned(),
    };
    let hit: Vec<&str> = coverage.hit.iter().map(|k| k.description.trim_end_matches('.')).collect();
    let missed: Vec<&str> = coverage.missed.iter().map(|k| k.description.trim_end_matches('.')).collect();
    if !hit.is_empty() {
        text.push_str(&format!("I can see it covers: {}. ", hit.join("; ")));
    }
    if !missed.is_empty() {
        text.push_str(&format!("I did not see: {}. ", missed.join("; ")));
    }
    text.push_str("Let's keep going.");
    text
}

/// Splits text into words, each keeping the whitespace after it, so the deltas join back to
/// exactly the text.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(text[start..i].to_owned());
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

impl Interviewer for ScriptedInterviewer {
    fn name(&self) -> &str {
        "scripted/1"
    }

    fn reads_transcript(&self) -> bool {
        false
    }

    fn stream_turn(&self, request: TurnRequest) -> BoxStream<'static, InterviewerEvent> {
        let text = Self::text(&request);
        if self.pace.is_zero() {
            // Nothing to pace: the whole text is one delta (word by word, each word would
            // take its own pass through the session and the connection's queue, only to be
            // merged with the next one in the queue while the socket is busy).
            return stream::iter([InterviewerEvent::Delta(text), InterviewerEvent::Done]).boxed();
        }
        let events =
            stream::iter(words(&text).into_iter().map(InterviewerEvent::Delta).chain([InterviewerEvent::Done]));
        let pace = self.pace;
        events
            .then(move |event| async move {
                if matches!(event, InterviewerEvent::Delta(_)) {
                    tokio::time::sleep(pace).await;
                }
                event
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intro_refers_to_the_resume() {
        let plan = crate::plan::PlanCatalog::shipped().get("senior-backend").cloned().unwrap();
        let request = |resume: &str| TurnRequest {
            session_id: "s".into(),
            user_id: "user".into(),
            turn_id: crate::core::TurnId(1),
            kind: TurnKind::Intro,
            plan: plan.clone(),
            question_id: None,
            key_point: None,
            answer: None,
            ending: None,
            candidate: crate::core::Candidate {
                role: Some("backend".into()),
                level: Some("senior".into()),
                resume_text: Some(resume.into()),
                ..Default::default()
            },
            transcript: Vec::new(),
            attempt: 1,
            choice: None,
        };
        let intro = ScriptedInterviewer::text(&request("Built Kafka pipelines; designed a token bucket limiter."));
        assert!(intro.contains("I see from your résumé that you have worked with"), "{intro}");
        assert!(intro.contains("token bucket") || intro.contains("kafka"), "{intro}");
        assert!(intro.starts_with("Welcome! I understand you are preparing for a senior backend role."));
        let plain = ScriptedInterviewer::text(&request("I like gardening."));
        assert!(!plain.contains("résumé"), "{plain}");
    }

    #[test]
    fn words_join_back_to_the_text() {
        for text in ["", "one", "Hello there,  world.\nNext line ", "  leading"] {
            assert_eq!(words(text).concat(), text);
        }
        assert_eq!(words("a b  c"), ["a ", "b  ", "c"]);
    }
}
