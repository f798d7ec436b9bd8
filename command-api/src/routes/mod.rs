//! The command endpoints of api.md, one module per resource. Handlers only parse
//! the request into a domain command and hand it to `respond::execute`.

pub mod boards;
pub mod items;
pub mod me;
pub mod schema;
pub mod webhooks;
pub mod workspaces;

use axum::Router;
use axum::routing::{delete, patch, post, put};

use crate::AppState;

/// Every command route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces", post(workspaces::create))
        .route("/v1/workspaces/{id}", patch(workspaces::rename))
        .route("/v1/workspaces/{id}/members", post(workspaces::add_member))
        .route("/v1/workspaces/{id}/members/{user_id}", delete(workspaces::remove_member))
        .route("/v1/boards", post(boards::create))
        .route("/v1/boards/{id}", patch(boards::update))
        .route("/v1/boards/{id}/archive", post(boards::archive))
        .route("/v1/boards/{id}/columns", post(boards::add_column))
        .route("/v1/boards/{id}/columns/{column_id}", patch(boards::update_column).delete(boards::remove_column))
        .route("/v1/boards/{id}/groups", post(boards::add_group))
        .route("/v1/boards/{id}/members", post(boards::add_member))
        .route("/v1/boards/{id}/members/{user_id}", delete(boards::remove_member))
        .route("/v1/items", post(items::create))
        .route("/v1/items/{id}", put(items::update).delete(items::delete))
        .route("/v1/items/{id}/move", post(items::move_item))
        .route("/v1/items/{id}/assignees", post(items::assign))
        .route("/v1/items/{id}/assignees/{user_id}", delete(items::unassign))
        .route("/v1/items/{id}/comments", post(items::add_comment))
        .route("/v1/items/{id}/files", post(items::attach_file))
        .route("/v1/me", put(me::update))
        .route("/v1/workspaces/{id}/webhooks", post(webhooks::create))
        .route("/v1/webhooks/{id}", patch(webhooks::update).delete(webhooks::delete))
        .route("/v1/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/v1/webhooks/{id}/replay", post(webhooks::replay))
}

/// The client's id when given, else a fresh UUIDv7 (left out of the
/// command's fingerprint, so a create re-sent without an id is the same).
fn id_or_new(given: Option<String>) -> sunday_domain::NewId {
    sunday_domain::NewId::or_mint(given)
}
