//! The realtime gateway end to end: real WebSocket clients against the whole
//! system on a real PostgreSQL (and a real NATS for the JetStream cases).

mod changes;
mod delivery;
mod fuzz;
mod hardening;
mod helpers;
mod nats;
mod tracing;
mod updates;
