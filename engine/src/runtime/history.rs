//! What a user has: their sessions page by page, the export of everything, deletion. Each
//! costs one read of every session's metadata (one round trip on Redis) and then a full load
//! only of the sessions it returns: a page's, or the export's one at a time, so that neither
//! the time to first byte nor the memory grows with the number of sessions a user has. A
//! session whose data cannot be read is reported by id, never a reason to fail the rest.

use std::collections::VecDeque;

use tokio::sync::oneshot;
use viva_protocol::rest::{
    AnswerRecording, Export, ExportedMinutes, ExportedSession, MySessions, Progress, SessionSummary,
};

use super::Engine;
use super::command::Command;
use crate::EngineError;
use crate::core::{SessionId, UserId};
use crate::store::{Notice, SessionMeta};

/// Which page of a user's sessions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Where the previous page ended (its `next_cursor`); `None` for the first page.
    pub cursor: Option<String>,
    /// Most sessions on the page (1 to [`Page::MAX_LIMIT`]).
    pub limit: usize,
}

impl Page {
    /// Sessions on a page unless asked otherwise.
    pub const DEFAULT_LIMIT: usize = 50;
    /// Most sessions on one page.
    pub const MAX_LIMIT: usize = 200;
}

impl Default for Page {
    fn default() -> Self {
        Self { cursor: None, limit: Self::DEFAULT_LIMIT }
    }
}

/// Where a page ends: the last session's creation time and id (the order is newest first by
/// creation time, then id). Opaque to clients.
fn cursor_of(meta: &SessionMeta) -> String {
    format!("{}.{}", meta.created_at.0, meta.session_id)
}

/// Whether `meta` comes after the cursor `(created_at, id)` in the listing order.
fn after_cursor(meta: &SessionMeta, cursor: &(u64, String)) -> bool {
    (meta.created_at.0, meta.session_id.as_str()) < (cursor.0, cursor.1.as_str())
}

fn parse_cursor(cursor: &str) -> Result<(u64, String), EngineError> {
    let bad = || EngineError::BadRequest(format!("`cursor` is not a cursor this server gave: {:.40}", cursor));
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// A user's export, session by session (see [`Engine::export_sessions`]).
pub struct ExportSessions {
    engine: Engine,
    user_id: UserId,
    /// Still to export, newest first.
    pending: VecDeque<SessionMeta>,
    unreadable: Vec<String>,
    /// When the export began, milliseconds since the Unix epoch.
    pub exported_at: u64,
}

impl ExportSessions {
    /// The next session, fully loaded; `None` when all are done. A session that cannot be
    /// read is added to [`ExportSessions::unreadable`] and skipped; one deleted or expired
    /// meanwhile is skipped. An error means the store failed: the export cannot be completed.
    pub async fn next(&mut self) -> Option<Result<ExportedSession, EngineError>> {
        while let Some(meta) = self.pending.pop_front() {
            match self.engine.restore(&self.user_id, &meta.session_id).await {
                Ok((session, meta)) => {
                    let kept = match self.engine.kept_audio(&session).await {
                        Ok(kept) => kept,
                        Err(error) => return Some(Err(error)),
                    };
                    let recordings = kept
                        .into_iter()
                        .map(|(answer_id, stored_bytes)| AnswerRecording {
                            answer_id: answer_id.0,
                            stored_bytes,
                            audio_path: format!("/v1/sessions/{}/answers/{}/audio", meta.session_id, answer_id.0),
                        })
                        .collect();
                    return Some(Ok(ExportedSession {
                        session: self.engine.view_of(&session, &meta),
                        candidate: meta.candidate.to_rest(),
                        report: session.state().report.as_ref().map(|r| r.to_rest()),
                        recordings,
                    }));
                }
                Err(EngineError::NotFound) => continue,
                Err(EngineError::Internal(error)) => {
                    tracing::warn!(session = %meta.session_id, %error, "unreadable session left out of an export");
                    self.unreadable.push(meta.session_id.into_string());
                }
                Err(error) => return Some(Err(error)),
            }
        }
        None
    }

    /// The user's minutes and whole ledger (`None` when minutes are not metered).
    pub async fn minutes(&self) -> Result<Option<ExportedMinutes>, EngineError> {
        self.engine.exported_minutes(&self.user_id).await
    }

    /// The user's progress record, as `GET /v1/me/progress` shows it (`None` when it holds no
    /// session).
    pub async fn progress(&self) -> Result<Option<Progress>, EngineError> {
        let progress = self.engine.progress(&self.user_id).await?;
        Ok((progress.sessions > 0).then_some(progress))
    }

    /// The user's résumé (`None` when none is kept).
    pub async fn resume(&self) -> Result<Option<viva_protocol::rest::ResumeView>, EngineError> {
        self.engine.resume(&self.user_id).await
    }

    /// Sessions that could not be read, so far (all of them once `next` returned `None`).
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }
}

