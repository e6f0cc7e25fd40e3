//! [`Controller`]: the queue, the workers and their lifecycle.
//!
//! # Ground rules
//! `state` moves once from `Idle` to `Running` (when a `run*` starts) and once to `Stopped`
//! (when it returns, or when an async run is dropped); a failed cache sync puts it back to
//! `Idle`. The `run*` call owns its workers and waits for every one of them. Workers leave when
//! the queue's `get` returns `None`, which happens once a shutdown has begun and nothing is
//! queued: every key in flight is finished by the worker holding it (a key re-added meanwhile is
//! queued again at its `done`, and that worker takes it), so when the last worker has left,
//! the queue is drained. Counters are atomics read without a lock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;
use timer_wheel::Driver;
use workqueue::RateLimitingQueue;

use crate::builder::{ControllerBuilder, GiveUp, WaitFor};
use crate::error::Error;
use crate::metrics::{ControllerMetrics, Recorder};
use crate::reconcile::{BlockingReconcile, Reconciler};
use crate::token::ShutdownToken;

/// A controller: a rate-limited queue of keys and the workers that reconcile them.
///
/// Cheap to clone; clones share everything. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct Controller {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Idle,
    Running,
    Stopped,
}

/// Everything a controller's clones and workers share; built once by the builder.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) threadiness: usize,
    pub(crate) max_retries: u32,
    pub(crate) driver: Driver,
    pub(crate) queue: RateLimitingQueue<String>,
    pub(crate) reconcile: Reconciler,
    /// Only with an async reconcile (the builder checks).
    #[cfg_attr(
        not(feature = "async"),
        allow(dead_code, reason = "read by async workers only")
    )]
    pub(crate) timeout: Option<Duration>,
    pub(crate) give_up: Option<GiveUp>,
    pub(crate) wait_for: Mutex<Vec<WaitFor>>,
    pub(crate) state: Mutex<State>,
    pub(crate) recorder: Recorder,
}

impl Shared {
    /// Calls every `wait_for` condition in order; the first that gives up fails the run.
    pub(crate) fn wait_for_caches(&self) -> Result<(), Error> {
        for (index, synced) in self.wait_for.lock().iter().enumerate() {
            if !synced() {
                return Err(Error::CacheSyncFailed {
                    name: self.name.clone(),
                    index,
                });
            }
        }
        tracing::info!(controller = %self.name, workers = self.threadiness, "caches synced; starting workers");
        Ok(())
    }
}

/// A run in progress: moves the state on when the run ends, even if an async run is dropped.
pub(crate) struct Running<'a> {
    shared: &'a Shared,
}

impl<'a> Running<'a> {
    /// `Idle` → `Running`, or [`Error::NotRunnable`].
    pub(crate) fn begin(shared: &'a Shared) -> Result<Self, Error> {
        let mut state = shared.state.lock();
        // A queue already shutting down is fine: the workers help drain it, then leave.
        if *state != State::Idle {
            return Err(Error::NotRunnable {
                name: shared.name.clone(),
            });
        }
        *state = State::Running;
        Ok(Running { shared })
    }

    /// Ends the run with `result`: a failed cache sync leaves the controller runnable again.
    pub(crate) fn end(self, result: Result<(), Error>) -> Result<(), Error> {
        if matches!(result, Err(Error::CacheSyncFailed { .. })) {
            *self.shared.state.lock() = State::Idle;
        }
        result
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state.lock();
            if *state == State::Running {
                *state = State::Stopped;
            }
        }
        // No worker is left to drain the queue: a `shutdown` waiting for the drain returns.
        if self.shared.queue.is_shutting_down() {
            self.shared.queue.shut_down();
        }
    }
}

impl Controller {
    /// A builder for a controller named `name` (used in errors, logs, thread names and as the
    /// metrics label of the controller and of its queue).
    pub fn builder(name: impl Into<String>) -> ControllerBuilder {
        ControllerBuilder::new(name.into())
    }

    pub(crate) fn from_shared(shared: Shared) -> Controller {
        Controller {
            shared: Arc::new(shared),
        }
    }

