//! A PostgreSQL cluster of the test's own, and a streaming replica of it,
//! for what one shared test cluster cannot show: reads from a replica that
//! lags (its replay paused) behind the primary the projector writes.

use std::path::PathBuf;
use std::process::Command;

pub(crate) struct Cluster {
    dir: PathBuf,
    pub(crate) port: u16,
}

/// The PostgreSQL binaries `ops/test` installed (the newest version).
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|e| e.path()).collect();
    versions.sort();
    versions.last().map(|v| v.join("bin").join(name)).unwrap_or_else(|| panic!("no PostgreSQL under /usr/lib/postgresql"))
}

/// Runs a PostgreSQL tool, as the postgres user when we are root.
fn run(tool: &str, args: &[&str]) {
    let out = output(tool, args);
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn output(tool: &str, args: &[&str]) -> std::process::Output {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    let tool = bin(tool);
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&tool);
        c
    } else {
        Command::new(&tool)
    };
    command.args(args).output().unwrap_or_else(|e| panic!("{}: {e}", tool.display()))
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sunday-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = Command::new("chown").arg("postgres:postgres").arg(&dir).status();
    let _ = Command::new("chmod").arg("700").arg(&dir).status();
    dir
}

impl Cluster {
    /// A fresh primary on a free port.
    pub(crate) fn primary() -> Self {
        let dir = scratch("primary");
        let d = dir.to_string_lossy().into_owned();
        run("initdb", &["-D", &d, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]);
        Self::started(dir)
    }

    /// A streaming replica of this cluster, replaying as it goes.
    pub(crate) fn standby(&self) -> Self {
        let dir = scratch("standby");
        let d = dir.to_string_lossy().into_owned();
        let port = self.port.to_string();
        run("pg_basebackup", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D", &d, "-R", "-X", "stream"]);
        Self::started(dir)
    }

    fn started(dir: PathBuf) -> Self {
        let port = free_port();
        let d = dir.to_string_lossy().into_owned();
        let options = format!("-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100");
        run("pg_ctl", &["-D", &d, "-l", &format!("{d}/server.log"), "-w", "-t", "60", "-o", &options, "start"]);
        Self { dir, port }
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().into_owned();
        let _ = output("pg_ctl", &["-D", &d, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
