//! flywheel: the machinery behind Kubernetes controllers and Linux network daemons, for Rust.
//!
//! This crate only re-exports the flywheel crates, each behind a feature of the same name, so a
//! project can take the umbrella or depend on one crate alone (`workqueue = "..."` gives the
//! same types as `flywheel::workqueue`).
//!
//! | module | crate | what it gives |
//! |---|---|---|
//! | [`timer_wheel`] | `timer-wheel` | hierarchical timing wheel, `Clock`/`FakeClock`, Go-style `Timer`, `Ticker`, `after_func` |
//! | [`workqueue`] | `workqueue` | client-go's work queue, delaying and rate-limiting queues, rate limiters, metrics |
//! | [`delta_fifo`] | `delta-fifo` | client-go's DeltaFIFO with typed tombstones |
//! | `informer` | `informer` | the informer core: indexer, listers, handlers, shared processor |
//! | `controller` | `controller` | the controller loop: informer events → rate-limited queue → workers → retry |
//! | `leader_election` | `leader-election` | leader election and key sharding over Kubernetes Leases |
//! | `tuntap` | `tuntap` | Linux TUN/TAP devices, netlink link configuration, packet I/O, `Dialer`, `ListenConfig` |
//!
//! # Examples
//! The controller pattern's queue, from the prelude:
//! ```
//! use std::time::Duration;
//! use flywheel::prelude::*;
//!
//! let clock = FakeClock::new();
//! let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
//! let queue = RateLimitingQueue::with_config(
//!     QueueConfig::new().driver(driver.clone()),
//!     default_controller(driver.clock().clone()),
//! )?;
//! queue.add_rate_limited("default/web-0"); // first failure: 5 ms
//! clock.advance(Duration::from_millis(5));
//! driver.turn();
//! assert_eq!(*queue.get().unwrap(), "default/web-0");
//! # Ok::<(), flywheel::workqueue::Error>(())
//! ```
//!
//! # Features
//! * `timer-wheel`, `workqueue`, `delta-fifo` (default), `informer`, `controller`,
//!   `leader-election`, `tuntap`: one per crate.
//! * `kube`: the informer's adapter over `kube::Api` (`KubeObject`, `KubeListerWatcher`).
//! * `async`: the async faces (`recv_async`, `get_async`, `pop_async`, `run_async`, ...) of the
//!   enabled crates.
//! * `prometheus`: the Prometheus metrics providers of `workqueue`, `informer` and `controller`.
//! * `full`: all of the above.
#![forbid(unsafe_code)]

#[cfg(feature = "controller")]
#[doc(inline)]
pub use controller;
#[cfg(feature = "delta-fifo")]
#[doc(inline)]
pub use delta_fifo;
#[cfg(feature = "informer")]
#[doc(inline)]
pub use informer;
#[cfg(feature = "leader-election")]
#[doc(inline)]
pub use leader_election;
#[cfg(feature = "timer-wheel")]
#[doc(inline)]
pub use timer_wheel;
#[cfg(feature = "tuntap")]
#[doc(inline)]
pub use tuntap;
#[cfg(feature = "workqueue")]
#[doc(inline)]
pub use workqueue;

pub mod prelude;
