//! The names the controller pattern uses most, for `use flywheel::prelude::*`.

#[cfg(feature = "controller")]
pub use controller::{Action, BoxError, Controller, ShutdownToken};
#[cfg(feature = "delta-fifo")]
pub use delta_fifo::{DeletedObject, Delta, DeltaFifo, DeltaKind, Deltas};
#[cfg(feature = "informer")]
pub use informer::{Indexer, Lister, ResourceEventHandler, SharedProcessor, handler_fn};
#[cfg(feature = "timer-wheel")]
pub use timer_wheel::{Clock, Driver, FakeClock, RealClock, Ticker, Timer, after_func};
#[cfg(feature = "workqueue")]
pub use workqueue::limiter::{RateLimiter, default_controller};
#[cfg(feature = "workqueue")]
pub use workqueue::{DelayingQueue, Queue, QueueConfig, RateLimitingQueue};
