//! One worker thread: `get` → reconcile → [`Attempt::end`] → `done`, until the queue shuts down.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::controller::Shared;
use crate::outcome::{Attempt, Outcome};
use crate::reconcile::BlockingReconcile;

/// Runs until the queue is shut down and drained.
pub(crate) fn run(shared: &Shared, reconcile: &BlockingReconcile) {
    while let Some(lease) = shared.queue.get() {
        let key: &str = lease.as_str();
        let span = tracing::info_span!("reconcile", controller = %shared.name, key);
        let _entered = span.enter();
        let attempt = Attempt::begin(shared);
        let outcome = match catch_unwind(AssertUnwindSafe(|| reconcile(key))) {
            Ok(returned) => Outcome::Returned(returned),
            Err(payload) => Outcome::Panicked(payload),
        };
        attempt.end(key, outcome);
        // Dropping the lease is `done`.
    }
}
