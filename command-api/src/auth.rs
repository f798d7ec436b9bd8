//! The bearer-token extractor of the command API (tokens: `sunday_domain::token`),
//! which also takes the caller's token from its command rate limit.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
pub use sunday_domain::token::{Claims, Secret, mint, verify};
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub claims: Claims,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .ok_or_else(|| ApiError::Unauthorized("an Authorization: Bearer <JWT> header is required".into()))?;
        let now = chrono::Utc::now().timestamp();
        let claims = verify(&state.config.jwt_secret, token.trim(), now).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        // Before the body is even read: a limited command does nothing at all.
        state.limits.check(sunday_edge::Kind::Commands, claims.sub).map_err(ApiError::TooManyRequests)?;
        Ok(Caller { user_id: claims.sub, claims })
    }
}
