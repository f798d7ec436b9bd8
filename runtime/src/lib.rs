//! How Sunday's long-running tasks live. Every loop that follows the log or a
//! connection runs under `Tasks::supervise`: an error is logged, the task
//! waits a capped exponential backoff and starts again (re-electing where it
//! leads, resuming from its checkpoint), and its state shows in `/readyz`
//! and in `/metrics` while it is down. Elected roles hold their leadership
//! through `leader::Leadership`, which notices a lost lock connection.
//!
//! What every role reports about itself lives here too: timings of database
//! work (`stats`) and trace context carried across the log (`telemetry`).

pub mod leader;
pub mod stats;
mod tasks;
pub mod telemetry;

pub use leader::Leadership;
pub use tasks::{Backoff, State, Task, TaskReport, Tasks};
