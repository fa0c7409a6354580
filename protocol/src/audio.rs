//! Audio on the wire: PCM16 little-endian mono samples, as bytes. MessagePack carries them as
//! `bin`; JSON, which has no bytes, as a base64 string (standard alphabet, padded).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Sample rate of the candidate's audio (`input_audio.append`).
pub const INPUT_RATE: u32 = 16_000;
/// Sample rate of the interviewer's audio (`turn.audio`).
pub const OUTPUT_RATE: u32 = 24_000;

/// PCM16 little-endian mono audio.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Audio(pub Vec<u8>);

impl Audio {
    /// The bytes of `samples`.
    pub fn from_samples(samples: &[i16]) -> Self {
        Self(samples.iter().flat_map(|s| s.to_le_bytes()).collect())
    }

    /// Its samples; `None` for an odd number of bytes (not PCM16).
    pub fn samples(&self) -> Option<Vec<i16>> {
        let pairs = self.0.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return None;
        }
        Some(pairs.map(|pair| i16::from_le_bytes([pair[0], pair[1]])).collect())
    }

    /// Its length in milliseconds at `rate` samples per second.
    pub fn duration_ms(&self, rate: u32) -> u64 {
        (self.0.len() as u64 / 2) * 1000 / u64::from(rate)
    }
}

impl fmt::Debug for Audio {
    // Thousands of bytes say nothing in a log; their count does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Audio({} bytes)", self.0.len())
    }
}

impl Serialize for Audio {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Audio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Both forms are taken from either codec: a tagged enum's buffering hides which
        // codec is underneath.
        struct AudioVisitor;
        impl<'de> Visitor<'de> for AudioVisitor {
            type Value = Audio;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("PCM16 audio: bytes, or a base64 string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Audio, E> {
                STANDARD.decode(text).map(Audio).map_err(|_| E::custom("audio is not valid base64"))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Audio, E> {
                Ok(Audio(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Audio, E> {
                Ok(Audio(bytes))
            }
        }
        deserializer.deserialize_any(AudioVisitor)
    }
}

impl schemars::JsonSchema for Audio {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Audio".into()
    }

    /// As JSON carries it: a base64 string (MessagePack carries the bytes as `bin`).
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "contentEncoding": "base64",
            "description": "PCM16 little-endian mono audio: base64 in JSON, bin in MessagePack"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, DecodeError, Encoding, Limits};

    fn append(bytes: &[u8]) -> ClientMessage {
        ClientMessage::InputAudioAppend { id: "u1".into(), audio: Audio(bytes.to_vec()) }
    }

    #[test]
    fn json_carries_base64_and_msgpack_bin() {
        let message = append(&[1, 0, 255, 127]);
        let json = String::from_utf8(Encoding::Json.encode(&message).unwrap()).unwrap();
        assert_eq!(json, r#"{"type":"input_audio.append","id":"u1","audio":"AQD/fw=="}"#);
        let msgpack = Encoding::MsgPack.encode(&message).unwrap();
        assert!(msgpack.windows(6).any(|w| w == [0xc4, 4, 1, 0, 255, 127]), "bin 8: {msgpack:x?}");
        for (encoding, bytes) in [(Encoding::Json, json.into_bytes()), (Encoding::MsgPack, msgpack)] {
            assert_eq!(encoding.decode_client(&bytes, &Limits::default()), Ok(message.clone()));
        }
    }

    #[test]
    fn audio_that_is_not_base64_is_an_invalid_field() {
        let frame = br#"{"type":"input_audio.append","id":"u1","audio":"not base64!"}"#;
        let error = Encoding::Json.decode_client(frame, &Limits::default()).unwrap_err();
        let expected = DecodeError::InvalidFields {
            type_name: "input_audio.append".into(),
            reason: "audio is not valid base64".into(),
        };
        assert_eq!(error, expected);
    }

    #[test]
    fn samples_are_little_endian_pairs_and_an_odd_byte_is_refused() {
        let audio = Audio::from_samples(&[1, -1, i16::MAX]);
        assert_eq!(audio.0, [1, 0, 255, 255, 255, 127]);
        assert_eq!(audio.samples(), Some(vec![1, -1, i16::MAX]));
        assert_eq!(Audio(vec![1, 0, 2]).samples(), None);
    }

    #[test]
    fn duration_counts_samples() {
        assert_eq!(Audio(vec![0; 640]).duration_ms(INPUT_RATE), 20);
        assert_eq!(Audio(vec![0; 9600]).duration_ms(OUTPUT_RATE), 200);
    }
}
