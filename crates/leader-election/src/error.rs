//! The crate's [`Error`].

use std::time::Duration;

/// Everything that can go wrong building or running an election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The candidate's identity is empty: an empty holder means "free" in a lease.
    #[error("the identity of a leader-election candidate must not be empty")]
    EmptyIdentity,
    /// A lease name or namespace is not usable.
    #[error("invalid lease {what} {value:?}: {reason}")]
    InvalidName {
        /// `"name"` or `"namespace"`.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// One of the durations is zero.
    #[error("{what} must be greater than zero")]
    ZeroDuration {
        /// Which one.
        what: &'static str,
    },
    /// The lease duration is written to the lease in whole seconds (a 32-bit field).
    #[error(
        "lease_duration {lease_duration:?} must be a whole number of seconds that fits in 32 bits"
    )]
    LeaseDurationNotWholeSeconds {
        /// The duration given.
        lease_duration: Duration,
    },
    /// A leader must stop before others may take over.
    #[error(
        "renew_deadline {renew_deadline:?} must be less than lease_duration {lease_duration:?}"
    )]
    RenewDeadlineNotBelowLeaseDuration {
        /// The renew deadline given.
        renew_deadline: Duration,
        /// The lease duration given.
        lease_duration: Duration,
    },
    /// A jittered retry must fit in the renew deadline.
    #[error(
        "retry_period {retry_period:?} times the jitter factor 1.2 must be less than renew_deadline {renew_deadline:?}"
    )]
    RetryPeriodTooLong {
        /// The retry period given.
        retry_period: Duration,
        /// The renew deadline given.
        renew_deadline: Duration,
    },
    /// Sharding needs at least one shard and one replica.
    #[error("{what} must be at least 1")]
    ZeroCount {
        /// `"shards"` or `"replicas"`.
        what: &'static str,
    },
    /// A request to the API server about the lease failed (not a conflict: those are an
    /// ordinary "someone else wrote first").
    #[error("{op} of lease {lease} failed")]
    Api {
        /// `"get"`, `"create"` or `"update"`.
        op: &'static str,
        /// `namespace/name`.
        lease: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The timer driver was shut down, so the elector cannot wait any more.
    #[error("the timer driver of the elector for lease {lease} is shut down")]
    DriverShutDown {
        /// `namespace/name`.
        lease: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
