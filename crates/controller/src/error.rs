//! The controller's error type.

/// Errors of building or running a [`Controller`](crate::Controller).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given no reconcile function.
    #[error("controller `{name}` has no reconcile function")]
    NoReconcile {
        /// The controller's name.
        name: String,
    },
    /// `threadiness` must be at least 1.
    #[error("controller `{name}`: threadiness must be at least 1")]
    ZeroThreadiness {
        /// The controller's name.
        name: String,
    },
    /// The work queue could not be built (for example a duplicate metrics name).
    #[error("controller `{name}`: cannot build its work queue")]
    Queue {
        /// The controller's name.
        name: String,
        /// What the queue said.
        #[source]
        source: workqueue::Error,
    },
    /// A cache never synced: one of the `wait_for` conditions gave up (its informer stopped).
    #[error("controller `{name}`: cache {index} never synced; workers not started")]
    CacheSyncFailed {
        /// The controller's name.
        name: String,
        /// Which `wait_for` condition, in the order they were added.
        index: usize,
    },
    /// `run` was called while the controller was already running, or after it ran.
    #[error("controller `{name}` is already running or has run")]
    NotRunnable {
        /// The controller's name.
        name: String,
    },
    /// A worker thread could not be started.
    #[error("controller `{name}`: cannot spawn worker thread")]
    Spawn {
        /// The controller's name.
        name: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
