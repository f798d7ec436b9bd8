//! Integration tests of the command API against a real PostgreSQL (one fresh
//! database per test, made by `#[sqlx::test]`).

mod commands;
mod concurrency;
mod errors;
mod fingerprints;
mod fuzz;
mod guards;
mod hardening;
mod helpers;
mod idempotency;
mod instances;
mod webhooks;
