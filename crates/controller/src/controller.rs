//! [`Controller`]: the queue, the workers and their lifecycle.
//!
//! # Ground rules
//! `state` moves once from `Idle` to `Running` (in [`Controller::run`]) and once to `Stopped`
//! (when `run` returns); `run` owns the worker threads and joins them. Workers leave when the
//! queue's `get` returns `None`, which happens after [`Controller::shutdown`] has drained every
//! key queued or in flight. Counters are atomics read without a lock.

use std::fmt;
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;
use timer_wheel::Driver;
use workqueue::RateLimitingQueue;

use crate::action::{Action, BoxError};
use crate::builder::{ControllerBuilder, GiveUp, WaitFor};
use crate::error::Error;
use crate::metrics::{ControllerMetrics, Counters};

/// The reconcile function, type-erased.
pub(crate) type Reconcile = Arc<dyn Fn(&str) -> Result<Action, BoxError> + Send + Sync>;

/// A controller: a rate-limited queue of keys and the workers that reconcile them.
///
/// Cheap to clone; clones share everything. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct Controller {
    shared: Arc<Shared>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Stopped,
}

pub(crate) struct Shared {
    pub(crate) name: String,
    threadiness: usize,
    pub(crate) max_retries: u32,
    pub(crate) driver: Driver,
    pub(crate) queue: RateLimitingQueue<String>,
    pub(crate) reconcile: Reconcile,
    pub(crate) give_up: Option<GiveUp>,
    wait_for: Mutex<Vec<WaitFor>>,
    state: Mutex<State>,
    pub(crate) counters: Counters,
}

impl Shared {
    #[allow(
        clippy::too_many_arguments,
        reason = "the builder's fields, passed once"
    )]
    pub(crate) fn new(
        name: String,
        threadiness: usize,
        max_retries: u32,
        driver: Driver,
        queue: RateLimitingQueue<String>,
        reconcile: Reconcile,
        give_up: Option<GiveUp>,
        wait_for: Vec<WaitFor>,
    ) -> Shared {
        Shared {
            name,
            threadiness,
            max_retries,
            driver,
            queue,
            reconcile,
            give_up,
            wait_for: Mutex::new(wait_for),
            state: Mutex::new(State::Idle),
            counters: Counters::default(),
        }
    }
}

impl Controller {
    /// A builder for a controller named `name` (used in errors, logs and thread names).
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
        self.shared.counters.snapshot()
    }

    /// Waits for every `wait_for` condition, starts `threadiness` workers, and blocks until
    /// [`shutdown`](Controller::shutdown) has drained the queue and every worker has left.
    ///
    /// # Errors
    /// [`Error::CacheSyncFailed`] if a condition gives up (no worker is started then; the
    /// controller can be run again), [`Error::NotRunnable`] if it runs already or has run,
    /// [`Error::Spawn`] if a worker thread cannot start (the others are stopped and joined).
    pub fn run(&self) -> Result<(), Error> {
        let shared = &self.shared;
        {
            let mut state = shared.state.lock();
            // A queue already shutting down is fine: the workers help drain it, then leave.
            if *state != State::Idle {
                return Err(Error::NotRunnable {
                    name: shared.name.clone(),
                });
            }
            *state = State::Running;
        }
        let result = self.run_workers();
        *shared.state.lock() = if result
            .as_ref()
            .is_err_and(|e| matches!(e, Error::CacheSyncFailed { .. }))
        {
            State::Idle
        } else {
            State::Stopped
        };
        result
    }

    fn run_workers(&self) -> Result<(), Error> {
        let shared = &self.shared;
        for (index, synced) in shared.wait_for.lock().iter().enumerate() {
            if !synced() {
                return Err(Error::CacheSyncFailed {
                    name: shared.name.clone(),
                    index,
                });
            }
        }
        tracing::info!(controller = %shared.name, workers = shared.threadiness, "caches synced; starting workers");
        let mut workers = Vec::with_capacity(shared.threadiness);
        for i in 0..shared.threadiness {
            let worker = Arc::clone(shared);
            let spawned = thread::Builder::new()
                .name(format!("{}-worker-{i}", shared.name))
                .spawn(move || crate::worker::run(&worker));
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
    pub fn shutdown(&self) {
        self.shared.queue.shut_down_with_drain();
    }

    /// The handler to register with an informer: it turns every add, update and deletion into
    /// the object's key on this controller's queue.
    pub fn handler<K: delta_fifo::Object + Send + Sync + 'static>(
        &self,
    ) -> crate::EnqueueHandler<K> {
        crate::EnqueueHandler::new(self.clone())
    }
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.shared.name)
            .field("threadiness", &self.shared.threadiness)
            .field("state", &*self.shared.state.lock())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
