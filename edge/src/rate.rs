//! Per-user rate limits: token buckets (GCRA, from `governor`) keyed by the
//! user a bearer token names, one family for commands, one for reads and one
//! for WebSocket frames. A user over a limit is told how long to wait; the
//! request or frame does nothing.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

/// What is limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Commands (writes) over HTTP.
    Commands,
    /// Reads over HTTP.
    Reads,
    /// Frames a client sends on `/v1/ws`.
    Frames,
    /// WebSocket connections one user holds open at once (a cap, counted by
    /// the gateway, not a rate: `check` never limits it).
    Sockets,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commands => "commands",
            Self::Reads => "reads",
            Self::Frames => "frames",
            Self::Sockets => "sockets",
        }
    }
}

/// Sustained rates per user and second (a burst of twice as many is
/// allowed); `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub commands: Option<NonZeroU32>,
    pub reads: Option<NonZeroU32>,
    pub frames: Option<NonZeroU32>,
}

/// Within the limit: the bucket's size and what is left of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub limit: u32,
    pub remaining: u32,
}

/// Over the limit: how long until the next request would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub kind: Kind,
    pub limit: u32,
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }

    /// The response headers of a rate-limited answer: `Retry-After`
    /// (seconds), `RateLimit-Limit` (the bucket) and `RateLimit-Remaining`.
    pub fn headers(&self) -> [(&'static str, u64); 3] {
        [("retry-after", self.retry_after_secs()), ("ratelimit-limit", u64::from(self.limit)), ("ratelimit-remaining", 0)]
    }
}

type Bucket = RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock, StateInformationMiddleware>;

/// A family of per-user buckets.
struct Family {
    limiter: Bucket,
    burst: u32,
}

impl Family {
    fn new(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self { limiter: RateLimiter::keyed(quota).with_middleware(), burst: burst.get() }
    }
}

/// Buckets kept before the idle ones are forgotten.
const FORGET_EVERY: u64 = 1 << 16;

/// Every user's buckets, for every kind that is limited.
pub struct RateLimits {
    commands: Option<Family>,
    reads: Option<Family>,
    frames: Option<Family>,
    checks: AtomicU64,
    refused: [AtomicU64; 4],
}

impl RateLimits {
    pub fn new(limits: Limits) -> Self {
        Self {
            commands: limits.commands.map(Family::new),
            reads: limits.reads.map(Family::new),
            frames: limits.frames.map(Family::new),
            checks: AtomicU64::new(0),
            refused: [const { AtomicU64::new(0) }; 4],
        }
    }

    /// No limits at all.
    pub fn unlimited() -> Self {
        Self::new(Limits::default())
    }

    fn family(&self, kind: Kind) -> Option<&Family> {
        match kind {
            Kind::Commands => self.commands.as_ref(),
            Kind::Reads => self.reads.as_ref(),
            Kind::Frames => self.frames.as_ref(),
            Kind::Sockets => None,
        }
    }

    /// Takes one token from `user`'s bucket of `kind`.
    pub fn check(&self, kind: Kind, user: Uuid) -> Result<Option<Allowed>, Limited> {
        let Some(family) = self.family(kind) else { return Ok(None) };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            family.limiter.retain_recent();
        }
        match family.limiter.check_key(&user) {
            Ok(state) => Ok(Some(Allowed { limit: family.burst, remaining: state.remaining_burst_capacity() })),
            Err(not_until) => {
                self.refused[kind as usize].fetch_add(1, Ordering::Relaxed);
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                Err(Limited { kind, limit: family.burst, retry_after })
            }
        }
    }

    /// Requests or frames refused so far, by kind.
    pub fn refused(&self, kind: Kind) -> u64 {
        self.refused[kind as usize].load(Ordering::Relaxed)
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::unlimited()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(n)
    }

    #[test]
    fn a_user_over_the_burst_is_told_to_wait_and_others_are_not() {
        let limits = RateLimits::new(Limits { commands: rate(5), ..Limits::default() });
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for i in 0..10 {
            let allowed = limits.check(Kind::Commands, alice).unwrap_or_else(|l| panic!("refused at {i}: {l:?}"));
            assert_eq!(allowed, Some(Allowed { limit: 10, remaining: 9 - i }));
        }
        let refused = limits.check(Kind::Commands, alice);
        let Err(limited) = refused else { panic!("{refused:?}") };
        assert_eq!((limited.kind, limited.limit), (Kind::Commands, 10));
        assert!(limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_millis(200), "{limited:?}");
        assert_eq!(limited.retry_after_secs(), 1);
        assert!(limits.check(Kind::Commands, bob).is_ok(), "buckets are per user");
        assert_eq!(limits.check(Kind::Reads, alice), Ok(None), "reads are not limited here");
        assert_eq!(limits.refused(Kind::Commands), 1);
    }
}
