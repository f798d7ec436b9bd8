//! The chaos topology: a durable PostgreSQL and a streaming replica of it,
//! a three-node NATS JetStream cluster on loopback (the event stream kept on
//! all three), and the real binary as eight processes, two of each role,
//! each with its own address and log file; `query-b` reads from the replica. Processes can be killed (`kill -9`), stopped and continued
//! (`SIGSTOP`/`SIGCONT`) and started again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use sunday_testkit::nats::NatsServer;
use sunday_testkit::postgres::Cluster;

use crate::client;
use crate::common::{SECRET, free_addr};

/// One `sunday <role>` process.
pub(crate) struct Proc {
    pub(crate) name: &'static str,
    role: &'static str,
    pub(crate) addr: SocketAddr,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(env!("CARGO_BIN_EXE_sunday"))
            .arg(self.role)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("SUNDAY_LISTEN", self.addr.to_string())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting sunday {}: {e}", self.role));
        self.child = Some(child);
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `STOP`, `CONT`, ... to the process.
    pub(crate) fn signal(&self, name: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([format!("-{name}"), pid.to_string()]).status();
        }
    }

    /// Starts it again if it is not running.
    pub(crate) fn ensure_running(&mut self) {
        if self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some()) {
            self.spawn();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

pub(crate) struct Topology {
    pub(crate) procs: Vec<Proc>,
    pub(crate) nats: Vec<NatsServer>,
    pub(crate) pg: Cluster,
    pub(crate) replica: Cluster,
    pub(crate) database_url: String,
    pub(crate) dir: PathBuf,
}

/// How far behind the replica `query-b` reads may be before it answers 503.
pub(crate) const REPLICA_MAX_LAG_MS: u64 = 2000;

/// The processes: two of each role.
const PROCS: [(&str, &str); 8] = [
    ("command-a", "command-api"),
    ("command-b", "command-api"),
    ("projector-a", "projector"),
    ("projector-b", "projector"),
    ("query-a", "query-api"),
    ("query-b", "query-api"),
    ("gateway-a", "gateway"),
    ("gateway-b", "gateway"),
];

impl Topology {
    pub(crate) async fn start() -> Self {
        let pg = Cluster::durable();
        pg.psql("postgres", "CREATE DATABASE sunday");
        let database_url = pg.url_of("sunday");
        let nats = NatsServer::cluster();
        let urls: Vec<String> = nats.iter().map(NatsServer::url).collect();
        let dir = sunday_testkit::scratch("chaos");
        let env = vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("SUNDAY_JWT_SECRET".to_owned(), SECRET.to_owned()),
            ("SUNDAY_NATS_URL".to_owned(), urls.join(",")),
            ("SUNDAY_NATS_REPLICAS".to_owned(), "3".to_owned()),
            ("SUNDAY_DB_MAX_CONNECTIONS".to_owned(), "8".to_owned()),
            ("SUNDAY_RATE_COMMANDS".to_owned(), "0".to_owned()),
            ("SUNDAY_RATE_READS".to_owned(), "0".to_owned()),
            ("SUNDAY_LOG".to_owned(), "info,sqlx=warn,async_nats=warn".to_owned()),
        ];
        let migrate =
            Command::new(env!("CARGO_BIN_EXE_sunday")).arg("migrate").env("DATABASE_URL", &database_url).env("SUNDAY_LOG", "warn").status();
        assert!(migrate.is_ok_and(|s| s.success()), "sunday migrate");
        let replica = pg.standby();
        let on_replica = [
            ("DATABASE_READ_URL".to_owned(), replica.url_of("sunday")),
            ("SUNDAY_REPLICA_MAX_LAG_MS".to_owned(), REPLICA_MAX_LAG_MS.to_string()),
        ];
        let procs = PROCS
            .iter()
            .map(|(name, role)| {
                let mut env = env.clone();
                if *name == "query-b" {
                    env.extend(on_replica.iter().cloned());
                }
                Proc { name, role, addr: free_addr(), env, log: dir.join(format!("{name}.log")), child: None }
            })
            .collect();
        let mut topology = Self { procs, nats, pg, replica, database_url, dir };
        for p in &mut topology.procs {
            p.spawn();
        }
        topology.heal().await;
        topology.assert_stream_replicas(3).await;
        topology
    }

    /// The publisher made the event stream keep `n` copies (`SUNDAY_NATS_REPLICAS`).
    async fn assert_stream_replicas(&self, n: usize) {
        let client = async_nats::connect(self.nats[0].url()).await.unwrap_or_else(|e| panic!("{e}"));
        let js = async_nats::jetstream::new(client);
        for _ in 0..100 {
            if let Ok(stream) = js.get_stream("SUNDAY_EVENTS").await
                && stream.cached_info().config.num_replicas == n
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the event stream does not keep {n} copies");
    }

    pub(crate) fn proc(&mut self, name: &str) -> &mut Proc {
        self.procs.iter_mut().find(|p| p.name == name).unwrap_or_else(|| panic!("no process {name}"))
    }

    /// The addresses of a role's processes (`command-`, `query-`, `gateway-`).
    pub(crate) fn addrs(&self, prefix: &str) -> Vec<SocketAddr> {
        self.procs.iter().filter(|p| p.name.starts_with(prefix)).map(|p| p.addr).collect()
    }

    /// Starts whatever is down again (processes, NATS nodes) and waits until
    /// every process answers `/readyz` with 200.
    pub(crate) async fn heal(&mut self) {
        for p in &mut self.procs {
            p.signal("CONT");
            p.ensure_running();
        }
        for n in &mut self.nats {
            n.ensure_running();
        }
        for p in &self.procs {
            if !client::ready_within(p.addr, Duration::from_secs(90)).await {
                let why = client::readyz(p.addr).await.map(|a| a.body);
                panic!("{} never became ready: {why:?} (log: {})", p.name, self.dir.join(format!("{}.log", p.name)).display());
            }
        }
    }

    /// The projector process leading `task` (`projector`, `publisher`).
    pub(crate) async fn leader(&self, task: &str) -> Option<&'static str> {
        for p in self.procs.iter().filter(|p| p.name.starts_with("projector-")) {
            if let Some(a) = client::readyz(p.addr).await
                && a.body["leading"][task] == Value::Bool(true)
            {
                return Some(p.name);
            }
        }
        None
    }

    /// The NATS node the process with `pid` is connected to (from `/connz`).
    pub(crate) async fn nats_node_of(&self, pid: u32) -> Option<usize> {
        let suffix = format!("-{pid}");
        for (i, n) in self.nats.iter().enumerate() {
            let addr: SocketAddr = ([127, 0, 0, 1], n.monitor_port).into();
            let Some(a) = client::send(addr, "", hyper::Method::GET, "/connz", None, &[], Duration::from_secs(2)).await else { continue };
            let conns = a.body["connections"].as_array().cloned().unwrap_or_default();
            if conns.iter().any(|c| c["name"].as_str().is_some_and(|name| name.ends_with(&suffix))) {
                return Some(i);
            }
        }
        None
    }
}
