//! Queue metrics: the [`MetricsProvider`] trait, its seven client-go metrics ([`QueueMetrics`]),
//! the no-op default, and the per-queue recorder that feeds them.
//!
//! Metrics are recorded only for a queue that has a non-empty name and a provider that is not the
//! no-op one (WQ-22); otherwise the queue keeps no per-item timestamps at all. The provider comes
//! from the queue's [`QueueConfig`](crate::QueueConfig), or else the process-wide one set with
//! [`set_global_provider`].
//!
//! | metric | type | client-go name | recorded |
//! |---|---|---|---|
//! | [`depth`](QueueMetrics::depth) | gauge | `workqueue_depth` | +1 per accepted add, −1 per get (WQ-23, WQ-24) |
//! | [`adds`](QueueMetrics::adds) | counter | `workqueue_adds_total` | accepted adds, not de-duplicated ones |
//! | [`queue_duration`](QueueMetrics::queue_duration) | histogram (s) | `workqueue_queue_duration_seconds` | first add → get |
//! | [`work_duration`](QueueMetrics::work_duration) | histogram (s) | `workqueue_work_duration_seconds` | get → done (WQ-25) |
//! | [`unfinished_work`](QueueMetrics::unfinished_work) | gauge (s) | `workqueue_unfinished_work_seconds` | sum of in-flight ages, every 500 ms (WQ-26) |
//! | [`longest_running_processor`](QueueMetrics::longest_running_processor) | gauge (s) | `workqueue_longest_running_processor_seconds` | oldest in-flight age, every 500 ms |
//! | [`retries`](QueueMetrics::retries) | counter | `workqueue_retries_total` | accepted `add_after` calls (WQ-27) |

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::error::Error;

/// How often the two "unfinished work" gauges are refreshed: client-go's 500 ms (WQ-21).
pub(crate) const REFRESH_PERIOD: Duration = Duration::from_millis(500);

/// A monotonically increasing count.
pub trait Counter: Send + Sync {
    /// Adds one.
    fn inc(&self);
}

/// A value that goes up and down, or is set.
pub trait Gauge: Send + Sync {
    /// Adds one.
    fn inc(&self);
    /// Subtracts one.
    fn dec(&self);
    /// Sets the value.
    fn set(&self, value: f64);
}

/// A distribution of observed durations, in seconds.
pub trait Histogram: Send + Sync {
    /// Records one observation.
    fn observe(&self, seconds: f64);
}

/// The seven metrics of one named queue, as client-go defines them.
#[allow(missing_debug_implementations, reason = "trait objects without Debug")]
pub struct QueueMetrics {
    /// Items waiting to be processed, including those re-added while processing.
    pub depth: Box<dyn Gauge>,
    /// Adds accepted (de-duplicated adds are not counted).
    pub adds: Box<dyn Counter>,
    /// Seconds from an item's first add to its `get`.
    pub queue_duration: Box<dyn Histogram>,
    /// Seconds from `get` to `done`.
    pub work_duration: Box<dyn Histogram>,
    /// Sum of the ages of the items being processed, in seconds.
    pub unfinished_work: Box<dyn Gauge>,
    /// Age of the oldest item being processed, in seconds (0 when idle).
    pub longest_running_processor: Box<dyn Gauge>,
    /// `add_after` calls accepted (rate-limited retries included).
    pub retries: Box<dyn Counter>,
}

/// Makes the metrics of a named queue: implement it to send them anywhere.
///
/// # Examples
/// A provider that counts adds in an atomic:
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use workqueue::metrics::{Counter, Gauge, Histogram, MetricsProvider, QueueMetrics};
/// use workqueue::{Error, Queue, QueueConfig};
///
/// #[derive(Debug, Default)]
/// struct Adds(Arc<AtomicU64>);
/// struct Count(Arc<AtomicU64>);
/// struct Nothing;
/// impl Counter for Count { fn inc(&self) { self.0.fetch_add(1, Ordering::Relaxed); } }
/// impl Counter for Nothing { fn inc(&self) {} }
/// impl Gauge for Nothing { fn inc(&self) {} fn dec(&self) {} fn set(&self, _: f64) {} }
/// impl Histogram for Nothing { fn observe(&self, _: f64) {} }
///
/// impl MetricsProvider for Adds {
///     fn queue_metrics(&self, _name: &str) -> Result<Option<QueueMetrics>, Error> {
///         Ok(Some(QueueMetrics {
///             depth: Box::new(Nothing),
///             adds: Box::new(Count(self.0.clone())),
///             queue_duration: Box::new(Nothing),
///             work_duration: Box::new(Nothing),
///             unfinished_work: Box::new(Nothing),
///             longest_running_processor: Box::new(Nothing),
///             retries: Box::new(Nothing),
///         }))
///     }
/// }
///
/// let provider = Adds::default();
/// let adds = provider.0.clone();
/// let config = QueueConfig::new().name("pods").metrics_provider(Arc::new(provider));
/// let queue = Queue::with_config(config)?;
/// queue.add("a");
/// queue.add("a"); // de-duplicated: not counted
/// queue.add("b");
/// assert_eq!(adds.load(Ordering::Relaxed), 2);
/// queue.shut_down();
/// # Ok::<(), Error>(())
/// ```
pub trait MetricsProvider: Send + Sync + fmt::Debug {
    /// The metrics of the queue called `name` (never empty); `Ok(None)` records nothing.
    ///
    /// # Errors
    /// Whatever stops the provider from making them, such as [`Error::DuplicateName`].
    fn queue_metrics(&self, name: &str) -> Result<Option<QueueMetrics>, Error>;
}

