//! NATS servers of a test's own (JetStream on, storage in a scratch
//! directory), which it may kill and start again, alone or as a cluster.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// One nats-server process.
pub struct NatsServer {
    pub port: u16,
    /// The HTTP monitoring port (`/connz` lists the clients by name).
    pub monitor_port: u16,
    cluster_port: u16,
    dir: PathBuf,
    routes: Vec<u16>,
    name: String,
    child: Option<Child>,
}

fn binary() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

impl NatsServer {
    /// A single server.
    pub fn start() -> Self {
        Self::node("solo", Vec::new(), 0)
    }

    /// A three-node JetStream cluster on loopback.
    pub fn cluster() -> Vec<Self> {
        let cluster_ports: Vec<u16> = (0..3).map(|_| crate::free_port()).collect();
        (0..3).map(|i| Self::node(&format!("n{i}"), cluster_ports.clone(), cluster_ports[i])).collect()
    }

    fn node(name: &str, routes: Vec<u16>, cluster_port: u16) -> Self {
        let mut server = Self {
            port: crate::free_port(),
            monitor_port: crate::free_port(),
            cluster_port,
            dir: crate::scratch("nats"),
            routes,
            name: name.to_owned(),
            child: None,
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let mut command = Command::new(binary());
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"]).arg(&self.dir).args([
            "-n",
            &self.name,
            "-m",
            &self.monitor_port.to_string(),
        ]);
        if self.cluster_port != 0 {
            let routes: Vec<String> =
                self.routes.iter().filter(|p| **p != self.cluster_port).map(|p| format!("nats://127.0.0.1:{p}")).collect();
            command.args([
                "--cluster_name",
                "sunday",
                "--cluster",
                &format!("nats://127.0.0.1:{}", self.cluster_port),
                "--routes",
                &routes.join(","),
            ]);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("nats-server: {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again (same port and storage) if it was killed.
    pub fn ensure_running(&mut self) {
        if self.child.is_none() {
            self.run();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
