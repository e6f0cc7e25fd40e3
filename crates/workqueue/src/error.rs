//! [`Error`]: everything that can go wrong building a queue or a rate limiter.
//!
//! Queue operations themselves do not fail: an `add` after shutdown is ignored (as in client-go),
//! and a stray `done` is reported by its `bool` result.

use std::time::Duration;

/// A configuration the crate refuses, or a resource it could not get.
///
/// Every variant is a construction-time error: a limiter or queue that was built works.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token bucket needs room for at least one token; with burst 0 client-go answers every
    /// request with a delay of about 292 years (RL-8).
    #[error("token bucket burst must be at least 1")]
    ZeroBurst,
    /// A token bucket's rate must be a positive number of tokens per second
    /// (`f64::INFINITY` means "no limit").
    #[error("token bucket rate must be positive, got {rate}")]
    InvalidRate {
        /// The rejected rate, in tokens per second.
        rate: f64,
    },
    /// An exponential backoff whose first delay exceeds its cap (RL-5).
    #[error("backoff base {base:?} exceeds its maximum {max:?}")]
    BaseAboveMax {
        /// The first delay.
        base: Duration,
        /// The cap.
        max: Duration,
    },
    /// A max-of limiter with nothing inside would never limit (RL-10).
    #[error("a max-of rate limiter needs at least one limiter")]
    NoLimiters,
    /// Two queues asked for metrics under one name in the same registry (WQ-22): their series
    /// would silently mix. Use another name, release the first one, or allow duplicates.
    #[error("a queue named `{name}` already has metrics in this registry")]
    DuplicateName {
        /// The queue name.
        name: String,
    },
    /// The metrics backend refused to register a metric.
    #[error("could not register the queue metrics")]
    Metrics {
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
