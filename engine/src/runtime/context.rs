//! What a session's task works with: the engine's configuration and providers, shared by
//! every task. Explicit, so that a task depends on these and not on the registry.

use std::sync::Arc;

use super::EngineConfig;
use super::minutes::Metering;
use super::voice::Speech;
use crate::EngineError;
use crate::core::{CoreConfig, SessionParams};
use crate::interviewer::Interviewer;
use crate::plan::PlanCatalog;
use crate::scorer::Scorer;
use crate::store::{SessionMeta, Store};
use crate::time::Clock;
use crate::webhook::Dispatch;

/// The providers and tunables of an engine.
pub(crate) struct Context {
    pub(crate) config: EngineConfig,
    pub(crate) plans: PlanCatalog,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) interviewer: Arc<dyn Interviewer>,
    pub(crate) scorer: Arc<dyn Scorer>,
    pub(crate) speech: Speech,
    pub(crate) metering: Option<Metering>,
    pub(crate) webhooks: Option<Dispatch>,
    pub(crate) clock: Clock,
    /// Dropped with the engine: stops following other nodes' notices.
    pub(crate) stop_notices: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Context {
    /// What a session's core needs, from its metadata: the one place it is built.
    pub(crate) fn session_params(&self, meta: &SessionMeta) -> Result<SessionParams, EngineError> {
        let plan = self.plans.get(&meta.plan_id).cloned().ok_or_else(|| {
            EngineError::Internal(format!("session `{}` names unknown plan `{}`", meta.session_id, meta.plan_id))
        })?;
        Ok(SessionParams {
            session_id: meta.session_id.clone(),
            user_id: meta.user_id.clone(),
            plan,
            candidate: meta.candidate.clone(),
            time_limit_ms: meta.time_limit_ms,
            scorer: self.scorer.name().to_owned(),
            voice: self.speech.offered(),
            config: CoreConfig {
                turn_context: if self.interviewer.reads_transcript() { self.config.core.turn_context } else { 0 },
                ..self.config.core.clone()
            },
        })
    }
}
