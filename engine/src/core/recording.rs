//! What the candidate's client sent, rebuilt from a session's durable log: the input of a
//! replay (viva-load), each message with its time in milliseconds after the session started
//! (the first `turn.started`). A pure function of the log.
//!
//! Only messages that changed the session leave a record, so only they are here:
//! `session.start` at 0; an `answer.submit` / `code.submit` (with its client id) per accepted
//! answer; a `turn.interrupt` per turn that ended `interrupted` by a barge-in; and
//! `session.end` when the candidate ended the interview. The end closes the turn in flight as
//! `interrupted` too: that turn is not a barge-in, and the end's own time is when it closed it.
//! Pings, acks, refused messages and the ids of control messages are not stored. The audio of
//! a voice session is not in the log either: a spoken answer comes back as its transcript,
//! typed, and the session is replayed as text (`turn.truncated` has no text counterpart).

use viva_protocol::{AnswerContent, ClientMessage, EndReason, TurnStatus};

use super::record::{LogEntry, Record};

/// The client messages of a log, with their times. `time_limit_ms` is the session's plan time
/// (a time-up ends turns at the limit or after).
pub fn client_messages(log: &[LogEntry], time_limit_ms: u64) -> Vec<(u64, ClientMessage)> {
    // `session.start` opens the intro at once; a session ended before it has no turn at all.
    let started = log.iter().find(|e| matches!(e.record, Record::TurnStarted { .. })).map(|e| e.at);
    let Some(zero) = started.or_else(|| log.first().map(|e| e.at)) else {
        return Vec::new();
    };
    let closed_by_end = turn_closed_by_end(log, time_limit_ms);
    let mut messages = Vec::new();
    if started.is_some() {
        messages.push((0, ClientMessage::SessionStart { id: None, voice: None }));
    }
    for (i, entry) in log.iter().enumerate() {
        let t_ms = entry.at.ms_since(zero);
        match &entry.record {
            Record::AnswerReceived { client_id, answer, .. } => {
                let id = client_id.clone();
                messages.push((
                    t_ms,
                    match answer.clone() {
                        AnswerContent::Text { text } => ClientMessage::AnswerSubmit { id, text },
                        AnswerContent::Code { language, source } => ClientMessage::CodeSubmit { id, language, source },
                    },
                ));
            }
            Record::TurnDone { status: TurnStatus::Interrupted, .. } if Some(i) != closed_by_end => {
                messages.push((t_ms, ClientMessage::TurnInterrupt { id: None }));
            }
            Record::SessionEnded { reason: EndReason::EndedByCandidate } => {
                // The end began when it closed the turn in flight, if there was one; the
                // report may have waited for scores since.
                let at = closed_by_end.map_or(entry.at, |i| log[i].at);
                messages.push((at.ms_since(zero), ClientMessage::SessionEnd { id: None }));
            }
            _ => {}
        }
    }
    messages
}

