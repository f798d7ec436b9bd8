//! The bearer-token extractor of the command API (tokens: `sunday_edge::token`),
//! which also takes the caller's token from its command rate limit.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sunday_edge::token::Claims;
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
        let token = sunday_edge::token::bearer(&parts.headers);
        let now = chrono::Utc::now().timestamp();
        let claims = sunday_edge::token::authenticate(&state.config.jwt_secret, token, sunday_edge::token::NO_TOKEN, now)?;
        // Before the body is even read: a limited command does nothing at all.
        state.limits.check(sunday_edge::Kind::Commands, claims.sub).map_err(ApiError::TooManyRequests)?;
        Ok(Caller { user_id: claims.sub, claims })
    }
}
