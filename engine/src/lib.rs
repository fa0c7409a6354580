//! Viva's session engine.
//!
//! - [`core`]: one interview as a sans-IO state machine (no clock, no tasks, no sockets).
//! - [`runtime`]: the [`Engine`]: a registry of live sessions, one tokio task each, and the
//!   library API drivers call (`create_session`, `connect`, `view`, `report`, ...).
//! - Providers behind traits, each with an embedded default: [`interviewer`] (scripted),
//!   [`scorer`] (heuristic), [`store`] (in memory).
//! - [`resume`]: résumé text (normalized, cut to the limit, the skills it names), stored per
//!   user and used by default for new sessions.
//! - [`plan`] and [`rubric`]: interview plans as data, and the pure text analysis both the core
//!   (to choose follow-ups) and the heuristic scorer use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), viva_engine::EngineError> {
//! use viva_engine::core::UserId;
//! use viva_engine::{Engine, Next};
//! use viva_protocol::ClientMessage;
//!
//! let engine = Engine::builder().build();
//! let alice = UserId::new("alice");
//! let session = engine.create_session(&alice, "senior-backend", Default::default()).await?;
//! let mut connection = engine.connect(&alice, &session.session_id, None).await?;
//! connection.send(ClientMessage::SessionStart { id: None, voice: None }).await?;
//! while let Next::Message(event) = connection.next().await {
//!     println!("{event:?}");
//! #   break;
//! }
//! # Ok(()) }
//! ```

pub mod core;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod interviewer;
pub mod llm;
pub mod meter;
pub mod plan;
pub mod progress;
pub mod resume;
mod retry;
pub mod rubric;
mod runtime;
pub mod scorer;
pub mod store;
pub mod time;
pub mod voice;
pub mod webhook;

pub use runtime::{
    AudioRecordings, Connection, Engine, EngineBuilder, EngineConfig, ExportSessions, Metering, Next, Page,
    ResumeUpload, SessionAccess, Speech, plan_summary,
};

use store::StoreError;

/// Why an engine call failed, classified for drivers: each class maps to one HTTP status and
/// one socket close (the gateway's `error.rs`); drivers never look at a store's own errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// No such session, or not the caller's.
    #[error("not found")]
    NotFound,
    /// No such plan.
    #[error("unknown plan `{0}`")]
    UnknownPlan(String),
    /// A request the engine cannot take as it is.
    #[error("{0}")]
    BadRequest(String),
    /// Not there yet (e.g. the report before `report.ready`).
    #[error("not ready yet")]
    NotReady,
    /// The store cannot be reached; retry shortly.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// The engine cannot serve this right now; retry shortly.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A quota of the caller's is used up (e.g. sessions created per hour); retry after the
    /// wait.
    #[error("{message}")]
    RateLimited {
        /// What was refused and why.
        message: String,
        /// When a retry can succeed.
        retry_after: std::time::Duration,
    },
    /// This engine runs as many sessions as it may (`EngineConfig::max_loaded_sessions`):
    /// try again after the wait (elsewhere, behind a balancer).
    #[error("at capacity: this node runs as many sessions as it may")]
    AtCapacity {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// Another owner (a newer load, maybe on another node) took the session.
    #[error("the session moved to another owner")]
    Moved,
    /// A bug or data that cannot be read; the detail is for the logs.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Self::StoreUnavailable(detail),
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Fenced { .. } => Self::Moved,
            StoreError::OutOfOrder { .. } | StoreError::Corrupt(_) => Self::Internal(error.to_string()),
        }
    }
}
