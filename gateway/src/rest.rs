//! The REST endpoints: thin translations between HTTP and engine calls.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use viva_protocol::object::Object;
use viva_protocol::rest::{
    CreateSession, Events, MySessions, Plans, Progress, Recording, Report, SessionCreated, SessionView, SocketTicket,
};

use crate::AppState;
use viva_engine::core::{AnswerId, SessionId};
use viva_engine::{EngineError, Page};

use crate::auth::User;
use crate::error::{AppError, PathParams, json_body_refused};

/// The `{id}` of a session's routes.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionPath {
    /// The session's id (`session_id` of `POST /v1/sessions`).
    #[schemars(with = "String")]
    id: SessionId,
}

/// `POST /v1/sessions` → 201.
pub async fn create_session(
    State(state): State<AppState>,
    user: User,
    body: Result<Json<Object<CreateSession>>, JsonRejection>,
) -> Result<(StatusCode, Json<SessionCreated>), AppError> {
    let Json(Object(body)) = body.map_err(|e| json_body_refused("", &e))?;
    state.node.refuse_if_draining()?;
    let candidate = body.candidate.unwrap_or_default().into();
    let meta = match body.adapt {
        true => state.engine.create_adaptive_session(&user.0, &body.plan, candidate).await?,
        false => state.engine.create_session(&user.0, &body.plan, candidate).await?,
    };
    let plan = state.engine.plans().get(&meta.plan_id).ok_or(AppError::Internal("plan vanished".into()))?;
    let created = SessionCreated {
        ws_path: format!("/v1/sessions/{}/ws", meta.session_id),
        session_id: meta.session_id.into_string(),
        plan: viva_engine::plan_summary(plan),
        created_at: meta.created_at.0,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/sessions/{id}`: status, transcript with every answer's text, scores.
pub async fn session(
    State(state): State<AppState>,
    user: User,
    PathParams(SessionPath { id: session_id }): PathParams<SessionPath>,
) -> Result<Json<SessionView>, AppError> {
    Ok(Json(state.engine.view(&user.0, &session_id).await?))
}

/// `GET /v1/sessions/{id}/report`: 200 from `report.ready` on, 409 before.
pub async fn report(
    State(state): State<AppState>,
    user: User,
    PathParams(SessionPath { id: session_id }): PathParams<SessionPath>,
) -> Result<Json<Report>, AppError> {
    Ok(Json(state.engine.report(&user.0, &session_id).await?))
}

/// `POST /v1/sessions/{id}/ticket`: a single-use credential for the session's WebSocket.
pub async fn ticket(
    State(state): State<AppState>,
    user: User,
    PathParams(SessionPath { id: session_id }): PathParams<SessionPath>,
) -> Result<Json<SocketTicket>, AppError> {
    state.engine.authorize(&user.0, &session_id).await?;
    let ticket = state.tickets.issue(&user.0, &session_id, state.engine.now()).await.map_err(EngineError::from)?;
    Ok(Json(SocketTicket { ticket, expires_in_s: state.tickets.ttl().as_secs() }))
}

/// `GET /v1/sessions/{id}/events`: the session's durable event log.
pub async fn events(
    State(state): State<AppState>,
    user: User,
    PathParams(SessionPath { id: session_id }): PathParams<SessionPath>,
) -> Result<Json<Events>, AppError> {
    let events = state.engine.events(&user.0, &session_id).await?;
    Ok(Json(Events { session_id: session_id.into_string(), events }))
}

/// `GET /v1/sessions/{id}/recording`: what the candidate's client sent, with times, as JSON
/// lines (`application/x-ndjson`, one `{"t_ms", "message"}` per line), ready to replay.
pub async fn recording(
    State(state): State<AppState>,
    user: User,
    PathParams(SessionPath { id: session_id }): PathParams<SessionPath>,
) -> Result<Response, AppError> {
    let messages = state.engine.recording(&user.0, &session_id).await?;
    let mut body = Vec::with_capacity(messages.len() * 128);
    for (t_ms, message) in messages {
        serde_json::to_writer(&mut body, &Recording { t_ms, message })
            .map_err(|e| AppError::Internal(e.to_string()))?;
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// The path of an answer's audio.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnswerPath {
    /// The session's id.
    #[schemars(with = "String")]
    id: SessionId,
    /// The answer's id (`answer_id` of its `answer.received`).
    #[schemars(with = "u32")]
    answer_id: String,
}

/// `GET /v1/sessions/{id}/answers/{answer_id}/audio`: a spoken answer's audio as a WAV file
/// (PCM16 mono 16 kHz), to the session's owner, when `--audio-recordings on` kept it; 404
/// otherwise.
pub async fn answer_audio(
    State(state): State<AppState>,
    user: User,
    PathParams(AnswerPath { id: session_id, answer_id }): PathParams<AnswerPath>,
) -> Result<Response, AppError> {
    // Not a number: no such answer (the JSON error of every REST 404, not axum's text).
    let answer_id = answer_id.parse().map(AnswerId).map_err(|_| AppError::NotFound)?;
    let wav = state.engine.answer_audio(&user.0, &session_id, answer_id).await?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

/// `GET /v1/me/export`: everything stored about the caller, as JSON (an `Export`), streamed
/// session by session: memory and time to first byte do not grow with the number of
/// sessions. A store failure after the first byte ends the body early (the JSON is then
/// incomplete, which a client cannot mistake for a whole export).
pub async fn export(State(state): State<AppState>, user: User) -> Result<Response, AppError> {
    let export = state.engine.export_sessions(&user.0).await?;
    let head = format!(
        r#"{{"user_id":{},"exported_at":{},"sessions":["#,
        serde_json::to_string(user.0.as_str()).unwrap_or_default(),
        export.exported_at
    );
    // Each step yields one piece: the head, a session (after a comma but for the first),
    // then the tail with the sessions that could not be read.
    enum Step {
        Head(String),
        Sessions { first: bool },
        Done,
    }
    let pieces = futures::stream::unfold((Step::Head(head), export), |(step, mut export)| async move {
        match step {
            Step::Head(head) => Some((Ok(head.into_bytes()), (Step::Sessions { first: true }, export))),
            Step::Sessions { first } => match export.next().await {
                Some(Ok(session)) => {
                    let mut piece = if first { Vec::new() } else { b",".to_vec() };
                    piece.extend(serde_json::to_vec(&session).unwrap_or_default());
                    Some((Ok(piece), (Step::Sessions { first: false }, export)))
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "export cut short");
                    Some((Err(std::io::Error::other(error.to_string())), (Step::Done, export)))
                }
                None => {
                    let unreadable = serde_json::to_string(export.unreadable()).unwrap_or_default();
                    // What the user has besides sessions: absent fields when none is kept.
                    let extras = async {
                        let minutes = extra("minutes", export.minutes().await)?;
                        let progress = extra("progress", export.progress().await)?;
                        let resume = extra("resume", export.resume().await)?;
                        Ok::<_, EngineError>(format!("{minutes}{progress}{resume}"))
                    };
                    match extras.await {
                        Ok(extras) => {
                            let tail = format!(r#"],"unreadable":{unreadable}{extras}}}"#);
                            Some((Ok(tail.into_bytes()), (Step::Done, export)))
                        }
                        Err(error) => {
                            tracing::warn!(%error, "export cut short");
                            Some((Err(std::io::Error::other(error.to_string())), (Step::Done, export)))
                        }
                    }
                }
            },
            Step::Done => None,
        }
    });
    let headers = [(header::CONTENT_TYPE, "application/json")];
    Ok((headers, axum::body::Body::from_stream(pieces)).into_response())
}

/// `,"<name>":<value as JSON>` for the export's tail, or nothing when there is no value.
fn extra<T: serde::Serialize>(name: &str, value: Result<Option<T>, EngineError>) -> Result<String, EngineError> {
    Ok(value?.map(|v| format!(r#","{name}":{}"#, serde_json::to_string(&v).unwrap_or_default())).unwrap_or_default())
}

/// `GET /v1/me/progress`: the caller's progress across their finished sessions.
pub async fn my_progress(State(state): State<AppState>, user: User) -> Result<Json<Progress>, AppError> {
    Ok(Json(state.engine.progress(&user.0).await?))
}

/// `DELETE /v1/me`: deletes everything stored about the caller → 204.
pub async fn delete_me(State(state): State<AppState>, user: User) -> Result<StatusCode, AppError> {
    let deleted = state.engine.delete_user(&user.0).await?;
    tracing::info!(sessions = deleted, "user data deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/plans`.
pub async fn plans(State(state): State<AppState>) -> Json<Plans> {
    Json(Plans { plans: state.engine.plans().iter().map(|p| viva_engine::plan_summary(p)).collect() })
}

/// `?cursor=&limit=` of `GET /v1/me/sessions`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PageQuery {
    /// The previous page's `next_cursor`; none for the first page.
    cursor: Option<String>,
    /// Sessions on the page at most (50 when absent).
    #[schemars(with = "Option<u32>", range(min = 1, max = Page::MAX_LIMIT))]
    limit: Option<String>,
}

/// `GET /v1/me/sessions`: one page of the caller's sessions, newest first.
pub async fn my_sessions(
    State(state): State<AppState>,
    user: User,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MySessions>, AppError> {
    let Query(page) = page.map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
    let limit = match page.limit {
        None => Page::DEFAULT_LIMIT,
        Some(limit) => limit.parse().map_err(|_| {
            AppError::BadRequest(format!("`limit` must be a whole number from 1 to {}", Page::MAX_LIMIT))
        })?,
    };
    Ok(Json(state.engine.sessions_of(&user.0, Page { cursor: page.cursor, limit }).await?))
}

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
}

/// The body of `GET /readyz` when ready.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready`.
    status: &'static str,
    /// The store's kind: `memory` or `redis`.
    store: String,
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: the process can serve (its store answers).
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, AppError> {
    // A draining node says so, so that the balancer sends it nothing new.
    state.node.refuse_if_draining()?;
    let store = state.engine.store();
    match store.ping().await {
        Ok(()) => Ok(Json(Readiness { status: "ready", store: store.name().to_owned() })),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            Err(AppError::Unavailable(format!("store `{}` unavailable", store.name())))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<String, AppError> {
    let handle = state.metrics.as_ref().ok_or(AppError::NotFound)?;
    metrics::gauge!("viva_sockets_open").set(state.sockets.len() as f64);
    if let Some(bytes) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
    Ok(handle.render())
}

/// The process's resident memory (`VmRSS` in `/proc/self/status`; Linux only), so memory per
/// session can be read off `/metrics` (`viva-load hold`).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Any other path.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// A known path with the wrong method.
pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
