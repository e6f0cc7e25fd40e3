//! [`ControllerBuilder`]: the controller's settings.

use std::sync::Arc;

use timer_wheel::Driver;
use workqueue::limiter::{RateLimiter, default_controller};
use workqueue::{QueueConfig, RateLimitingQueue};

use crate::action::{Action, BoxError};
use crate::controller::{Controller, Reconcile, Shared};
use crate::error::Error;

/// The retries client-go's example controller allows a key before dropping it.
const DEFAULT_MAX_RETRIES: u32 = 5;

/// A give-up hook: the key and the error of its last attempt.
pub(crate) type GiveUp = Arc<dyn Fn(&str, &BoxError) + Send + Sync>;

/// A condition the workers wait for before starting: true once synced, false if it never will.
pub(crate) type WaitFor = Box<dyn Fn() -> bool + Send + Sync>;

/// Settings of a [`Controller`]. Start with [`Controller::builder`].
pub struct ControllerBuilder {
    name: String,
    threadiness: usize,
    max_retries: u32,
    driver: Option<Driver>,
    limiter: Option<Arc<dyn RateLimiter<String>>>,
    reconcile: Option<Reconcile>,
    give_up: Option<GiveUp>,
    wait_for: Vec<WaitFor>,
}

impl ControllerBuilder {
    pub(crate) fn new(name: String) -> Self {
        ControllerBuilder {
            name,
            threadiness: 1,
            max_retries: DEFAULT_MAX_RETRIES,
            driver: None,
            limiter: None,
            reconcile: None,
            give_up: None,
            wait_for: Vec::new(),
        }
    }

    /// Worker threads (default 1).
    pub fn threadiness(mut self, workers: usize) -> Self {
        self.threadiness = workers;
        self
    }

    /// Failed retries before a key is dropped (default 5): a key is reconciled at most
    /// `max_retries + 1` times in a row while it keeps failing.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The timer driver (and so the clock) of the queue's delays and the reconcile timing;
    /// default [`Driver::global`]. Tests pass a manual driver over a `FakeClock`.
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// The retry rate limiter (default: client-go's default controller limiter on the driver's
    /// clock, per-item exponential 5 ms..1000 s and an overall 10 qps / burst 100 bucket).
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<String> + 'static) -> Self {
        self.limiter = Some(Arc::new(limiter));
        self
    }

    /// The reconcile function: called with a `namespace/name` key (or `name` for cluster-scoped
    /// objects). `Ok` forgets the key's failures; `Err` retries it with backoff.
    pub fn reconcile<E>(
        mut self,
        reconcile: impl Fn(&str) -> Result<Action, E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.reconcile = Some(Arc::new(move |key: &str| {
            reconcile(key).map_err(Into::into)
        }));
        self
    }

    /// Called once for each key dropped after `max_retries`, with its last error (default: a
    /// `tracing` warning).
    pub fn on_give_up(mut self, hook: impl Fn(&str, &BoxError) + Send + Sync + 'static) -> Self {
        self.give_up = Some(Arc::new(hook));
        self
    }

    /// A condition to wait for before the workers start, typically an informer handler's
    /// `synced()`: it blocks until synced and returns true, or returns false if it never will
    /// (then [`Controller::run`] fails with [`Error::CacheSyncFailed`]).
    pub fn wait_for(mut self, synced: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.wait_for.push(Box::new(synced));
        self
    }

    /// Builds the controller and its queue.
    ///
    /// # Errors
    /// [`Error::NoReconcile`], [`Error::ZeroThreadiness`], or [`Error::Queue`] if the queue
    /// cannot be built.
    pub fn build(self) -> Result<Controller, Error> {
        let name = self.name;
        let reconcile = self
            .reconcile
            .ok_or_else(|| Error::NoReconcile { name: name.clone() })?;
        if self.threadiness == 0 {
            return Err(Error::ZeroThreadiness { name });
        }
        let driver = self.driver.unwrap_or_else(|| Driver::global().clone());
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(default_controller(driver.clock().clone())));
        let config = QueueConfig::new().driver(driver.clone());
        let queue =
            RateLimitingQueue::with_config(config, limiter).map_err(|source| Error::Queue {
                name: name.clone(),
                source,
            })?;
        Ok(Controller::from_shared(Shared::new(
            name,
            self.threadiness,
            self.max_retries,
            driver,
            queue,
            reconcile,
            self.give_up,
            self.wait_for,
        )))
    }
}

impl std::fmt::Debug for ControllerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerBuilder")
            .field("name", &self.name)
            .field("threadiness", &self.threadiness)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}
