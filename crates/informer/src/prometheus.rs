//! [`PrometheusMetrics`]: the informer metrics in a `prometheus` registry (feature
//! `prometheus`).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::{CounterVec, GaugeVec, Opts, Registry};

use crate::metrics::{
    Counter, CounterFamily, Gauge, GaugeFamily, InformerMetrics, MetricsError, MetricsProvider,
};

/// Registers `informer_lists_total`, `informer_relists_total`,
/// `informer_watch_restarts_total` (label `cause`), `informer_events_total` (label `type`),
/// `informer_pending_notifications` (label `handler`) and
/// `informer_last_sync_resource_version`, each also labelled with the informer's `name`.
///
/// A name may be used by one informer at a time: a second one is refused with
/// [`MetricsError::DuplicateName`], and [`release`](PrometheusMetrics::release) frees it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use informer::metrics::{MetricsError, MetricsProvider};
/// use informer::prometheus::PrometheusMetrics;
///
/// let registry = prometheus::Registry::new();
/// let provider = Arc::new(PrometheusMetrics::new(&registry)?);
/// let metrics = provider.informer_metrics("pods")?.unwrap();
/// metrics.lists.inc();
/// metrics.watch_restarts.with_label("expired").inc();
/// assert!(matches!(
///     provider.informer_metrics("pods"),
///     Err(MetricsError::DuplicateName { .. })
/// ));
///
/// let families = registry.gather();
/// let lists = families.iter().find(|f| f.name() == "informer_lists_total").unwrap();
/// assert_eq!(lists.get_metric()[0].get_counter().get_value(), 1.0);
/// # Ok::<(), MetricsError>(())
/// ```
pub struct PrometheusMetrics {
    lists: CounterVec,
    relists: CounterVec,
    watch_restarts: CounterVec,
    events: CounterVec,
    pending: GaugeVec,
    last_sync_resource_version: GaugeVec,
    names: Mutex<HashSet<String>>,
}

fn register_error(source: prometheus::Error) -> MetricsError {
    MetricsError::Register {
        source: Arc::new(source),
    }
}

impl PrometheusMetrics {
    /// Creates the six metric families and registers them in `registry`.
    ///
    /// # Errors
    ///
    /// [`MetricsError::Register`] if the registry refuses them (for example, they are already
    /// there).
    pub fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let opts = |name: &str, help: &str| Opts::new(name, help).subsystem("informer");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            CounterVec::new(opts(name, help), labels).map_err(register_error)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(opts(name, help), labels).map_err(register_error)
        };
        let metrics = Self {
            lists: counter(
                "lists_total",
                "Lists and streaming lists that ended, failed ones included",
                &["name"],
            )?,
            relists: counter(
                "relists_total",
                "Successful lists after the first one",
                &["name"],
            )?,
            watch_restarts: counter(
                "watch_restarts_total",
                "Ends of a watch, by cause",
                &["name", "cause"],
            )?,
            events: counter(
                "events_total",
                "Watch events received, by type",
                &["name", "type"],
            )?,
            pending: gauge(
                "pending_notifications",
                "Notifications waiting in a handler's buffer",
                &["name", "handler"],
            )?,
            last_sync_resource_version: gauge(
                "last_sync_resource_version",
                "The last synced resourceVersion, when it is a number",
                &["name"],
            )?,
            names: Mutex::new(HashSet::new()),
        };
        registry
            .register(Box::new(metrics.lists.clone()))
            .and_then(|()| registry.register(Box::new(metrics.relists.clone())))
            .and_then(|()| registry.register(Box::new(metrics.watch_restarts.clone())))
            .and_then(|()| registry.register(Box::new(metrics.events.clone())))
            .and_then(|()| registry.register(Box::new(metrics.pending.clone())))
            .and_then(|()| registry.register(Box::new(metrics.last_sync_resource_version.clone())))
            .map_err(register_error)?;
        Ok(metrics)
    }

    /// Frees `name` for another informer; returns whether it was taken.
    pub fn release(&self, name: &str) -> bool {
        self.names.lock().remove(name)
    }
}

impl MetricsProvider for PrometheusMetrics {
    fn informer_metrics(&self, name: &str) -> Result<Option<InformerMetrics>, MetricsError> {
        if !self.names.lock().insert(name.to_owned()) {
            return Err(MetricsError::DuplicateName {
                name: name.to_owned(),
            });
        }
        let label = &[name];
        Ok(Some(InformerMetrics {
            lists: Box::new(self.lists.with_label_values(label)),
            relists: Box::new(self.relists.with_label_values(label)),
            watch_restarts: Box::new(Counters(self.watch_restarts.clone(), name.to_owned())),
            events: Box::new(Counters(self.events.clone(), name.to_owned())),
            pending: Box::new(Gauges(self.pending.clone(), name.to_owned())),
            last_sync_resource_version: Box::new(
                self.last_sync_resource_version.with_label_values(label),
            ),
        }))
    }
}

/// One informer's counters of a two-label family: (informer name, label).
struct Counters(CounterVec, String);

impl CounterFamily for Counters {
    fn with_label(&self, value: &str) -> Box<dyn Counter> {
        Box::new(self.0.with_label_values(&[self.1.as_str(), value]))
    }
}

/// One informer's gauges of a two-label family: (informer name, label).
struct Gauges(GaugeVec, String);

impl GaugeFamily for Gauges {
    fn with_label(&self, value: &str) -> Box<dyn Gauge> {
        Box::new(self.0.with_label_values(&[self.1.as_str(), value]))
    }
}

impl Counter for prometheus::Counter {
    fn inc(&self) {
        prometheus::Counter::inc(self);
    }
}

impl Gauge for prometheus::Gauge {
    fn set(&self, value: f64) {
        prometheus::Gauge::set(self, value);
    }
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("names", &*self.names.lock())
            .finish_non_exhaustive()
    }
}
