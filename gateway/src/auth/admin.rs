//! The one rule of every `/v1/admin/*` route: without `--admin-token` the routes do not exist
//! (404, as any unknown path); with it, the caller must present it as
//! `Authorization: Bearer <token>`, or gets the 401 of any bad token. The comparison takes
//! the same time whatever the token presented (both are hashed first, then every byte of the
//! digests is compared).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::INVALID_TOKEN;
use crate::AppState;
use crate::error::AppError;

/// Proof that the caller holds the admin token.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.admin_token.as_deref() else { return Err(AppError::NotFound) };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        if same_secret(presented, expected) { Ok(Admin) } else { Err(INVALID_TOKEN) }
    }
}

/// Whether `a` and `b` are equal, in a time that depends on neither.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |differ, (x, y)| differ | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("s3cret-admin-token", "s3cret-admin-token"));
        for other in ["", "s3cret-admin-toke", "s3cret-admin-token ", "S3cret-admin-token"] {
            assert!(!same_secret(other, "s3cret-admin-token"), "{other:?}");
        }
    }
}
