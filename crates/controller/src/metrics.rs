//! Controller metrics: the [`ControllerMetrics`] snapshot, the [`MetricsProvider`] trait that
//! sends the same counts anywhere ([`ReconcileMetrics`]), the no-op default, and the recorder
//! the workers feed.
//!
//! The sinks are the [`workqueue::metrics`] traits ([`Counter`], [`Gauge`], [`Histogram`]), so
//! one backend serves the queue and the controller. The provider comes from
//! [`ControllerBuilder::metrics_provider`](crate::ControllerBuilder::metrics_provider), else the
//! process-wide one set with [`set_global_provider`], else none. The queue's own seven metrics
//! are labelled with the controller's name and come from the workqueue provider
//! ([`ControllerBuilder::queue_metrics_provider`](crate::ControllerBuilder::queue_metrics_provider)
//! or `workqueue`'s global one).
//!
//! | sink | type | Prometheus name (label `controller`) | controller-runtime's |
//! |---|---|---|---|
//! | [`reconciles`](ReconcileMetrics::reconciles) | counter | `controller_reconcile_total` | `controller_runtime_reconcile_total` |
//! | [`errors`](ReconcileMetrics::errors) | counter | `controller_reconcile_errors_total` | `controller_runtime_reconcile_errors_total` |
//! | [`panics`](ReconcileMetrics::panics) | counter | `controller_reconcile_panics_total` | `controller_runtime_reconcile_panics_total` |
//! | [`timeouts`](ReconcileMetrics::timeouts) | counter | `controller_reconcile_timeouts_total` | (none) |
//! | [`gave_up`](ReconcileMetrics::gave_up) | counter | `controller_reconcile_gave_up_total` | (none) |
//! | [`requeued_after`](ReconcileMetrics::requeued_after) | counter | `controller_reconcile_requeue_after_total` | `..._reconcile_total{result="requeue_after"}` |
//! | [`duration`](ReconcileMetrics::duration) | histogram (s) | `controller_reconcile_time_seconds` | `controller_runtime_reconcile_time_seconds` |
//! | [`active_workers`](ReconcileMetrics::active_workers) | gauge | `controller_active_workers` | `controller_runtime_active_workers` |

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use workqueue::metrics::{Counter, Gauge, Histogram};

use crate::error::Error;

/// A snapshot of a controller's counters (the queue's own metrics come from `workqueue`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerMetrics {
    /// Reconcile calls, whatever their outcome.
    pub reconciles: u64,
    /// Reconciles that failed: returned an error, panicked or timed out.
    pub errors: u64,
    /// Reconciles that panicked.
    pub panics: u64,
    /// Reconciles dropped at the reconcile timeout.
    pub timeouts: u64,
    /// Keys dropped after `max_retries` failed retries.
    pub gave_up: u64,
    /// Reconciles that asked for [`Action::RequeueAfter`](crate::Action::RequeueAfter).
    pub requeued_after: u64,
    /// Workers inside a reconcile right now.
    pub active_workers: u64,
    /// Total time spent in reconcile, on the controller's clock.
    pub reconcile_time: Duration,
}

/// The eight metrics of one named controller.
#[allow(missing_debug_implementations, reason = "trait objects without Debug")]
pub struct ReconcileMetrics {
    /// Reconcile calls, whatever their outcome.
    pub reconciles: Box<dyn Counter>,
    /// Failed reconciles (errors, panics and timeouts).
    pub errors: Box<dyn Counter>,
    /// Reconciles that panicked.
    pub panics: Box<dyn Counter>,
    /// Reconciles dropped at the reconcile timeout.
    pub timeouts: Box<dyn Counter>,
    /// Keys dropped after `max_retries`.
    pub gave_up: Box<dyn Counter>,
    /// Reconciles that asked for a later pass.
    pub requeued_after: Box<dyn Counter>,
    /// Seconds each reconcile took, on the controller's clock.
    pub duration: Box<dyn Histogram>,
    /// Workers inside a reconcile right now.
    pub active_workers: Box<dyn Gauge>,
}

