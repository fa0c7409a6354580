//! Viva protocol v1: the contract clients code against.
//!
//! This crate is the only place that knows the wire format. It holds every message of the
//! WebSocket protocol ([`ClientMessage`], [`ServerMessage`]), the REST bodies ([`rest`]),
//! the error and close codes, and the two codecs (`viva.v1.json`, `viva.v1.msgpack`).
//! It does no I/O and depends on no runtime: the engine and the gateway convert to and from
//! these types explicitly, so their own types can change without moving the contract.
//!
//! `docs/protocol.md` at the repository root documents the same contract for app developers.

pub mod audio;
#[cfg(feature = "checker")]
pub mod checker;
pub mod client;
pub mod close;
pub mod codec;
pub mod error;
pub mod object;
pub mod rest;
pub mod server;
pub mod state;
pub mod webhook;

pub use audio::Audio;
pub use client::{AnswerContent, ClientMessage, MessageId, Voice};
pub use close::CloseCode;
pub use codec::{DecodeError, Encoding, Limits};
pub use error::ErrorCode;
pub use server::{Clock, DimensionScore, EndReason, ErrorEvent, Expects, ServerMessage, TurnKind, TurnStatus};
pub use state::SessionState;

/// The WebSocket subprotocol of the JSON encoding (text frames).
pub const SUBPROTOCOL_JSON: &str = "viva.v1.json";
/// The WebSocket subprotocol of the MessagePack encoding (binary frames).
pub const SUBPROTOCOL_MSGPACK: &str = "viva.v1.msgpack";
