//! Integration tests of the read side: commands through the command API, the
//! projector running, reads through the query API, on a real PostgreSQL.

mod cache;
mod fuzz;
mod hardening;
mod helpers;
mod listings;
mod reads;
mod replica;
