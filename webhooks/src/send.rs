//! One attempt: `POST <url>` with the Standard Webhooks headers, no
//! redirects, a deadline, and only to addresses the policy allows (checked
//! on every connection by the resolver, and for a URL that names an IP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::AddressPolicy;
use crate::secret::signature;

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A `2xx` within the deadline.
    Delivered(u16),
    /// `410 Gone`: the endpoint wants nothing more.
    Gone,
    /// Anything else: the status, if the endpoint answered, and why.
    Failed { status: Option<u16>, error: String },
}

/// What one attempt sends.
pub struct Attempt<'a> {
    pub url: &'a str,
    pub message_id: String,
    pub secret: [u8; 32],
    pub body: Vec<u8>,
}

/// The HTTP client of the dispatcher (one per process: it pools connections).
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

/// Resolves names as the system does, and keeps only allowed addresses.
struct PolicyResolver(AddressPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err("the host resolves to no address webhooks may call".into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl Sender {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        // TLS through rustls on ring (already built for NATS); the first
        // caller in the process installs it, the others find it there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .pool_max_idle_per_host(8)
            .user_agent("Sunday-Webhooks/1")
            .dns_resolver(Arc::new(PolicyResolver(policy)))
            .build()?;
        Ok(Self { client, policy })
    }

    /// Sends one attempt; how long it took, and how it ended.
    pub async fn send(&self, attempt: Attempt<'_>) -> (Duration, Outcome) {
        let started = Instant::now();
        let outcome = self.try_send(attempt).await;
        (started.elapsed(), outcome)
    }

    async fn try_send(&self, a: Attempt<'_>) -> Outcome {
        let url = match reqwest::Url::parse(a.url) {
            Ok(u) => u,
            Err(e) => return failed(None, format!("bad URL: {e}")),
        };
        if let Some(ip) = literal_ip(&url)
            && !self.policy.allows(ip)
        {
            return failed(None, "the URL names an address webhooks may not call".into());
        }
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &a.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature(&a.secret, &a.message_id, timestamp, &a.body))
            .body(a.body);
        match request.send().await {
            Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
            Ok(r) if r.status() == reqwest::StatusCode::GONE => Outcome::Gone,
            Ok(r) => failed(Some(r.status().as_u16()), format!("the endpoint answered {}", r.status())),
            Err(e) if e.is_timeout() => failed(None, "no answer within the deadline".into()),
            Err(e) => failed(None, describe(&e)),
        }
    }
}

fn failed(status: Option<u16>, error: String) -> Outcome {
    Outcome::Failed { status, error }
}

fn literal_ip(url: &reqwest::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

/// The error and its causes, in one line (reqwest's own message is terse).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}
