//! The classic Kubernetes controller loop as a builder: informer events become keys in a
//! rate-limited [`workqueue`], `threadiness` workers take them and call your reconcile
//! function, failures are retried with backoff and dropped after `max_retries`, and shutdown
//! drains the work in flight.
//!
//! The loop is client-go's `workqueue` example controller: [`EnqueueHandler`] is the event handler
//! that turns adds, updates and deletions (typed tombstones included) into `namespace/name` keys;
//! each worker runs `get` → reconcile → `forget` on success / `add_rate_limited` on failure →
//! `done`. Deliberate additions: a panicking reconcile is caught, counted and retried (the worker
//! lives on); [`Action::RequeueAfter`] schedules a later pass; every give-up reaches a hook; a
//! `tracing` span wraps each reconcile; [`ControllerMetrics`] counts what happened and a
//! [`metrics::MetricsProvider`] exports it.
//!
//! Two faces share one core (the queue, and the one function that decides what an outcome does
//! to a key):
//!
//! | reconcile | workers | run | stop |
//! |---|---|---|---|
//! | [`reconcile`](ControllerBuilder::reconcile): `Fn(&str) -> Result<Action, E>` | threads | [`run`](Controller::run), [`run_until`](Controller::run_until) | [`shutdown`](Controller::shutdown), a [`ShutdownToken`] |
//! | `reconcile_async`: `Fn(String) -> impl Future` (feature `async`) | tokio tasks | `run_async`, `run_until_async` | `shutdown_async`, any future |
//!
//! An async reconcile can have a `reconcile_timeout`, measured on the controller's timer-wheel
//! clock: at the deadline its future is dropped and the attempt fails with a
//! [`ReconcileTimeout`]. A blocking reconcile cannot be preempted, so the builder refuses a
//! timeout for it ([`Error::TimeoutNeedsAsync`]).
//!
//! # Examples
//! ```
//! use std::sync::mpsc;
//! use controller::{Action, Controller};
//! use timer_wheel::{Driver, FakeClock};
//!
//! let clock = FakeClock::new();
//! let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
//! let (seen_tx, seen) = mpsc::channel();
//! let controller = Controller::builder("pods")
//!     .driver(driver.clone())
//!     .threadiness(2)
//!     .reconcile(move |key: &str| {
//!         seen_tx.send(key.to_owned()).unwrap();
//!         Ok::<_, controller::BoxError>(Action::Done)
//!     })
//!     .build()?;
//!
//! controller.queue().add("default/web".to_owned());
//! let running = controller.clone();
//! let workers = std::thread::spawn(move || running.run());
//! assert_eq!(seen.recv().unwrap(), "default/web");
//! controller.shutdown(); // drains what is queued or in flight, then `run` returns
//! workers.join().unwrap()?;
//! assert_eq!(controller.metrics().reconciles, 1);
//! # Ok::<(), controller::Error>(())
//! ```
//!
//! Feed it from an informer by registering [`Controller::handler`] as an event handler.
//!
//! # Features
//! * `async`: `ControllerBuilder::reconcile_async`, `reconcile_timeout` for it,
//!   `Controller::run_async`, `run_until_async` and `shutdown_async` (pulls tokio's runtime).
//! * `prometheus`: `prometheus::PrometheusMetrics`, the controller's metrics in a
//!   `prometheus::Registry` (and `workqueue/prometheus` for the queue's).

#![forbid(unsafe_code)]

mod action;
mod builder;
mod controller;
mod enqueue;
mod error;
pub mod metrics;
mod outcome;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod reconcile;
#[cfg(feature = "async")]
mod run_async;
mod token;
mod worker;
#[cfg(feature = "async")]
mod worker_async;

pub use action::{Action, BoxError};
pub use builder::{ControllerBuilder, MAX_THREADINESS};
pub use controller::Controller;
pub use enqueue::EnqueueHandler;
pub use error::{Error, ReconcilePanicked, ReconcileTimeout};
pub use metrics::ControllerMetrics;
pub use token::{Cancelled, ShutdownToken};
