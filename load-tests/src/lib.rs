//! `viva-load`: records interviews from a Viva gateway and replays them against one at scale,
//! checking every event against the protocol and measuring latencies.
//!
//! The pieces, in the order data flows through them:
//!
//! - [`recording`]: the recording format (JSON lines of `{"t_ms", "message"}`, as
//!   `GET /v1/sessions/{id}/recording` serves it) and reading a directory of them.
//! - [`client`]: the transport to one gateway: REST calls and one session's WebSocket, with
//!   every wait bounded.
//! - the protocol checker is `viva_protocol::checker` (shared with the gateway's tests and the
//!   examples): the invariants over what one client sees; it also tells the driver when the
//!   interviewer waits for an answer.
//! - [`session`]: drives one replayed session: sends the recording's messages on its
//!   schedule, answers only when asked, and times the answers.
//! - [`series`]: the run's throughput per second (events, bytes, answers, live sessions),
//!   counted by each session on its own and merged as sessions finish.
//! - [`stats`]: HDR histograms of the latencies, the run's summary, and k6-style thresholds.
//! - [`replay`]: runs N sessions, C at a time, and aggregates them into the summary.
//! - [`hold`]: opens N sessions that wait for an answer and measures the gateway's memory
//!   per idle session.
//! - [`net`]: the client sockets' source addresses (spread over 127.0.0.0/8 for a loopback
//!   target) and the open-file limit.
//! - [`baseline`]: a bare WebSocket server sending Viva's frames on Viva's schedule with no
//!   engine, the yardstick for the engine's cost.
//! - [`provider`]: a paced OpenAI-format server: chat completions (streamed turns, JSON
//!   scores), the LLM for load runs of `--interviewer llm` and `--scorer llm`, and speech
//!   (transcriptions, PCM speech) for `--stt openai` and `--tts openai`.
//! - [`voice`]: spoken answers for `replay --voice`: espeak-ng speech of each answer's text,
//!   cached, resampled to 16 kHz.
//! - [`report`]: the run as one self-contained HTML page and standalone SVG plots, drawn by
//!   [`chart`] (hand-written SVG: axes, ticks, lines, bars).
//!
//! The binary (`src/main.rs`) is the command line around these.

pub mod baseline;
pub mod chart;
pub mod client;
pub mod hold;
pub mod net;
pub mod provider;
pub mod recording;
pub mod replay;
pub mod report;
pub mod series;
pub mod session;
pub mod stats;
pub mod voice;

pub use client::Target;
pub use recording::Script;
pub use replay::{ReplayConfig, Timeouts};
pub use stats::{Summary, Threshold};