    /// The controller's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The work queue of keys. Add keys to it directly, or let [`handler`](Controller::handler)
    /// do it for an informer.
    pub fn queue(&self) -> &RateLimitingQueue<String> {
        &self.shared.queue
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> ControllerMetrics {
        self.shared.recorder.snapshot()
    }

    /// Waits for every `wait_for` condition, starts `threadiness` worker threads, and blocks
    /// until [`shutdown`](Controller::shutdown) has drained the queue and every worker has left.
    ///
    /// # Errors
    /// [`Error::CacheSyncFailed`] if a condition gives up (no worker is started then; the
    /// controller can be run again), [`Error::NotRunnable`] if it runs already or has run,
    /// [`Error::Spawn`] if a worker thread cannot start (the others are stopped and joined),
    /// [`Error::AsyncReconcile`] if the reconcile is async (use `run_async`).
    pub fn run(&self) -> Result<(), Error> {
        self.run_threads(None)
    }

    /// [`run`](Controller::run), stopping when `token` is cancelled: the same drain as
    /// [`shutdown`](Controller::shutdown) (no new keys, every key queued or in flight finished),
    /// then it returns. A `shutdown` from elsewhere stops it too.
    ///
    /// The token is watched once the workers have started; a `wait_for` condition still waiting
    /// for its cache is not interrupted (stop its informer with the same signal).
    ///
    /// # Errors
    /// Those of [`run`](Controller::run).
    ///
    /// # Examples
    /// ```
    /// use std::sync::mpsc;
    /// use controller::{Action, BoxError, Controller, ShutdownToken};
    /// use timer_wheel::{Driver, FakeClock};
    ///
    /// let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    /// let (seen_tx, seen) = mpsc::channel();
    /// let controller = Controller::builder("pods")
    ///     .driver(driver)
    ///     .reconcile(move |key: &str| {
    ///         seen_tx.send(key.to_owned()).unwrap();
    ///         Ok::<_, BoxError>(Action::Done)
    ///     })
    ///     .build()?;
    /// let token = ShutdownToken::new();
    /// let workers = {
    ///     let (controller, token) = (controller.clone(), token.clone());
    ///     std::thread::spawn(move || controller.run_until(&token))
    /// };
    /// controller.queue().add("default/web".to_owned());
    /// assert_eq!(seen.recv().unwrap(), "default/web");
    /// token.cancel(); // e.g. from a signal handler
    /// workers.join().unwrap()?;
    /// # Ok::<(), controller::Error>(())
    /// ```
    pub fn run_until(&self, token: &ShutdownToken) -> Result<(), Error> {
        self.run_threads(Some(token))
    }

    fn run_threads(&self, stop: Option<&ShutdownToken>) -> Result<(), Error> {
        let shared = &self.shared;
        let Some(reconcile) = shared.reconcile.blocking() else {
            return Err(Error::AsyncReconcile {
                name: shared.name.clone(),
            });
        };
        let running = Running::begin(shared)?;
        let result = shared
            .wait_for_caches()
            .and_then(|()| self.spawn_and_join(reconcile, stop));
        running.end(result)
    }

    fn spawn_and_join(
        &self,
        reconcile: &BlockingReconcile,
        stop: Option<&ShutdownToken>,
    ) -> Result<(), Error> {
        let shared = &self.shared;
        // Cancelled by the last worker to leave, so a `run_until` wakes when a `shutdown` from
        // elsewhere has drained the queue.
        let all_left = ShutdownToken::new();
        let live = Arc::new(AtomicUsize::new(shared.threadiness));
        let mut workers = Vec::with_capacity(shared.threadiness);
        for i in 0..shared.threadiness {
            let worker = Arc::clone(shared);
            let reconcile = Arc::clone(reconcile);
            let leaving = LastOut {
                live: Arc::clone(&live),
                all_left: all_left.clone(),
            };
            let spawned = thread::Builder::new()
                .name(format!("{}-worker-{i}", shared.name))
                .spawn(move || {
                    let _leaving = leaving;
                    crate::worker::run(&worker, &reconcile);
                });
            match spawned {
                Ok(join) => workers.push(join),
                Err(source) => {
                    shared.queue.shut_down();
                    for join in workers {
                        let _ = join.join();
                    }
                    return Err(Error::Spawn {
                        name: shared.name.clone(),
                        source,
                    });
                }
            }
        }
        if let Some(token) = stop
            && ShutdownToken::wait_any(&[token, &all_left]) == 0
        {
            tracing::info!(controller = %shared.name, "shutdown token cancelled; draining");
            self.shutdown();
        }
        for join in workers {
            // A worker never panics (reconcile panics are caught); a join error would be a bug
            // in this crate, and the other workers are still joined.
            let _ = join.join();
        }
        tracing::info!(controller = %shared.name, "workers stopped");
        Ok(())
    }

    /// Stops taking new keys, lets the workers finish every key already queued or in flight
    /// (retries and delayed keys are dropped), and returns when that is done. `run` then
    /// returns. Idempotent.
    ///
    /// A controller that is not running has no workers to drain its queue: `shutdown` then
    /// stops the queue and returns at once (a `run` started later still hands out what is
    /// queued, then ends). If the run ends while `shutdown` waits (its cache sync failed), the
    /// wait ends too.
    ///
    /// It blocks: in async code, use `shutdown_async` (feature `async`), which waits without
    /// holding up the runtime's thread.
    pub fn shutdown(&self) {
        if self.is_running() {
            self.shared.queue.shut_down_with_drain();
        } else {
            self.shared.queue.shut_down();
        }
    }

    /// Whether a `run*` is in progress: its workers drain the queue on [`shutdown`].
    ///
    /// # Examples
    /// ```
    /// use controller::{Action, BoxError, Controller};
    ///
    /// let controller = Controller::builder("example")
    ///     .reconcile(|_key: &str| Ok::<_, BoxError>(Action::Done))
    ///     .build()?;
    /// assert!(!controller.is_running());
    /// controller.shutdown(); // not running: returns at once
    /// # Ok::<(), controller::Error>(())
    /// ```
    ///
    /// [`shutdown`]: Controller::shutdown
    pub fn is_running(&self) -> bool {
        *self.shared.state.lock() == State::Running
    }

    /// The handler to register with an informer: it turns every add, update and deletion into
    /// the object's key on this controller's queue.
    pub fn handler<K: delta_fifo::Object + Send + Sync + 'static>(
        &self,
    ) -> crate::EnqueueHandler<K> {
        crate::EnqueueHandler::new(self.clone())
    }
}

/// Held by each worker thread: the last one to leave cancels `all_left`, even if it panicked.
struct LastOut {
    live: Arc<AtomicUsize>,
    all_left: ShutdownToken,
}

impl Drop for LastOut {
    fn drop(&mut self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_left.cancel();
        }
    }
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.shared.name)
            .field("threadiness", &self.shared.threadiness)
            .field("async", &self.shared.reconcile.is_async())
            .field("state", &*self.shared.state.lock())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
