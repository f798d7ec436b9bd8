//! A PostgreSQL cluster of the test's own, and a streaming replica of it,
//! for what one shared test cluster cannot show: a server that crashes and
//! comes back, and a replica that lags (its replay paused) behind the primary.

use std::path::PathBuf;
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    /// fsync on: what a commit acknowledged survives even the machine's crash.
    durable: bool,
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

/// A scratch directory the postgres user owns (for clusters and dumps).
pub fn scratch(name: &str) -> PathBuf {
    let dir = crate::scratch(name);
    let _ = Command::new("chown").arg("postgres:postgres").arg(&dir).status();
    let _ = Command::new("chmod").arg("700").arg(&dir).status();
    dir
}

impl Cluster {
    /// A fresh primary on a free port (fsync off: fast, and enough for a
    /// server crash, which loses nothing the operating system was handed).
    pub fn primary() -> Self {
        Self::initialized(false)
    }

    /// A fresh primary with fsync on, as production runs.
    pub fn durable() -> Self {
        Self::initialized(true)
    }

    fn initialized(durable: bool) -> Self {
        let dir = scratch("primary");
        let d = dir.to_string_lossy().into_owned();
        run("initdb", &["-D", &d, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]);
        Self::started(dir, durable)
    }

    /// A streaming replica of this cluster, replaying as it goes.
    pub fn standby(&self) -> Self {
        let dir = scratch("standby");
        let d = dir.to_string_lossy().into_owned();
        let port = self.port.to_string();
        run("pg_basebackup", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D", &d, "-R", "-X", "stream", "-c", "fast"]);
        Self::started(dir, self.durable)
    }

    fn started(dir: PathBuf, durable: bool) -> Self {
        let cluster = Self { dir, port: crate::free_port(), durable };
        cluster.start();
        cluster
    }

    /// Starts the server (again) on its port.
    pub fn start(&self) {
        let (d, port) = (self.dir.to_string_lossy().into_owned(), self.port);
        let fsync = if self.durable { "on" } else { "off" };
        let options = format!("-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200");
        run("pg_ctl", &["-D", &d, "-l", &format!("{d}/server.log"), "-w", "-t", "60", "-o", &options, "start"]);
    }

    /// Crashes the server: `pg_ctl stop -m immediate` (no checkpoint, every
    /// connection cut, crash recovery at the next start).
    pub fn crash(&self) {
        let d = self.dir.to_string_lossy().into_owned();
        run("pg_ctl", &["-D", &d, "-m", "immediate", "-w", "stop"]);
    }

    /// Runs SQL through psql on database `db`.
    pub fn psql(&self, db: &str, sql: &str) {
        let port = self.port.to_string();
        run("psql", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qc", sql]);
    }

    /// Dumps database `db` (`pg_dump -Fc`) to `file`.
    pub fn dump(&self, db: &str, file: &std::path::Path) {
        let (port, f) = (self.port.to_string(), file.to_string_lossy().into_owned());
        run("pg_dump", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-Fc", "-f", &f, db]);
    }

    /// Creates database `db` and restores `file` (a `dump`) into it.
    pub fn restore(&self, db: &str, file: &std::path::Path) {
        let (port, f) = (self.port.to_string(), file.to_string_lossy().into_owned());
        run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", db]);
        run("pg_restore", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", db, "--exit-on-error", &f]);
    }

    /// Uses up about `n` transaction ids (subtransactions that write), as a
    /// cluster that has lived a while has.
    pub fn burn_transaction_ids(&self, db: &str, n: u32) {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS xid_burn (x int); \
             DO $$ BEGIN FOR i IN 1..{n} LOOP BEGIN INSERT INTO xid_burn VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$; \
             DROP TABLE xid_burn"
        );
        self.psql(db, &sql);
    }

    /// The URL of database `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn url(&self) -> String {
        self.url_of("postgres")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().into_owned();
        let _ = output("pg_ctl", &["-D", &d, "-m", "immediate", "-w", "stop"]);
        if std::env::var_os("SUNDAY_KEEP_TEST_CLUSTERS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
