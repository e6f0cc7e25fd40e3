//! [`Action`]: what a successful reconcile asks for next.

use std::time::Duration;

/// Any error a reconcile function returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What to do with a key after a reconcile that succeeded.
///
/// A failure is an `Err` from the reconcile function instead: the key is retried with the
/// queue's rate limiter, and given up after `max_retries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Done: the key's failure count is reset (`forget`).
    Done,
    /// Done for now; reconcile again after this delay (failure count reset too).
    RequeueAfter(Duration),
}
