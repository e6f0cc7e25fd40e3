//! [`Shards`]: a replica's candidacy for every shard of a key space, one Lease per shard.
//!
//! Keys map to shards by [`shard_of`] (FNV-1a 64 modulo the shard count), the same in every
//! replica. Shard `i` is guarded by the lease `<name>-shard-<i>`, each with its own
//! [`LeaderElector`], so every guarantee of a single election holds per shard: no two replicas
//! own a shard, hence a key, at the same time.
//!
//! # Fair share and take-over
//!
//! A replica takes a free or expired shard only while it owns fewer than
//! `ceil(shards / replicas)` (its fair share, `replicas` being the expected replica count), so
//! replicas started together split the shards evenly. A shard nobody took for a further
//! `lease_duration` after it expired is taken by whoever tries next, cap or not: that is how the
//! shards of a dead replica move to the survivors (with the defaults, 15 s to expire plus 15 s
//! of grace, measured from the last renewal each survivor saw). Shards are not given back when
//! the dead replica returns: it gets the shards that become free later (after a survivor stops).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use timer_wheel::Driver;
use tokio_util::sync::CancellationToken;

use crate::builder::LeaderElectorBuilder;
use crate::config::Timings;
use crate::elector::{FairShare, LeaderElector};
use crate::error::{Error, Result};
use crate::hash::shard_of;

/// One replica's electors for the shards `<name>-shard-0 .. <name>-shard-<n-1>`.
///
/// Clones share the electors.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fake_apiserver::FakeApiServer;
/// use leader_election::Shards;
///
/// let server = FakeApiServer::builder().start().await?;
/// let shards = Shards::builder(server.client(), "default", "pods")
///     .identity("replica-a")
///     .shards(4)
///     .replicas(2)
///     .build()?;
/// // One attempt per shard: alone, this replica takes its fair share, 2 of 4.
/// for elector in shards.electors() {
///     elector.try_acquire_or_renew().await?;
/// }
/// assert_eq!(shards.owned_shards().len(), 2);
/// let key = "default/web-0";
/// assert_eq!(shards.owns(key), shards.owned_shards().contains(&shards.shard_of(key)));
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Shards {
    electors: Arc<[LeaderElector]>,
    owned: Arc<AtomicUsize>,
}

impl Shards {
    /// A builder for this replica's candidacy for the shards of `namespace/name`.
    pub fn builder(client: kube::Client, namespace: &str, name: &str) -> ShardsBuilder {
        ShardsBuilder {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: String::new(),
            shards: 1,
            replicas: 1,
            timings: Timings::default(),
            driver: None,
            release_on_cancel: true,
        }
    }

    /// How many shards there are.
    pub fn count(&self) -> usize {
        self.electors.len()
    }

    /// The shard of `key` ([`shard_of`]).
    pub fn shard_of(&self, key: &str) -> usize {
        shard_of(key, self.count())
    }

    /// Whether this replica owns `key` now: it leads the key's shard (see
    /// [`LeaderElector::is_leader`]). Gate every action on a key with it.
    pub fn owns(&self, key: &str) -> bool {
        self.electors[self.shard_of(key)].is_leader()
    }

    /// The shards this replica leads now, in order.
    pub fn owned_shards(&self) -> Vec<usize> {
        (0..self.count())
            .filter(|i| self.electors[*i].is_leader())
            .collect()
    }

    /// The elector of each shard, by shard number.
    pub fn electors(&self) -> &[LeaderElector] {
        &self.electors
    }

    /// Shards led plus takes in flight (the number the fair-share cap is checked against).
    pub fn claimed(&self) -> usize {
        self.owned.load(Ordering::Acquire)
    }

    /// Runs every shard's election until `shutdown` is cancelled, then releases what this replica
    /// holds (unless built with `release_on_cancel(false)`).
    ///
    /// # Errors
    ///
    /// The first error of a shard's [`LeaderElector::run`]; the other shards run to the end.
    ///
    /// # Cancel safety
    ///
    /// As [`LeaderElector::run`].
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        let runs = self.electors.iter().map(|e| e.run(shutdown.clone()));
        futures::future::join_all(runs)
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    }
}

/// Configures [`Shards`]; made by [`Shards::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ShardsBuilder {
    client: kube::Client,
    namespace: String,
    name: String,
    identity: String,
    shards: usize,
    replicas: usize,
    timings: Timings,
    driver: Option<Driver>,
    release_on_cancel: bool,
}

impl ShardsBuilder {
    /// This replica's identity (required, unique per process).
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// The number of shards, hence leases (default 1). Every replica must use the same number.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// The expected number of replicas (default 1): each takes at most
    /// `ceil(shards / replicas)` while the others may still come.
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// The durations of every shard's election.
    pub fn timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// The timer driver (default: the global one on the real clock).
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// Whether `run` releases the held shards on shutdown (default `true`).
    pub fn release_on_cancel(mut self, yes: bool) -> Self {
        self.release_on_cancel = yes;
        self
    }

    /// Checks everything and builds one elector per shard.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroCount`] for zero shards or replicas, and the errors of
    /// [`LeaderElectorBuilder::build`] (a shard's lease name is checked like any other).
    pub fn build(self) -> Result<Shards> {
        if self.shards == 0 {
            return Err(Error::ZeroCount { what: "shards" });
        }
        if self.replicas == 0 {
            return Err(Error::ZeroCount { what: "replicas" });
        }
        let owned = Arc::new(AtomicUsize::new(0));
        let cap = self.shards.div_ceil(self.replicas);
        let driver = self.driver.unwrap_or_else(|| Driver::global().clone());
        let electors = (0..self.shards)
            .map(|i| {
                let mut builder = LeaderElectorBuilder::new(
                    self.client.clone(),
                    &self.namespace,
                    &format!("{}-shard-{i}", self.name),
                )
                .identity(self.identity.clone())
                .timings(self.timings)
                .driver(driver.clone())
                .release_on_cancel(self.release_on_cancel);
                builder.share = Some(FairShare {
                    owned: Arc::clone(&owned),
                    cap,
                    grace: self.timings.lease_duration,
                });
                builder.build()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Shards {
            electors: electors.into(),
            owned,
        })
    }
}

impl std::fmt::Debug for ShardsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardsBuilder")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("shards", &self.shards)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}