impl Engine {
    /// One page of a user's sessions, newest first (see [`Page`]).
    pub async fn sessions_of(&self, user_id: &UserId, page: Page) -> Result<MySessions, EngineError> {
        if !(1..=Page::MAX_LIMIT).contains(&page.limit) {
            return Err(EngineError::BadRequest(format!("`limit` must be from 1 to {}", Page::MAX_LIMIT)));
        }
        let cursor = page.cursor.as_deref().map(parse_cursor).transpose()?;
        let listed = self.ctx.store.user_sessions(user_id).await?;
        let mut rest = listed.metas.into_iter().filter(|m| cursor.as_ref().is_none_or(|c| after_cursor(m, c)));
        let on_page: Vec<SessionMeta> = rest.by_ref().take(page.limit).collect();
        let next_cursor = match rest.next() {
            Some(_) => on_page.last().map(cursor_of),
            None => None,
        };
        // Unreadable metadata has no creation time to page by: reported with the first page.
        let mut unreadable: Vec<String> = match cursor {
            None => listed.unreadable.into_iter().map(SessionId::into_string).collect(),
            Some(_) => Vec::new(),
        };
        let mut sessions = Vec::with_capacity(on_page.len());
        for meta in on_page {
            let (session, meta) = match self.restore(user_id, &meta.session_id).await {
                Ok(found) => found,
                // Deleted or expired since it was listed.
                Err(EngineError::NotFound) => continue,
                Err(EngineError::Internal(error)) => {
                    tracing::warn!(session = %meta.session_id, %error, "unreadable session in a listing");
                    unreadable.push(meta.session_id.into_string());
                    continue;
                }
                Err(error) => return Err(error),
            };
            let state = session.wire_state(self.ctx.clock.now());
            sessions.push(SessionSummary {
                session_id: meta.session_id.into_string(),
                plan_id: meta.plan_id,
                status: state.status,
                created_at: meta.created_at.0,
                overall: state.scores.overall,
                answers: session.state().last_answer.0 as usize,
            });
        }
        Ok(MySessions { items: sessions, next_cursor, unreadable })
    }

    /// Everything stored about a user, machine-readable, to be taken session by session:
    /// every session with its candidate profile, transcript (answers and code), scores and
    /// report; then their minutes and résumé ([`ExportSessions::minutes`],
    /// [`ExportSessions::resume`]). Only one session is loaded at a time.
    pub async fn export_sessions(&self, user_id: &UserId) -> Result<ExportSessions, EngineError> {
        let listed = self.ctx.store.user_sessions(user_id).await?;
        Ok(ExportSessions {
            engine: self.clone(),
            user_id: user_id.clone(),
            pending: listed.metas.into(),
            unreadable: listed.unreadable.into_iter().map(SessionId::into_string).collect(),
            exported_at: self.ctx.clock.now().0,
        })
    }

    /// The whole export in memory (for embedders with few sessions per user; the gateway
    /// streams [`Engine::export_sessions`] instead).
    pub async fn export(&self, user_id: &UserId) -> Result<Export, EngineError> {
        let mut export = self.export_sessions(user_id).await?;
        let mut sessions = Vec::new();
        while let Some(session) = export.next().await {
            sessions.push(session?);
        }
        Ok(Export {
            user_id: user_id.to_string(),
            exported_at: export.exported_at,
            sessions,
            progress: export.progress().await?,
            unreadable: export.unreadable,
            minutes: self.exported_minutes(user_id).await?,
            resume: self.resume(user_id).await?,
        })
    }

    /// Deletes everything stored about a user. Their live sessions stop first (their clients
    /// are closed with 4010), so nothing is written after the deletion. Returns how many
    /// sessions were deleted.
    pub async fn delete_user(&self, user_id: &UserId) -> Result<usize, EngineError> {
        let listed = self.ctx.store.user_sessions(user_id).await?;
        for session_id in listed.ids() {
            let Some(handle) = self.registry.get(session_id) else {
                continue;
            };
            let (done, finished) = oneshot::channel();
            if handle.commands.send(Command::Delete { done }).await.is_ok() {
                let _ = finished.await;
            }
        }
        let deleted = self.ctx.store.delete_user(user_id).await?;
        self.delete_minutes(user_id).await?;
        // Other nodes running one of them close its socket (4010) at once.
        for session_id in &deleted {
            let notice = Notice::Deleted { session_id: session_id.clone() };
            if let Err(error) = self.ctx.store.announce(&notice).await {
                tracing::warn!(session = %session_id, %error, "cannot announce a deletion; its owner stops at its next write");
            }
        }
        Ok(deleted.len())
    }
}
