//! The two encodings of protocol v1 and the size limits every decoder enforces.
//!
//! `viva.v1.json` carries one JSON object per text frame; `viva.v1.msgpack` carries the same
//! structure (maps with field names, not arrays) per binary frame. Decoding a client message
//! never panics: any input yields a [`ClientMessage`] or a typed [`DecodeError`].

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::server::TurnDelta;
use crate::{ClientMessage, ErrorCode, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, ServerMessage};

/// A wire encoding, chosen per socket by subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `viva.v1.json`: text frames.
    Json,
    /// `viva.v1.msgpack`: binary frames.
    MsgPack,
}

impl Encoding {
    /// The subprotocol name of this encoding.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::Json => SUBPROTOCOL_JSON,
            Self::MsgPack => SUBPROTOCOL_MSGPACK,
        }
    }

    /// The encoding a subprotocol names, if it is one of ours.
    pub fn from_subprotocol(name: &str) -> Option<Self> {
        match name.trim() {
            SUBPROTOCOL_JSON => Some(Self::Json),
            SUBPROTOCOL_MSGPACK => Some(Self::MsgPack),
            _ => None,
        }
    }

    /// Picks the encoding for the subprotocols a client offered, in its order of preference.
    ///
    /// No offer means JSON. An offer of only unknown subprotocols is refused with `Err`, so the
    /// handshake can fail loudly instead of talking a format the client does not expect.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Result<Option<Self>, UnknownSubprotocols> {
        let mut any = false;
        for name in offered {
            any = true;
            if let Some(encoding) = Self::from_subprotocol(name) {
                return Ok(Some(encoding));
            }
        }
        if any { Err(UnknownSubprotocols) } else { Ok(None) }
    }

    /// Whether frames of this encoding are binary.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::MsgPack)
    }

    /// Encodes any protocol value.
    pub fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Json => serde_json::to_vec(value).map_err(|e| EncodeError(e.to_string())),
            Self::MsgPack => rmp_serde::to_vec_named(value).map_err(|e| EncodeError(e.to_string())),
        }
    }

    /// Encodes a server message: as [`Encoding::encode`], with `turn.delta` in JSON written
    /// directly. It is the message sent most by far (one per word of every turn), and serde's
    /// path for an internally tagged enum costs a map entry's calls per field; the bytes are
    /// serde_json's own (a property test compares them).
    pub fn encode_message(self, message: &ServerMessage) -> Result<Vec<u8>, EncodeError> {
        match (self, message) {
            (Self::Json, ServerMessage::TurnDelta(delta)) => Ok(turn_delta_json(delta)),
            _ => self.encode(message),
        }
    }

    /// Decodes any protocol value, without the checks of [`Encoding::decode_client`].
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, DecodeError> {
        match self {
            Self::Json => serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(quoted(e.to_string()))),
            Self::MsgPack => {
                // rmp-serde's default depth (1024) lets a ~1 KB frame of nested arrays overflow
                // a 2 MiB thread stack in debug builds; cap it like serde_json (128).
                let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
                de.set_max_depth(MAX_DEPTH);
                T::deserialize(&mut de).map_err(|e| DecodeError::Malformed(quoted(e.to_string())))
            }
        }
    }

    /// The `id` of a client frame that may be otherwise invalid, when it can be read and is
    /// within `limits` (so an error about the frame can name it in `ref`).
    pub fn message_id(self, bytes: &[u8], limits: &Limits) -> Option<String> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: Option<String>,
        }
        if bytes.len() > limits.max_frame_bytes || !self.starts_like_object(bytes) {
            return None;
        }
        let id = self.decode::<IdOnly>(bytes).ok()?.id?;
        (1..=limits.max_id_len).contains(&id.chars().count()).then_some(id)
    }

    /// Decodes one client frame, enforcing `limits`.
    pub fn decode_client(self, bytes: &[u8], limits: &Limits) -> Result<ClientMessage, DecodeError> {
        if bytes.len() > limits.max_frame_bytes {
            return Err(DecodeError::TooLarge { size: bytes.len(), limit: limits.max_frame_bytes });
        }
        // A message is an object (JSON) or a map (MessagePack), never an array or a scalar.
        if !self.starts_like_object(bytes) {
            return Err(DecodeError::Malformed("a message must be an object".to_owned()));
        }
        // Read the `type` first so an unknown type and a bad field get different errors.
        let envelope: Envelope = self.decode(bytes)?;
        let type_name = envelope.kind.ok_or(DecodeError::MissingType)?;
        if !ClientMessage::TYPES.contains(&type_name.as_str()) {
            return Err(DecodeError::UnknownType(quoted(type_name)));
        }
        let message: ClientMessage = self.decode(bytes).map_err(|e| match e {
            DecodeError::Malformed(reason) => DecodeError::InvalidFields { type_name, reason },
            other => other,
        })?;
        if let Some(id) = message.id() {
            let len = id.chars().count();
            if len == 0 || len > limits.max_id_len {
                return Err(DecodeError::InvalidId { len, max: limits.max_id_len });
            }
        }
        Ok(message)
    }
}

