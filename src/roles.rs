//! Which roles one process runs, and how a process joins the others over
//! NATS (a named connection to any of a cluster's servers).

use anyhow::Context;

/// Connects to the NATS servers of a comma-separated list (the client
/// learns the rest of a cluster from any one of them, and moves to another
/// when its server is lost).
/// The connection is named `sunday-<roles>-<pid>`, as the server's `/connz` shows it.
pub(crate) async fn connect_nats(urls: &str, roles: Roles) -> anyhow::Result<async_nats::Client> {
    let servers: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    let name = format!("sunday-{}-{}", roles.name(), std::process::id());
    let options = async_nats::ConnectOptions::new().name(name).connection_timeout(std::time::Duration::from_secs(2));
    options.connect(servers).await.with_context(|| format!("connecting to NATS at {urls}"))
}

/// Which roles one process runs.
#[derive(Clone, Copy)]
pub(crate) struct Roles {
    pub(crate) commands: bool,
    pub(crate) projector: bool,
    pub(crate) queries: bool,
    pub(crate) gateway: bool,
    pub(crate) webhooks: bool,
}

impl Roles {
    pub(crate) const ALL: Self = Self { commands: true, projector: true, queries: true, gateway: true, webhooks: true };
    pub(crate) const NONE: Self = Self { commands: false, projector: false, queries: false, gateway: false, webhooks: false };

    /// The subcommand that runs these roles.
    fn name(self) -> &'static str {
        match (self.commands, self.projector, self.queries, self.gateway, self.webhooks) {
            (true, true, true, true, true) => "all",
            (true, false, false, false, false) => "command-api",
            (false, true, false, false, false) => "projector",
            (false, false, true, false, false) => "query-api",
            (false, false, false, true, false) => "gateway",
            (false, false, false, false, true) => "webhooks",
            _ => "roles",
        }
    }
}
