//! `viva-load`: records interviews from a Viva gateway and replays them against one at scale,
//! checking every event against the protocol and measuring latencies.
//!
//! The pieces, in the order data flows through them:
//!
//! - [`recording`]: the recording format (JSON lines of `{"t_ms", "message"}`, as
//!   `GET /v1/sessions/{id}/recording` serves it) and reading a directory of them.
//! - [`client`]: the transport to one gateway: REST calls and one session's WebSocket, with
//!   every wait bounded.
//! - [`checker`]: the protocol's invariants as a pure state machine over the server messages
//!   one client sees; it also tells the driver when the interviewer waits for an answer.
//! - [`session`]: drives one replayed session: sends the recording's messages on its
//!   schedule, answers only when asked, and times the answers.
//! - [`stats`]: HDR histograms of the latencies, the run's summary, and k6-style thresholds.
//! - [`replay`]: runs N sessions, C at a time, and aggregates them into the summary.
//!
//! The binary (`src/main.rs`) is the command line around these.

pub mod checker;
pub mod client;
pub mod recording;
pub mod replay;
pub mod session;
pub mod stats;

pub use client::Target;
pub use recording::Script;
pub use replay::{ReplayConfig, Timeouts};
pub use stats::{Summary, Threshold};