/// `{"type":"turn.delta","turn_id":…,"index":…,"text":"…"}`, as serde_json writes it.
fn turn_delta_json(delta: &TurnDelta) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + delta.text.len());
    out.extend_from_slice(br#"{"type":"turn.delta","turn_id":"#);
    out.extend_from_slice(itoa::Buffer::new().format(delta.turn_id).as_bytes());
    out.extend_from_slice(br#","index":"#);
    out.extend_from_slice(itoa::Buffer::new().format(delta.index).as_bytes());
    out.extend_from_slice(br#","text":"#);
    // Escaped as serde_json escapes any string; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &delta.text);
    out.push(b'}');
    out
}

/// Deepest nesting of arrays and maps a MessagePack frame may have (serde_json's limit).
const MAX_DEPTH: usize = 128;

impl Encoding {
    fn starts_like_object(self, bytes: &[u8]) -> bool {
        match self {
            Self::Json => bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
            // fixmap (0x80–0x8f), map16 (0xde), map32 (0xdf)
            Self::MsgPack => matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf)),
        }
    }
}

/// None of the subprotocols a client offered is one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("none of the offered subprotocols is supported (viva.v1.json, viva.v1.msgpack)")]
pub struct UnknownSubprotocols;

/// Just the `type` of a message; every other field is ignored.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Wire limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted, in bytes (larger frames close the socket with 1009).
    pub max_frame_bytes: usize,
    /// Longest client message id, in characters.
    pub max_id_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_frame_bytes: 128 * 1024, max_id_len: 64 }
    }
}

/// Longest text of a decode error, in characters: errors quote the client's input (a type
/// name, serde's "unknown variant `...`"), and a reply must not echo a whole frame back.
pub const MAX_ERROR_CHARS: usize = 160;

/// `text` cut to [`MAX_ERROR_CHARS`], marked when cut.
fn quoted(text: String) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than the limit.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Frame size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a JSON / MessagePack object.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An object without a `type`.
    #[error("message has no `type`")]
    MissingType,
    /// A `type` the client may not send.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A known `type` with missing or mistyped fields.
    #[error("invalid `{type_name}`: {reason}")]
    InvalidFields {
        /// The message type.
        type_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A client message id that is empty or too long.
    #[error("message id of {len} characters; ids have 1 to {max}")]
    InvalidId {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// The protocol error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } | Self::Malformed(_) | Self::MissingType | Self::InvalidFields { .. } => {
                ErrorCode::InvalidMessage
            }
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::InvalidId { .. } => ErrorCode::InvalidId,
        }
    }
}

/// A value could not be encoded (does not happen for the protocol's own types).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("encode failed: {0}")]
pub struct EncodeError(pub String);
