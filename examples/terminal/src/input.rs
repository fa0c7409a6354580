//! Run with: cargo run -p example-terminal -- --url http://127.0.0.1:8080
//!
//! What the candidate types. A thread reads stdin line by line (so the socket loop never
//! blocks on it) and hands the lines over a channel; [`Parser`] turns them into [`Input`]s:
//!
//! - a line of text: an answer;
//! - `/code LANG`, then lines of code, then `/end`: a code answer;
//! - `/interrupt`: cut the interviewer's turn short (any time, also inside a code block);
//! - `/end`: end the interview (outside a code block);
//! - `/quit`: leave, the session stays open;
//! - `/help`: this list.

use std::io::BufRead;

use tokio::sync::mpsc;

/// One thing the candidate asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A prose answer.
    Answer(String),
    /// A code answer.
    Code {
        /// Its language.
        language: String,
        /// The code.
        source: String,
    },
    /// `turn.interrupt`.
    Interrupt,
    /// `session.end`.
    End,
    /// Leave without ending the session.
    Quit,
}

/// The commands, for `/help` and the prompt.
pub const HELP: &str = "Type your answer on one line, or:
  /code LANG     start a code answer in LANG; finish it with a line /end
  /interrupt     cut the interviewer short (barge in)
  /end           end the interview now (you still get a report)
  /quit          leave; the session stays open
  /help          this list";

/// Reads stdin on its own thread; the channel closes at end of input.
pub fn spawn_stdin() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .expect("cannot start the stdin thread");
    rx
}

/// What a line amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An input is complete.
    Input(Input),
    /// Something to tell the candidate (help, usage).
    Say(String),
    /// Nothing yet (a blank line, a line of an open code block).
    Nothing,
}

/// Turns lines into inputs; holds a code block until its `/end`.
#[derive(Debug, Default)]
pub struct Parser {
    code: Option<(String, Vec<String>)>,
}

impl Parser {
    /// Whether a code block is open.
    pub fn in_code_block(&self) -> bool {
        self.code.is_some()
    }

    /// What a line amounts to.
    pub fn line(&mut self, line: &str) -> Line {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let command = line.trim();
        if let Some((language, lines)) = &mut self.code {
            return match command {
                "/end" => {
                    let language = std::mem::take(language);
                    let source = lines.join("\n") + "\n";
                    self.code = None;
                    Line::Input(Input::Code { language, source })
                }
                "/interrupt" => Line::Input(Input::Interrupt),
                "/quit" => Line::Input(Input::Quit),
                _ => {
                    lines.push(line.to_owned());
                    Line::Nothing
                }
            };
        }
        match command.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => Line::Nothing,
            ["/code", language] => {
                self.code = Some(((*language).to_owned(), Vec::new()));
                Line::Say(format!("(code in {language}: end it with a line /end)"))
            }
            ["/code", ..] => Line::Say("usage: /code LANG (e.g. /code python), then your code, then /end".into()),
            ["/interrupt"] => Line::Input(Input::Interrupt),
            ["/end"] => Line::Input(Input::End),
            ["/quit"] => Line::Input(Input::Quit),
            ["/help"] => Line::Say(HELP.into()),
            [word, ..] if word.starts_with('/') => Line::Say(format!("unknown command {word}\n{HELP}")),
            _ => Line::Input(Input::Answer(command.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Input, Line, Parser};

    #[test]
    fn lines_become_inputs() {
        let mut parser = Parser::default();
        let mut inputs = Vec::new();
        for line in
            ["", "  my answer  ", "/code python", "def f(x):", "    return x", "/interrupt", "/end", "/end", "/quit\r"]
        {
            if let Line::Input(input) = parser.line(line) {
                inputs.push(input);
            }
        }
        assert_eq!(
            inputs,
            [
                Input::Answer("my answer".into()),
                Input::Interrupt,
                Input::Code { language: "python".into(), source: "def f(x):\n    return x\n".into() },
                Input::End,
                Input::Quit,
            ]
        );
        assert!(!parser.in_code_block());
    }
}
