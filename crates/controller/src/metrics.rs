//! [`ControllerMetrics`]: counters of what the workers did.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A snapshot of a controller's counters (the queue's own metrics come from `workqueue`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerMetrics {
    /// Reconcile calls, whatever their outcome.
    pub reconciles: u64,
    /// Reconciles that returned an error (panics included).
    pub errors: u64,
    /// Reconciles that panicked.
    pub panics: u64,
    /// Keys dropped after `max_retries` failed retries.
    pub gave_up: u64,
    /// Reconciles that asked for [`Action::RequeueAfter`](crate::Action::RequeueAfter).
    pub requeued_after: u64,
    /// Workers inside a reconcile right now.
    pub active_workers: u64,
    /// Total time spent in reconcile, on the controller's clock.
    pub reconcile_time: Duration,
}

/// The live counters behind [`ControllerMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) reconciles: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) gave_up: AtomicU64,
    pub(crate) requeued_after: AtomicU64,
    pub(crate) active_workers: AtomicU64,
    pub(crate) reconcile_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ControllerMetrics {
        ControllerMetrics {
            reconciles: self.reconciles.load(Relaxed),
            errors: self.errors.load(Relaxed),
            panics: self.panics.load(Relaxed),
            gave_up: self.gave_up.load(Relaxed),
            requeued_after: self.requeued_after.load(Relaxed),
            active_workers: self.active_workers.load(Relaxed),
            reconcile_time: Duration::from_nanos(self.reconcile_nanos.load(Relaxed)),
        }
    }
}
