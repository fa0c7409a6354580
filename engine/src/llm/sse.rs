//! Server-sent events as OpenAI's streaming API sends them: `data: {json}` lines, ending with
//! `data: [DONE]`.

use serde_json::Value;

use super::LlmError;

/// Splits a byte stream into complete `data:` payloads, across chunk boundaries.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

/// A longest line kept while waiting for its end; a longer one is garbage.
const MAX_LINE: usize = 1 << 20;

impl Lines {
    /// Adds a chunk; returns the `data:` payloads it completes, in order. Linear in the
    /// chunk: only its bytes are searched for line ends, and the lines are cut out at once.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        // What is pending holds no line end: only the new bytes can complete a line.
        let mut from = self.pending.len();
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        let mut out = Vec::new();
        while let Some(offset) = self.pending[from..].iter().position(|b| *b == b'\n') {
            let end = from + offset;
            let line = String::from_utf8_lossy(&self.pending[start..end]);
            if let Some(data) = line.trim_end_matches('\r').strip_prefix("data:") {
                out.push(data.trim_start().to_owned());
            }
            start = end + 1;
            from = start;
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_LINE {
            // Not an event stream: let the caller see garbage rather than buffer forever.
            out.push(String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned());
        }
        out
    }
}

/// One payload's meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Text to append (possibly empty: role-only or finish chunks).
    Text(String),
    /// `[DONE]`.
    Done,
}

/// Reads a payload: `[DONE]`, or a chunk whose `choices[0].delta.content` is the text.
pub fn delta(data: &str) -> Result<Data, LlmError> {
    if data.trim() == "[DONE]" {
        return Ok(Data::Done);
    }
    let value: Value = serde_json::from_str(data).map_err(|e| LlmError::Malformed(format!("not JSON: {e}")))?;
    if let Some(error) = value.get("error") {
        return Err(LlmError::Malformed(format!("error in stream: {error}")));
    }
    let choice = value["choices"].get(0).ok_or_else(|| LlmError::Malformed("a chunk without choices".into()))?;
    Ok(Data::Text(choice["delta"]["content"].as_str().unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_survive_any_chunking() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n: comment\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";
        for size in 1..stream.len() {
            let mut lines = Lines::default();
            let mut texts = String::new();
            let mut done = false;
            for chunk in stream.as_bytes().chunks(size) {
                for data in lines.push(chunk) {
                    match delta(&data).unwrap() {
                        Data::Text(t) => texts.push_str(&t),
                        Data::Done => done = true,
                    }
                }
            }
            assert_eq!((texts.as_str(), done), ("Hello", true), "chunks of {size}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(delta("<html>"), Err(LlmError::Malformed(_))));
        assert!(matches!(delta("{\"choices\":[]}"), Err(LlmError::Malformed(_))));
        assert!(matches!(delta("{\"error\":{\"message\":\"overloaded\"}}"), Err(LlmError::Malformed(_))));
    }
}
