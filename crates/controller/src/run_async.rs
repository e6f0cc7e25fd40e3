//! The async face of [`Controller`]: worker tasks on tokio for an async reconcile.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::{Either, select};
use tokio::runtime::Handle;
use tokio::task::JoinSet;

use crate::controller::{Controller, Running, Shared};
use crate::error::Error;
use crate::reconcile::Reconciler;

impl Controller {
    /// The async twin of [`run`](Controller::run), for a controller built with
    /// [`reconcile_async`](crate::ControllerBuilder::reconcile_async): waits for every
    /// `wait_for` condition (on tokio's blocking pool), spawns `threadiness` worker tasks on the
    /// current runtime, and returns once [`shutdown_async`](Controller::shutdown_async) (or
    /// `shutdown`) has drained the queue and every worker has left.
    ///
    /// # Errors
    /// Those of [`run`](Controller::run) (but [`Error::Spawn`]), plus
    /// [`Error::BlockingReconcile`] if the reconcile blocks (use `run`) and
    /// [`Error::NoRuntime`] outside a tokio runtime.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future aborts the worker tasks at their next `.await`, and
    /// a reconcile in flight is abandoned (its key is marked done without finishing). Stop a
    /// controller with [`run_until_async`](Controller::run_until_async) or `shutdown_async`.
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), controller::Error> {
    /// use controller::{Action, BoxError, Controller};
    /// use timer_wheel::{Driver, FakeClock};
    /// use tokio::sync::mpsc;
    ///
    /// let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    /// let (seen_tx, mut seen) = mpsc::unbounded_channel();
    /// let controller = Controller::builder("pods")
    ///     .driver(driver)
    ///     .threadiness(2)
    ///     .reconcile_async(move |key: String| {
    ///         let seen_tx = seen_tx.clone();
    ///         async move {
    ///             seen_tx.send(key).unwrap();
    ///             Ok::<_, BoxError>(Action::Done)
    ///         }
    ///     })
    ///     .build()?;
    ///
    /// let workers = tokio::spawn({
    ///     let controller = controller.clone();
    ///     async move { controller.run_async().await }
    /// });
    /// controller.queue().add("default/web".to_owned());
    /// assert_eq!(seen.recv().await.unwrap(), "default/web");
    /// controller.shutdown_async().await; // drains, then `run_async` returns
    /// workers.await.unwrap()?;
    /// assert_eq!(controller.metrics().reconciles, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_async(&self) -> Result<(), Error> {
        self.run_until_async(std::future::pending()).await
    }

    /// [`run_async`](Controller::run_async), stopping when `signal` completes: the same drain
    /// as `shutdown_async` (no new keys, every key queued or in flight finished), then it
    /// returns. `signal` can be a [`ShutdownToken::cancelled`](crate::ShutdownToken::cancelled)
    /// future, `tokio::signal::ctrl_c()` mapped to `()`, or any other future; it is polled
    /// only once the workers have started.
    ///
    /// # Errors
    /// Those of [`run_async`](Controller::run_async).
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`run_async`](Controller::run_async): let `signal` stop it instead.
    pub async fn run_until_async(&self, signal: impl Future<Output = ()>) -> Result<(), Error> {
        let shared = &self.shared;
        let Reconciler::Async(reconcile) = &shared.reconcile else {
            return Err(Error::BlockingReconcile {
                name: shared.name.clone(),
            });
        };
        let Ok(runtime) = Handle::try_current() else {
            return Err(Error::NoRuntime {
                name: shared.name.clone(),
            });
        };
        let running = Running::begin(shared)?;
        if let Err(error) = wait_for_caches(shared, &runtime).await {
            return running.end(Err(error));
        }
        let mut workers = JoinSet::new();
        for _ in 0..shared.threadiness {
            workers.spawn_on(
                crate::worker_async::run(Arc::clone(shared), Arc::clone(reconcile)),
                &runtime,
            );
        }
        let all_left = std::pin::pin!(async {
            while let Some(joined) = workers.join_next().await {
                if let Err(error) = joined
                    && error.is_panic()
                {
                    // Reconcile panics are caught inside the task: this is a bug in this crate.
                    tracing::error!(controller = %shared.name, %error, "worker task panicked");
                }
            }
        });
        let signal = std::pin::pin!(signal);
        if let Either::Left(((), all_left)) = select(signal, all_left).await {
            tracing::info!(controller = %shared.name, "shutdown signal; draining");
            shared.queue.shut_down_with_drain_async().await;
            all_left.await;
        }
        tracing::info!(controller = %shared.name, "workers stopped");
        running.end(Ok(()))
    }

    /// The async twin of [`shutdown`](Controller::shutdown): stops taking new keys and waits,
    /// without blocking the thread, until every key queued or in flight is done.
    ///
    /// # Cancel safety
    /// The shutdown begins on the first poll; dropping the future then only stops the waiting.
    pub async fn shutdown_async(&self) {
        if self.is_running() {
            self.shared.queue.shut_down_with_drain_async().await;
        } else {
            self.shared.queue.shut_down();
        }
    }
}

/// [`Shared::wait_for_caches`] on the blocking pool: the conditions block until synced.
async fn wait_for_caches(shared: &Arc<Shared>, runtime: &Handle) -> Result<(), Error> {
    if shared.wait_for.lock().is_empty() {
        return Ok(());
    }
    let waiting = Arc::clone(shared);
    match runtime
        .spawn_blocking(move || waiting.wait_for_caches())
        .await
    {
        Ok(result) => result,
        // A condition panicked: the caller sees it, as with `run`.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(Error::NoRuntime {
            name: shared.name.clone(),
        }),
    }
}
