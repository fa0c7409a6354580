//! A user's résumé: kept per user (not per session), cut to the engine's résumé limit when it
//! is put, its skills read against every plan when it is shown, and used as the candidate's
//! `resume_text` by sessions created without one (`Engine::create_session`).

use viva_protocol::rest::{ResumeUploaded, ResumeView};

use super::Engine;
use crate::EngineError;
use crate::core::UserId;
use crate::resume::{self, Resume};

/// A résumé to keep: its text, already extracted from the file and normalized
/// ([`resume::normalize`]), and what the file was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeUpload {
    /// The text.
    pub text: String,
    /// Whether the text was already cut before it came here (an extractor's own cap).
    pub truncated: bool,
    /// The file's name.
    pub file_name: String,
    /// The file's media type.
    pub media_type: String,
    /// The file's size in bytes.
    pub size_bytes: u64,
}

impl Engine {
    /// Keeps `upload` as the user's résumé, replacing any earlier one: its text cut at a
    /// sentence boundary to `EngineConfig::max_resume_bytes` (the answer says whether it was).
    /// Text with nothing in it is a `BadRequest`.
    pub async fn put_resume(&self, user_id: &UserId, upload: ResumeUpload) -> Result<ResumeUploaded, EngineError> {
        if upload.text.trim().is_empty() {
            return Err(EngineError::BadRequest("the résumé has no text".into()));
        }
        let (text, cut) = resume::cut_at_sentence(&upload.text, self.ctx.config.max_resume_bytes);
        let kept = Resume {
            text: text.to_owned(),
            truncated: cut || upload.truncated,
            file_name: upload.file_name,
            media_type: upload.media_type,
            size_bytes: upload.size_bytes,
            uploaded_at: self.ctx.clock.now(),
        };
        self.ctx.store.put_resume(user_id, &kept).await?;
        let view = self.resume_view(kept);
        Ok(ResumeUploaded {
            chars: view.chars,
            truncated: view.truncated,
            skills: view.skills,
            file_name: view.file_name,
            media_type: view.media_type,
            size_bytes: view.size_bytes,
            uploaded_at: view.uploaded_at,
        })
    }

    /// The user's résumé with the skills it names (across every plan), if one is kept.
    pub async fn resume(&self, user_id: &UserId) -> Result<Option<ResumeView>, EngineError> {
        Ok(self.ctx.store.resume(user_id).await?.map(|kept| self.resume_view(kept)))
    }

    /// Removes the user's résumé: whether there was one.
    pub async fn delete_resume(&self, user_id: &UserId) -> Result<bool, EngineError> {
        Ok(self.ctx.store.delete_resume(user_id).await?)
    }

    /// The text a session created for the user without a résumé of its own gets: the kept
    /// résumé's, within today's limit.
    pub(super) async fn default_resume_text(&self, user_id: &UserId) -> Result<Option<String>, EngineError> {
        let kept = self.ctx.store.resume(user_id).await?;
        Ok(kept.map(|kept| resume::cut_at_sentence(&kept.text, self.ctx.config.max_resume_bytes).0.to_owned()))
    }

    fn resume_view(&self, kept: Resume) -> ResumeView {
        ResumeView {
            chars: kept.text.chars().count(),
            skills: resume::skills(&kept.text, self.ctx.plans.iter().map(|plan| plan.as_ref())),
            text: kept.text,
            truncated: kept.truncated,
            file_name: kept.file_name,
            media_type: kept.media_type,
            size_bytes: kept.size_bytes,
            uploaded_at: kept.uploaded_at.0,
        }
    }
}
