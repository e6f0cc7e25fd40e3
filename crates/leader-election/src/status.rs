//! [`Status`]: what an elector publishes after every attempt, for tasks that await a change.

use std::time::Instant;

/// A snapshot of an elector, published on [`LeaderElector::subscribe`](crate::LeaderElector::subscribe)
/// after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Whether this replica leads (its started-leading callback ran and stopped-leading has not).
    pub leading: bool,
    /// The holder last seen in the lease (`None`: free, missing or not read yet).
    pub leader: Option<String>,
    /// Attempts made (each one reads the lease).
    pub attempts: u64,
    /// Attempts that failed with an API error.
    pub errors: u64,
    /// While [`run`](crate::LeaderElector::run) waits: the instant (on the elector's clock) of its
    /// next wake-up. `None` while it works, or when it is not running.
    pub next_wake: Option<Instant>,
}
