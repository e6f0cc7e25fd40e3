//! One worker task: `get_async` → reconcile future (raced against the timeout) →
//! [`Attempt::end`] → `done`, until the queue shuts down.
//!
//! The timeout is a [`timer_wheel::Timer`] on the controller's driver, so it follows the
//! driver's clock (a `FakeClock` in tests). When it fires first, the reconcile future is dropped
//! there and then: the reconcile is cancelled at its current `.await`. If the driver shuts down
//! before the deadline, the reconcile simply runs to completion.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::{Either, select};
use tracing::Instrument;

use crate::controller::Shared;
use crate::outcome::{Attempt, Outcome};
use crate::reconcile::AsyncReconcile;

/// Runs until the queue is shut down and drained.
pub(crate) async fn run(shared: Arc<Shared>, reconcile: AsyncReconcile) {
    while let Some(lease) = shared.queue.get_async().await {
        let key: &str = lease.as_str();
        let span = tracing::info_span!("reconcile", controller = %shared.name, key);
        // The span covers the outcome's handling too, as on a worker thread.
        async {
            let attempt = Attempt::begin(&shared);
            let outcome = reconcile_once(&shared, &reconcile, key).await;
            attempt.end(key, outcome);
        }
        .instrument(span)
        .await;
        // Dropping the lease is `done`.
    }
}

/// Calls the reconcile and awaits its future, catching a panic in either and giving up at the
/// timeout.
async fn reconcile_once(shared: &Shared, reconcile: &AsyncReconcile, key: &str) -> Outcome {
    let future = match catch_unwind(AssertUnwindSafe(|| reconcile(key.to_owned()))) {
        Ok(future) => future,
        Err(payload) => return Outcome::Panicked(payload),
    };
    let guarded = AssertUnwindSafe(future).catch_unwind();
    let Some(timeout) = shared.timeout else {
        return caught(guarded.await);
    };
    let timer = shared.driver.timer(timeout);
    let deadline = std::pin::pin!(async {
        if timer.recv_async().await.is_err() {
            // The driver shut down: no deadline will ever come.
            std::future::pending::<()>().await;
        }
    });
    match select(guarded, deadline).await {
        Either::Left((result, _deadline)) => caught(result),
        // The reconcile future is dropped here, cancelling it.
        Either::Right(((), _reconcile)) => Outcome::TimedOut(timeout),
    }
}

fn caught(
    result: Result<Result<crate::Action, crate::BoxError>, Box<dyn std::any::Any + Send>>,
) -> Outcome {
    match result {
        Ok(returned) => Outcome::Returned(returned),
        Err(payload) => Outcome::Panicked(payload),
    }
}
