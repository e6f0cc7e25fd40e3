//! [`ControllerBuilder`]: the controller's settings.

use std::sync::Arc;
use std::time::Duration;

use timer_wheel::Driver;
use workqueue::limiter::{RateLimiter, default_controller};
use workqueue::{QueueConfig, RateLimitingQueue};

use crate::action::{Action, BoxError};
use crate::controller::{Controller, Shared};
use crate::error::Error;
use crate::metrics::{self, MetricsProvider, Recorder};
use crate::reconcile::Reconciler;

/// The retries client-go's example controller allows a key before dropping it.
const DEFAULT_MAX_RETRIES: u32 = 5;

/// The most workers a controller may have: far above any real need (client-go controllers run a
/// handful), low enough that a unit mistake is an error instead of a spawn storm.
pub const MAX_THREADINESS: usize = 4096;

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
    reconcile: Option<Reconciler>,
    timeout: Option<Duration>,
    give_up: Option<GiveUp>,
    wait_for: Vec<WaitFor>,
    metrics: Option<Arc<dyn MetricsProvider>>,
    queue_metrics: Option<Arc<dyn workqueue::metrics::MetricsProvider>>,
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
            timeout: None,
            give_up: None,
            wait_for: Vec::new(),
            metrics: None,
            queue_metrics: None,
        }
    }

    /// Workers (default 1): threads for a blocking reconcile, tokio tasks for an async one. From
    /// 1 to [`MAX_THREADINESS`]; `build` refuses anything else.
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

    /// The timer driver (and so the clock) of the queue's delays, the reconcile timeout and the
    /// reconcile timing; default [`Driver::global`]. Tests pass a manual driver over a
    /// `FakeClock`.
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

    /// The blocking reconcile function, run on worker threads by [`Controller::run`]: called
    /// with a `namespace/name` key (or `name` for cluster-scoped objects). `Ok` forgets the
    /// key's failures; `Err` retries it with backoff. Replaces an earlier reconcile.
    pub fn reconcile<E>(
        mut self,
        reconcile: impl Fn(&str) -> Result<Action, E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.reconcile = Some(Reconciler::Blocking(Arc::new(move |key: &str| {
            reconcile(key).map_err(Into::into)
        })));
        self
    }

    /// The async reconcile function, run on tokio tasks by
    /// [`Controller::run_async`](Controller::run_async): called with the key, its future is
    /// polled on a worker task. The outcomes are those of [`reconcile`](Self::reconcile); a
    /// panic while making or polling the future is caught and retried too. Replaces an earlier
    /// reconcile.
    ///
    /// # Examples
    /// ```
    /// use controller::{Action, BoxError, Controller};
    ///
    /// let controller = Controller::builder("pods")
    ///     .reconcile_async(|key: String| async move {
    ///         // await the API server here
    ///         let _ = key;
    ///         Ok::<_, BoxError>(Action::Done)
    ///     })
    ///     .build()?;
    /// # let _ = controller;
    /// # Ok::<(), controller::Error>(())
    /// ```
    #[cfg(feature = "async")]
    pub fn reconcile_async<F, E>(
        mut self,
        reconcile: impl Fn(String) -> F + Send + Sync + 'static,
    ) -> Self
    where
        F: Future<Output = Result<Action, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryFutureExt;
        self.reconcile = Some(Reconciler::Async(Arc::new(move |key: String| {
            Box::pin(reconcile(key).map_err(Into::into))
        })));
        self
    }

    /// Gives each async reconcile at most `timeout`, measured on the driver's clock: at the
    /// deadline its future is dropped (cancelled at its current `.await`), the attempt counts as
    /// a failure with a [`ReconcileTimeout`](crate::ReconcileTimeout) error naming the key, and
    /// the key is retried with backoff (or given up after `max_retries`). Default: none.
    ///
    /// A blocking reconcile cannot be stopped at a deadline (a thread cannot be preempted, and
    /// abandoning it would let two attempts of one key run at once), so
    /// [`build`](Self::build) rejects a timeout with a blocking reconcile:
    /// [`Error::TimeoutNeedsAsync`]. A blocking reconcile that calls out should put timeouts on
    /// those calls itself.
    pub fn reconcile_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Called once for each key dropped after `max_retries`, with its last error (default: a
    /// `tracing` warning). A panic in the hook is caught and logged; the worker lives on.
    pub fn on_give_up(mut self, hook: impl Fn(&str, &BoxError) + Send + Sync + 'static) -> Self {
        self.give_up = Some(Arc::new(hook));
        self
    }

    /// A condition to wait for before the workers start, typically an informer handler's
    /// `synced()`: it blocks until synced and returns true, or returns false if it never will
    /// (then [`Controller::run`] fails with [`Error::CacheSyncFailed`]). `run_async` calls it on
    /// tokio's blocking pool.
    pub fn wait_for(mut self, synced: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.wait_for.push(Box::new(synced));
        self
    }

    /// Where the controller's metrics go (see [`metrics`]); default: the
    /// [global provider](crate::metrics::set_global_provider), else none.
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics = Some(provider);
        self
    }

    /// Where the queue's own metrics go, labelled with the controller's name; default:
    /// `workqueue`'s [global provider](workqueue::metrics::set_global_provider), else none.
    pub fn queue_metrics_provider(
        mut self,
        provider: Arc<dyn workqueue::metrics::MetricsProvider>,
    ) -> Self {
        self.queue_metrics = Some(provider);
        self
    }

    /// Builds the controller and its queue (named after the controller).
    ///
    /// # Errors
    /// [`Error::NoReconcile`], [`Error::ZeroThreadiness`], [`Error::ZeroTimeout`],
    /// [`Error::TimeoutNeedsAsync`], [`Error::Queue`] if the queue cannot be built (such as a
    /// queue metrics name already taken), or what the controller's metrics provider says
    /// ([`Error::DuplicateName`], [`Error::Metrics`]).
    pub fn build(self) -> Result<Controller, Error> {
        let name = self.name;
        let reconcile = self
            .reconcile
            .ok_or_else(|| Error::NoReconcile { name: name.clone() })?;
        if self.threadiness == 0 {
            return Err(Error::ZeroThreadiness { name });
        }
        if self.threadiness > MAX_THREADINESS {
            return Err(Error::TooManyWorkers {
                name,
                workers: self.threadiness,
                max: MAX_THREADINESS,
            });
        }
        match self.timeout {
            Some(timeout) if timeout.is_zero() => return Err(Error::ZeroTimeout { name }),
            Some(_) if !reconcile.is_async() => return Err(Error::TimeoutNeedsAsync { name }),
            _ => {}
        }
        let driver = self.driver.unwrap_or_else(|| Driver::global().clone());
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(default_controller(driver.clock().clone())));
        let mut config = QueueConfig::new().name(name.clone()).driver(driver.clone());
        if let Some(provider) = self.queue_metrics {
            config = config.metrics_provider(provider);
        }
        let sinks = metrics::resolve(&name, self.metrics.as_ref())?;
        let queue =
            RateLimitingQueue::with_config(config, limiter).map_err(|source| Error::Queue {
                name: name.clone(),
                source,
            })?;
        Ok(Controller::from_shared(Shared {
            name,
            threadiness: self.threadiness,
            max_retries: self.max_retries,
            driver,
            queue,
            reconcile,
            timeout: self.timeout,
            give_up: self.give_up,
            wait_for: parking_lot::Mutex::new(self.wait_for),
            state: parking_lot::Mutex::new(crate::controller::State::Idle),
            recorder: Recorder::new(sinks),
        }))
    }
}

impl std::fmt::Debug for ControllerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerBuilder")
            .field("name", &self.name)
            .field("threadiness", &self.threadiness)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
