//! The controller's error types: [`Error`] for building and running, and the typed errors a
//! failed attempt hands to the give-up hook ([`ReconcileTimeout`], [`ReconcilePanicked`]).

use std::time::Duration;

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
    /// `threadiness` above [`MAX_THREADINESS`](crate::MAX_THREADINESS): more workers than any
    /// machine runs, most likely a unit mistake.
    #[error("controller `{name}`: threadiness {workers} is above the limit of {max}")]
    TooManyWorkers {
        /// The controller's name.
        name: String,
        /// The threadiness asked for.
        workers: usize,
        /// The limit.
        max: usize,
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
    /// A reconcile timeout was set on a blocking reconcile. A thread cannot be preempted, so the
    /// timeout applies to an async reconcile (`reconcile_async`) only.
    #[error(
        "controller `{name}`: reconcile_timeout needs an async reconcile (a blocking reconcile \
         cannot be stopped at a deadline)"
    )]
    TimeoutNeedsAsync {
        /// The controller's name.
        name: String,
    },
    /// A reconcile timeout of zero would time out every reconcile before it starts.
    #[error("controller `{name}`: reconcile_timeout must be longer than zero")]
    ZeroTimeout {
        /// The controller's name.
        name: String,
    },
    /// [`run`](crate::Controller::run) or [`run_until`](crate::Controller::run_until) was called
    /// on a controller whose reconcile is async: it runs on tokio tasks, with `run_async`.
    #[error("controller `{name}` has an async reconcile: run it with run_async")]
    AsyncReconcile {
        /// The controller's name.
        name: String,
    },
    /// `run_async` was called on a controller whose reconcile blocks: it runs on worker threads,
    /// with `run`.
    #[error("controller `{name}` has a blocking reconcile: run it with run")]
    BlockingReconcile {
        /// The controller's name.
        name: String,
    },
    /// `run_async` was polled outside a tokio runtime, so it cannot spawn its worker tasks (or
    /// the runtime shut down while it waited for its caches).
    #[error("controller `{name}`: run_async needs a tokio runtime to spawn its workers")]
    NoRuntime {
        /// The controller's name.
        name: String,
    },
    /// A metrics provider already gave metrics to a controller of this name: two controllers
    /// would mix their series.
    #[error("controller `{name}`: its name is already used for metrics")]
    DuplicateName {
        /// The controller's name.
        name: String,
    },
    /// A metrics provider could not make or register the controller's metrics.
    #[error("controller `{name}`: cannot make its metrics")]
    Metrics {
        /// The controller's name.
        name: String,
        /// What the provider said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// The error of an attempt that did not finish before the
/// [`reconcile_timeout`](crate::ControllerBuilder::reconcile_timeout): its future was dropped at
/// the deadline. It counts as a failure, so the key is retried with backoff, and it is what the
/// give-up hook receives if the last attempt timed out (downcast the `BoxError` to tell).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("reconcile of `{key}` timed out after {timeout:?}")]
#[non_exhaustive]
pub struct ReconcileTimeout {
    /// The key being reconciled.
    pub key: String,
    /// The configured timeout.
    pub timeout: Duration,
}

/// The error of an attempt whose reconcile panicked: the panic was caught (the worker lives on),
/// counted, and handled as a failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("reconcile of `{key}` panicked: {message}")]
#[non_exhaustive]
pub struct ReconcilePanicked {
    /// The key being reconciled.
    pub key: String,
    /// The panic's message (`&str` and `String` payloads), or a note that it had none.
    pub message: String,
}
