//! [`PrometheusMetrics`]: the controller's metrics in a `prometheus` registry, labelled
//! `controller`, named like controller-runtime's where it has the same metric (see
//! [`metrics`](crate::metrics) for the table).

use std::collections::HashSet;
use std::fmt;

use parking_lot::Mutex;
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, exponential_buckets,
};

use crate::error::Error;
use crate::metrics::{MetricsProvider, ReconcileMetrics};

/// Registers `controller_reconcile_total`, `controller_reconcile_errors_total`,
/// `controller_reconcile_panics_total`, `controller_reconcile_timeouts_total`,
/// `controller_reconcile_gave_up_total`, `controller_reconcile_requeue_after_total`,
/// `controller_reconcile_time_seconds` and `controller_active_workers`, labelled `controller`.
///
/// Reconcile time buckets are the workqueue's: 1 µs to 1000 s, factor 10. A name may be used by
/// one controller at a time: a second one is refused with [`Error::DuplicateName`] (two
/// controllers would mix their series), and [`release`](PrometheusMetrics::release) frees a
/// name. Pair it with `workqueue::prometheus::PrometheusMetrics` on the same registry for the
/// queue's metrics.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use controller::prometheus::PrometheusMetrics;
/// use controller::{Action, BoxError, Controller, Error};
/// use timer_wheel::{Driver, FakeClock};
///
/// let registry = prometheus::Registry::new();
/// let provider = Arc::new(PrometheusMetrics::new(&registry)?);
/// let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
/// let controller = Controller::builder("pods")
///     .driver(driver)
///     .metrics_provider(provider)
///     .reconcile(|_key: &str| Ok::<_, BoxError>(Action::Done))
///     .build()?;
/// controller.queue().add("default/web".to_owned());
/// controller.queue().shut_down(); // `run` drains the queued key, then returns
/// controller.run()?;
///
/// let families = registry.gather();
/// let total = families.iter().find(|f| f.name() == "controller_reconcile_total").unwrap();
/// assert_eq!(total.get_metric()[0].get_counter().get_value(), 1.0);
/// # Ok::<(), Error>(())
/// ```
pub struct PrometheusMetrics {
    reconciles: CounterVec,
    errors: CounterVec,
    panics: CounterVec,
    timeouts: CounterVec,
    gave_up: CounterVec,
    requeued_after: CounterVec,
    duration: HistogramVec,
    active_workers: GaugeVec,
    names: Mutex<HashSet<String>>,
}

/// Label of every metric.
const LABEL: &[&str] = &["controller"];

/// Prefix of every metric name.
const SUBSYSTEM: &str = "controller";

fn register_error(name: &str) -> impl Fn(prometheus::Error) -> Error + '_ {
    move |source| Error::Metrics {
        name: name.to_owned(),
        source: Box::new(source),
    }
}

impl PrometheusMetrics {
    /// Creates the eight metric families and registers them in `registry`.
    ///
    /// # Errors
    /// [`Error::Metrics`] (named `prometheus`) if the registry refuses them (for example, they
    /// are already there).
    pub fn new(registry: &Registry) -> Result<Self, Error> {
        let failed = register_error("prometheus");
        let counter = |name: &str, help: &str| {
            CounterVec::new(Opts::new(name, help).subsystem(SUBSYSTEM), LABEL).map_err(&failed)
        };
        let buckets = exponential_buckets(1e-6, 10.0, 10).map_err(&failed)?;
        let metrics = PrometheusMetrics {
            reconciles: counter(
                "reconcile_total",
                "Total number of reconciles per controller",
            )?,
            errors: counter(
                "reconcile_errors_total",
                "Total number of failed reconciles (errors, panics, timeouts) per controller",
            )?,
            panics: counter(
                "reconcile_panics_total",
                "Total number of reconciles that panicked per controller",
            )?,
            timeouts: counter(
                "reconcile_timeouts_total",
                "Total number of reconciles dropped at the reconcile timeout per controller",
            )?,
            gave_up: counter(
                "reconcile_gave_up_total",
                "Total number of keys dropped after the retry limit per controller",
            )?,
            requeued_after: counter(
                "reconcile_requeue_after_total",
                "Total number of reconciles that asked for a later pass per controller",
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "reconcile_time_seconds",
                    "Length of time per reconcile per controller",
                )
                .subsystem(SUBSYSTEM)
                .buckets(buckets),
                LABEL,
            )
            .map_err(&failed)?,
            active_workers: GaugeVec::new(
                Opts::new(
                    "active_workers",
                    "Number of workers inside a reconcile per controller",
                )
                .subsystem(SUBSYSTEM),
                LABEL,
            )
            .map_err(&failed)?,
            names: Mutex::new(HashSet::new()),
        };
        registry
            .register(Box::new(metrics.reconciles.clone()))
            .and_then(|()| registry.register(Box::new(metrics.errors.clone())))
            .and_then(|()| registry.register(Box::new(metrics.panics.clone())))
            .and_then(|()| registry.register(Box::new(metrics.timeouts.clone())))
            .and_then(|()| registry.register(Box::new(metrics.gave_up.clone())))
            .and_then(|()| registry.register(Box::new(metrics.requeued_after.clone())))
            .and_then(|()| registry.register(Box::new(metrics.duration.clone())))
            .and_then(|()| registry.register(Box::new(metrics.active_workers.clone())))
            .map_err(&failed)?;
        Ok(metrics)
    }

    /// Frees `name` for another controller; returns whether it was taken.
    pub fn release(&self, name: &str) -> bool {
        self.names.lock().remove(name)
    }
}

impl MetricsProvider for PrometheusMetrics {
    fn controller_metrics(&self, name: &str) -> Result<Option<ReconcileMetrics>, Error> {
        if !self.names.lock().insert(name.to_owned()) {
            return Err(Error::DuplicateName {
                name: name.to_owned(),
            });
        }
        let label = &[name];
        Ok(Some(ReconcileMetrics {
            reconciles: Box::new(self.reconciles.with_label_values(label)),
            errors: Box::new(self.errors.with_label_values(label)),
            panics: Box::new(self.panics.with_label_values(label)),
            timeouts: Box::new(self.timeouts.with_label_values(label)),
            gave_up: Box::new(self.gave_up.with_label_values(label)),
            requeued_after: Box::new(self.requeued_after.with_label_values(label)),
            duration: Box::new(self.duration.with_label_values(label)),
            active_workers: Box::new(self.active_workers.with_label_values(label)),
        }))
    }
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("names", &*self.names.lock())
            .finish_non_exhaustive()
    }
}