/// Makes the metrics of a named controller: implement it to send them anywhere.
///
/// # Examples
/// A provider that counts reconciles in an atomic:
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use controller::metrics::{Counter, Gauge, Histogram, MetricsProvider, ReconcileMetrics};
/// use controller::{Action, BoxError, Controller, Error};
/// use timer_wheel::{Driver, FakeClock};
///
/// #[derive(Debug, Default)]
/// struct Reconciles(Arc<AtomicU64>);
/// struct Count(Arc<AtomicU64>);
/// struct Nothing;
/// impl Counter for Count { fn inc(&self) { self.0.fetch_add(1, Ordering::Relaxed); } }
/// impl Counter for Nothing { fn inc(&self) {} }
/// impl Gauge for Nothing { fn inc(&self) {} fn dec(&self) {} fn set(&self, _: f64) {} }
/// impl Histogram for Nothing { fn observe(&self, _: f64) {} }
///
/// impl MetricsProvider for Reconciles {
///     fn controller_metrics(&self, _name: &str) -> Result<Option<ReconcileMetrics>, Error> {
///         Ok(Some(ReconcileMetrics {
///             reconciles: Box::new(Count(self.0.clone())),
///             errors: Box::new(Nothing),
///             panics: Box::new(Nothing),
///             timeouts: Box::new(Nothing),
///             gave_up: Box::new(Nothing),
///             requeued_after: Box::new(Nothing),
///             duration: Box::new(Nothing),
///             active_workers: Box::new(Nothing),
///         }))
///     }
/// }
///
/// let provider = Reconciles::default();
/// let reconciles = provider.0.clone();
/// let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
/// let controller = Controller::builder("pods")
///     .driver(driver)
///     .metrics_provider(Arc::new(provider))
///     .reconcile(|_key: &str| Ok::<_, BoxError>(Action::Done))
///     .build()?;
/// controller.queue().add("default/web".to_owned());
/// controller.queue().shut_down(); // take no more keys: `run` drains this one, then returns
/// controller.run()?;
/// assert_eq!(reconciles.load(Ordering::Relaxed), 1);
/// # Ok::<(), Error>(())
/// ```
pub trait MetricsProvider: Send + Sync + fmt::Debug {
    /// The metrics of the controller called `name`; `Ok(None)` records nothing.
    ///
    /// # Errors
    /// Whatever stops the provider from making them, such as [`Error::DuplicateName`].
    fn controller_metrics(&self, name: &str) -> Result<Option<ReconcileMetrics>, Error>;
}

/// The default provider: records nothing beyond the [`ControllerMetrics`] snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetricsProvider;

impl MetricsProvider for NoopMetricsProvider {
    fn controller_metrics(&self, _name: &str) -> Result<Option<ReconcileMetrics>, Error> {
        Ok(None)
    }
}

static GLOBAL: OnceLock<Arc<dyn MetricsProvider>> = OnceLock::new();

/// Sets the process-wide provider for controllers whose builder names none. The first call wins;
/// returns whether this one did.
pub fn set_global_provider(provider: Arc<dyn MetricsProvider>) -> bool {
    GLOBAL.set(provider).is_ok()
}

/// The sinks of a controller: from its own provider, else the global one, else none.
pub(crate) fn resolve(
    name: &str,
    own: Option<&Arc<dyn MetricsProvider>>,
) -> Result<Option<ReconcileMetrics>, Error> {
    match own.or(GLOBAL.get()) {
        Some(provider) => provider.controller_metrics(name),
        None => Ok(None),
    }
}

/// The live counters behind [`ControllerMetrics`], and the provider's sinks if any. Every
/// method records one event in both; the atomics are read without a lock.
#[derive(Default)]
pub(crate) struct Recorder {
    reconciles: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    timeouts: AtomicU64,
    gave_up: AtomicU64,
    requeued_after: AtomicU64,
    active_workers: AtomicU64,
    reconcile_nanos: AtomicU64,
    sinks: Option<ReconcileMetrics>,
}

impl Recorder {
    pub(crate) fn new(sinks: Option<ReconcileMetrics>) -> Self {
        Recorder {
            sinks,
            ..Recorder::default()
        }
    }

    /// A worker entered a reconcile.
    pub(crate) fn started(&self) {
        self.active_workers.fetch_add(1, Relaxed);
        if let Some(sinks) = &self.sinks {
            sinks.active_workers.inc();
        }
    }

    /// A worker left a reconcile that took `took`, whatever its outcome.
    pub(crate) fn finished(&self, took: Duration) {
        self.active_workers.fetch_sub(1, Relaxed);
        self.reconciles.fetch_add(1, Relaxed);
        self.reconcile_nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        if let Some(sinks) = &self.sinks {
            sinks.active_workers.dec();
            sinks.reconciles.inc();
            sinks.duration.observe(took.as_secs_f64());
        }
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
        self.sink(|s| &*s.errors);
    }

    pub(crate) fn panic(&self) {
        self.panics.fetch_add(1, Relaxed);
        self.sink(|s| &*s.panics);
    }

    pub(crate) fn timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
        self.sink(|s| &*s.timeouts);
    }

    pub(crate) fn gave_up(&self) {
        self.gave_up.fetch_add(1, Relaxed);
        self.sink(|s| &*s.gave_up);
    }

    pub(crate) fn requeued_after(&self) {
        self.requeued_after.fetch_add(1, Relaxed);
        self.sink(|s| &*s.requeued_after);
    }

    fn sink(&self, counter: impl Fn(&ReconcileMetrics) -> &dyn Counter) {
        if let Some(sinks) = &self.sinks {
            counter(sinks).inc();
        }
    }

    pub(crate) fn snapshot(&self) -> ControllerMetrics {
        ControllerMetrics {
            reconciles: self.reconciles.load(Relaxed),
            errors: self.errors.load(Relaxed),
            panics: self.panics.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            gave_up: self.gave_up.load(Relaxed),
            requeued_after: self.requeued_after.load(Relaxed),
            active_workers: self.active_workers.load(Relaxed),
            reconcile_time: Duration::from_nanos(self.reconcile_nanos.load(Relaxed)),
        }
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("counts", &self.snapshot())
            .field("sinks", &self.sinks.is_some())
            .finish()
    }
}
