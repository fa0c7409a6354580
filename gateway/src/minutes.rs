//! Minutes over REST (`--metering minutes`): the caller's balance and ledger, and the admin's
//! credits. With metering off these answer 404.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use viva_engine::core::UserId;
use viva_engine::meter::MAX_PAGE;
use viva_protocol::object::Object;
use viva_protocol::rest::{CreditRequest, Credited, Usage};

use crate::AppState;
use crate::auth::admin::Admin;
use crate::auth::{User, valid_user_id};
use crate::error::{AppError, PathParams, json_body_refused};

/// `?cursor=&limit=`: the one way lists page.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ListQuery {
    /// The previous page's `next_cursor`; none for the first page.
    cursor: Option<String>,
    /// Items on the page at most (50 when absent).
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_PAGE))]
    limit: Option<String>,
}

/// The `{user}` of the admin's user routes.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct UserPath {
    /// The user's id, as their tokens name them: 1 to 255 printable ASCII characters, no
    /// space or braces.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[!-z|~]+$"))]
    user: String,
}

impl ListQuery {
    /// The page asked for: `limit` 1 to [`MAX_PAGE`] (50 when absent).
    fn page(query: Result<Query<Self>, QueryRejection>) -> Result<(Option<String>, usize), AppError> {
        let Query(query) = query.map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
        let limit = match query.limit {
            None => 50,
            Some(limit) => match limit.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => return Err(AppError::BadRequest(format!("`limit` must be a whole number from 1 to {MAX_PAGE}"))),
            },
        };
        Ok((query.cursor, limit))
    }
}

/// `GET /v1/me/usage`: the caller's balance, holds and a page of their ledger.
pub async fn my_usage(
    State(state): State<AppState>,
    user: User,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Usage>, AppError> {
    let (cursor, limit) = ListQuery::page(query)?;
    Ok(Json(state.engine.usage(&user.0, cursor.as_deref(), limit).await?))
}

/// `GET /v1/admin/users/{user}/usage`.
pub async fn user_usage(
    State(state): State<AppState>,
    _: Admin,
    PathParams(UserPath { user }): PathParams<UserPath>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Usage>, AppError> {
    let user = user_id(&user)?;
    let (cursor, limit) = ListQuery::page(query)?;
    Ok(Json(state.engine.usage(&user, cursor.as_deref(), limit).await?))
}

/// `POST /v1/admin/users/{user}/credits {seconds, idempotency_key, reason?}` → 201 with the
/// balance; the same key again answers the same (200, `duplicate: true`) and adds nothing.
pub async fn credit(
    State(state): State<AppState>,
    _: Admin,
    PathParams(UserPath { user }): PathParams<UserPath>,
    body: Result<Json<Object<CreditRequest>>, JsonRejection>,
) -> Result<(StatusCode, Json<Credited>), AppError> {
    let user = user_id(&user)?;
    let Json(Object(credit)) = body.map_err(|e| json_body_refused("bad credit", &e))?;
    let credited = state.engine.credit(&user, &credit).await?;
    let status = if credited.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(credited)))
}

fn user_id(user: &str) -> Result<UserId, AppError> {
    if valid_user_id(user) {
        Ok(UserId::new(user))
    } else {
        Err(AppError::BadRequest("not a user id: 1 to 255 printable ASCII characters, no space or braces".into()))
    }
}
