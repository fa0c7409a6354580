//! Recordings: what a candidate's client sent in one interview, with times.
//!
//! A recording is JSON lines, one [`Recording`] (`{"t_ms": <u64>, "message": <client
//! message>}`) per line, `t_ms` counted from `session.start` — exactly the body of
//! `GET /v1/sessions/{id}/recording`. The file's name says which plan it interviews on:
//! `<plan id>.<anything>.jsonl` (e.g. `coding-python.strong.jsonl`), because a replay must
//! create its sessions on the same plan for the answers to make sense. The candidate's profile
//! (role, level, résumé) is not recorded: replayed sessions are created without one, so they
//! are asked every question of the plan.

use std::path::{Path, PathBuf};

use viva_protocol::ClientMessage;
use viva_protocol::rest::Recording;

/// The extension of recording files.
pub const EXTENSION: &str = "jsonl";

/// A recording that can be replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Its name (the file name without `.jsonl`).
    pub name: String,
    /// The plan its sessions are created on.
    pub plan: String,
    /// The messages, in order.
    pub lines: Vec<Recording>,
}

/// Why a recording cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file or directory cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A line is not a recorded message.
    #[error("{name}, line {line}: {reason}")]
    Line {
        /// The recording.
        name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The recording as a whole cannot be replayed.
    #[error("{name}: {reason}")]
    Invalid {
        /// The recording.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory without recordings.
    #[error("{0}: no *.jsonl recordings in it")]
    Empty(PathBuf),
}

impl Script {
    /// Parses a recording named `name` (`<plan>.<anything>`) from its text.
    pub fn parse(name: &str, text: &str) -> Result<Self, RecordingError> {
        let plan = plan_of(name).ok_or_else(|| RecordingError::Invalid {
            name: name.to_owned(),
            reason: "a recording's name starts with its plan id and a dot, e.g. `frontend.strong.jsonl`".to_owned(),
        })?;
        let mut lines: Vec<Recording> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |reason: String| RecordingError::Line { name: name.to_owned(), line: index + 1, reason };
            let recorded: Recording = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            if let Some(previous) = lines.last() {
                if recorded.t_ms < previous.t_ms {
                    return Err(at(format!("t_ms {} is before the previous line's {}", recorded.t_ms, previous.t_ms)));
                }
            }
            lines.push(recorded);
        }
        let script = Self { name: name.to_owned(), plan: plan.to_owned(), lines };
        // Without an answer or an end a replayed session would wait for the time limit.
        if script.answers().next().is_none() && !script.ends() {
            let reason = "it has no answer and no session.end, so a replay could not finish".to_owned();
            return Err(RecordingError::Invalid { name: name.to_owned(), reason });
        }
        Ok(script)
    }

    /// Reads one recording file.
    pub fn read(path: &Path) -> Result<Self, RecordingError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RecordingError::Io { path: path.to_owned(), source })?;
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(file.strip_suffix(".jsonl").unwrap_or(&file), &text)
    }

    /// Reads every `*.jsonl` recording of a directory (or the one file `path` names), sorted
    /// by name so that round-robin over them is reproducible.
    pub fn read_all(path: &Path) -> Result<Vec<Self>, RecordingError> {
        if path.is_file() {
            return Ok(vec![Self::read(path)?]);
        }
        let io = |source| RecordingError::Io { path: path.to_owned(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let file = entry.map_err(io)?.path();
            if file.is_file() && file.extension().is_some_and(|e| e == EXTENSION) {
                files.push(file);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(RecordingError::Empty(path.to_owned()));
        }
        files.iter().map(|f| Self::read(f)).collect()
    }

    /// The recorded answers (`answer.submit`, `code.submit`), in order.
    pub fn answers(&self) -> impl Iterator<Item = &ClientMessage> {
        self.lines.iter().map(|l| &l.message).filter(|m| is_answer(m))
    }

    /// Whether the candidate ended the interview (`session.end`).
    pub fn ends(&self) -> bool {
        self.lines.iter().any(|l| matches!(l.message, ClientMessage::SessionEnd { .. }))
    }

    /// How long the recording lasts, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.lines.last().map_or(0, |l| l.t_ms)
    }
}

/// Whether a client message is an answer.
pub fn is_answer(message: &ClientMessage) -> bool {
    matches!(message, ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. })
}

/// The plan id a recording's name starts with (`senior-backend` in `senior-backend.x`).
pub fn plan_of(name: &str) -> Option<&str> {
    let (plan, rest) = name.split_once('.')?;
    (!plan.is_empty() && !rest.is_empty()).then_some(plan)
}

/// The JSON-lines text of a recording.
pub fn to_jsonl(lines: &[Recording]) -> String {
    let mut text = String::new();
    for line in lines {
        // A struct of strings and numbers always serializes.
        text.push_str(&serde_json::to_string(line).unwrap_or_default());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{"t_ms":0,"message":{"type":"session.start"}}
{"t_ms":4200,"message":{"type":"turn.interrupt"}}

{"t_ms":9000,"message":{"type":"answer.submit","id":"a1","text":"A token bucket in Redis."}}
{"t_ms":15000,"message":{"type":"code.submit","id":"a2","language":"python","source":"print(1)\n"}}
"#;

    #[test]
    fn parses_lines_and_takes_the_plan_from_the_name() {
        let script = Script::parse("senior-backend.short", TEXT).unwrap();
        assert_eq!((script.plan.as_str(), script.lines.len(), script.duration_ms()), ("senior-backend", 4, 15000));
        assert_eq!(script.answers().filter_map(ClientMessage::id).collect::<Vec<_>>(), ["a1", "a2"]);
        assert!(!script.ends());
        assert_eq!(Script::parse("senior-backend.again", &to_jsonl(&script.lines)).unwrap().lines, script.lines);
    }

    #[test]
    fn refuses_what_could_not_be_replayed() {
        let errors = [
            Script::parse("no-plan-in-name", TEXT).unwrap_err(),
            Script::parse("x.y", "{\"t_ms\":0}\n").unwrap_err(),
            Script::parse("x.y", "{\"t_ms\":5,\"message\":{\"type\":\"session.start\"}}\n{\"t_ms\":1,\"message\":{\"type\":\"session.end\"}}").unwrap_err(),
            Script::parse("x.y", "{\"t_ms\":0,\"message\":{\"type\":\"session.start\"}}").unwrap_err(),
        ];
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(messages[0].contains("starts with its plan id"), "{}", messages[0]);
        assert!(messages[1].starts_with("x.y, line 1: missing field `message`"), "{}", messages[1]);
        assert!(messages[2].contains("line 2: t_ms 1 is before"), "{}", messages[2]);
        assert!(messages[3].contains("no answer and no session.end"), "{}", messages[3]);
        assert!(Script::parse("x.y", "{\"t_ms\":0,\"message\":{\"type\":\"session.end\"}}").unwrap().ends());
    }
}