/// The index of the `turn.done` the end itself interrupted, if it did.
fn turn_closed_by_end(log: &[LogEntry], time_limit_ms: u64) -> Option<usize> {
    let ended = log.iter().find_map(|e| match e.record {
        Record::SessionEnded { reason } => Some(reason),
        _ => None,
    })?;
    let started = log.iter().find(|e| matches!(e.record, Record::TurnStarted { .. })).map(|e| e.at);
    let interrupted = |i: &usize| matches!(log[*i].record, Record::TurnDone { status: TurnStatus::Interrupted, .. });
    // No turn starts after the end begins (but the closing turn of an out-of-minutes end),
    // so the turn it cut off is the last one to finish. A time limit ends turns at the limit
    // or after; the interview's own end (`completed`, `interviewer_failed`) never interrupts
    // a turn, but a candidate who barges in on the closing turn does.
    let last_done = log.iter().rposition(|e| matches!(e.record, Record::TurnDone { .. }));
    match ended {
        EndReason::EndedByCandidate => last_done.filter(interrupted),
        EndReason::TimeUp => {
            last_done.filter(interrupted).filter(|i| started.is_some_and(|s| log[*i].at >= s.plus_ms(time_limit_ms)))
        }
        // The cut comes right before `session.ending`; the closing turn follows it.
        EndReason::OutOfMinutes => {
            let ending = log.iter().position(|e| matches!(e.record, Record::SessionEnding { .. }))?;
            ending.checked_sub(1).filter(interrupted)
        }
        // Nobody was connected: the turn it cut, if any, is the one right before the end.
        EndReason::Abandoned => last_done.filter(interrupted).filter(|i| {
            let next = log.get(i + 1).map(|e| &e.record);
            matches!(
                next,
                Some(Record::SessionEnding { .. } | Record::ReportReady { .. } | Record::SessionEnded { .. })
            )
        }),
        EndReason::Completed | EndReason::InterviewerFailed => None,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use viva_protocol::{AnswerContent, EndReason, TurnKind, TurnStatus};

    use super::*;
    use crate::core::{AnswerId, TurnId};
    use crate::time::Timestamp;

    /// A log from `(seconds since 1000 s, record)` pairs, rendered as the recording.
    fn check(records: Vec<(u64, Record)>, expect: Expect) {
        let log: Vec<LogEntry> = records
            .into_iter()
            .enumerate()
            .map(|(i, (s, record))| LogEntry { seq: i as u64 + 1, at: Timestamp(1_000_000 + s * 1000), record })
            .collect();
        let rendered: Vec<String> = client_messages(&log, 60_000)
            .into_iter()
            .map(|(t, m)| format!("{t} {}", serde_json::to_string(&m).unwrap()))
            .collect();
        expect.assert_eq(&rendered.join("\n"));
    }

    fn started(turn: u32, kind: TurnKind) -> Record {
        let question_id = matches!(kind, TurnKind::Question).then(|| "q".to_owned());
        Record::TurnStarted { turn_id: TurnId(turn), kind, question_id, key_point: None, expects: None, voice: None }
    }

    fn done(turn: u32, status: TurnStatus) -> Record {
        Record::TurnDone { turn_id: TurnId(turn), text: "…".into(), status }
    }

    fn answer(id: u32) -> Record {
        Record::AnswerReceived {
            answer_id: AnswerId(id),
            client_id: Some(format!("a{id}")),
            question_id: "q".into(),
            answer: AnswerContent::Text { text: "An answer.".into() },
            spoken: None,
        }
    }

    fn ended(reason: EndReason) -> Record {
        Record::SessionEnded { reason }
    }

    #[test]
    fn an_empty_log_is_an_empty_recording() {
        check(vec![], expect![[""]]);
    }

    #[test]
    fn a_completed_interview_with_a_barge_in() {
        check(
            vec![
                (0, started(1, TurnKind::Intro)),
                (2, done(1, TurnStatus::Completed)),
                (2, started(2, TurnKind::Question)),
                (3, done(2, TurnStatus::Interrupted)),
                (9, answer(1)),
                (9, started(3, TurnKind::Closing)),
                (10, done(3, TurnStatus::Completed)),
                (10, ended(EndReason::Completed)),
            ],
            expect![[r#"
                0 {"type":"session.start"}
                3000 {"type":"turn.interrupt"}
                9000 {"type":"answer.submit","id":"a1","text":"An answer."}"#]],
        );
    }

    #[test]
    fn the_candidate_ends_mid_turn_and_the_report_waits_for_a_score() {
        check(
            vec![
                (0, started(1, TurnKind::Intro)),
                (2, done(1, TurnStatus::Completed)),
                (2, started(2, TurnKind::Question)),
                (4, done(2, TurnStatus::Completed)),
                (8, answer(1)),
                (8, started(3, TurnKind::Question)),
                (9, done(3, TurnStatus::Interrupted)),
                (9, Record::SessionEnding { reason: EndReason::EndedByCandidate }),
                (12, ended(EndReason::EndedByCandidate)),
            ],
            expect![[r#"
                0 {"type":"session.start"}
                8000 {"type":"answer.submit","id":"a1","text":"An answer."}
                9000 {"type":"session.end"}"#]],
        );
    }

    #[test]
    fn a_time_up_cut_is_not_a_barge_in_but_one_before_it_is() {
        check(
            vec![
                (0, started(1, TurnKind::Intro)),
                (2, done(1, TurnStatus::Interrupted)),
                (2, started(2, TurnKind::Question)),
                (60, done(2, TurnStatus::Interrupted)),
                (60, ended(EndReason::TimeUp)),
            ],
            expect![[r#"
                0 {"type":"session.start"}
                2000 {"type":"turn.interrupt"}"#]],
        );
    }

    #[test]
    fn out_of_minutes_cuts_the_turn_then_closes() {
        check(
            vec![
                (0, started(1, TurnKind::Intro)),
                (2, done(1, TurnStatus::Completed)),
                (2, started(2, TurnKind::Question)),
                (30, done(2, TurnStatus::Interrupted)),
                (30, Record::SessionEnding { reason: EndReason::OutOfMinutes }),
                (30, started(3, TurnKind::Closing)),
                (31, done(3, TurnStatus::Completed)),
                (31, ended(EndReason::OutOfMinutes)),
            ],
            expect![[r#"
                     0 {"type":"session.start"}"#]],
        );
    }

    #[test]
    fn an_abandoned_session_cut_its_turn_but_a_barge_in_before_is_kept() {
        check(
            vec![
                (0, started(1, TurnKind::Intro)),
                (1, done(1, TurnStatus::Interrupted)),
                (1, started(2, TurnKind::Question)),
                (300, done(2, TurnStatus::Interrupted)),
                (300, ended(EndReason::Abandoned)),
            ],
            expect![[r#"
                0 {"type":"session.start"}
                1000 {"type":"turn.interrupt"}"#]],
        );
    }

    #[test]
    fn ended_before_the_start() {
        check(
            vec![(5, ended(EndReason::EndedByCandidate))],
            expect![[r#"
                     0 {"type":"session.end"}"#]],
        );
    }
}
