//! Test support for faults across processes: PostgreSQL clusters of a
//! test's own (`postgres`: start, crash, restart, a streaming replica), NATS
//! servers and clusters (`nats`), a TCP proxy that can be cut (`proxy`), and
//! the read models' canonical checksum (`read_models`).
//! Tests only; nothing here is part of Sunday.

pub mod nats;
pub mod postgres;
pub mod proxy;
pub mod read_models;

/// A TCP port on 127.0.0.1 that nothing listens on now, below Linux's
/// ephemeral range (32768-60999): a port the kernel handed out for a bind to
/// port 0 may next be taken by any outgoing connection, and a server started
/// on it later would fail to bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (uuid::Uuid::now_v7().as_u128() % 20_000) as u32;
    for _ in 0..20_000 {
        let port = 12_000 + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 20_000;
        let port = u16::try_from(port).unwrap_or(12_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 12000 and 32000")
}

/// A fresh directory under the system's temporary one.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sunday-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}
