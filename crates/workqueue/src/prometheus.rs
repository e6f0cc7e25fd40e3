//! [`PrometheusMetrics`]: the seven queue metrics in a `prometheus` registry, under client-go's
//! names so existing dashboards work.

use std::collections::HashSet;
use std::fmt;

use parking_lot::Mutex;
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, exponential_buckets,
};

use crate::error::Error;
use crate::metrics::{Counter, Gauge, Histogram, MetricsProvider, QueueMetrics};

/// Registers `workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
/// `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
/// `workqueue_longest_running_processor_seconds` and `workqueue_retries_total`, labelled `name`.
///
/// Duration buckets are component-base's: 1 µs to 1000 s, factor 10. A name may be used by one
/// queue at a time (WQ-22): a second queue with the same name is refused with
/// [`Error::DuplicateName`] unless duplicates are [allowed](PrometheusMetrics::allow_duplicates),
/// and [`release`](PrometheusMetrics::release) frees a name.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use workqueue::prometheus::PrometheusMetrics;
/// use workqueue::{Error, Queue, QueueConfig};
///
/// let registry = prometheus::Registry::new();
/// let provider = Arc::new(PrometheusMetrics::new(&registry)?);
/// let config = QueueConfig::new().name("pods").metrics_provider(provider.clone());
/// let queue = Queue::with_config(config.clone())?;
/// queue.add(1);
/// assert!(matches!(Queue::<u32>::with_config(config), Err(Error::DuplicateName { .. })));
///
/// let families = registry.gather();
/// let adds = families.iter().find(|f| f.name() == "workqueue_adds_total").unwrap();
/// assert_eq!(adds.get_metric()[0].get_counter().get_value(), 1.0);
/// # Ok::<(), Error>(())
/// ```
pub struct PrometheusMetrics {
    depth: GaugeVec,
    adds: CounterVec,
    queue_duration: HistogramVec,
    work_duration: HistogramVec,
    unfinished_work: GaugeVec,
    longest_running_processor: GaugeVec,
    retries: CounterVec,
    names: Mutex<HashSet<String>>,
    allow_duplicates: bool,
}

/// Label of every metric.
const LABEL: &[&str] = &["name"];

fn register_error(source: prometheus::Error) -> Error {
    Error::Metrics {
        source: Box::new(source),
    }
}

impl PrometheusMetrics {
    /// Creates the seven metric families and registers them in `registry`.
    ///
    /// # Errors
    /// [`Error::Metrics`] if the registry refuses them (for example, they are already there).
    pub fn new(registry: &Registry) -> Result<Self, Error> {
        let opts = |name: &str, help: &str| Opts::new(name, help).subsystem("workqueue");
        let histogram = |name: &str, help: &str| {
            let buckets = exponential_buckets(1e-6, 10.0, 10).map_err(register_error)?;
            HistogramVec::new(
                HistogramOpts::new(name, help)
                    .subsystem("workqueue")
                    .buckets(buckets),
                LABEL,
            )
            .map_err(register_error)
        };
        let metrics = PrometheusMetrics {
            depth: GaugeVec::new(opts("depth", "Current depth of workqueue"), LABEL)
                .map_err(register_error)?,
            adds: CounterVec::new(
                opts("adds_total", "Total number of adds handled by workqueue"),
                LABEL,
            )
            .map_err(register_error)?,
            queue_duration: histogram(
                "queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
            )?,
            work_duration: histogram(
                "work_duration_seconds",
                "How long in seconds processing an item from workqueue takes",
            )?,
            unfinished_work: GaugeVec::new(
                opts(
                    "unfinished_work_seconds",
                    "How many seconds of work has been done that is in progress",
                ),
                LABEL,
            )
            .map_err(register_error)?,
            longest_running_processor: GaugeVec::new(
                opts(
                    "longest_running_processor_seconds",
                    "How many seconds has the longest running processor for workqueue been running",
                ),
                LABEL,
            )
            .map_err(register_error)?,
            retries: CounterVec::new(
                opts(
                    "retries_total",
                    "Total number of retries handled by workqueue",
                ),
                LABEL,
            )
            .map_err(register_error)?,
            names: Mutex::new(HashSet::new()),
            allow_duplicates: false,
        };
        registry
            .register(Box::new(metrics.depth.clone()))
            .and_then(|()| registry.register(Box::new(metrics.adds.clone())))
            .and_then(|()| registry.register(Box::new(metrics.queue_duration.clone())))
            .and_then(|()| registry.register(Box::new(metrics.work_duration.clone())))
            .and_then(|()| registry.register(Box::new(metrics.unfinished_work.clone())))
            .and_then(|()| registry.register(Box::new(metrics.longest_running_processor.clone())))
            .and_then(|()| registry.register(Box::new(metrics.retries.clone())))
            .map_err(register_error)?;
        Ok(metrics)
    }

    /// Lets several queues share a name (and so mix their series), like client-go does.
    pub fn allow_duplicates(mut self) -> Self {
        self.allow_duplicates = true;
        self
    }

    /// Frees `name` for another queue; returns whether it was taken.
    pub fn release(&self, name: &str) -> bool {
        self.names.lock().remove(name)
    }
}

impl MetricsProvider for PrometheusMetrics {
    fn queue_metrics(&self, name: &str) -> Result<Option<QueueMetrics>, Error> {
        if !self.names.lock().insert(name.to_owned()) && !self.allow_duplicates {
            return Err(Error::DuplicateName {
                name: name.to_owned(),
            });
        }
        let label = &[name];
        Ok(Some(QueueMetrics {
            depth: Box::new(self.depth.with_label_values(label)),
            adds: Box::new(self.adds.with_label_values(label)),
            queue_duration: Box::new(self.queue_duration.with_label_values(label)),
            work_duration: Box::new(self.work_duration.with_label_values(label)),
            unfinished_work: Box::new(self.unfinished_work.with_label_values(label)),
            longest_running_processor: Box::new(
                self.longest_running_processor.with_label_values(label),
            ),
            retries: Box::new(self.retries.with_label_values(label)),
        }))
    }
}

impl Counter for prometheus::Counter {
    fn inc(&self) {
        prometheus::Counter::inc(self);
    }
}

impl Gauge for prometheus::Gauge {
    fn inc(&self) {
        prometheus::Gauge::inc(self);
    }
    fn dec(&self) {
        prometheus::Gauge::dec(self);
    }
    fn set(&self, value: f64) {
        prometheus::Gauge::set(self, value);
    }
}

impl Histogram for prometheus::Histogram {
    fn observe(&self, seconds: f64) {
        prometheus::Histogram::observe(self, seconds);
    }
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("names", &*self.names.lock())
            .field("allow_duplicates", &self.allow_duplicates)
            .finish_non_exhaustive()
    }
}
