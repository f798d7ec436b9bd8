//! Sunday's domain model, free of I/O.
//!
//! Commands are decided against aggregate state folded from events:
//! `decide(state, command) -> Decision` and `evolve(state, event)`. Everything here
//! is a pure function; identifiers, clocks and storage live at the edges, which
//! hand them in. The event-store port (`store`) is a trait the adapters implement.

pub mod about;
pub mod board;
pub mod board_commands;
pub mod columns;
pub mod decision;
pub mod error;
pub mod events;
pub mod item;
pub mod item_commands;
pub mod profile;
pub mod rank;
pub mod roles;
pub mod store;
pub mod text;
pub mod webhook;
mod webhook_events;
pub mod workspace;

pub use decision::{Ctx, Decision, NewId, Origin};
pub use error::{DomainError, FieldError};
pub use events::DomainEvent;
