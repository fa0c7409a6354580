//! Résumé files over REST: `PUT /v1/me/resume` (the file as the body: PDF, DOCX, Markdown or
//! plain text, at most 2 MiB), `GET /v1/me/resume`, `DELETE /v1/me/resume`.
//!
//! - [`extract`]: a file's bytes → normalized text (pure; run only in the child).
//! - [`child`]: the child process with resource limits that runs it (the gateway binary runs
//!   itself), and the parent's side.
//!
//! The engine keeps the text per user (`Engine::put_resume`), cut to its résumé limit, and uses
//! it as `candidate.resume_text` for sessions created without one.

pub mod child;
pub mod extract;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use viva_engine::ResumeUpload;
use viva_protocol::rest::{ResumeUploaded, ResumeView};

use self::child::ExtractError;
use self::extract::Kind;
use crate::AppState;
use crate::auth::User;
use crate::error::AppError;

/// Largest résumé file taken, in bytes (2 MiB); one byte more is a 413.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Longest file name kept, in characters.
const MAX_FILE_NAME_CHARS: usize = 200;

/// `PUT /v1/me/resume`: the body is the file, its `Content-Type` says what it is → 200
/// [`ResumeUploaded`]; 415 for another type, 413 over 2 MiB, 422 when its text cannot be read.
pub async fn put(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResumeUploaded>, AppError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let kind = Kind::of_content_type(content_type).ok_or_else(|| {
        AppError::UnsupportedMediaType(format!(
            "a résumé is sent as its file with its Content-Type: {}, {}, {} or {} (UTF-8); got `{:.80}`",
            Kind::Pdf.media_type(),
            Kind::Docx.media_type(),
            Kind::Markdown.media_type(),
            Kind::Text.media_type(),
            content_type
        ))
    })?;
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::TooLarge(format!("a résumé file is at most {MAX_FILE_BYTES} bytes (2 MiB)"))
        }
        _ => AppError::BadRequest(e.body_text()),
    })?;
    if bytes.is_empty() {
        return Err(AppError::UnreadableResume("the file is empty".into()));
    }
    let extracted = state.resume.extract(kind, &bytes).await.map_err(|error| match error {
        ExtractError::Unreadable(message) => AppError::UnreadableResume(message),
        ExtractError::Unavailable(message) => AppError::Unavailable(message),
    })?;
    let upload = ResumeUpload {
        text: extracted.text,
        truncated: extracted.truncated,
        file_name: file_name(&headers),
        media_type: kind.media_type().to_owned(),
        size_bytes: bytes.len() as u64,
    };
    Ok(Json(state.engine.put_resume(&user.0, upload).await?))
}

/// `GET /v1/me/resume` → the kept résumé's text, skills and file; 404 when none is kept.
pub async fn get(State(state): State<AppState>, user: User) -> Result<Json<ResumeView>, AppError> {
    state.engine.resume(&user.0).await?.map(Json).ok_or(AppError::NotFound)
}

/// `DELETE /v1/me/resume` → 204, whether or not one was kept (idempotent: a retry after a lost
/// answer succeeds too).
pub async fn delete(State(state): State<AppState>, user: User) -> Result<StatusCode, AppError> {
    state.engine.delete_resume(&user.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The file's name from `Content-Disposition` (`filename*=UTF-8''...` or `filename="..."`):
/// its last path segment, without control characters, at most 200 characters; `resume` when
/// none is given.
fn file_name(headers: &HeaderMap) -> String {
    let disposition =
        headers.get(header::CONTENT_DISPOSITION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let name = disposition.as_deref().and_then(disposition_file_name).unwrap_or_default();
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = name.chars().filter(|c| !c.is_control()).take(MAX_FILE_NAME_CHARS).collect();
    let name = name.trim();
    if name.is_empty() { "resume".to_owned() } else { name.to_owned() }
}

fn disposition_file_name(disposition: &str) -> Option<String> {
    let parameters: Vec<(String, &str)> = disposition
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
        .collect();
    let extended = parameters.iter().find(|(name, _)| name == "filename*").and_then(|(_, value)| {
        let (charset, rest) = value.split_once('\'')?;
        let (_, encoded) = rest.split_once('\'')?;
        charset.eq_ignore_ascii_case("utf-8").then(|| percent_decode(encoded))
    });
    extended.or_else(|| {
        parameters.iter().find(|(name, _)| name == "filename").map(|(_, value)| {
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            value.replace("\\\"", "\"")
        })
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn named(disposition: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(disposition).unwrap());
        file_name(&headers)
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name(&HeaderMap::new()), "resume");
        assert_eq!(named(r#"attachment; filename="cv.pdf""#), "cv.pdf");
        assert_eq!(named("attachment; filename=cv.md"), "cv.md");
        assert_eq!(named("attachment; filename=\"x.pdf\"; filename*=UTF-8''Jos%C3%A9%20CV.pdf"), "José CV.pdf");
        assert_eq!(named(r#"attachment; filename="../../etc/passwd""#), "passwd");
        assert_eq!(named(r#"attachment; filename="C:\docs\cv.docx""#), "cv.docx");
        assert_eq!(named("attachment; filename*=UTF-8''%"), "%");
        assert_eq!(named("attachment"), "resume");
    }
}
