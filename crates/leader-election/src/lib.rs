//! Leader election and sharding over Kubernetes `coordination.k8s.io/v1` Leases, on the
//! `timer-wheel` [`Clock`](timer_wheel::Clock).
//!
//! * [`LeaderElector`]: one candidate for one Lease. Built with [`LeaderElector::builder`]
//!   (identity, lease, client-go's timings: lease duration 15 s, renew deadline 10 s, retry
//!   period 2 s), it acquires the lease when it is free or expired, renews it while leading, and
//!   releases it on graceful shutdown so a successor takes over at once. Callbacks (or the
//!   [`Status`] channel) report started-leading (with a [`CancellationToken`] that is cancelled
//!   when leadership ends), stopped-leading and new-leader.
//! * [`LeaseLock`]: the lease as a lock: get, create and update with the resourceVersion
//!   (optimistic concurrency; a 409 means "someone else wrote first").
//! * [`Shards`]: N leases `<name>-shard-<i>`; keys map to a shard by FNV-1a 64 ([`shard_of`]);
//!   each replica holds its fair share and takes over the shards of a replica that died.
//!
//! # Safety argument, in short
//!
//! An elector never trusts the timestamps written in a lease. It measures expiry on **its own
//! clock**, from the moment it saw the lease's resourceVersion change (as client-go does with its
//! `observedTime`). A leader stops acting ([`LeaderElector::is_leader`] turns false, the token is
//! cancelled) `renew_deadline` after the start of its last successful renewal; any other replica
//! saw that renewal after it was written, so it waits at least `lease_duration` from a later
//! moment. As long as `renew_deadline < lease_duration` and the replicas' clocks run at about the
//! same *rate* (see [`LeaderElector`] for the bound), no two replicas lead at the same time.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_apiserver::FakeApiServer;
//! use leader_election::LeaderElector;
//!
//! let server = FakeApiServer::builder().start().await?;
//! let elector = LeaderElector::builder(server.client(), "default", "my-controller")
//!     .identity("replica-a")
//!     .build()?;
//! // One attempt: the lease does not exist yet, so this replica creates it and leads.
//! assert!(elector.try_acquire_or_renew().await?);
//! assert!(elector.is_leader());
//! assert_eq!(elector.leader().as_deref(), Some("replica-a"));
//! // Graceful hand-over: stop work, then clear the holder so a successor need not wait.
//! assert!(elector.release().await?);
//! assert!(!elector.is_leader());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! In a real program call [`LeaderElector::run`] (or [`LeaderElector::run_while_leading`]),
//! which retries, renews and releases on its own. See `docs/leader-election.md` for the guide.
//!
//! # Features
//!
//! No optional features: the crate needs kube's client, tokio and `timer-wheel`'s async timers.
#![forbid(unsafe_code)]

mod builder;
mod config;
mod elector;
mod error;
mod hash;
mod lock;
mod record;
mod run;
mod shards;
mod status;

pub use builder::LeaderElectorBuilder;
pub use config::{
    DEFAULT_LEASE_DURATION, DEFAULT_RENEW_DEADLINE, DEFAULT_RETRY_PERIOD, JITTER_FACTOR,
    RELEASED_LEASE_DURATION, Timings,
};
pub use elector::LeaderElector;
pub use error::{Error, Result};
pub use hash::{fnv1a_64, shard_of};
pub use lock::{LeaseLock, LockError, ObservedLease};
pub use record::LeaderElectionRecord;
pub use shards::{Shards, ShardsBuilder};
pub use status::Status;
pub use tokio_util::sync::CancellationToken;