/// The default provider: records nothing, costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetricsProvider;

impl MetricsProvider for NoopMetricsProvider {
    fn queue_metrics(&self, _name: &str) -> Result<Option<QueueMetrics>, Error> {
        Ok(None)
    }
}

static GLOBAL: OnceLock<Arc<dyn MetricsProvider>> = OnceLock::new();

/// Sets the process-wide provider used by named queues whose config names none. The first call
/// wins (as in client-go); returns whether this one did.
#[doc(alias = "SetProvider")]
pub fn set_global_provider(provider: Arc<dyn MetricsProvider>) -> bool {
    GLOBAL.set(provider).is_ok()
}

/// The provider for a queue: its own, else the global one, else none.
pub(crate) fn resolve(
    name: &str,
    own: Option<&Arc<dyn MetricsProvider>>,
) -> Result<Option<QueueMetrics>, Error> {
    if name.is_empty() {
        return Ok(None);
    }
    match own.or(GLOBAL.get()) {
        Some(provider) => provider.queue_metrics(name),
        None => Ok(None),
    }
}

/// The per-queue side of the metrics: the sinks plus the timestamps they need. Lives in the
/// queue's state, so every method runs under the queue lock.
pub(crate) struct Recorder<T> {
    metrics: QueueMetrics,
    /// First add time of each dirty item (WQ-23).
    added_at: HashMap<T, Instant>,
    /// Start time of each item being processed (WQ-24).
    started_at: HashMap<T, Instant>,
}

impl<T: Eq + Hash + Clone> Recorder<T> {
    pub(crate) fn new(metrics: QueueMetrics) -> Self {
        Recorder {
            metrics,
            added_at: HashMap::new(),
            started_at: HashMap::new(),
        }
    }

    /// An accepted add (WQ-6, WQ-23).
    pub(crate) fn add_locked(&mut self, item: &T, now: Instant) {
        self.metrics.adds.inc();
        self.metrics.depth.inc();
        if !self.added_at.contains_key(item) {
            self.added_at.insert(item.clone(), now);
        }
    }

    /// An item handed to a worker (WQ-9, WQ-24).
    pub(crate) fn get_locked(&mut self, item: &T, now: Instant) {
        self.metrics.depth.dec();
        self.started_at.insert(item.clone(), now);
        if let Some(added) = self.added_at.remove(item) {
            let waited = now.saturating_duration_since(added);
            self.metrics.queue_duration.observe(waited.as_secs_f64());
        }
    }

    /// A worker finished an item (WQ-11, WQ-25).
    pub(crate) fn done_locked(&mut self, item: &T, now: Instant) {
        if let Some(started) = self.started_at.remove(item) {
            let worked = now.saturating_duration_since(started);
            self.metrics.work_duration.observe(worked.as_secs_f64());
        }
    }

    /// An accepted `add_after` (DL-2, WQ-27).
    pub(crate) fn retry(&self) {
        self.metrics.retries.inc();
    }

    /// Recomputes the two in-flight gauges from the clock (WQ-26).
    pub(crate) fn refresh_locked(&self, now: Instant) {
        let mut total = 0.0;
        let mut oldest = Duration::ZERO;
        for started in self.started_at.values() {
            let age = now.saturating_duration_since(*started);
            total += age.as_secs_f64();
            oldest = oldest.max(age);
        }
        self.metrics.unfinished_work.set(total);
        self.metrics
            .longest_running_processor
            .set(oldest.as_secs_f64());
    }
}
