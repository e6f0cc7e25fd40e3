//! The classic Kubernetes controller loop as a builder: informer events become keys in a
//! rate-limited [`workqueue`], `threadiness` worker threads take them and call your reconcile
//! function, failures are retried with backoff and dropped after `max_retries`, and shutdown
//! drains the work in flight.
//!
//! The loop is client-go's `workqueue` example controller: [`EnqueueHandler`] is the event handler
//! that turns adds, updates and deletions (typed tombstones included) into `namespace/name` keys;
//! each worker runs `get` → reconcile → `forget` on success / `add_rate_limited` on failure →
//! `done`. Deliberate additions: a panicking reconcile is caught, counted and retried (the worker
//! lives on); [`Action::RequeueAfter`] schedules a later pass; every give-up reaches a hook; a
//! `tracing` span wraps each reconcile; [`ControllerMetrics`] counts what happened.
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

#![forbid(unsafe_code)]

mod action;
mod builder;
mod controller;
mod enqueue;
mod error;
mod metrics;
mod worker;

pub use action::{Action, BoxError};
pub use builder::ControllerBuilder;
pub use controller::Controller;
pub use enqueue::EnqueueHandler;
pub use error::Error;
pub use metrics::ControllerMetrics;
