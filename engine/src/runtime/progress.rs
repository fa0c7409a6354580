//! A user's progress across sessions (`GET /v1/me/progress`) and adaptive practice: served
//! from the user's progress record (a summary per finished session, which each session's
//! driver writes once its report is durable), never from the sessions' logs. A read repairs
//! the record: a session in the user's index whose summary is missing (its driver crashed or
//! the store failed between the report and the record) is loaded and added, a few per read;
//! an entry whose session left the index (expired under retention) is dropped.

use std::collections::HashSet;

use viva_protocol::rest;

use super::Engine;
use crate::EngineError;
use crate::core::{Candidate, SessionId, UserId};
use crate::progress::{self, SessionProgress};
use crate::store::SessionMeta;

/// Sessions missing from a progress record loaded per read to repair it (newest first), so
/// that a read costs a bounded number of loads however many sessions a user never finished.
const REPAIR_PER_READ: usize = 8;

impl Engine {
    /// The user's progress across their finished sessions.
    pub async fn progress(&self, user_id: &UserId) -> Result<rest::Progress, EngineError> {
        let record = self.progress_record(user_id).await?;
        Ok(progress::progress(&record, &self.ctx.plans))
    }

    /// Creates an adaptive session: like [`Engine::create_session`], with the user's recurring
    /// weaknesses on this plan as the candidate's focus (kept with the session's metadata).
    pub async fn create_adaptive_session(
        &self,
        user_id: &UserId,
        plan_id: &str,
        mut candidate: Candidate,
    ) -> Result<SessionMeta, EngineError> {
        let plan = self.ctx.plans.get(plan_id).ok_or_else(|| EngineError::UnknownPlan(plan_id.to_owned()))?;
        let record = self.progress_record(user_id).await?;
        candidate.focus = progress::focus(&record, plan);
        self.create_session(user_id, plan_id, candidate).await
    }

    /// The user's progress record, repaired (see the module's doc).
    pub(crate) async fn progress_record(&self, user_id: &UserId) -> Result<Vec<SessionProgress>, EngineError> {
        let store = &self.ctx.store;
        let listed = store.user_sessions(user_id).await?;
        let mut record = store.progress(user_id).await?;
        let indexed: HashSet<&SessionId> = listed.ids().collect();
        let gone: Vec<SessionId> =
            record.iter().filter(|s| !indexed.contains(&s.session_id)).map(|s| s.session_id.clone()).collect();
        if !gone.is_empty() {
            store.forget_progress(user_id, &gone).await?;
            record.retain(|s| indexed.contains(&s.session_id));
        }
        let kept: HashSet<SessionId> = record.iter().map(|s| s.session_id.clone()).collect();
        // Loading is read-only (no epoch is taken: a session running anywhere goes on), and a
        // summary exists only once the report is durable; writing it again is harmless.
        let missing = listed.metas.iter().filter(|m| !kept.contains(&m.session_id)).take(REPAIR_PER_READ);
        for meta in missing {
            let session = match self.restore(user_id, &meta.session_id).await {
                Ok((session, _)) => session,
                Err(EngineError::NotFound) => continue,
                Err(EngineError::Internal(error)) => {
                    tracing::warn!(session = %meta.session_id, %error, "unreadable session left out of progress");
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(summary) = SessionProgress::of(&meta.session_id, session.state()) else { continue };
            if store.put_progress(user_id, &summary).await? {
                tracing::info!(session = %meta.session_id, "progress record repaired");
                record.push(summary);
            }
        }
        Ok(record)
    }
}
