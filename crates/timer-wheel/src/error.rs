//! Error types of the runtime timers.

use std::time::Duration;

/// Errors of creating timers, tickers and drivers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ticker needs a positive period (TW-16); Go panics here, we return this.
    #[error("ticker period must be positive, got {period:?}")]
    ZeroPeriod {
        /// The rejected period.
        period: Duration,
    },
    /// A driver's resolution must be between 1 µs and 1 s.
    #[error("driver resolution must be between 1 µs and 1 s, got {resolution:?}")]
    Resolution {
        /// The rejected resolution.
        resolution: Duration,
    },
    /// The operating system refused to start the driver's thread.
    #[error("could not spawn the timer driver thread `{name}`")]
    Spawn {
        /// The thread's name.
        name: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// Why a blocking or async receive returned without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The timer's driver was shut down: no value will ever come (TW-20).
    #[error("the timer driver was shut down")]
    Shutdown,
}

/// Why [`try_recv`](crate::Timer::try_recv) returned without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// No value is waiting right now.
    #[error("no value is waiting")]
    Empty,
    /// The timer's driver was shut down: no value will ever come.
    #[error("the timer driver was shut down")]
    Shutdown,
}

/// Why [`recv_timeout`](crate::Timer::recv_timeout) returned without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// The timeout passed first.
    #[error("timed out waiting for the timer")]
    Timeout,
    /// The timer's driver was shut down: no value will ever come.
    #[error("the timer driver was shut down")]
    Shutdown,
}
