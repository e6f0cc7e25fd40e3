//! [`QueueConfig`]: a queue's name, clock, timer driver and metrics provider.

use std::fmt;
use std::sync::Arc;

use timer_wheel::{Driver, RealClock, SharedClock};

use crate::metrics::MetricsProvider;

/// How to build a queue (client-go's `TypedQueueConfig`, plus the timer driver).
///
/// Everything is optional:
///
/// * `name`: the metrics label; an unnamed queue records no metrics (WQ-22).
/// * `driver`: the [`Driver`] that fires delays and the 500 ms metrics refresh. Default: the
///   process-wide [`Driver::global`] on the real clock. Give a driver built on a
///   [`FakeClock`](timer_wheel::FakeClock) to test time-based behaviour without sleeping.
/// * `clock`: where the queue reads time (metrics timestamps). Default: the driver's clock when a
///   driver is given, else the [`RealClock`].
/// * `metrics_provider`: overrides the [global provider](crate::metrics::set_global_provider).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Driver, FakeClock};
/// use workqueue::{DelayingQueue, QueueConfig};
///
/// let clock = FakeClock::new();
/// let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
/// let queue = DelayingQueue::with_config(QueueConfig::new().name("nodes").driver(driver.clone()))?;
/// queue.add_after("n1", Duration::from_secs(1));
/// clock.advance(Duration::from_secs(1));
/// driver.turn();
/// assert_eq!(queue.len(), 1);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[derive(Clone, Default)]
#[doc(alias = "TypedQueueConfig")]
pub struct QueueConfig {
    pub(crate) name: String,
    pub(crate) clock: Option<SharedClock>,
    pub(crate) driver: Option<Driver>,
    pub(crate) metrics: Option<Arc<dyn MetricsProvider>>,
}

impl QueueConfig {
    /// The defaults: unnamed, global driver, real clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the queue; the name labels its metrics.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Reads time from `clock` (default: the driver's clock, else the real clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Fires delays and the metrics refresh on `driver` (default: [`Driver::global`]).
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// Sends this queue's metrics to `provider`.
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics = Some(provider);
        self
    }

    /// The clock the queue will read.
    pub(crate) fn resolved_clock(&self) -> SharedClock {
        match (&self.clock, &self.driver) {
            (Some(clock), _) => Arc::clone(clock),
            (None, Some(driver)) => Arc::clone(driver.clock()),
            (None, None) => Arc::new(RealClock::new()),
        }
    }

    /// The driver the queue will use.
    pub(crate) fn resolved_driver(&self) -> Driver {
        self.driver
            .clone()
            .unwrap_or_else(|| Driver::global().clone())
    }
}

impl fmt::Debug for QueueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConfig")
            .field("name", &self.name)
            .field("clock", &self.clock)
            .field("driver", &self.driver)
            .field("metrics", &self.metrics)
            .finish()
    }
}
