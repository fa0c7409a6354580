//! Voice: audio in and out of the same interview; inside the core turns and answers stay text.

pub mod tts;
