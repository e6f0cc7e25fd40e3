//! What an attempt's outcome does to its key: the one decision both worker faces share.
//!
//! | outcome | counted as | the key |
//! |---|---|---|
//! | `Ok(Action::Done)` | a reconcile | `forget` |
//! | `Ok(Action::RequeueAfter(d))` | a requeue-after | `forget`, then `add_after(d)` |
//! | `Err(e)` | an error | `add_rate_limited` while `num_requeues < max_retries`, else `forget` + give-up hook |
//! | a panic | a panic and an error | as `Err(ReconcilePanicked)` |
//! | the timeout | a timeout and an error | as `Err(ReconcileTimeout)` |

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use crate::action::{Action, BoxError};
use crate::controller::Shared;
use crate::error::{ReconcilePanicked, ReconcileTimeout};

/// How one attempt ended.
pub(crate) enum Outcome {
    /// The reconcile returned.
    Returned(Result<Action, BoxError>),
    /// The reconcile panicked, with this payload.
    Panicked(Box<dyn Any + Send>),
    /// The reconcile was dropped at the timeout (async reconcile only).
    #[cfg_attr(
        not(feature = "async"),
        allow(dead_code, reason = "built by async workers only")
    )]
    TimedOut(Duration),
}

/// One attempt in progress: counts the worker active from `begin` until `end` (or until it is
/// dropped, if the worker task is cancelled mid-reconcile).
pub(crate) struct Attempt<'a> {
    shared: &'a Shared,
    started: Instant,
    ended: bool,
}

impl<'a> Attempt<'a> {
    pub(crate) fn begin(shared: &'a Shared) -> Self {
        shared.recorder.started();
        Attempt {
            shared,
            started: shared.driver.clock().now(),
            ended: false,
        }
    }

    /// Records the attempt and applies its outcome to `key`.
    pub(crate) fn end(mut self, key: &str, outcome: Outcome) {
        self.ended = true;
        self.record_time();
        settle(self.shared, key, outcome);
    }

    fn record_time(&self) {
        let took = self
            .shared
            .driver
            .clock()
            .now()
            .saturating_duration_since(self.started);
        self.shared.recorder.finished(took);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.record_time();
        }
    }
}

/// Applies `outcome` to `key`: forget, requeue after a delay, retry with backoff, or give up.
fn settle(shared: &Shared, key: &str, outcome: Outcome) {
    let recorder = &shared.recorder;
    let error: BoxError = match outcome {
        Outcome::Returned(Ok(Action::Done)) => {
            shared.queue.forget(&key.to_owned());
            return;
        }
        Outcome::Returned(Ok(Action::RequeueAfter(delay))) => {
            recorder.requeued_after();
            let key = key.to_owned();
            shared.queue.forget(&key);
            shared.queue.add_after(key, delay);
            return;
        }
        Outcome::Returned(Err(error)) => error,
        Outcome::Panicked(payload) => {
            recorder.panic();
            Box::new(ReconcilePanicked {
                key: key.to_owned(),
                message: panic_message(payload.as_ref()),
            })
        }
        Outcome::TimedOut(timeout) => {
            recorder.timeout();
            Box::new(ReconcileTimeout {
                key: key.to_owned(),
                timeout,
            })
        }
    };
    recorder.error();
    let key = key.to_owned();
    let failures = shared.queue.num_requeues(&key);
    if failures < shared.max_retries {
        tracing::debug!(error = %error, failures, "reconcile failed; retrying with backoff");
        shared.queue.add_rate_limited(key);
    } else {
        recorder.gave_up();
        shared.queue.forget(&key);
        match &shared.give_up {
            Some(hook) => {
                // The hook is user code too: a panic in it must not kill the worker either.
                let called = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&key, &error)));
                if let Err(payload) = called {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(%message, "the give-up hook panicked");
                }
            }
            None => {
                tracing::warn!(error = %error, retries = failures, "dropping key out of the queue")
            }
        }
    }
}

/// The message of a panic payload: `panic!` gives a `&str` or a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_of_each_payload_kind() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "a panic without a message");
    }
}
