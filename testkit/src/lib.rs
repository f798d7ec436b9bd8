//! Test support for faults across processes: PostgreSQL clusters of a
//! test's own (`postgres`: start, crash, restart, a streaming replica), NATS
//! servers and clusters (`nats`), and a TCP proxy that can be cut (`proxy`).
//! Tests only; nothing here is part of Sunday.

pub mod nats;
pub mod postgres;
pub mod proxy;

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh directory under the system's temporary one.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sunday-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}
