//! The one place where failures become HTTP responses (`{"error": {"code", "message"}}` with
//! the right status) and where the engine's errors become socket closes. Internal details go
//! to the logs, never to the client.

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use viva_engine::EngineError;
use viva_protocol::rest::{ApiError, ApiErrorBody};
use viva_protocol::{CloseCode, ErrorCode};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing or bad credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No such resource, or not the caller's.
    #[error("not found")]
    NotFound,
    /// A malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// A request body over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// A known path with the wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A WebSocket handshake for a version other than 13 (RFC 6455 section 4.4): 426 with
    /// `Sec-WebSocket-Version: 13`.
    #[error("unsupported WebSocket version")]
    WebSocketVersion,
    /// Not ready yet.
    #[error("{0}")]
    NotReady(&'static str),
    /// Too many requests of this kind; retry later (after `retry_after_s` when known).
    #[error("{message}")]
    TooManyRequests {
        /// Why.
        message: String,
        /// The `Retry-After` header, in seconds.
        retry_after_s: Option<u64>,
    },
    /// This node runs as many sessions as it may: 503 `at_capacity` with `Retry-After`.
    #[error("at capacity")]
    AtCapacity {
        /// The `Retry-After` header, in seconds.
        retry_after_s: u64,
    },
    /// Refused whoever the caller is (e.g. a WebSocket from a foreign web origin).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Cannot serve it right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a broken dependency; the message is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// A request body of a media type the route does not take: 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A résumé file whose text cannot be read: 422 `unreadable_resume`, saying why.
    #[error("{0}")]
    UnreadableResume(String),
}

impl AppError {
    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        match self {
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, (*m).to_owned()),
            Self::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found".to_owned()),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, m.clone()),
            Self::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadRequest, m.clone()),
            Self::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::BadRequest, "method not allowed on this path".to_owned())
            }
            Self::WebSocketVersion => (
                StatusCode::UPGRADE_REQUIRED,
                ErrorCode::BadRequest,
                "only WebSocket version 13 is spoken here: send Sec-WebSocket-Version: 13".to_owned(),
            ),
            Self::NotReady(m) => (StatusCode::CONFLICT, ErrorCode::NotReady, (*m).to_owned()),
            Self::TooManyRequests { message, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, message.clone())
            }
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, (*m).to_owned()),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, m.clone()),
            Self::AtCapacity { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::AtCapacity,
                "this server runs as many interviews as it may; try again shortly".to_owned(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error; see the server logs".to_owned(),
            ),
            Self::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType, m.clone())
            }
            Self::UnreadableResume(m) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::UnreadableResume, m.clone()),
        }
    }
}

/// A JSON body the route could not take: 413 over the body limit, 400 otherwise (malformed,
/// not the route's shape, not JSON). `what` names the body in the message ("bad credit: ...").
pub fn json_body_refused(what: &str, rejection: &axum::extract::rejection::JsonRejection) -> AppError {
    let message = match what {
        "" => rejection.body_text(),
        what => format!("{what}: {}", rejection.body_text()),
    };
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge(message),
        _ => AppError::BadRequest(message),
    }
}

impl From<EngineError> for AppError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::NotFound => Self::NotFound,
            EngineError::UnknownPlan(plan) => Self::BadRequest(format!("unknown plan `{plan}`; see GET /v1/plans")),
            EngineError::BadRequest(message) => Self::BadRequest(message),
            EngineError::NotReady => Self::NotReady("the report is not ready yet; wait for report.ready"),
            EngineError::StoreUnavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                Self::Unavailable("the store is unavailable; retry shortly".to_owned())
            }
            EngineError::Unavailable(message) => Self::Unavailable(message),
            EngineError::Moved => Self::Unavailable("the session moved; retry shortly".to_owned()),
            EngineError::AtCapacity { retry_after } => Self::AtCapacity { retry_after_s: retry_after.as_secs().max(1) },
            EngineError::RateLimited { message, retry_after } => {
                // Whole seconds, rounded up: a retry at the given time succeeds.
                Self::TooManyRequests { message, retry_after_s: Some(retry_after.as_millis().div_ceil(1000) as u64) }
            }
            EngineError::Internal(detail) => Self::Internal(detail),
        }
    }
}

/// A route's path parameters, as axum's [`Path`], but refused as every REST 404 is (JSON), not
/// with axum's text 400: the only parameter it can refuse is one not UTF-8 once
/// percent-decoded (every parameter is a string), which names no session, answer, user, node
/// or file.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(params)) => Ok(Self(params)),
            Err(rejection) => {
                tracing::debug!(%rejection, "path parameters refused");
                Err(AppError::NotFound)
            }
        }
    }
}

/// How a socket that was upgraded but could not be attached is told so: the error it gets
/// (fatal) and the close that follows.
pub fn socket_refusal(error: &EngineError) -> (ErrorCode, CloseCode) {
    match error {
        EngineError::NotFound => (ErrorCode::NotFound, CloseCode::Deleted),
        EngineError::StoreUnavailable(_) => (ErrorCode::StoreUnavailable, CloseCode::InternalError),
        EngineError::Moved => (ErrorCode::Unavailable, CloseCode::Moved),
        EngineError::AtCapacity { .. } => (ErrorCode::AtCapacity, CloseCode::AtCapacity),
        EngineError::UnknownPlan(_)
        | EngineError::BadRequest(_)
        | EngineError::NotReady
        | EngineError::RateLimited { .. }
        | EngineError::Unavailable(_)
        | EngineError::Internal(_) => (ErrorCode::Unavailable, CloseCode::InternalError),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let (status, code, message) = self.parts();
        let mut response = (status, Json(ApiError { error: ApiErrorBody { code, message } })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::WebSocketVersion = self {
            response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        if let Self::TooManyRequests { retry_after_s: Some(seconds), .. }
        | Self::AtCapacity { retry_after_s: seconds } = self
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
