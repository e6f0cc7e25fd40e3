//! One worker: `get` → reconcile → forget / retry / give up → `done`, until the queue shuts down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering::Relaxed;

use crate::action::{Action, BoxError};
use crate::controller::Shared;

/// Runs until the queue is shut down and drained.
pub(crate) fn run(shared: &Shared) {
    while let Some(lease) = shared.queue.get() {
        let key: &str = lease.as_str();
        process(shared, key);
        // Dropping the lease is `done`.
    }
}

/// One reconcile of `key`, and what follows from its outcome.
fn process(shared: &Shared, key: &str) {
    let counters = &shared.counters;
    let clock = shared.driver.clock();
    let span = tracing::info_span!("reconcile", controller = %shared.name, key);
    let _entered = span.enter();

    counters.active_workers.fetch_add(1, Relaxed);
    let started = clock.now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (shared.reconcile)(key)));
    let took = clock.now().saturating_duration_since(started);
    counters.active_workers.fetch_sub(1, Relaxed);
    counters.reconciles.fetch_add(1, Relaxed);
    counters
        .reconcile_nanos
        .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);

    let error: BoxError = match outcome {
        Ok(Ok(Action::Done)) => {
            shared.queue.forget(&key.to_owned());
            return;
        }
        Ok(Ok(Action::RequeueAfter(delay))) => {
            counters.requeued_after.fetch_add(1, Relaxed);
            let key = key.to_owned();
            shared.queue.forget(&key);
            shared.queue.add_after(key, delay);
            return;
        }
        Ok(Err(error)) => error,
        Err(panic) => {
            counters.panics.fetch_add(1, Relaxed);
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            format!("reconcile panicked: {message}").into()
        }
    };
    counters.errors.fetch_add(1, Relaxed);
    let key = key.to_owned();
    let failures = shared.queue.num_requeues(&key);
    if failures < shared.max_retries {
        tracing::debug!(error = %error, failures, "reconcile failed; retrying with backoff");
        shared.queue.add_rate_limited(key);
    } else {
        counters.gave_up.fetch_add(1, Relaxed);
        shared.queue.forget(&key);
        match &shared.give_up {
            Some(hook) => hook(&key, &error),
            None => {
                tracing::warn!(error = %error, retries = failures, "dropping key out of the queue")
            }
        }
    }
}
