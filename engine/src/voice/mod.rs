//! Voice: speech-to-text providers and turn detection (audio in), text-to-speech (audio out).

pub mod stt;
pub mod vad;
