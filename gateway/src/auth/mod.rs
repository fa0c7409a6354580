//! Who is calling: `Authorization: Bearer <token>` on REST and on the WebSocket handshake, or
//! a single-use ticket (`?ticket=`, see [`ticket`]) on the handshake, for browsers.
//!
//! `--auth dev` takes `dev:<user>` tokens (user: see [`valid_user_id`]); it is for local
//! development and tests only, so the gateway refuses to listen on a non-loopback address
//! with it (see `config`). `--auth jwt` verifies an identity provider's JWTs (see [`jwt`]).

pub mod admin;
pub mod jwt;
pub mod ticket;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use viva_engine::core::UserId;

use crate::AppState;
use crate::error::AppError;

/// How tokens are checked.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `dev:<user>` tokens, loopback only.
    Dev,
    /// JWTs verified against a JWKS.
    Jwt(Arc<jwt::JwtVerifier>),
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User(pub UserId);

impl AuthMode {
    /// The user a bearer token names, if the token is valid.
    pub async fn verify(&self, token: &str) -> Option<User> {
        match self {
            Self::Dev => verify_dev(token),
            Self::Jwt(verifier) => verifier.verify(token).await,
        }
    }
}

fn verify_dev(token: &str) -> Option<User> {
    let user = token.strip_prefix("dev:")?;
    valid_user_id(user).then(|| User(UserId::new(user)))
}

/// Whether `user` may be a user id (a dev token's or a JWT's `sub`): 1–255 characters
/// (OpenID Connect's bound on `sub`) of printable ASCII, no space, no `{` or `}`. That takes
/// the identity providers' subjects as they are (Clerk `user_2abc...`, Auth0 `auth0|123`,
/// `google-oauth2|123`, `samlp|corp|ann@example.com`, UUIDs, ...). Braces are refused: the
/// Redis store puts the id in a key's hash tag (`viva:{u:<user>}:sessions`), which a brace
/// would cut short.
pub fn valid_user_id(user: &str) -> bool {
    (1..=255).contains(&user.len()) && user.bytes().all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
}

impl FromRequestParts<AppState> for User {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        bearer(&parts.headers, state).await
    }
}

/// The caller named by the `Authorization: Bearer <token>` header.
pub async fn bearer(headers: &HeaderMap, state: &AppState) -> Result<User, AppError> {
    let header = headers.get(header::AUTHORIZATION).ok_or(AppError::Unauthorized("missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthorized("expected `Authorization: Bearer <token>`"))?;
    state.auth.verify(token.trim()).await.ok_or(INVALID_TOKEN)
}

/// The one refusal of a credential that was presented but is not good (bad or expired token,
/// used or foreign ticket), so that a caller learns nothing about why.
pub const INVALID_TOKEN: AppError = AppError::Unauthorized("invalid token");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_tokens() {
        let cases = [
            ("dev:alice", Some("alice")),
            ("dev:a-b_C9", Some("a-b_C9")),
            ("dev:auth0|64f1c2", Some("auth0|64f1c2")),
            ("dev:samlp|corp|ann@example.com", Some("samlp|corp|ann@example.com")),
            ("dev:", None),
            ("alice", None),
            ("dev:al ice", None),
            ("dev:al\tice", None),
            ("dev:al\u{7f}ice", None),
            ("dev:ålice", None),
            ("dev:a{b", None),
            ("dev:a}b", None),
        ];
        for (token, user) in cases {
            assert_eq!(verify_dev(token).map(|u| u.0), user.map(UserId::new), "{token}");
        }
        assert!(verify_dev(&format!("dev:{}", "a".repeat(255))).is_some());
        assert!(verify_dev(&format!("dev:{}", "a".repeat(256))).is_none());
    }
}
