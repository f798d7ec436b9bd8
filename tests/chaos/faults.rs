//! The faults the suite injects, one at a time and then mixed, and how each
//! one ends (the part that is not the system's own doing: a stopped process
//! continued, a crashed PostgreSQL started again).

use std::time::Duration;

use crate::topology::Topology;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    KillLeadingProjector,
    KillCommandApi,
    KillGateway,
    KillNatsNode,
    KillPublishersNatsNode,
    StopLeadingProjector,
    CrashPostgres,
    /// The replica `query-b` reads from crashes, and starts again after 3 s.
    CrashReplica,
    /// The replica stops replaying for 5 s (the primary goes on).
    PauseReplica,
    /// PostgreSQL crashes while a command API, a gateway and the leading
    /// projector are killed and a NATS node is lost.
    Mixed,
}

impl Fault {
    pub(crate) const SINGLE: [Fault; 9] = [
        Fault::KillLeadingProjector,
        Fault::KillCommandApi,
        Fault::KillGateway,
        Fault::KillNatsNode,
        Fault::KillPublishersNatsNode,
        Fault::StopLeadingProjector,
        Fault::CrashPostgres,
        Fault::CrashReplica,
        Fault::PauseReplica,
    ];

    /// A short name, for `ops/chaos <key>` (`SUNDAY_CHAOS_ONLY`).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Fault::KillLeadingProjector => "kill-projector",
            Fault::KillCommandApi => "kill-command-api",
            Fault::KillGateway => "kill-gateway",
            Fault::KillNatsNode => "kill-nats-node",
            Fault::KillPublishersNatsNode => "kill-publishers-nats-node",
            Fault::StopLeadingProjector => "stop-projector",
            Fault::CrashPostgres => "crash-postgres",
            Fault::CrashReplica => "crash-replica",
            Fault::PauseReplica => "pause-replica",
            Fault::Mixed => "mixed",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::KillLeadingProjector => "`kill -9` of the leading projector",
            Fault::KillCommandApi => "`kill -9` of a command API mid-request",
            Fault::KillGateway => "`kill -9` of a gateway (its sockets move to the other)",
            Fault::KillNatsNode => "`kill -9` of a NATS node",
            Fault::KillPublishersNatsNode => "`kill -9` of the publisher's NATS node",
            Fault::StopLeadingProjector => "`SIGSTOP` of the leading projector for 10 s",
            Fault::CrashPostgres => "PostgreSQL crash (`pg_ctl stop -m immediate`), started again after 2 s",
            Fault::CrashReplica => "the read replica crashes (one query API reads from it), started again after 3 s",
            Fault::PauseReplica => "the read replica stops replaying for 5 s",
            Fault::Mixed => "mixed: PostgreSQL crash + a command API, a gateway, the leading projector and a NATS node killed",
        }
    }

    /// Injects the fault; how long until `heal` must be called, if ever.
    pub(crate) async fn inject(self, t: &mut Topology) -> Option<Duration> {
        match self {
            Fault::KillLeadingProjector => kill_leader(t).await,
            Fault::KillCommandApi => t.proc("command-a").kill(),
            Fault::KillGateway => t.proc("gateway-a").kill(),
            Fault::KillNatsNode => {
                let publisher = publishers_node(t).await;
                let other = (0..t.nats.len()).find(|i| Some(*i) != publisher).unwrap_or(0);
                t.nats[other].kill();
            }
            Fault::KillPublishersNatsNode => {
                let node = publishers_node(t).await.unwrap_or_else(|| panic!("no NATS node holds the publisher's connection"));
                t.nats[node].kill();
            }
            Fault::StopLeadingProjector => {
                let leader = t.leader("projector").await.unwrap_or_else(|| panic!("no projector leads"));
                t.proc(leader).signal("STOP");
                return Some(Duration::from_secs(10));
            }
            Fault::CrashPostgres => {
                t.pg.crash();
                return Some(Duration::from_secs(2));
            }
            Fault::CrashReplica => {
                t.replica.crash();
                return Some(Duration::from_secs(3));
            }
            Fault::PauseReplica => {
                t.replica.psql("postgres", "SELECT pg_wal_replay_pause()");
                return Some(Duration::from_secs(5));
            }
            Fault::Mixed => {
                t.proc("command-b").kill();
                t.proc("gateway-b").kill();
                kill_leader(t).await;
                t.nats[0].kill();
                t.pg.crash();
                return Some(Duration::from_secs(3));
            }
        }
        None
    }

    /// Ends what the fault does not end by itself.
    pub(crate) fn heal(self, t: &mut Topology) {
        match self {
            Fault::StopLeadingProjector => {
                for p in &t.procs {
                    p.signal("CONT");
                }
            }
            Fault::CrashPostgres | Fault::Mixed => t.pg.start(),
            Fault::CrashReplica => t.replica.start(),
            Fault::PauseReplica => t.replica.psql("postgres", "SELECT pg_wal_replay_resume()"),
            _ => {}
        }
    }
}

impl Fault {
    /// When reads from the replica must be refused rather than old (the
    /// replica paused longer than its allowed lag, with a second's margin
    /// for the polls that notice it).
    pub(crate) fn refuses_stale_after(self) -> Option<Duration> {
        let lag = Duration::from_millis(crate::topology::REPLICA_MAX_LAG_MS);
        matches!(self, Fault::PauseReplica).then(|| lag + Duration::from_secs(1))
    }
}

async fn kill_leader(t: &mut Topology) {
    let leader = t.leader("projector").await.unwrap_or_else(|| panic!("no projector leads"));
    t.proc(leader).kill();
}

/// The NATS node the leading publisher is connected to.
async fn publishers_node(t: &Topology) -> Option<usize> {
    let leader = t.leader("publisher").await?;
    let pid = t.procs.iter().find(|p| p.name == leader)?.pid()?;
    t.nats_node_of(pid).await
}
