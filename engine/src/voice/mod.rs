//! Voice: audio in and out of the same interview; inside the core, turns and answers stay
//! text. Speech-to-text and turn detection take the candidate's audio in; text-to-speech
//! speaks the interviewer's turns.

pub mod flac;
pub mod sentences;
pub mod stt;
pub mod tts;
pub mod vad;
